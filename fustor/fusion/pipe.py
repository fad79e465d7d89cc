"""FusionPipe: one receiver's sessions feeding N views through one bounded queue.

Batches and the lifecycle signals that must follow them in order (snapshot
end, audit end, job complete, session close) go through the queue; a single
consumer applies them. When the queue is full, ``put`` waits, the
connection stops reading, and acknowledgements stop: the agent's sender
waits (backpressure) instead of anything being dropped.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any, Awaitable, Callable

from fustor.transport import wire
from fustor.transport.wire import Code, WireError

from .session import RateMeter, Session

log = logging.getLogger("fustor.fusion.pipe")


@dataclass(eq=False, slots=True)
class Item:
    kind: str  # events, snapshot.end, audit.end, job.complete, session.close
    session: Session
    req_id: Any
    peer: Any
    payload: Any = None
    seq: int = 0


class FusionPipe:
    def __init__(self, pipe_id: str, config: Any, view_ids: list[str], apply: Callable[[Item], Awaitable[dict]]) -> None:
        self.pipe_id = pipe_id
        self.config = config
        self.view_ids = list(view_ids)
        self.queue: asyncio.Queue[Item] = asyncio.Queue(maxsize=config.queue_size)
        self._apply = apply
        self._task: asyncio.Task | None = None
        self.events = RateMeter()
        self.rows_applied = 0
        self.errors = 0
        self.sessions: set[Session] = set()

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name=f"pipe:{self.pipe_id}")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None

    @property
    def pending(self) -> int:
        return self.queue.qsize()

    async def put(self, item: Item) -> None:
        item.session.inflight += 1
        try:
            await self.queue.put(item)
        except BaseException:
            item.session.inflight -= 1
            raise

    async def _run(self) -> None:
        queue = self.queue
        while True:
            item = await queue.get()
            try:
                result = await self._apply(item)
            except WireError as err:
                self.errors += 1
                item.peer.send(wire.error_reply(item.req_id, err))
            except Exception as exc:
                self.errors += 1
                log.exception("pipe %s: applying %s failed", self.pipe_id, item.kind)
                item.peer.send(wire.error_reply(item.req_id, WireError(Code.INTERNAL, f"internal error: {exc}")))
            else:
                if result is not None:
                    item.peer.send(wire.reply(item.req_id, **result))
            finally:
                item.session.inflight -= 1
                queue.task_done()
            # Let queries and heartbeats in between batches, even under load.
            await asyncio.sleep(0)
