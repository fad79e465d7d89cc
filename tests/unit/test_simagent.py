"""fustor.testing.simagent against a scripted fusion (sessions, seq/acks, resume, pushes)."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

import pytest
from scripted_ws import NO_REPLY, Peer, ScriptedServer, run, until

from fustor.client import ClientError, Refused, RemoteError
from fustor.schema import make_row
from fustor.testing.simagent import SessionLost, SimAgent
from fustor.transport import wire
from fustor.transport.wire import Code, WireError

FAST = {"backoff_initial": 0.05, "backoff_max": 0.2}


def row(path: str, kind: str = "file", ctime: float = 1000.0, **kw: Any) -> dict:
    return make_row(path, kind, ctime=ctime, mtime=ctime, **kw)


@dataclass
class Session:
    sid: str
    peer: Peer
    last_seq: int = 0
    ended: bool = False
    #: (seq, event) in the order applied
    applied: list = field(default_factory=list)
    #: every op that reached this session, in order: (op, detail)
    log: list = field(default_factory=list)
    commands: list = field(default_factory=list)


class FakeFusion(ScriptedServer):
    """A fusion pipe reduced to its protocol: sessions, in-order seqs, dup acks, resume.

    ``on_events(session, msg)`` may return "drop" (neither applied nor acked),
    "hold" (applied, ack withheld) or a WireError to raise; anything else applies and acks.
    """

    def __init__(self, *, timeout: float = 30.0, views: dict | None = None) -> None:
        super().__init__()
        self.timeout = timeout
        self.views = views if views is not None else {"v1": "leader"}
        self.sessions: dict[str, Session] = {}
        self.resumable = True
        self.on_events = None
        self.on_heartbeat = None
        self.sentinel_paths: list[str] = []
        self.opens: list[dict] = []
        #: when set, a resumed session.open reports this last_seq (batches still queued in fusion)
        self.report_last_seq: int | None = None
        self.heartbeats: list[tuple[float, str]] = []
        self.handlers.update({
            "session.open": self._open, "events": self._events, "heartbeat": self._heartbeat,
            "snapshot.end": self._simple, "audit.start": self._audit_start, "audit.end": self._audit_end,
            "sentinel.tasks": self._sentinel_tasks, "sentinel.feedback": self._sentinel_feedback,
            "audit.request": self._simple, "job.complete": self._simple, "session.close": self._close,
        })  # fmt: skip

    def session(self, peer: Peer, msg: dict) -> Session:
        s = self.sessions.get(msg["session_id"])
        if s is None:
            raise WireError(Code.SESSION_UNKNOWN, "no such session")
        if s.ended:
            raise WireError(Code.SESSION_ENDED, "fusion ended this session")
        if s.peer is not peer:
            raise WireError(Code.SESSION_MISMATCH, "not opened on this connection")
        return s

    @property
    def current(self) -> Session:
        return list(self.sessions.values())[-1]

    def _open(self, peer: Peer, msg: dict) -> dict:
        self.opens.append(msg)
        old = self.sessions.get(msg.get("resume") or "")
        if old is not None and not old.ended and self.resumable:
            old.peer = peer
            s = old
        else:
            s = Session(f"s{len(self.opens)}", peer)
            self.sessions[s.sid] = s
        s.log.append(("open", msg.get("resume")))
        return {
            "session_id": s.sid, "timeout": max(msg.get("timeout_hint") or 0, self.timeout),
            "intervals": {"audit_interval": 600, "sentinel_interval": 60, "hot_file_threshold": 60,
                          "full_audit_every": 10, "sentinel_batch": 100},
            "views": dict(self.views),
            "last_seq": s.last_seq if self.report_last_seq is None else self.report_last_seq,
        }  # fmt: skip

    def _events(self, peer: Peer, msg: dict) -> Any:
        s = self.session(peer, msg)
        seq = msg["seq"]
        if seq <= s.last_seq:
            s.log.append(("duplicate", seq))
            return {"seq": seq, "duplicate": True}
        verdict = self.on_events(s, msg) if self.on_events else None
        if isinstance(verdict, WireError):
            raise verdict
        if verdict == "drop":
            return NO_REPLY
        if seq != s.last_seq + 1:
            raise WireError(Code.SEQUENCE_GAP, f"expected seq {s.last_seq + 1}, got {seq}")
        s.last_seq = seq
        s.applied.append((seq, msg["event"]))
        ev = msg["event"]
        s.log.append(("events", seq, ev["source"], ev.get("audit_id") or ev.get("job_id")))
        return NO_REPLY if verdict == "hold" else {"seq": seq, "applied": len(ev["rows"])}

    def _heartbeat(self, peer: Peer, msg: dict) -> dict:
        s = self.session(peer, msg)
        self.heartbeats.append((time.monotonic(), s.sid))
        if self.on_heartbeat:
            verdict = self.on_heartbeat(s, msg)
            if isinstance(verdict, WireError):
                raise verdict
        commands, s.commands = s.commands, []
        return {"views": dict(self.views), "commands": commands}

    def _simple(self, peer: Peer, msg: dict) -> dict:
        s = self.session(peer, msg)
        s.log.append((msg["op"], {k: v for k, v in msg.items() if k not in ("id", "op", "session_id")}))
        return {"forwarded_to": []} if msg["op"] == "audit.request" else {}

    def _audit_start(self, peer: Peer, msg: dict) -> dict:
        s = self.session(peer, msg)
        s.log.append(("audit.start", None))
        return {"audit_id": f"a-{s.sid}"}

    def _audit_end(self, peer: Peer, msg: dict) -> dict:
        s = self.session(peer, msg)
        if msg["audit_id"] != f"a-{s.sid}":
            raise WireError(Code.AUDIT_REFUSED, "stale audit id")
        s.log.append(("audit.end", bool(msg.get("aborted"))))
        return {"reports": {"v1": {"aborted": bool(msg.get("aborted"))}}}

    def _sentinel_tasks(self, peer: Peer, msg: dict) -> dict:
        self.session(peer, msg)
        return {"paths": list(self.sentinel_paths)}

    def _sentinel_feedback(self, peer: Peer, msg: dict) -> dict:
        s = self.session(peer, msg)
        s.log.append(("sentinel.feedback", msg["results"]))
        return {"counts": {"checked": len(msg["results"])}}

    def _close(self, peer: Peer, msg: dict) -> dict:
        s = self.session(peer, msg)
        s.ended = True
        s.log.append(("close", None))
        return {}


def agent(srv: FakeFusion, **kw: Any) -> SimAgent:
    kw = {**FAST, **kw}
    return SimAgent(srv.url, "pipe-key", "pipe-1", "agent-1", "host-a", **kw)


# --- session and heartbeat ----------------------------------------------------------


def test_start_opens_a_session_with_the_fields_of_the_protocol():
    async def main():
        async with FakeFusion(views={"v1": "leader", "v2": "follower"}) as srv:
            a = await agent(srv, timeout_hint=12.0, source_uri="fs:///data").start()
            try:
                (m,) = srv.opens
                assert {k: m.get(k) for k in ("pipe_id", "agent_id", "host", "source_uri", "schema",
                                              "schema_version", "timeout_hint", "can_realtime", "resume")} == {
                    "pipe_id": "pipe-1", "agent_id": "agent-1", "host": "host-a", "source_uri": "fs:///data",
                    "schema": "fs", "schema_version": "1.0", "timeout_hint": 12.0, "can_realtime": True,
                    "resume": None}  # fmt: skip
                assert a.session_id == "s1" and a.timeout == 30.0
                assert a.roles == {"v1": "leader", "v2": "follower"}
                assert a.leads("v1") and not a.leads("v2") and a.leads()
                assert a.intervals["sentinel_batch"] == 100
            finally:
                await a.close()
            assert srv.sessions["s1"].ended  # session.close was sent
            assert not srv.bad

    run(main())


def test_heartbeats_come_every_half_timeout_and_survive_errors():
    async def main():
        async with FakeFusion(timeout=0.3) as srv:
            calls = {"n": 0}

            def on_heartbeat(s, msg):
                calls["n"] += 1
                if calls["n"] == 2:
                    return WireError(Code.INTERNAL, "boom")  # the loop must log it and go on
                return None

            srv.on_heartbeat = on_heartbeat
            a = await agent(srv, timeout_hint=0.1).start()
            try:
                t0 = time.monotonic()
                await until(lambda: len(srv.heartbeats) >= 5, timeout=5, what="5 heartbeats")
                times = [t for t, _ in srv.heartbeats]
                gaps = [b - a_ for a_, b in zip(times, times[1:])]
                # timeout 0.3 s (fusion's, not the hint): one heartbeat per 0.15 s
                assert all(0.12 <= g <= 0.45 for g in gaps), gaps
                assert times[0] - t0 < 0.3
                assert a.counters["heartbeat_errors"] == 1
                (_, hb), *_ = [(i, m) for i, m in srv.requests if m["op"] == "heartbeat"]
                assert hb["can_realtime"] is True and set(hb["counters"]) >= {"sent", "acked", "unacked"}
            finally:
                await a.close()

    run(main())


def test_heartbeat_replies_and_roles_pushes_update_roles():
    async def main():
        async with FakeFusion(timeout=0.2, views={"v1": "follower"}) as srv:
            a = await agent(srv, timeout_hint=0.1).start()
            try:
                assert a.roles == {"v1": "follower"}
                await srv.current.peer.push("roles", session_id="s1", views={"v1": "leader"})
                await until(lambda: a.roles == {"v1": "leader"})
                await srv.current.peer.push("roles", session_id="other", views={"v1": "follower"})
                srv.views = {"v1": "leader", "v2": "leader"}
                await until(lambda: a.roles == {"v1": "leader", "v2": "leader"}, what="roles from a heartbeat")
            finally:
                await a.close()

    run(main())


# --- sequence numbers, acks, resend -------------------------------------------------


def test_batches_are_numbered_and_acked():
    async def main():
        async with FakeFusion() as srv:
            a = await agent(srv, batch_size=2).start()
            try:
                acks = await a.send_realtime([row(f"/f{i}") for i in range(5)])
                assert [x["seq"] for x in acks] == [1, 2, 3]
                assert [x["applied"] for x in acks] == [2, 2, 1]
                acks = await a.send_realtime([row("/f0")], delete=True)
                assert acks[0]["seq"] == 4
                ev = srv.current.applied[-1][1]
                assert (ev["type"], ev["source"], ev["schema"]) == ("delete", "realtime", "fs")
                assert a.counters["sent"] == a.counters["acked"] == 4 and not a.unacked
            finally:
                await a.close()

    run(main())


def test_unacked_batches_are_resent_in_order_after_the_server_drops_the_connection():
    async def main():
        async with FakeFusion() as srv:
            lose = {"on": True}

            def on_events(s, msg):
                if lose["on"] and msg["seq"] >= 3:
                    return "drop"  # lost with the connection: never applied
                return None

            srv.on_events = on_events
            a = await agent(srv, batch_size=1).start()
            try:
                await a.send_realtime([row(f"/f{i}") for i in range(5)], wait=False)
                await until(lambda: len(srv.ops("events")) == 5)
                await until(lambda: sorted(a.unacked) == [3, 4, 5], what="the acks of 1 and 2")
                lose["on"] = False
                srv.drop_all()
                await until(lambda: not a.unacked, what="the resent batches to be acked")
                s = srv.sessions["s1"]
                assert [seq for seq, _ in s.applied] == [1, 2, 3, 4, 5]
                assert [ev["rows"][0]["path"] for _, ev in s.applied] == [f"/f{i}" for i in range(5)]
                assert srv.opens[1]["resume"] == "s1" and len(srv.sessions) == 1
                assert a.counters["resent"] == 3 and a.counters["resumed"] == 1
                # new batches continue the numbering after the resent ones
                assert (await a.send_realtime([row("/g")]))[0]["seq"] == 6
            finally:
                await a.close()

    run(main())


def test_resume_drops_what_fusion_applied_and_a_resent_duplicate_is_acked_as_such():
    async def main():
        async with FakeFusion() as srv:
            hold = {"on": True}
            srv.on_events = lambda s, msg: "hold" if hold["on"] and msg["seq"] >= 3 else None
            a = await agent(srv, batch_size=1).start()
            try:
                await a.send_realtime([row(f"/f{i}") for i in range(4)], wait=False)
                s = srv.sessions["s1"]
                await until(lambda: s.last_seq == 4)
                await until(lambda: sorted(a.unacked) == [3, 4], what="1, 2 acked; 3, 4 applied, acks withheld")
                hold["on"] = False
                # the resumed session says last_seq 3 (batch 4 was still queued in fusion):
                # batch 3 is dropped by the agent, 4 is resent and acked as a duplicate
                srv.report_last_seq = 3
                srv.drop_all()
                await until(lambda: not a.unacked)
                assert a.last_seq == 3
                assert a.counters["confirmed_by_resume"] == 1
                assert a.counters["resent"] == 1 and a.counters["duplicates"] == 1
                assert ("duplicate", 4) in s.log
                assert [seq for seq, _ in s.applied] == [1, 2, 3, 4]
            finally:
                await a.close()

    run(main())


def test_a_new_session_after_a_reconnect_renumbers_the_kept_batches():
    async def main():
        async with FakeFusion() as srv:
            srv.on_events = lambda s, msg: "drop" if msg["seq"] >= 2 else None
            a = await agent(srv, batch_size=1).start()
            try:
                await a.send_realtime([row(f"/f{i}") for i in range(3)], wait=False)
                await until(lambda: len(srv.ops("events")) == 3)
                await until(lambda: sorted(a.unacked) == [2, 3], what="the ack of 1")
                srv.on_events = None
                srv.resumable = False  # fusion lost the session: a new one, last_seq 0
                srv.drop_all()
                await until(lambda: not a.unacked)
                assert a.session_id == "s2"
                applied = [(seq, ev["rows"][0]["path"]) for seq, ev in srv.sessions["s2"].applied]
                assert applied == [(1, "/f1"), (2, "/f2")]
                assert (await a.send_realtime([row("/g")]))[0]["seq"] == 3
            finally:
                await a.close()

    run(main())


def test_reconnects_back_off_doubling_up_to_the_maximum():
    async def main():
        async with FakeFusion() as srv:
            a = await agent(srv, backoff_initial=0.04, backoff_max=0.16).start()
            try:
                attempts: list[float] = []

                def refuse(peer, msg):
                    attempts.append(time.monotonic())
                    raise WireError(Code.NOT_FOUND, "no pipe")  # after start: retried with backoff

                srv.handlers["session.open"] = refuse
                srv.drop_all()
                await until(lambda: len(attempts) >= 5, timeout=5)
                gaps = [b - x for x, b in zip(attempts, attempts[1:])]
                for g, expected in zip(gaps, (0.04, 0.08, 0.16, 0.16)):
                    assert g >= expected * 0.9, gaps
                assert gaps[3] < 0.16 * 4, gaps  # capped
                assert a.counters["connect_failures"] >= 4 and isinstance(a.last_error, Exception)
            finally:
                await a.close(session_close=False)

    run(main())


def test_a_refused_key_fails_start():
    async def main():
        async with FakeFusion() as srv:
            a = SimAgent(srv.url, "wrong", "pipe-1", **FAST)
            with pytest.raises(Refused) as info:
                await a.start(timeout=5)
            assert info.value.code == Code.UNAUTHORIZED

    run(main())


# --- session_ended ------------------------------------------------------------------


def test_session_ended_reply_reopens_at_once_and_resends():
    async def main():
        async with FakeFusion() as srv:
            a = await agent(srv, backoff_initial=30.0, batch_size=1).start()  # a reconnect would take 30 s
            try:
                await a.send_realtime([row("/a")])
                srv.sessions["s1"].ended = True
                acks = await asyncio.wait_for(a.send_realtime([row("/b")]), 3)
                assert acks[0]["seq"] == 1  # renumbered in the new session
                assert a.session_id == "s2" and len(srv.peers) == 1  # same connection
                assert srv.opens[1].get("resume") is None  # an ended session is not resumed
                assert [ev["rows"][0]["path"] for _, ev in srv.sessions["s2"].applied] == ["/b"]
                assert a.counters["session_gone"] == 1
            finally:
                await a.close()

    run(main())


def test_session_ended_push_and_session_unknown_reopen_at_once():
    async def main():
        async with FakeFusion(timeout=0.2) as srv:
            a = await agent(srv, backoff_initial=30.0, timeout_hint=0.1).start()
            try:
                srv.sessions["s1"].ended = True
                await srv.current.peer.push("session_ended", session_id="s1", reason="timeout")
                await until(lambda: a.session_id == "s2", timeout=2)
                del srv.sessions["s2"]  # fusion forgot it: the next heartbeat gets session_unknown
                await until(lambda: a.session_id == "s3", timeout=2, what="a re-open after session_unknown")
                assert len(srv.peers) == 1
            finally:
                await a.close()

    run(main())


# --- commands, snapshot, audit, sentinel --------------------------------------------


def test_a_scan_push_is_answered_with_on_demand_batches_then_job_complete():
    async def main():
        async with FakeFusion() as srv:
            scanned = []

            def scan_handler(path):
                scanned.append(path)
                return [row(f"{path}/x{i}") for i in range(5)]

            a = await agent(srv, scan_handler=scan_handler, batch_size=2).start()
            try:
                await srv.current.peer.push("scan", session_id="s1", job_id="j1", path="/up")
                s = srv.sessions["s1"]
                await until(lambda: a.jobs, what="the job to complete")
                assert scanned == ["/up"]
                evs = [e for e in s.log if e[0] in ("events", "job.complete")]
                assert evs == [("events", 1, "on_demand", "j1"), ("events", 2, "on_demand", "j1"),
                               ("events", 3, "on_demand", "j1"), ("job.complete", {"job_id": "j1"})]  # fmt: skip
                assert a.jobs == [("j1", "/up", None)]
                # the same job again (e.g. also listed in a heartbeat) is not run twice
                s.commands.append({"push": "scan", "session_id": "s1", "job_id": "j1", "path": "/up"})
                await a.heartbeat_now()
                await asyncio.sleep(0.05)
                assert scanned == ["/up"]
            finally:
                await a.close()

    run(main())


def test_a_failing_scan_handler_reports_the_error_in_job_complete():
    async def main():
        async with FakeFusion() as srv:
            def scan_handler(path):
                raise PermissionError("denied")

            a = await agent(srv, scan_handler=scan_handler).start()
            try:
                s = srv.sessions["s1"]
                s.commands.append({"push": "scan", "session_id": "s1", "job_id": "j9", "path": "/p"})
                await a.heartbeat_now()  # commands delivered by a heartbeat reply
                await until(lambda: any(e[0] == "job.complete" for e in s.log))
                (done,) = [e for e in s.log if e[0] == "job.complete"]
                assert done[1] == {"job_id": "j9", "error": "PermissionError: denied"}
            finally:
                await a.close()

    run(main())


def test_scans_and_sentinel_are_answered_from_the_tree():
    async def main():
        tree = {
            "/": row("/", "dir", ctime=5.0),
            "/d": row("/d", "dir", ctime=10.0),
            "/d/a": row("/d/a", size=3, ctime=11.0),
            "/e": row("/e", ctime=12.0),
        }
        async with FakeFusion() as srv:
            a = await agent(srv, tree=tree).start()
            try:
                await srv.current.peer.push("scan", session_id="s1", job_id="j1", path="/d")
                s = srv.sessions["s1"]
                await until(lambda: any(e[0] == "job.complete" for e in s.log))
                assert [r["path"] for r in s.applied[0][1]["rows"]] == ["/d", "/d/a"]

                srv.sentinel_paths = ["/d/a", "/gone"]
                out = await a.sentinel_round()
                assert out["paths"] == ["/d/a", "/gone"] and out["counts"] == {"checked": 2}
                a_res, gone = out["results"]
                assert a_res == {"path": "/d/a", "exists": True, "kind": "file", "mtime": 11.0, "ctime": 11.0,
                                 "size": 3, "parent_ctime": 10.0}  # fmt: skip
                assert gone == {"path": "/gone", "exists": False, "kind": None, "mtime": None, "ctime": None,
                                "size": None, "parent_ctime": 5.0}  # fmt: skip

                # realtime rows keep the tree current
                await a.send_realtime([row("/d/a")], delete=True)
                assert "/d/a" not in tree
            finally:
                await a.close()

    run(main())


def test_snapshot_then_end_in_order():
    async def main():
        async with FakeFusion() as srv:
            a = await agent(srv, batch_size=2).start()
            try:
                await a.send_snapshot([row(f"/f{i}") for i in range(3)], wait=False)
                await a.snapshot_end()
                s = srv.sessions["s1"]
                assert [e[0] for e in s.log[1:]] == ["events", "events", "snapshot.end"]
                assert s.applied[0][1]["source"] == "snapshot"
                await a.flush(timeout=2)
            finally:
                await a.close()

    run(main())


def test_run_audit_sends_rows_with_the_audit_id_and_ends_the_audit():
    async def main():
        async with FakeFusion() as srv:
            a = await agent(srv, batch_size=2).start()
            try:
                reply = await a.run_audit(row(f"/f{i}") for i in range(3))
                assert reply == {"reports": {"v1": {"aborted": False}}}
                s = srv.sessions["s1"]
                assert [e for e in s.log if e[0] != "open"] == [
                    ("audit.start", None), ("events", 1, "audit", "a-s1"), ("events", 2, "audit", "a-s1"),
                    ("audit.end", False)]  # fmt: skip

                def broken():
                    yield row("/x")
                    raise OSError("disk went away")

                with pytest.raises(OSError):
                    await a.run_audit(broken())
                assert s.log[-1] == ("audit.end", True)  # aborted, in the finally
            finally:
                await a.close()

    run(main())


def test_audit_now_push_runs_an_audit_of_the_tree():
    async def main():
        tree = {"/d": row("/d", "dir"), "/d/a": row("/d/a")}
        async with FakeFusion() as srv:
            a = await agent(srv, tree=tree).start()
            try:
                await srv.current.peer.push("audit_now", session_id="s1", path="/d")
                s = srv.sessions["s1"]
                await until(lambda: ("audit.end", False) in s.log)
                rows = s.applied[0][1]["rows"]
                assert [(r["path"], r["audit_skipped"]) for r in rows] == [("/d", False), ("/d/a", None)]
                assert tree["/d"]["audit_skipped"] is None  # the tree itself is untouched
            finally:
                await a.close()

    run(main())


def test_request_audit_and_an_audit_lost_with_its_session():
    async def main():
        async with FakeFusion() as srv:
            a = await agent(srv, batch_size=1).start()
            try:
                assert await a.request_audit("/lost", reason="queue overflow") == {"forwarded_to": []}
                assert srv.sessions["s1"].log[-1] == ("audit.request", {"path": "/lost", "reason": "queue overflow"})

                # audit batches in flight when fusion loses the session are not carried into the new one
                srv.on_events = lambda s, msg: "drop"
                task = asyncio.ensure_future(a.run_audit([row("/x")]))
                await until(lambda: len(srv.ops("events")) == 1)
                srv.on_events = None
                srv.resumable = False
                srv.drop_all()
                with pytest.raises(ClientError) as info:
                    await asyncio.wait_for(task, 3)
                assert a.counters["discarded"] == 1
                # the batch fails with SessionLost, or audit.end (retried in the new session) is refused
                assert isinstance(info.value, SessionLost) or info.value.code == Code.AUDIT_REFUSED
            finally:
                await a.close()

    run(main())


def test_backpressure_withheld_acks_block_the_sender_at_its_bound():
    async def main():
        async with FakeFusion() as srv:
            release = asyncio.Event()
            held: list = []

            def on_events(s, msg):
                held.append(msg["seq"])
                return "hold"

            srv.on_events = on_events
            a = await agent(srv, batch_size=1, max_unacked=3).start()
            try:
                sender = asyncio.ensure_future(a.send_realtime([row(f"/f{i}") for i in range(5)], wait=False))
                await until(lambda: len(held) == 3)
                await asyncio.sleep(0.05)
                assert not sender.done() and len(held) == 3  # the bound holds the fourth batch back
                release.set()
                srv.on_events = None
                srv.drop_all()  # resume with last_seq 3: 1-3 confirmed, 4-5 go out
                await asyncio.wait_for(sender, 3)
                await a.flush(timeout=3)
                assert [seq for seq, _ in srv.sessions["s1"].applied] == [1, 2, 3, 4, 5]
            finally:
                await a.close()

    run(main())


def test_a_sequence_gap_re_attaches_the_session_and_resends_from_its_last_seq():
    async def main():
        async with FakeFusion() as srv:
            lost = {"seq2": True}

            def on_events(s, msg):
                if msg["seq"] == 2 and lost["seq2"]:
                    lost["seq2"] = False
                    return "drop"  # fusion lost batch 2: batch 3 then gets sequence_gap
                return None

            srv.on_events = on_events
            a = await agent(srv, batch_size=1, backoff_initial=30.0).start()
            try:
                acks = await asyncio.wait_for(a.send_realtime([row(f"/f{i}") for i in range(3)]), 3)
                assert [x["seq"] for x in acks] == [1, 2, 3]
                s = srv.sessions["s1"]
                assert [seq for seq, _ in s.applied] == [1, 2, 3]
                assert srv.opens[-1]["resume"] == "s1" and len(srv.peers) == 1  # re-attached, same connection
                assert a.counters["resyncs"] == 1 and a.counters["session_gone"] == 0
            finally:
                await a.close()

    run(main())


def _frame(msg: dict) -> bytes:
    """One unmasked server-to-client text frame (RFC 6455), to write two frames at once."""
    data = wire.encode_bytes(msg)
    n = len(data)
    head = bytes([0x81, n]) if n < 126 else bytes([0x81, 126]) + n.to_bytes(2, "big")
    return head + data


def test_pushes_right_after_the_open_reply_are_not_lost():
    async def main():
        async with FakeFusion() as srv:
            plain_open = srv.handlers["session.open"]

            async def open_then_push(peer, msg):
                reply = plain_open(peer, msg)
                # reply and push in one write: the agent reads the push before it has taken the reply in
                frames = [wire.reply(msg["id"], **reply),
                          wire.push("scan", session_id=reply["session_id"], job_id="j0", path="/")]
                peer.ws.transport.write(b"".join(_frame(f) for f in frames))
                return NO_REPLY

            srv.handlers["session.open"] = open_then_push
            a = await agent(srv, tree={"/": row("/", "dir")}).start()
            try:
                await until(lambda: a.jobs, what="the scan pushed behind the open reply")
                assert a.jobs == [("j0", "/", None)]
            finally:
                await a.close()

    run(main())


def test_a_session_open_error_that_will_not_fix_itself_fails_start():
    async def main():
        async with FakeFusion() as srv:
            def refuse(peer, msg):
                raise WireError(Code.FORBIDDEN, "this key may not feed pipe-1")

            srv.handlers["session.open"] = refuse
            with pytest.raises(RemoteError) as info:
                await agent(srv).start(timeout=5)
            assert info.value.code == Code.FORBIDDEN

    run(main())


def test_session_mismatch_re_attaches_the_session_at_once():
    async def main():
        async with FakeFusion() as srv:
            a = await agent(srv, batch_size=1, backoff_initial=30.0).start()
            try:
                await a.send_realtime([row("/a")])
                srv.sessions["s1"].peer = None  # as if another connection had taken the session
                acks = await asyncio.wait_for(a.send_realtime([row("/b")]), 3)
                assert acks[0]["seq"] == 2 and a.session_id == "s1"
                assert srv.opens[-1]["resume"] == "s1" and len(srv.peers) == 1
                assert a.counters["resyncs"] == 1 and a.counters["session_gone"] == 0
                assert [seq for seq, _ in srv.sessions["s1"].applied] == [1, 2]
            finally:
                await a.close()

    run(main())
