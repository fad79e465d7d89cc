"""Fusion as a real process on loopback, driven over both planes.

Each refusal is answered with its specific error while the other sessions
keep working; sessions, leaders, audits, the sentinel, on-demand scans and
config edits go through the wire as agents and consoles use it.
"""

from __future__ import annotations

import asyncio
import time

import pytest
import websockets
from websockets.asyncio.client import connect

from fustor.client import Connection, ConnectionLost, ControlClient, Refused, RemoteError
from fustor.testing import listed, live
from fustor.testing.processes import ADMIN_KEY, AGENT_KEY, READONLY_KEY
from fustor.transport import wire

from .conftest import run

T = 1_700_000_000.0


def _event(source: str, rows: list, etype: str = "update", **extra) -> dict:
    return {"schema": "fs", "schema_version": "1.0", "type": etype, "source": source,
            "index": int(time.time() * 1000), "rows": rows, **extra}


async def _agent(url: str, agent_id: str = "A", pipe: str = "p", hint: float = 3.0, resume: str | None = None,
                 key: str = AGENT_KEY):
    conn = await Connection.open(url, key, plane="pipe")
    opened = await conn.request("session.open", pipe_id=pipe, agent_id=agent_id, schema="fs", schema_version="1.0",
                                timeout_hint=hint, resume=resume)
    return conn, opened


async def _snapshot(conn: Connection, sid: str, rows: list, seq: int = 1) -> None:
    await conn.request("events", session_id=sid, seq=seq, event=_event("snapshot", rows, "insert"))
    await conn.request("snapshot.end", session_id=sid)


BASE = [listed("/d", "dir", ino=10, ctime=T + 10, pc=T, pino=2),
        listed("/d/a", ino=11, ctime=T + 5, pc=T + 10, pino=10, size=3)]


async def _wait(predicate, timeout: float = 10.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while True:
        value = await predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


# --- connection-level refusals -------------------------------------------------------


def test_version_negotiation_refuses_another_major(fusion):
    async def main():
        async with connect(fusion.url + wire.PIPE_PATH, compression=None) as ws:
            await ws.send(wire.encode({"id": 1, "op": "hello", "protocol": "2.0", "key": AGENT_KEY}))
            reply = wire.decode(await ws.recv())
            assert reply["error"]["code"] == "protocol_version" and reply["error"]["details"]["supported"] == wire.PROTOCOL_VERSION
            with pytest.raises(websockets.ConnectionClosed) as closed:
                await ws.recv()
            assert closed.value.rcvd.code == 1008
        # A 1.x minor is fine.
        async with connect(fusion.url + wire.PIPE_PATH, compression=None) as ws:
            await ws.send(wire.encode({"id": 1, "op": "hello", "protocol": "1.9", "key": AGENT_KEY}))
            assert wire.decode(await ws.recv())["ok"] is True
    run(main())


def test_wrong_missing_or_cross_plane_keys_are_refused_before_any_state_changes(fusion):
    async def main():
        for key, plane in (("wrong-key-123456", "pipe"), ("", "pipe"), (READONLY_KEY, "pipe"), (AGENT_KEY, "control"),
                           (ADMIN_KEY, "pipe")):
            with pytest.raises(Refused) as err:
                await Connection.open(fusion.url, key, plane=plane)
            assert err.value.code == "unauthorized", (key, plane)
        async with connect(fusion.url + wire.PIPE_PATH, compression=None) as ws:
            await ws.send(wire.encode({"id": 1, "op": "session.open", "pipe_id": "p", "agent_id": "x",
                                       "schema": "fs", "schema_version": "1.0"}))
            assert wire.decode(await ws.recv())["error"]["code"] == "hello_required"
        c = await ControlClient.connect(fusion.url, READONLY_KEY)
        assert (await c.status())["sessions"] == []
        await c.close()
    run(main())


def test_bad_frames_get_specific_errors_and_the_connection_and_other_sessions_survive(fusion_factory):
    fusion = fusion_factory(max_frame=64 * 1024)

    async def main():
        honest, opened = await _agent(fusion.url, "honest")
        hsid = opened["session_id"]
        await _snapshot(honest, hsid, BASE)
        async with connect(fusion.url + wire.PIPE_PATH, compression=None, max_size=None) as ws:
            await ws.send(wire.encode({"id": 1, "op": "hello", "protocol": "1.0", "key": AGENT_KEY}))
            await ws.recv()
            await ws.send("{not json")
            assert wire.decode(await ws.recv())["error"]["code"] == "bad_json"
            await ws.send(wire.encode({"id": 2, "op": "teleport"}))
            assert wire.decode(await ws.recv())["error"]["code"] == "unknown_op"
            await ws.send(wire.encode({"id": 3, "op": "session.open", "pipe_id": "p", "agent_id": "b",
                                       "schema": "oss", "schema_version": "1.0"}))
            assert wire.decode(await ws.recv())["error"]["code"] == "schema_mismatch"
            await ws.send(wire.encode({"id": 4, "op": "events", "session_id": hsid, "seq": 9,
                                       "event": _event("realtime", [])}))
            assert wire.decode(await ws.recv())["error"]["code"] == "session_mismatch"
            await ws.send(wire.encode({"id": 5, "op": "query.ls", "view": "v"}))
            assert wire.decode(await ws.recv())["error"]["code"] == "unknown_op"  # control op on the data plane
            await ws.send(wire.encode({"id": 6, "op": "session.open", "pipe_id": "p", "agent_id": "b",
                                       "schema": "fs", "schema_version": "1.0"}))
            sid = wire.decode(await ws.recv())["session_id"]
            bad_row = dict(listed("/d/x", ino=12, ctime=T, pc=T + 10, pino=10), kind="socket")
            await ws.send(wire.encode({"id": 7, "op": "events", "session_id": sid, "seq": 1,
                                       "event": _event("realtime", [bad_row])}))
            err = wire.decode(await ws.recv())["error"]
            assert err["code"] == "bad_row" and "/d/x" in err["message"]
            await ws.send(wire.encode({"id": 8, "op": "events", "session_id": sid, "seq": 2,
                                       "event": {**_event("realtime", []), "schema_version": "3.0"}}))
            assert wire.decode(await ws.recv())["error"]["code"] == "schema_mismatch"
            # Oversized: the websocket layer closes with 1009.
            await ws.send("x" * (64 * 1024 + 10))
            with pytest.raises(websockets.ConnectionClosed) as closed:
                await ws.recv()
            assert closed.value.rcvd.code == 1009
        # The honest session kept working throughout.
        r = await honest.request("events", session_id=hsid, seq=2,
                                 event=_event("realtime", [live("/d/b", ino=13, ctime=T + 20, pc=T + 20)]))
        assert r["applied"] == 1
        c = await ControlClient.connect(fusion.url, READONLY_KEY)
        assert {e["name"] for e in (await c.ls("v", "/d"))["entries"]} == {"a", "b"}
        await c.close()
        await honest.close()
    run(main())


def test_too_many_bad_messages_close_the_connection(fusion):
    async def main():
        async with connect(fusion.url + wire.PIPE_PATH, compression=None) as ws:
            await ws.send(wire.encode({"id": 1, "op": "hello", "protocol": "1.0", "key": AGENT_KEY}))
            await ws.recv()
            for i in range(wire.MAX_BAD_MESSAGES):
                await ws.send("garbage")
            codes = []
            with pytest.raises(websockets.ConnectionClosed) as closed:
                while True:
                    codes.append(wire.decode(await ws.recv()).get("error", {}).get("code"))
            assert closed.value.rcvd.code == 1008 and codes.count("bad_json") == wire.MAX_BAD_MESSAGES
    run(main())


def test_readonly_key_may_not_write_config_or_reset(fusion):
    async def main():
        c = await ControlClient.connect(fusion.url, READONLY_KEY)
        before = (fusion.home / "views-config" / "v.yaml").read_text()
        for call in (lambda: c.config_write("views-config/v.yaml", "driver: fs\n"), lambda: c.view_reset("v"),
                     lambda: c.reload(), lambda: c.audit_now("v")):
            with pytest.raises(RemoteError) as err:
                await call()
            assert err.value.code == "forbidden"
        assert (fusion.home / "views-config" / "v.yaml").read_text() == before
        await c.close()
    run(main())


# --- sessions and leaders -------------------------------------------------------------


def test_session_timeout_is_negotiated_and_a_silent_session_expires(fusion):
    async def main():
        conn, opened = await _agent(fusion.url, "A", hint=1.0)
        assert opened["timeout"] == 3.0  # max(hint 1, pipe default 3)
        conn2, opened2 = await _agent(fusion.url, "B", hint=5.0)
        assert opened2["timeout"] == 5.0
        assert opened["views"] == {"v": "leader"} and opened2["views"] == {"v": "follower"}
        c = await ControlClient.connect(fusion.url, READONLY_KEY)
        # A keeps heartbeating; B stays silent and expires after its 5 s.
        t0 = time.monotonic()
        while time.monotonic() - t0 < 7:
            await conn.request("heartbeat", session_id=opened["session_id"])
            await asyncio.sleep(0.5)
            ids = {s["session_id"] for s in (await c.status())["sessions"]}
            if opened2["session_id"] not in ids:
                break
        assert opened2["session_id"] not in ids and opened["session_id"] in ids
        assert time.monotonic() - t0 >= 4.0
        with pytest.raises(RemoteError) as err:
            await conn2.request("heartbeat", session_id=opened2["session_id"])
        assert err.value.code == "session_ended"
        await conn.close(), await conn2.close(), await c.close()
    run(main())


def test_leader_failover_and_the_old_leader_returns_as_follower(fusion):
    async def main():
        a, oa = await _agent(fusion.url, "A")
        b, ob = await _agent(fusion.url, "B")
        assert ob["views"] == {"v": "follower"}
        await a.request("session.close", session_id=oa["session_id"])
        push = await b.next_push(timeout=5)
        assert push["push"] == "roles" and push["views"] == {"v": "leader"}
        a2, oa2 = await _agent(fusion.url, "A")
        assert oa2["views"] == {"v": "follower"}
        # Snapshot rows from the follower are refused; from the new leader applied.
        with pytest.raises(RemoteError) as err:
            await a2.request("events", session_id=oa2["session_id"], seq=1, event=_event("snapshot", BASE, "insert"))
        assert err.value.code == "not_leader"
        await _snapshot(b, ob["session_id"], BASE)
        for conn in (a, b, a2):
            await conn.close()
    run(main())


def test_a_pipe_can_lead_one_view_and_follow_another(fusion_factory):
    f = fusion_factory(views={"v1": {}, "v2": {}}, pipes={"p1": {"views": ["v1", "v2"]}, "p2": {"views": ["v2"]}})

    async def main():
        b, ob = await _agent(f.url, "B", pipe="p2")
        a, oa = await _agent(f.url, "A", pipe="p1")
        assert ob["views"] == {"v2": "leader"} and oa["views"] == {"v1": "leader", "v2": "follower"}
        # A's snapshot lands in v1 only; its realtime lands in both.
        await _snapshot(a, oa["session_id"], BASE)
        await a.request("events", session_id=oa["session_id"], seq=2,
                        event=_event("realtime", [live("/rt", ino=50, ctime=T + 50, pc=T + 50)]))
        await _snapshot(b, ob["session_id"], [listed("/only-b", ino=60, ctime=T + 60, pc=T + 60, pino=2)])
        c = await ControlClient.connect(f.url, READONLY_KEY)
        names1 = {e["name"] for e in (await c.ls("v1", "/"))["entries"]}
        names2 = {e["name"] for e in (await c.ls("v2", "/"))["entries"]}
        assert names1 == {"d", "rt"} and names2 == {"only-b", "rt"}
        for conn in (a, b, c):
            await conn.close()
    run(main())


def test_a_snapshot_grouped_by_directory_builds_the_same_view(fusion):
    async def main():
        a, oa = await _agent(fusion.url, "A")
        assert a.hello["protocol"] == wire.PROTOCOL_VERSION == "1.1"
        sid = oa["session_id"]
        entries = [[f"f{i:04d}", "file", i, T - 3600, T - 3600, 100 + i, 0o100644, 1000, 1000, None]
                   for i in range(300)]  # big enough for the typed decode, which expands groups too
        groups = [{"dir": "/", "mtime": T + 10, "ctime": T + 10, "ino": 2,
                   "entries": [["d", "dir", 0, T + 10, T + 10, 10, 0o40755, 1000, 1000, None]]},
                  {"dir": "/d", "mtime": T + 10, "ctime": T + 10, "ino": 10, "entries": entries[:100]},
                  {"dir": "/d", "mtime": T + 10, "ctime": T + 10, "ino": 10, "entries": entries[100:]}]
        ev = {**_event("snapshot", [], "insert"), "groups": groups}
        del ev["rows"]
        assert (await a.request("events", session_id=sid, seq=1, event=ev))["applied"] == 301
        # A malformed group is refused whole, naming what is wrong; the session goes on.
        bad = {**ev, "groups": [{**groups[1], "entries": [["x/y", "file", 1, T, T, 5, 1, 1, 1, None]]}]}
        with pytest.raises(RemoteError) as err:
            await a.request("events", session_id=sid, seq=2, event=bad)
        assert err.value.code == "invalid" and "one path component" in err.value.message
        live_groups = {**ev, "source": "realtime", "type": "update"}
        with pytest.raises(RemoteError) as err:
            await a.request("events", session_id=sid, seq=3, event=live_groups)
        assert err.value.code == "invalid" and "listings" in err.value.message
        await a.request("snapshot.end", session_id=sid)
        c = await ControlClient.connect(fusion.url, READONLY_KEY)
        st = await c.stats("v", "/d")
        assert st["files"] == 300 and st["size"] == sum(range(300))
        f = (await c.ls("v", "/d", limit=1))["entries"][0]
        assert f["name"] == "f0000" and f["inode"] == 100
        await a.close(), await c.close()
    run(main())


def test_duplicate_batches_after_a_reconnect_are_applied_once(fusion):
    async def main():
        a, oa = await _agent(fusion.url, "A")
        sid = oa["session_id"]
        await _snapshot(a, sid, BASE)
        ev = _event("realtime", [live("/d/n", ino=70, ctime=T + 70, pc=T + 70, size=1)])
        await a.request("events", session_id=sid, seq=2, event=ev)
        await a.abort()  # the connection drops; the session lives on
        a2, oa2 = await _agent(fusion.url, "A", resume=sid)
        assert oa2["session_id"] == sid and oa2["resumed"] and oa2["last_seq"] == 2
        dup = await a2.request("events", session_id=sid, seq=2, event=ev)
        assert dup["duplicate"] is True
        c = await ControlClient.connect(fusion.url, READONLY_KEY)
        dump = await c.dump("v")
        assert dump["rows_applied"] == 3  # 2 snapshot rows + the realtime row once
        await a2.close(), await c.close()
    run(main())


def test_audit_lifecycle_through_the_wire(fusion):
    async def main():
        a, oa = await _agent(fusion.url, "A")
        sid = oa["session_id"]
        await _snapshot(a, sid, BASE)
        r = await a.request("audit.start", session_id=sid)
        aid = r["audit_id"]
        with pytest.raises(RemoteError) as err:
            await a.request("events", session_id=sid, seq=2, event=_event("audit", [], audit_id="stale-id"))
        assert err.value.code == "audit_refused"
        await a.request("events", session_id=sid, seq=3, event=_event("audit", [
            listed("/d", "dir", ino=10, ctime=T + 90, pc=T, pino=2, skipped=False)], audit_id=aid))
        end = await a.request("audit.end", session_id=sid, audit_id=aid)
        assert end["reports"]["v"]["deleted"] == ["/d/a"]
        with pytest.raises(RemoteError) as err:
            await a.request("audit.end", session_id=sid, audit_id=aid)
        assert err.value.code == "audit_refused"
        # An abandoned audit (superseded by a new start) deletes nothing.
        await a.request("events", session_id=sid, seq=4,
                        event=_event("realtime", [live("/d/k", ino=80, ctime=T + 95, pc=T + 95)]))
        r1 = await a.request("audit.start", session_id=sid)
        await a.request("events", session_id=sid, seq=5, event=_event("audit", [
            listed("/d", "dir", ino=10, ctime=T + 99, pc=T, pino=2, skipped=False)], audit_id=r1["audit_id"]))
        # The session closes with the audit open: abandoned, no missing detection.
        await a.request("session.close", session_id=sid)
        c = await ControlClient.connect(fusion.url, READONLY_KEY)
        assert (await c.stats("v", "/d/k"))["kind"] == "file"
        await a.close(), await c.close()
    run(main())


def test_sentinel_round_trip(fusion):
    async def main():
        a, oa = await _agent(fusion.url, "A")
        sid = oa["session_id"]
        await _snapshot(a, sid, BASE)
        await a.request("events", session_id=sid, seq=2, event=_event("realtime", [
            live("/d/w", ino=90, ctime=T + 100, pc=T + 100, size=5, atomic=False)]))
        await asyncio.sleep(0.6)  # unchanged for half a sentinel interval (1 s here) before the round (C10)
        tasks = await a.request("sentinel.tasks", session_id=sid)
        assert tasks["paths"] == ["/d/w"]
        fb = await a.request("sentinel.feedback", session_id=sid, results=[
            {"path": "/d/w", "exists": True, "kind": "file", "mtime": T + 100, "ctime": T + 100, "size": 5,
             "parent_ctime": T + 100}])
        assert fb["counts"]["v"]["cleared"] == 1
        c = await ControlClient.connect(fusion.url, READONLY_KEY)
        assert (await c.suspects("v"))["count"] == 0
        await a.close(), await c.close()
    run(main())


def test_force_real_time_round_trip_and_its_timeout(fusion):
    async def main():
        a, oa = await _agent(fusion.url, "A")
        sid = oa["session_id"]
        await _snapshot(a, sid, BASE)
        c = await ControlClient.connect(fusion.url, READONLY_KEY)
        # Nobody answers the scan: the query returns after its bound with job_pending.
        t0 = time.monotonic()
        res = await c.summary("v", "/d", force_real_time=True, timeout=0.5)
        assert res["job_pending"] is True and 0.4 < time.monotonic() - t0 < 3
        push = await a.next_push(timeout=2)
        assert push["push"] == "scan" and push["path"] == "/d" and push["job_id"] == res["job_id"]
        assert (await c.job_status(res["job_id"]))["state"] == "pending"

        async def answer():
            p = await a.next_push(timeout=5)
            await a.request("events", session_id=sid, seq=3, event=_event("on_demand", [
                listed("/d/fresh", ino=95, ctime=T + 120, pc=T + 120, pino=10, size=7)], job_id=p["job_id"]))
            await a.request("job.complete", session_id=sid, job_id=p["job_id"])

        task = asyncio.create_task(answer())
        res2 = await c.summary("v", "/d", force_real_time=True, timeout=5)
        await task
        assert res2["job_pending"] is False and res2["files"] == 2
        assert (await c.stats("v", "/d/fresh"))["blind_spot"] is True
        assert (await c.job_status(res["job_id"]))["state"] == "pending"  # the first job was never completed
        await a.close(), await c.close()
    run(main())


def test_a_waiting_force_real_time_query_does_not_hold_up_the_next_queries(fusion):
    async def main():
        a, oa = await _agent(fusion.url, "A")
        await _snapshot(a, oa["session_id"], BASE)
        c = await ControlClient.connect(fusion.url, READONLY_KEY)
        # Nobody answers the scan: this query waits its whole bound (shorter than the 3 s
        # session timeout of this silent agent, so its session still leads when it ends) ...
        waiting = asyncio.create_task(c.summary("v", "/d", force_real_time=True, timeout=1.5))
        assert (await a.next_push(timeout=2))["push"] == "scan"  # the query is in, waiting for its scan
        # ... while the same connection's next requests are answered at once, in order.
        t0 = time.monotonic()
        stats = await c.stats("v", "/d")
        listing = await c.ls("v", "/d")
        assert time.monotonic() - t0 < 1.0 and not waiting.done()
        assert stats["files"] == 1 and [e["name"] for e in listing["entries"]] == ["a"]
        assert (await waiting)["job_pending"] is True
        await a.close(), await c.close()
    run(main())


def test_view_answers_not_ready_until_its_first_snapshot_ended(fusion):
    async def main():
        c = await ControlClient.connect(fusion.url, READONLY_KEY)
        with pytest.raises(RemoteError) as err:
            await c.ls("v", "/")
        assert err.value.code == "not_ready" and "no agent session" in err.value.message
        a, oa = await _agent(fusion.url, "A")
        await a.request("events", session_id=oa["session_id"], seq=1, event=_event("snapshot", BASE, "insert"))
        with pytest.raises(RemoteError) as err:
            await c.ls("v", "/")
        assert "snapshot is running" in err.value.message
        assert (await c.ls("v", "/", partial=True))["total"] == 1
        await a.request("snapshot.end", session_id=oa["session_id"])
        assert (await c.ls("v", "/"))["total"] == 1
        await a.close(), await c.close()
    run(main())


# --- config through the control plane ----------------------------------------------------


def test_config_edit_keeps_comments_and_hot_reloads_and_invalid_is_refused(fusion):
    async def main():
        c = await ControlClient.connect(fusion.url, ADMIN_KEY)
        names = [f["name"] for f in (await c.config_list())["files"]]
        assert names == ["receivers-config.yaml", "views-config/v.yaml", "fusion-pipes-config/p.yaml"]
        text = (await c.config_read("views-config/v.yaml"))["text"]
        edited = text.replace("hot_file_threshold: 5", "hot_file_threshold: 7  # raised in a test")
        assert edited != text
        v = await c.config_validate("views-config/v.yaml", edited)
        assert v["valid"] is True
        res = await c.config_write("views-config/v.yaml", edited)
        assert res["reload"]["views_changed"] == ["v"] and res["reload"]["pipes_restarted"] == []
        on_disk = (fusion.home / "views-config" / "v.yaml").read_text()
        assert on_disk == edited and "# test view" in on_disk and "# raised in a test" in on_disk
        bad = edited.replace("hot_file_threshold: 7", "hot_file_threshold: -1")
        v = await c.config_validate("views-config/v.yaml", bad)
        assert v["valid"] is False and any("hot_file_threshold" in e["key"] or "hot_file_threshold" in e["message"]
                                           for e in v["errors"])
        with pytest.raises(RemoteError) as err:
            await c.config_write("views-config/v.yaml", bad)
        assert err.value.code == "config_invalid"
        with pytest.raises(RemoteError) as err:
            await c.config_write("views-config/v.yaml", "driver: fs\nhot_file_threshold: [unclosed\n")
        assert err.value.code == "config_invalid" and "YAML" in err.value.message
        assert (fusion.home / "views-config" / "v.yaml").read_text() == edited
        for name in ("../escape.yaml", "/etc/passwd.yaml", "views-config/../../x.yaml"):
            with pytest.raises(RemoteError) as err:
                await c.config_write(name, "x: 1\n")
            assert err.value.code == "config_invalid" and "outside the config home" in err.value.message
        # A pipe change restarts that pipe only, and its session is ended.
        a, oa = await _agent(fusion.url, "A")
        ptext = (await c.config_read("fusion-pipes-config/p.yaml"))["text"].replace("session_timeout: 3",
                                                                                    "session_timeout: 4")
        res = await c.config_write("fusion-pipes-config/p.yaml", ptext)
        assert res["reload"]["pipes_restarted"] == ["p"]
        push = await a.next_push(timeout=5)
        assert push["push"] == "session_ended"
        await a.close(), await c.close()
    run(main())


def test_a_config_write_that_restarts_the_receiver_it_came_through_answers_then_restarts(fusion):
    """The reply comes first; the receiver moves to its new port after it (no deadlock)."""
    import json
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        new_port = s.getsockname()[1]

    async def main():
        c = await ControlClient.connect(fusion.url, ADMIN_KEY)
        text = (await c.config_read("receivers-config.yaml"))["text"]
        res = await asyncio.wait_for(c.config_write("receivers-config.yaml", text.replace("port: 0", f"port: {new_port}")), 15)
        assert res["reload"]["receivers_restarted"] == ["main"]
        await c.close()
        deadline = time.monotonic() + 10
        while True:
            state = json.loads((fusion.home / "fusion.state.json").read_text())
            if state["receivers"]["main"].endswith(f":{new_port}"):
                break
            assert time.monotonic() < deadline, state
            await asyncio.sleep(0.05)
        c2 = await ControlClient.connect(f"ws://127.0.0.1:{new_port}", READONLY_KEY)
        assert "views" in await c2.status()
        await c2.close()

    run(main())
