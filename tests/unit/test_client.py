"""fustor.client against a scripted in-process websocket server (docs/protocol.md)."""

from __future__ import annotations

import asyncio
import inspect
import socket

import pytest
from scripted_ws import NO_REPLY, ScriptedServer, run, until

from fustor.client import (
    Connection,
    ConnectionLost,
    ControlClient,
    PipeClient,
    Refused,
    RemoteError,
    RequestTimeout,
    Unreachable,
    plane_url,
)
from fustor.transport import wire
from fustor.transport.wire import Code, WireError

# --- urls -----------------------------------------------------------------------------


def test_plane_url_adds_the_plane_path_to_a_base_url():
    assert plane_url("ws://h:1", "pipe") == "ws://h:1/api/v1/pipe"
    assert plane_url("h:1", "control") == "ws://h:1/api/v1/control"
    assert plane_url("https://h:1/", "control") == "wss://h:1/api/v1/control"
    assert plane_url("ws://h:1/custom/path", "pipe") == "ws://h:1/custom/path"
    with pytest.raises(ValueError):
        plane_url("ftp://h:1", "pipe")
    with pytest.raises(ValueError):
        plane_url("ws://h:1", "data")


# --- hello ----------------------------------------------------------------------------


def test_hello_names_the_protocol_the_key_and_the_client():
    async def main():
        async with ScriptedServer() as srv:
            conn = await Connection.open(srv.url, "ro-key", plane="control", client="pytest")
            try:
                assert conn.access == "readonly"
                assert conn.hello["plane"] == "control"
                assert conn.server == "scripted/0"
                (_, hello), = srv.hellos
                assert hello == {"id": hello["id"], "op": "hello", "protocol": wire.PROTOCOL_VERSION,
                                 "key": "ro-key", "client": "pytest"}  # fmt: skip
            finally:
                await conn.close()

    run(main())


def test_a_refused_key_raises_refused_with_the_code():
    async def main():
        async with ScriptedServer() as srv:
            with pytest.raises(Refused) as info:
                await Connection.open(srv.url, "nope", plane="control")
            assert info.value.code == Code.UNAUTHORIZED
            # a pipe key on the control plane is refused the same way
            with pytest.raises(Refused) as info:
                await Connection.open(srv.url, "pipe-key", plane="control")
            assert info.value.code == Code.UNAUTHORIZED

    run(main())


def test_an_incompatible_protocol_raises_refused_with_details():
    async def main():
        async with ScriptedServer() as srv:
            def hello(peer, msg):
                raise WireError(Code.PROTOCOL_VERSION, "protocol '1.0' is not supported", supported="2.0")

            srv.hello_handler = hello
            with pytest.raises(Refused) as info:
                await Connection.open(srv.url, "pipe-key")
            assert info.value.code == Code.PROTOCOL_VERSION
            assert info.value.details == {"supported": "2.0"}

    run(main())


def test_a_policy_close_without_a_reply_during_hello_is_a_refusal():
    async def main():
        async with ScriptedServer() as srv:
            async def hello(peer, msg):
                await peer.close(1008, Code.UNAUTHORIZED)

            srv.hello_handler = lambda peer, msg: asyncio.ensure_future(hello(peer, msg)) and NO_REPLY
            with pytest.raises(Refused) as info:
                await Connection.open(srv.url, "pipe-key")
            assert info.value.code == Code.UNAUTHORIZED
            assert info.value.details["close_code"] == 1008

    run(main())


def test_a_wrong_path_is_refused_at_the_handshake_or_by_policy():
    async def main():
        async with ScriptedServer() as srv:
            with pytest.raises(Refused):
                await Connection.open(srv.url + "/elsewhere", "pipe-key")

    run(main())


def test_nobody_listening_raises_unreachable():
    async def main():
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        with pytest.raises(Unreachable) as info:
            await Connection.open(f"ws://127.0.0.1:{port}", "k", open_timeout=2)
        assert isinstance(info.value, ConnectionLost)  # callers that reconnect catch one type

    run(main())


def test_a_silent_server_times_out_the_open():
    async def main():
        async with ScriptedServer() as srv:
            srv.hello_handler = lambda peer, msg: NO_REPLY
            with pytest.raises(Unreachable, match="within 0.2 s"):
                await Connection.open(srv.url, "pipe-key", open_timeout=0.2)

    run(main())


# --- requests -------------------------------------------------------------------------


def test_concurrent_requests_get_their_own_replies_even_out_of_order():
    async def main():
        async def stats(peer, msg):
            n = int(msg["path"].rsplit("/", 1)[1])
            await asyncio.sleep((20 - n) * 0.003)  # the first asked is answered last
            return {"path": msg["path"], "n": n}

        async with ScriptedServer({"query.stats": stats}) as srv:
            conn = await Connection.open(srv.url, "ro-key", plane="control")
            try:
                replies = await asyncio.gather(
                    *(conn.request("query.stats", view="v", path=f"/d/{n}") for n in range(20))
                )
                assert [r["n"] for r in replies] == list(range(20))
                assert all(r["path"] == f"/d/{r['n']}" for r in replies)
                assert "re" not in replies[0] and "ok" not in replies[0]
                ids = [m["id"] for m in srv.ops("query.stats")]
                assert len(set(ids)) == 20
                assert conn.pending == 0
                assert not srv.bad
            finally:
                await conn.close()

    run(main())


def test_an_error_reply_raises_remote_error_and_the_connection_stays_usable():
    async def main():
        def ls(peer, msg):
            if msg["view"] == "missing":
                raise WireError(Code.NOT_FOUND, "no view 'missing'", view="missing")
            return {"entries": []}

        async with ScriptedServer({"query.ls": ls}) as srv:
            conn = await Connection.open(srv.url, "ro-key", plane="control")
            try:
                with pytest.raises(RemoteError) as info:
                    await conn.request("query.ls", view="missing")
                err = info.value
                assert (err.code, err.message, err.details, err.op) == (
                    Code.NOT_FOUND, "no view 'missing'", {"view": "missing"}, "query.ls")
                assert err.request_id == srv.ops("query.ls")[0]["id"]
                assert "[not_found]" in str(err)
                assert await conn.request("query.ls", view="v") == {"entries": []}
            finally:
                await conn.close()

    run(main())


def test_none_params_are_left_out_of_the_frame():
    async def main():
        async with ScriptedServer({"query.ls": lambda p, m: {}}) as srv:
            async with await ControlClient.connect(srv.url, "ro-key") as c:
                await c.ls("v")
                await c.ls("v", "/a", limit=5, sort="size", reverse=True)
            first, second = srv.ops("query.ls")
            assert set(first) == {"id", "op", "view"}
            assert {k: second[k] for k in ("path", "limit", "sort", "reverse")} == {
                "path": "/a", "limit": 5, "sort": "size", "reverse": True}

    run(main())


def test_a_request_timeout_raises_and_a_late_reply_is_ignored():
    async def main():
        release = asyncio.Event()

        async def slow(peer, msg):
            await release.wait()
            return {"late": True}

        async with ScriptedServer({"status": slow, "config.list": lambda p, m: {"files": []}}) as srv:
            conn = await Connection.open(srv.url, "ro-key", plane="control")
            try:
                with pytest.raises(RequestTimeout) as info:
                    await conn.request("status", request_timeout=0.05)
                assert isinstance(info.value, TimeoutError)
                assert conn.pending == 0
                release.set()
                # the late reply to the abandoned request does not disturb the next one
                assert await conn.request("config.list") == {"files": []}
            finally:
                await conn.close()

    run(main())


def test_the_timeout_field_of_summary_is_not_the_request_timeout():
    async def main():
        async with ScriptedServer({"query.summary": lambda p, m: {"got": m.get("timeout")}}) as srv:
            async with await ControlClient.connect(srv.url, "ro-key") as c:
                assert await c.summary("v", "/x", force_real_time=True, timeout=7.5) == {"got": 7.5}
            (m,) = srv.ops("query.summary")
            assert m["force_real_time"] is True

    run(main())


# --- pushes ---------------------------------------------------------------------------


def test_pushes_arrive_in_order_on_the_queue():
    async def main():
        async def subscribe(peer, msg):
            for i in range(3):
                await peer.push("status", n=i)
            await peer.push("log", line="hello")
            return {"topics": msg.get("topics") or ["status", "log"]}

        async with ScriptedServer({"subscribe": subscribe, "status": lambda p, m: {"ok_": 1}}) as srv:
            async with await ControlClient.connect(srv.url, "ro-key") as c:
                await c.subscribe(["status", "log"])
                got = [await c.conn.next_push(timeout=2) for _ in range(4)]
                assert [(p["push"], p.get("n")) for p in got] == [("status", 0), ("status", 1), ("status", 2),
                                                                   ("log", None)]  # fmt: skip
                # requests and pushes interleave on one connection
                assert await c.status() == {"ok_": 1}
                with pytest.raises(TimeoutError):
                    await c.conn.next_push(timeout=0.02)

    run(main())


def test_a_push_callback_gets_pushes_sync_or_async():
    async def main():
        async def subscribe(peer, msg):
            await peer.push("roles", session_id="s", views={"v": "leader"})
            return {}

        async with ScriptedServer({"subscribe": subscribe}) as srv:
            got: list = []
            conn = await Connection.open(srv.url, "ro-key", plane="control", on_push=got.append)
            await conn.request("subscribe")
            await until(lambda: got, what="the sync callback")
            assert got[0]["views"] == {"v": "leader"} and conn.pushes.empty()
            await conn.close()

            seen: list = []

            async def on_push(msg):
                await asyncio.sleep(0)
                # an async callback may make requests on the same connection
                seen.append(await conn2.request("status"))

            srv.handlers["status"] = lambda peer, msg: {"n": 1}
            conn2 = await Connection.open(srv.url, "ro-key", plane="control", on_push=on_push)
            await conn2.request("subscribe")
            await until(lambda: seen, what="the async callback")
            assert seen == [{"n": 1}]
            await conn2.close()

    run(main())


def test_a_full_push_queue_drops_the_oldest():
    async def main():
        async def subscribe(peer, msg):
            for i in range(5):
                await peer.push("status", n=i)
            return {}

        async with ScriptedServer({"subscribe": subscribe}) as srv:
            conn = await Connection.open(srv.url, "ro-key", plane="control", push_queue_size=2)
            try:
                await conn.request("subscribe")
                await until(lambda: conn.pushes_dropped == 3)
                assert [(await conn.next_push())["n"] for _ in range(2)] == [3, 4]
            finally:
                await conn.close()

    run(main())


def test_a_frame_bigger_than_the_websockets_default_is_accepted():
    async def main():
        big = "x" * (3 * 1024 * 1024)  # websockets refuses > 1 MiB unless max_size is raised

        async with ScriptedServer({"query.dump": lambda p, m: {"blob": big}}) as srv:
            async with await ControlClient.connect(srv.url, "ro-key") as c:
                assert len((await c.dump("v"))["blob"]) == len(big)

    run(main())


# --- connection loss ------------------------------------------------------------------


def test_a_server_drop_fails_pending_requests_with_connection_lost():
    async def main():
        async with ScriptedServer({"status": lambda p, m: NO_REPLY}) as srv:
            conn = await Connection.open(srv.url, "ro-key", plane="control")
            pending = [asyncio.ensure_future(conn.request("status")) for _ in range(3)]
            await until(lambda: len(srv.ops("status")) == 3)
            srv.drop_all()
            for fut in pending:
                with pytest.raises(ConnectionLost):
                    await fut
            assert conn.closed and isinstance(conn.lost, ConnectionLost)
            with pytest.raises(ConnectionLost):
                await conn.request("status")
            with pytest.raises(ConnectionLost):
                await conn.next_push()
            await conn.close()

    run(main())


def test_a_policy_close_is_reported_with_its_code_and_reason():
    async def main():
        async def status(peer, msg):
            await peer.close(1008, Code.TOO_MANY_ERRORS)
            return NO_REPLY

        async with ScriptedServer({"status": status}) as srv:
            conn = await Connection.open(srv.url, "ro-key", plane="control")
            with pytest.raises(ConnectionLost) as info:
                await conn.request("status")
            assert (info.value.close_code, info.value.close_reason) == (1008, Code.TOO_MANY_ERRORS)
            lost = await conn.wait_closed()
            assert lost is info.value
            await conn.close()

    run(main())


def test_iter_pushes_ends_quietly_on_close_and_raises_on_loss():
    async def main():
        async with ScriptedServer() as srv:
            conn = await Connection.open(srv.url, "ro-key", plane="control")

            async def consume():
                return [p async for p in conn.iter_pushes()]

            task = asyncio.ensure_future(consume())
            await asyncio.sleep(0.01)
            await conn.close()
            assert await task == []

            conn = await Connection.open(srv.url, "ro-key", plane="control")
            task = asyncio.ensure_future(consume())
            await until(lambda: len(srv.peers) == 2)
            srv.drop_all()
            with pytest.raises(ConnectionLost):
                await task
            await conn.close()

    run(main())


# --- typed clients --------------------------------------------------------------------


def _fill(param: inspect.Parameter, op: str):
    shape = wire.REQUESTS[op]
    tname = shape[param.name][0] if param.name in shape else "str"
    return {"str": "x", "int": 3, "num": 1.5, "bool": True, "list": ["status"], "dict": {}}[tname]


def _calls(cls):
    """(method name, op) for every public method that maps to one op."""
    out = []
    for name, fn in inspect.getmembers(cls, inspect.iscoroutinefunction):
        if name.startswith("_") or name in ("request", "close", "connect"):
            continue
        src = inspect.getsource(fn)
        ops = [op for op in wire.REQUESTS if f'"{op}"' in src]
        if len(ops) == 1:
            out.append((name, ops[0]))
    return out


@pytest.mark.parametrize("cls,plane,ops", [
    (ControlClient, "control", wire.CONTROL_OPS),
    (PipeClient, "pipe", wire.PIPE_OPS),
])  # fmt: skip
def test_typed_clients_cover_every_op_with_well_formed_requests(cls, plane, ops):
    calls = _calls(cls)
    assert {op for _, op in calls} == set(ops)

    async def main():
        async with ScriptedServer({op: (lambda p, m: {"op_": m["op"]}) for op in ops}) as srv:
            key = "admin-key" if plane == "control" else "pipe-key"
            conn = await Connection.open(srv.url, key, plane=plane)
            client = cls(conn)
            try:
                for name, op in calls:
                    fn = getattr(client, name)
                    sig = inspect.signature(fn)
                    args = {p.name: _fill(p, op) for p in sig.parameters.values() if p.default is p.empty}
                    assert (await fn(**args))["op_"] == op, name
            finally:
                await conn.close()
            assert not srv.bad, srv.bad  # every frame passed wire.check_request

    run(main())


def test_iter_ls_follows_the_cursor():
    async def main():
        names = [f"f{i:02d}" for i in range(7)]

        def ls(peer, msg):
            start = int(msg.get("cursor") or 0)
            page = names[start : start + msg["limit"]]
            nxt = start + len(page)
            return {"entries": [{"name": n} for n in page], "next_cursor": str(nxt) if nxt < len(names) else None}

        async with ScriptedServer({"query.ls": ls}) as srv:
            async with await ControlClient.connect(srv.url, "ro-key") as c:
                got = [e["name"] async for e in c.iter_ls("v", "/", page_size=3)]
            assert got == names
            assert len(srv.ops("query.ls")) == 3

    run(main())


def test_control_client_pushes_filters_by_kind():
    async def main():
        async def subscribe(peer, msg):
            await peer.push("log", line="a")
            await peer.push("status", n=1)
            await peer.push("log", line="b")
            return {}

        async with ScriptedServer({"subscribe": subscribe}) as srv:
            async with await ControlClient.connect(srv.url, "ro-key") as c:
                await c.subscribe()
                lines = []
                async for p in c.pushes(["log"]):
                    lines.append(p["line"])
                    if len(lines) == 2:
                        break
                assert lines == ["a", "b"]

    run(main())


def test_a_read_only_key_gets_forbidden_from_admin_ops():
    async def main():
        def reload(peer, msg):
            if peer.access != "admin":
                raise WireError(Code.FORBIDDEN, "reload needs an admin key")
            return {}

        async with ScriptedServer({"reload": reload}) as srv:
            async with await ControlClient.connect(srv.url, "ro-key") as c:
                assert c.access == "readonly"
                with pytest.raises(RemoteError) as info:
                    await c.reload()
                assert info.value.code == Code.FORBIDDEN
            async with await ControlClient.connect(srv.url, "admin-key") as c:
                assert await c.reload() == {}

    run(main())
