"""Focused tests of the fixes the reliability suite (tests/reliability) led to.

* the agent's sender resends unacknowledged batches with their own seqs on
  a resumed session (fusion then drops what it already has), keeps every
  pending batch while resending, and a batch it took is never given back;
* the agent's realtime loop gives back to the bus what the sender did not
  take, so a dropped connection loses no event;
* the inotify watcher handles a flood of events a slice per loop turn;
* fusion answers a seq below 1 with ``bad_message`` and a bool id with
  ``re: null``.
"""

from __future__ import annotations

import asyncio
import os
from collections import namedtuple
from types import SimpleNamespace

import pytest
from inotify_simple import flags as F

from fustor.agent.bus import BusGroup
from fustor.agent.pipe import AgentPipe
from fustor.agent.sender import WebSocketSender
from fustor.client import ConnectionLost
from fustor.fusion import FusionService, load_fusion_config
from fustor.sources.fs import watch as watch_mod
from fustor.sources.fs.filters import PathFilter
from fustor.sources.fs.scanner import ScanErrors
from fustor.testing.processes import AGENT_KEY, make_fusion_home
from fustor.transport import MemoryPeer, ServerProtocol, wire

# --- the sender ------------------------------------------------------------------------------


class FakeConn:
    """What WebSocketSender uses of a Connection: request, submit, closed."""

    def __init__(self, reply: dict, fail_on_write: int | None = None) -> None:
        self.reply = reply
        self.writes: list[tuple[int, dict]] = []
        self.fail_on_write = fail_on_write
        self.closed = False
        self.futures: dict[int, asyncio.Future] = {}

    async def request(self, op: str, **params):
        assert op == "session.open"
        self.opened_with = params
        return self.reply

    async def submit(self, op: str, **params):
        if self.closed or (self.fail_on_write is not None and len(self.writes) == self.fail_on_write):
            self.closed = True
            raise ConnectionLost("gone")
        self.writes.append((params["seq"], params["event"]))
        fut = asyncio.get_running_loop().create_future()
        self.futures[params["seq"]] = fut
        return fut

    async def abort(self) -> None:
        self.closed = True


def _ev(source: str, n: int) -> dict:
    return {"source": source, "rows": [{"path": f"/{source}-{n}-{i}"} for i in range(n)]}


async def _sender_with_unacked(events: list[dict]) -> WebSocketSender:
    s = WebSocketSender("ws://x", AGENT_KEY, on_push=lambda m: None)
    s.conn = FakeConn({"session_id": "s1", "resumed": False, "last_seq": 0})  # type: ignore[assignment]
    await s.open_session(pipe_id="p")
    for ev in events:
        await s.send(ev)
    s.conn.closed = True  # the connection drops: nothing was acknowledged
    return s


def test_a_resumed_session_resends_the_unapplied_batches_with_their_own_seqs():
    async def main():
        events = [_ev("realtime", 1), _ev("realtime", 2), _ev("audit", 3), _ev("realtime", 4)]
        s = await _sender_with_unacked(events)
        assert list(s.unacked) == [1, 2, 3, 4]
        conn = FakeConn({"session_id": "s1", "resumed": True, "last_seq": 2})
        s.conn = conn  # type: ignore[assignment]
        await s.open_session(pipe_id="p")
        assert conn.opened_with["resume"] == "s1"
        # 1 and 2 were applied (their acks were lost); 3 and 4 go again as 3 and 4, not 5 and 6.
        assert [seq for seq, _ in conn.writes] == [3, 4]
        assert [ev for _, ev in conn.writes] == events[2:]
        assert list(s.unacked) == [3, 4] and s.seq == 4
        assert (s.resent, s.acked, s.batches, s.rows) == (2, 2, 4, 10)
        await s.send(_ev("realtime", 1))
        assert conn.writes[-1][0] == 5

    asyncio.run(main())


def test_a_new_session_renumbers_realtime_and_snapshot_batches_and_drops_audit_and_on_demand_ones():
    async def main():
        events = [_ev("snapshot", 1), _ev("audit", 2), _ev("realtime", 3), _ev("on_demand", 1), _ev("realtime", 2)]
        s = await _sender_with_unacked(events)
        conn = FakeConn({"session_id": "s2", "resumed": False, "last_seq": 0})
        s.conn = conn  # type: ignore[assignment]
        await s.open_session(pipe_id="p")
        assert [seq for seq, _ in conn.writes] == [1, 2, 3]
        assert [ev for _, ev in conn.writes] == [events[0], events[2], events[4]]
        assert list(s.unacked) == [1, 2, 3] and s.seq == 3 and s.session_id == "s2"

    asyncio.run(main())


def test_batches_stay_pending_when_the_connection_drops_while_they_are_resent():
    async def main():
        events = [_ev("realtime", 1) for _ in range(4)]
        s = await _sender_with_unacked(events)
        s.conn = FakeConn({"session_id": "s1", "resumed": True, "last_seq": 0}, fail_on_write=1)  # type: ignore
        with pytest.raises(ConnectionLost):
            await s.open_session(pipe_id="p")
        assert list(s.unacked) == [1, 2, 3, 4]  # all still there for the next reconnect
        conn = FakeConn({"session_id": "s1", "resumed": True, "last_seq": 0})
        s.conn = conn  # type: ignore[assignment]
        await s.open_session(pipe_id="p")
        assert [seq for seq, _ in conn.writes] == [1, 2, 3, 4]

    asyncio.run(main())


def test_a_batch_the_sender_took_is_kept_when_its_write_fails_and_the_next_is_refused():
    async def main():
        s = WebSocketSender("ws://x", AGENT_KEY, on_push=lambda m: None)
        conn = FakeConn({"session_id": "s1", "resumed": False, "last_seq": 0}, fail_on_write=1)
        s.conn = conn  # type: ignore[assignment]
        await s.open_session(pipe_id="p")
        await s.send(_ev("realtime", 1))
        await s.send(_ev("realtime", 2))  # its write fails: taken all the same, resent later
        assert list(s.unacked) == [1, 2]
        with pytest.raises(ConnectionLost):
            await s.send(_ev("realtime", 3))  # not taken: the caller keeps it
        assert list(s.unacked) == [1, 2] and s.batches == 2

    asyncio.run(main())


# --- the realtime loop ---------------------------------------------------------------------


class TakingSender:
    """Takes ``take`` batches, then refuses as a sender whose connection dropped does."""

    def __init__(self, take: int) -> None:
        self.take = take
        self.sent: list[dict] = []

    async def send(self, event: dict) -> None:
        if len(self.sent) >= self.take:
            raise ConnectionLost("not connected")
        self.sent.append(event)


def _pipe(sub, sender, batch_size: int = 2) -> AgentPipe:
    pipe = object.__new__(AgentPipe)
    pipe.sub, pipe.sender, pipe.config = sub, sender, SimpleNamespace(batch_size=batch_size)
    pipe._progress = {}
    return pipe


@pytest.mark.parametrize("take", [0, 1, 2])
def test_the_realtime_loop_gives_back_to_the_bus_what_the_sender_did_not_take(take):
    async def main():
        group = BusGroup(100)
        sub = group.subscribe("main")
        # Deletes and updates alternate, so these 6 items make 4 batches (at most 2 rows each).
        items = [(False, [{"path": "/a"}], 1), (False, [{"path": "/b"}], 2), (True, [{"path": "/a"}], 3),
                 (False, [{"path": "/c"}], 4), (False, [{"path": "/d"}], 5), (False, [{"path": "/e"}], 6)]
        for it in items:
            group.publish(it)
        sender = TakingSender(take)
        with pytest.raises(ConnectionLost):
            await _pipe(sub, sender)._realtime_loop()
        handed = [0, 2, 3][take]  # items in the batches the sender took
        assert sum(len(b["rows"]) for b in sender.sent) == handed
        # The rest is read again after the reconnect, in order; nothing counted lost.
        assert sub.take(100) == items[handed:] and sub.lost == 0

    asyncio.run(main())


def test_items_given_back_after_the_bus_dropped_them_count_as_lost():
    group = BusGroup(100)
    sub = group.subscribe("main")
    for i in range(100):
        group.publish((False, [{"path": f"/{i}"}], i))
    assert len(sub.take(10)) == 10
    for i in range(5):
        group.publish((False, [], 100 + i))  # the 5 oldest are dropped
    sub.rewind(10)
    assert len(sub.take(1000)) == 95 + 5 and sub.lost == 5


# --- the watcher -----------------------------------------------------------------------------

Ev = namedtuple("Ev", "wd mask cookie name")


class FakeInotify:
    def __init__(self, events: list) -> None:
        self.events = events
        self.r, self.w = os.pipe()

    def fileno(self) -> int:
        return self.r

    def read(self, timeout=None):
        out, self.events = self.events, []
        return out

    def close(self) -> None:
        os.close(self.r)
        os.close(self.w)


def test_a_flood_of_inotify_events_is_handled_a_slice_per_loop_turn(monkeypatch):
    async def main():
        loop = asyncio.get_running_loop()
        n = 5 * watch_mod.EVENTS_PER_TURN + 7
        events = [Ev(1, F.MODIFY, 0, f"f{i}") for i in range(n)]
        # A rename straddling the first slice's end stays in one slice.
        cut = watch_mod.EVENTS_PER_TURN - 1
        events[cut] = Ev(1, F.MOVED_FROM, 9, "old")
        events[cut + 1] = Ev(1, F.MOVED_TO, 9, "new")
        wm = watch_mod.WatchManager(b"/nonexistent", PathFilter(), ScanErrors(), lambda rows, d: None)
        wm._ino = FakeInotify(events)  # type: ignore[assignment]
        wm._loop = loop
        log: list = []
        monkeypatch.setattr(wm, "handle", lambda chunk: log.append(("chunk", list(chunk))))
        loop.add_reader(wm._ino.fileno(), wm._readable)

        async def other_work() -> None:  # heartbeats, acks, the control plane
            for _ in range(20):
                log.append(("other", None))
                await asyncio.sleep(0)

        wm._readable()
        await other_work()
        while wm._backlog:
            await asyncio.sleep(0)
        chunks = [c for kind, c in log if kind == "chunk"]
        assert [e for c in chunks for e in c] == events  # all, in order
        assert len(chunks[0]) == watch_mod.EVENTS_PER_TURN + 1 and chunks[0][-1].mask & F.MOVED_TO
        assert all(len(c) <= watch_mod.EVENTS_PER_TURN for c in chunks[1:])
        kinds = [k for k, _ in log]
        assert kinds.index("other") < len(kinds) - kinds[::-1].index("chunk") - 1  # interleaved
        # Reading again once the backlog is handled.
        assert loop.remove_reader(wm._ino.fileno())
        wm._ino.close()

    asyncio.run(main())


# --- fusion's edge -----------------------------------------------------------------------------


def test_a_seq_below_1_is_a_bad_message_and_a_bool_id_is_answered_with_re_null(tmp_path):
    async def main():
        svc = FusionService(load_fusion_config(make_fusion_home(tmp_path / "home")))
        peer = MemoryPeer("pipe")
        proto = ServerProtocol(peer, svc.authenticate, svc.dispatch, "test")
        await proto.receive(wire.encode({"id": 1, "op": "hello", "protocol": "1.0", "key": AGENT_KEY}))
        await proto.receive(wire.encode({"id": 2, "op": "session.open", "pipe_id": "p", "agent_id": "a",
                                         "schema": "fs", "schema_version": "1.0"}))  # fmt: skip
        sid = peer.sent[-1]["session_id"]
        ev = {"schema": "fs", "schema_version": "1.0", "type": "update", "source": "realtime", "rows": []}
        for i, seq in enumerate((0, -1, -(2**40))):
            await proto.receive(wire.encode({"id": 10 + i, "op": "events", "session_id": sid, "seq": seq,
                                             "event": ev}))  # fmt: skip
            reply = peer.sent[-1]
            assert reply["re"] == 10 + i and reply["error"]["code"] == "bad_message", reply
            assert reply["error"]["details"]["field"] == "seq"
        for bad_id in (True, False):
            await proto.receive(wire.encode({"id": bad_id, "op": "heartbeat", "session_id": sid}))
            reply = peer.sent[-1]
            assert reply["re"] is None and reply["error"]["code"] == "bad_message", reply
        await svc.stop()

    asyncio.run(main())
