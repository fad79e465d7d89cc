"""FusionService and ServerProtocol without sockets: frames in, replies out."""

from __future__ import annotations

import asyncio

import pytest

from fustor.fusion import FusionService, load_fusion_config
from fustor.testing import listed
from fustor.testing.processes import ADMIN_KEY, AGENT_KEY, READONLY_KEY, make_fusion_home
from fustor.transport import MemoryPeer, ServerProtocol, wire

T = 1_700_000_000.0


def _ev(source, rows, etype="update", **extra):
    return {"schema": "fs", "schema_version": "1.0", "type": etype, "source": source, "index": 0, "rows": rows, **extra}


class Harness:
    def __init__(self, svc: FusionService, plane: str = "pipe", key: str = AGENT_KEY) -> None:
        self.svc = svc
        self.peer = MemoryPeer(plane)
        self.proto = ServerProtocol(self.peer, svc.authenticate, svc.dispatch, "test")
        self._ids = 0
        self.key = key

    async def send(self, **msg) -> dict | None:
        self._ids += 1
        msg.setdefault("id", self._ids)
        before = len(self.peer.sent)
        await self.proto.receive(wire.encode(msg))
        replies = [m for m in self.peer.sent[before:] if m.get("re") == msg["id"]]
        return replies[0] if replies else None

    async def hello(self):
        return await self.send(op="hello", protocol="1.0", key=self.key)


@pytest.fixture
def home(tmp_path):
    return make_fusion_home(tmp_path / "home", pipes={"p": {"views": ["v"], "queue_size": 1}})


def test_backpressure_full_queue_withholds_acks_and_drops_nothing(home):
    async def main():
        svc = FusionService(load_fusion_config(home))  # pipes not started: nothing drains the queue
        h = Harness(svc)
        await h.hello()
        sid = (await h.send(op="session.open", pipe_id="p", agent_id="a", schema="fs", schema_version="1.0"))["session_id"]
        rows = [listed(f"/f{i}", ino=10 + i, ctime=T, pc=T, pino=2) for i in range(3)]
        first = await h.send(op="events", session_id=sid, seq=1, event=_ev("snapshot", rows[:1], "insert"))
        assert first is None  # queued; the ack comes once applied
        blocked = asyncio.create_task(h.send(op="events", session_id=sid, seq=2, event=_ev("snapshot", rows[1:], "insert")))
        await asyncio.sleep(0.05)
        assert not blocked.done()  # the queue (size 1) is full: this request is not even read off
        assert svc.pipes["p"].pending == 1
        svc.pipes["p"].start()
        await asyncio.wait_for(blocked, 2)
        for _ in range(100):
            acks = [m for m in h.peer.sent if m.get("seq") in (1, 2)]
            if len(acks) == 2:
                break
            await asyncio.sleep(0.01)
        assert [a["applied"] for a in sorted(acks, key=lambda a: a["seq"])] == [1, 2]
        assert svc.views["v"].view.tree.root.n_files == 3
        await svc.stop()

    asyncio.run(main())


def test_expired_session_gets_session_ended_and_its_follower_is_promoted(home):
    async def main():
        svc = FusionService(load_fusion_config(home))
        a, b = Harness(svc), Harness(svc)
        await a.hello(), await b.hello()
        sa = (await a.send(op="session.open", pipe_id="p", agent_id="a", schema="fs", schema_version="1.0"))["session_id"]
        sb = (await b.send(op="session.open", pipe_id="p", agent_id="b", schema="fs", schema_version="1.0"))["session_id"]
        svc.end_session(svc.sessions[sa], "no heartbeat or event for 3 s")
        r = await a.send(op="heartbeat", session_id=sa)
        assert r["error"]["code"] == "session_ended" and "no heartbeat" in r["error"]["message"]
        assert b.peer.pushes()[-1] == {"push": "roles", "session_id": sb, "views": {"v": "leader"}}
        assert a.peer.pushes()[-1]["push"] == "session_ended"

    asyncio.run(main())


def test_protocol_requires_hello_and_refuses_admin_ops_for_readonly(home):
    async def main():
        svc = FusionService(load_fusion_config(home))
        h = Harness(svc, "control", READONLY_KEY)
        r = await h.send(op="status")
        assert r["error"]["code"] == "hello_required" and h.peer.closed == (1008, "hello_required")
        h = Harness(svc, "control", READONLY_KEY)
        assert (await h.hello())["access"] == "readonly"
        assert (await h.send(op="reload"))["error"]["code"] == "forbidden"
        assert (await h.send(op="hello", protocol="1.0", key=READONLY_KEY))["error"]["code"] == "bad_message"
        assert (await h.send(op="query.ls", view="nope"))["error"]["code"] == "not_found"
        assert (await h.send(op="query.ls", view="v", limit="ten"))["error"]["code"] == "bad_message"
        adm = Harness(svc, "control", ADMIN_KEY)
        assert (await adm.hello())["access"] == "admin"
        assert (await adm.send(op="audit.now", view="v"))["error"]["code"] == "not_leader"

    asyncio.run(main())


def test_internal_error_in_a_handler_is_answered_and_the_connection_lives(home, monkeypatch):
    async def main():
        svc = FusionService(load_fusion_config(home))
        h = Harness(svc, "control", READONLY_KEY)
        await h.hello()

        def boom():
            raise RuntimeError("kaboom")

        monkeypatch.setattr(svc, "status", boom)
        r = await h.send(op="status")
        assert r["error"]["code"] == "internal" and "kaboom" in r["error"]["message"]
        monkeypatch.undo()
        assert "views" in await h.send(op="status")

    asyncio.run(main())
