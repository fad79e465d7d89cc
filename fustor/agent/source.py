"""A source driver: one shared tree watched once, read by every pipe bound to it.

Pipes reading the same source share one driver (one set of watches, one
bus, one corrected clock); the driver starts with its first pipe and
releases its watches when its last pipe lets go.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
import threading
from typing import Any, AsyncIterator, Callable, Iterator

from fustor.sources.fs import CorrectedClock, PathFilter, ScanErrors

from .bus import BusGroup
from .config import SourceConfig

log = logging.getLogger("fustor.agent.source")


class SourceDriver:
    def __init__(self, name: str, config: SourceConfig, bus_capacity: int = 10_000) -> None:
        self.name = name
        self.config = config
        self.root = os.fsencode(os.path.abspath(config.uri))
        self.filter = PathFilter(config.include, config.exclude)
        self.errors = ScanErrors()
        self.clock = CorrectedClock()
        self.bus = BusGroup(bus_capacity)
        self.watcher: Any = None
        self.refs = 0
        self.can_realtime = False
        self.degraded_reason: str | None = None
        self.overflow_listeners: list[Callable[[], None]] = []
        self.prescanned = False

    def acquire(self) -> None:
        self.refs += 1
        if self.refs == 1:
            self._start_watcher()

    def release(self) -> None:
        self.refs -= 1
        if self.refs <= 0:
            self.close()

    def close(self) -> None:
        if self.watcher is not None:
            self.watcher.close()
            self.watcher = None
        self.can_realtime = False

    def prescan(self) -> float:
        if self.config.prescan and not self.prescanned:
            self.clock.prescan(self.root)
            self.prescanned = True
        return self.clock.drift

    def _emit(self, rows: list[dict], deleting: bool) -> None:
        for r in rows:
            if not deleting and r.get("is_atomic_write") and r.get("mtime") is not None:
                self.clock.observe_write(r["mtime"])
        self.bus.publish((deleting, rows, self.clock.index_ms()))

    def _overflow(self) -> None:
        self.can_realtime = False
        self.degraded_reason = "inotify queue overflow: events were lost"
        for cb in list(self.overflow_listeners):
            cb()

    def _start_watcher(self) -> None:
        backend = self.config.realtime_backend
        if backend in ("auto", "inotify") and sys.platform.startswith("linux"):
            try:
                from fustor.sources.fs.watch import WatchManager

                self.watcher = WatchManager(self.root, self.filter, self.errors, self._emit,
                                            limit=self.config.watch_limit, on_overflow=self._overflow)
                self.watcher.start()
                self.can_realtime = True
                return
            except Exception as exc:
                if backend == "inotify":
                    self.degraded_reason = f"inotify unavailable: {exc}"
                    log.error("source %s: %s", self.name, self.degraded_reason)
                    return
                log.warning("source %s: inotify unavailable (%s); using watchfiles", self.name, exc)
        try:
            from fustor.sources.fs.polling import WatchfilesWatcher

            self.watcher = WatchfilesWatcher(self.root, self.filter, self.errors, self._emit)
            self.watcher.start()
            self.can_realtime = True
        except Exception as exc:
            self.degraded_reason = f"no realtime backend: {exc}"
            log.error("source %s: %s", self.name, self.degraded_reason)

    def stats(self) -> dict:
        out = {"root": os.fsdecode(self.root), "drift": self.clock.drift, "errors": self.errors.count,
               "recent_errors": self.errors.recent[-5:], "can_realtime": self.can_realtime,
               "degraded_reason": self.degraded_reason, "bus": self.bus.stats()}
        if self.watcher is not None:
            out["watch"] = self.watcher.stats()
        return out


async def in_thread(make: Callable[[], Iterator[Any]], ahead: int = 4) -> AsyncIterator[Any]:
    """Iterate a blocking generator in a worker thread, at most ``ahead`` items ahead.

    Walks of a slow network mount must not block the event loop (heartbeats,
    acks and realtime go on meanwhile). Stopping the iteration early stops
    the thread at its next item.
    """
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue = asyncio.Queue()
    slots = threading.Semaphore(ahead)
    stop = threading.Event()

    def deliver(kind: int, item: Any) -> None:
        try:
            loop.call_soon_threadsafe(queue.put_nowait, (kind, item))
        except RuntimeError:  # the loop is gone
            stop.set()

    def run() -> None:
        try:
            for item in make():
                while not slots.acquire(timeout=0.1):
                    if stop.is_set():
                        return
                if stop.is_set():
                    return
                deliver(0, item)
        except BaseException as exc:  # carried to the consumer
            deliver(2, exc)
            return
        deliver(1, None)

    loop.run_in_executor(None, run)
    try:
        while True:
            kind, item = await queue.get()
            if kind == 1:
                return
            if kind == 2:
                raise item
            slots.release()
            yield item
    finally:
        stop.set()
