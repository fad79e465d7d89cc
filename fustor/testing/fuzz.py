"""A protocol fuzzer for both planes of fusion and for an agent's control plane.

:class:`PlaneFuzzer` opens connection after connection to one endpoint and
sends bad messages, each with the outcome ``docs/protocol.md`` promises for
it, and checks that outcome:

* frames that are not JSON, truncated JSON, binary garbage, JSON nested past
  the decoder's limit: ``bad_json`` with ``re: null``;
* JSON that is not an object, or has no valid ``id``: ``bad_message``,
  ``re: null``; no string ``op``, a required field missing or of the wrong
  type: ``bad_message`` with the id; an op nobody serves, or the other
  plane's: ``unknown_op``; an admin op with a read-only key: ``forbidden``;
* data plane, in a session of the fuzzer's own (a follower): events whose
  event or rows are malformed (``invalid``, ``bad_row``,
  ``schema_mismatch``; a batch with valid rows beside one bad row must be
  refused whole), listing rows from a follower (``not_leader``), audit rows,
  ends and starts that are not this session's (``audit_refused``,
  ``not_leader``), out-of-order sequence numbers (acknowledged as
  ``duplicate`` and not applied, protocol §6; below 1: ``bad_message``),
  session ids that are unknown, ended or another connection's;
* control planes: queries of unknown views or with bad parameters
  (``not_found``, ``invalid``), config files outside the home (``invalid``)
  or invalid config text (``config_invalid``, nothing written);
* before ``hello``: any request (``hello_required``), garbage, a bad key
  (``unauthorized``) or version (``protocol_version``): the error, then a
  close with 1008;
* a frame over the receiver's ``max_frame``: a close with 1009;
* ``MAX_BAD_MESSAGES`` malformed messages on one connection: every one
  answered, then a ``closing`` push and a close with 1008.

Every reply is matched by its ``re``; a reply whose code is not one of those
expected for its message, an ``internal`` error, a missing reply or an
unexpected close is recorded in :attr:`FuzzReport.violations`. The fuzzer
reconnects after every close. Rows the fuzzer sends live under
``/fuzz-leak-*``: if any were ever applied, the view would hold paths the
disk does not have.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import orjson
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from fustor.transport import wire

#: Where the fuzzer's rows would land if fusion ever applied one.
LEAK_PREFIX = "/fuzz-leak-"

_PLANE_PATH = {"pipe": wire.PIPE_PATH, "control": wire.CONTROL_PATH}
_MALFORMED = frozenset(("bad_json", "bad_message", "unknown_op", "forbidden"))


@dataclass
class Case:
    """One message and the outcome it must get."""

    label: str
    frame: str | bytes
    rid: Any  # the ``re`` its reply must carry (None: ``re: null``)
    codes: frozenset[str] = frozenset()  # acceptable error codes (outcome "error")
    outcome: str = "error"  # error | duplicate | ok
    bad: bool = True  # a bad message (counted); "ok" setup messages are not

    @property
    def malformed(self) -> bool:
        return self.outcome == "error" and bool(self.codes) and self.codes <= _MALFORMED


@dataclass
class FuzzReport:
    target: str
    bad: int = 0  # bad messages sent
    frames: int = 0  # every frame sent, setup included
    connections: int = 0
    errors: Counter = field(default_factory=Counter)  # error replies by code
    labels: Counter = field(default_factory=Counter)  # bad messages by kind
    duplicates: int = 0  # out-of-order batches acknowledged as duplicates
    closes: Counter = field(default_factory=Counter)  # expected closes by code
    too_many_errors: int = 0
    violations: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def violate(self, what: str) -> None:
        if len(self.violations) < 200:
            self.violations.append(what)

    def summary(self) -> dict[str, Any]:
        return {"target": self.target, "bad_messages": self.bad, "frames": self.frames,
                "connections": self.connections, "errors": dict(self.errors), "duplicates": self.duplicates,
                "closes": {str(k): v for k, v in self.closes.items()}, "too_many_errors": self.too_many_errors,
                "violations": len(self.violations), "seconds": round(self.seconds, 1),
                "labels": dict(self.labels)}  # fmt: skip


async def _close(ws: Any) -> None:
    """Close the fuzzer's end, whatever state a refused oversized frame left it in."""
    try:
        await asyncio.wait_for(ws.close(), 10)
    except Exception:
        transport = getattr(ws, "transport", None)
        if transport is not None:
            try:
                transport.abort()
            except Exception:
                pass


def _enc(msg: Any) -> str:
    return orjson.dumps(msg).decode()


# A value of each JSON type, to put where another type is expected.
_VALUES: dict[str, list[Any]] = {
    "str": ["x", "", "0", "null"],
    "int": [0, 7, -1, 2**40],
    "float": [1.5, -0.25],
    "bool": [True, False],
    "dict": [{}, {"a": 1}],
    "list": [[], [1, "x"]],
}


def _wrong_value(rng: random.Random, tname: str) -> Any:
    ok = {"str": {"str"}, "int": {"int"}, "num": {"int", "float"}, "bool": {"bool"}, "dict": {"dict"},
          "list": {"list"}}[tname]  # fmt: skip
    kinds = [k for k in _VALUES if k not in ok]
    return rng.choice(_VALUES[rng.choice(kinds)])


def _valid_row(rng: random.Random, path: str, kind: str = "file") -> dict[str, Any]:
    now = time.time()
    return {"path": path, "kind": kind, "size": rng.randrange(10_000) if kind == "file" else 0,
            "mtime": now - rng.random(), "ctime": now, "inode": rng.randrange(1, 1 << 40), "mode": 0o100644,
            "uid": 0, "gid": 0, "parent_mtime": now, "parent_ctime": now, "parent_ino": None,
            "audit_skipped": None, "is_atomic_write": True}  # fmt: skip


def _bad_row(rng: random.Random, path: str, deleting: bool = False) -> dict[str, Any]:
    row = _valid_row(rng, path)
    how = rng.randrange(12)
    while deleting and how == 5:  # a delete row needs no ctime
        how = rng.randrange(12)
    if how == 0:
        row["kind"] = rng.choice(["socket", "fifo", "", "FILE", 3])
    elif how == 1:
        row["size"] = rng.choice([-1, "12", 1.5, True, [1]])
    elif how == 2:
        row["mtime"] = rng.choice(["yesterday", [], {}, True])
    elif how == 3:
        row["path"] = rng.choice(["relative/x", "/a//b", "/a/../b", "/a/./b", "/trailing/", "", "/x\\y", "/a\x00b",
                                  "/tab\tname", 17, None])
    elif how == 4:
        del row["path"]
    elif how == 5:
        row["ctime"] = None  # a listing or update row needs its version
    elif how == 6:
        row["teleport"] = 1  # unknown field
    elif how == 7:
        row["inode"] = rng.choice([-5, "ino", 2.5])
    elif how == 8:
        row["is_atomic_write"] = rng.choice(["yes", 1, 0])
    elif how == 9:
        row["parent_path"] = "/not/the/parent"
    elif how == 10:
        return rng.choice([[], "row", 5, None, True])  # type: ignore[return-value]
    else:
        row["uid"] = rng.choice(["root", 1.5, [0]])
    return row


def _event(source: str, rows: list, etype: str = "update", **extra: Any) -> dict[str, Any]:
    return {"schema": "fs", "schema_version": "1.0", "type": etype, "source": source,
            "index": int(time.time() * 1000), "rows": rows, **extra}  # fmt: skip


class PlaneFuzzer:
    """Fuzz one endpoint: ``target`` is ``fusion`` or ``agent``, ``plane`` ``pipe`` or ``control``."""

    def __init__(self, url: str, plane: str, key: str, *, seed: int, target: str = "fusion",
                 admin_key: str | None = None, other_keys: tuple[str, ...] = (), pipe: str = "p", view: str = "v",
                 max_frame: int = wire.MAX_FRAME, oversized_every: int = 10, foreign_sessions: tuple[str, ...] = (),
                 reply_timeout: float = 30.0) -> None:  # fmt: skip
        self.url = url.rstrip("/") + _PLANE_PATH[plane]
        self.plane = plane
        self.key = key
        self.admin_key = admin_key
        self.other_keys = other_keys  # keys valid elsewhere (another plane or process): refused here
        self.target = target
        self.pipe = pipe
        self.view = view
        self.max_frame = max_frame
        self.oversized_every = oversized_every
        self.foreign_sessions = list(foreign_sessions)
        self.reply_timeout = reply_timeout
        self.rng = random.Random(seed)
        self.report = FuzzReport(f"{target} {plane}")
        self._ids = 0
        self._ghosts = [f"ghost-{self.rng.randrange(1 << 30):x}" for _ in range(5)]
        self._closed_sessions: list[str] = []  # closed with session.close: session_ended
        self._dropped_sessions: list[str] = []  # left to expire: mismatch until it ends, then ended
        self._episodes = 0

    # --- running ------------------------------------------------------------------------

    async def run(self, bad_messages: int, deadline_s: float = 600.0) -> FuzzReport:
        t0 = time.monotonic()
        try:
            while self.report.bad < bad_messages:
                if time.monotonic() - t0 > deadline_s:
                    self.report.violate(f"gave up after {deadline_s:g} s with {self.report.bad} bad messages sent")
                    break
                await self.episode()
        finally:
            self.report.seconds = time.monotonic() - t0
        return self.report

    async def episode(self) -> None:
        self._episodes += 1
        n = self._episodes
        roll = self.rng.random()
        try:
            if roll < 0.1:
                await self._prehello()
            elif n % 20 == 0:
                await self._flood()
            else:
                await self._normal(oversized=(n % self.oversized_every == 0))
        except (OSError, asyncio.TimeoutError) as exc:
            self.report.violate(f"episode {n}: {type(exc).__name__}: {exc}")
            await asyncio.sleep(0.2)

    def _id(self) -> Any:
        self._ids += 1
        return self._ids if self.rng.random() < 0.7 else f"fz-{self._ids}"

    async def _open(self, key: str | None = None) -> Any:
        ws = await asyncio.wait_for(connect(self.url, compression=None, max_size=None, open_timeout=10,
                                            proxy=None, ping_interval=None), 15)  # fmt: skip
        self.report.connections += 1
        if key is None:
            return ws
        await ws.send(_enc({"id": 0, "op": "hello", "protocol": wire.PROTOCOL_VERSION, "key": key,
                            "client": "fustor-fuzz"}))  # fmt: skip
        self.report.frames += 1
        reply = orjson.loads(await asyncio.wait_for(ws.recv(), self.reply_timeout))
        if not reply.get("ok"):
            raise AssertionError(f"{self.report.target}: the fuzzer's own hello was refused: {reply}")
        return ws

    async def _send(self, ws: Any, case: Case) -> None:
        await ws.send(case.frame)
        self.report.frames += 1
        if case.bad:
            self.report.bad += 1
            self.report.labels[case.label] += 1

    async def _collect(self, ws: Any, cases: list[Case], *, expect_closing: bool = False) -> tuple[bool, int | None]:
        """Read until every case has its reply; check each. ``(closed, close_code)``."""
        by_id = {c.rid: c for c in cases if c.rid is not None}
        nulls = Counter()
        for c in cases:
            if c.rid is None:
                nulls[next(iter(c.codes))] += 1
        got_null: Counter = Counter()
        closing = False
        deadline = time.monotonic() + self.reply_timeout
        closed, code = False, None
        while by_id or sum(nulls.values()) > sum(got_null.values()) or (expect_closing and not closing):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self.report.violate(f"{self.report.target}: no reply within {self.reply_timeout:g} s for "
                                    f"{sorted(c.label for c in by_id.values())[:10]} and "
                                    f"{sum(nulls.values()) - sum(got_null.values())} id-less message(s)")
                break
            try:
                frame = await asyncio.wait_for(ws.recv(), remaining)
            except asyncio.TimeoutError:
                continue
            except ConnectionClosed as exc:
                closed, code = True, exc.rcvd.code if exc.rcvd is not None else None
                break
            msg = orjson.loads(frame)
            if "push" in msg:
                if msg["push"] == "closing":
                    closing = True
                    if msg.get("code") != "too_many_errors":
                        self.report.violate(f"{self.report.target}: closing push {msg}")
                continue
            self._check_reply(msg, by_id, got_null)
        if closed and (by_id or sum(nulls.values()) > sum(got_null.values())):
            self.report.violate(f"{self.report.target}: connection closed ({code}) before replies to "
                                f"{sorted(c.label for c in by_id.values())[:10]}")
        if got_null != nulls and sum(got_null.values()) == sum(nulls.values()):
            self.report.violate(f"{self.report.target}: id-less replies {dict(got_null)}, expected {dict(nulls)}")
        return closed, code

    def _check_reply(self, msg: dict, by_id: dict, got_null: Counter) -> None:
        rid = msg.get("re")
        err = msg.get("error") or {}
        code = err.get("code")
        if code:
            self.report.errors[code] += 1
        if code == "internal":
            self.report.violate(f"{self.report.target}: internal error: {err.get('message')}")
        if rid is None:
            if msg.get("ok") is not False:
                self.report.violate(f"{self.report.target}: a reply with re null that is not an error: {msg}")
            got_null[code] += 1
            return
        case = by_id.pop(rid, None)
        if case is None:
            self.report.violate(f"{self.report.target}: a reply to an id never sent (or twice): {str(msg)[:300]}")
            return
        if case.outcome == "error":
            if msg.get("ok") is not False or code not in case.codes:
                self.report.violate(f"{self.report.target}: {case.label}: expected {sorted(case.codes)}, got "
                                    f"{str(msg)[:300]} for {str(case.frame)[:200]}")
        elif case.outcome == "duplicate":
            if not (msg.get("ok") and msg.get("duplicate")):
                self.report.violate(f"{self.report.target}: {case.label}: expected a duplicate ack, "
                                    f"got {str(msg)[:300]}")
            else:
                self.report.duplicates += 1
        elif case.outcome == "ok":
            if not msg.get("ok"):
                self.report.violate(f"{self.report.target}: {case.label}: expected ok, got {str(msg)[:300]}")

    # --- episodes --------------------------------------------------------------------------

    async def _prehello(self) -> None:
        """One bad first frame: its error, then a close with 1008."""
        rng = self.rng
        kind = rng.randrange(7)
        rid = self._id()
        if kind == 0:
            msg = self._valid_shape(rng.choice(sorted(wire.PIPE_OPS | wire.CONTROL_OPS)))
            msg["id"] = rid
            case = Case("before_hello", _enc(msg), rid, frozenset({"hello_required"}))
        elif kind == 1:
            case = Case("first_not_json", "GET / HTTP/1.1" + "x" * rng.randrange(50), None, frozenset({"bad_json"}))
        elif kind == 2:
            case = Case("first_binary", b"\xff" + rng.randbytes(rng.randrange(1, 200)), None, frozenset({"bad_json"}))
        elif kind == 3:
            bad_key = rng.choice([f"wrong-{rng.randrange(1 << 30):x}", "", *self.other_keys])
            case = Case("hello_bad_key", _enc({"id": rid, "op": "hello", "protocol": "1.0", "key": bad_key}), rid,
                        frozenset({"unauthorized"}))
        elif kind == 4:
            version = rng.choice(["2.0", "0.9", "", "one", "10.1"])
            case = Case("hello_bad_version", _enc({"id": rid, "op": "hello", "protocol": version, "key": self.key}),
                        rid, frozenset({"protocol_version"}))
        elif kind == 5:
            case = Case("hello_no_key", _enc({"id": rid, "op": "hello", "protocol": "1.0"}), rid,
                        frozenset({"bad_message"}))
        else:
            case = Case("first_not_object", _enc(rng.choice([[1, 2], "hello", 42, None])), None,
                        frozenset({"bad_message"}))
        ws = await self._open()
        try:
            await self._send(ws, case)
            closed, code = await self._collect(ws, [case])
            if not closed:
                try:
                    await asyncio.wait_for(ws.recv(), self.reply_timeout)
                    self.report.violate(f"{self.report.target}: {case.label}: a frame after the refusal")
                except ConnectionClosed as exc:
                    closed, code = True, exc.rcvd.code if exc.rcvd is not None else None
            if code != 1008:
                self.report.violate(f"{self.report.target}: {case.label}: closed with {code}, expected 1008")
            else:
                self.report.closes[1008] += 1
        finally:
            await _close(ws)

    async def _flood(self) -> None:
        """MAX_BAD_MESSAGES malformed messages: each answered, then ``closing`` and 1008."""
        ws = await self._open(self.key)
        try:
            cases = []
            while len(cases) < wire.MAX_BAD_MESSAGES:
                c = self._generic_case()
                if c.malformed:
                    cases.append(c)
            for c in cases:
                await self._send(ws, c)
            closed, code = await self._collect(ws, cases, expect_closing=True)
            if not closed:
                try:
                    while True:
                        msg = orjson.loads(await asyncio.wait_for(ws.recv(), self.reply_timeout))
                        self.report.violate(f"{self.report.target}: flood: a frame after closing: {str(msg)[:200]}")
                except ConnectionClosed as exc:
                    closed, code = True, exc.rcvd.code if exc.rcvd is not None else None
            if code == 1008:
                self.report.too_many_errors += 1
                self.report.closes[1008] += 1
            else:
                self.report.violate(f"{self.report.target}: flood: closed with {code}, expected 1008 too_many_errors")
        finally:
            await _close(ws)

    async def _normal(self, oversized: bool) -> None:
        key = self.key
        admin = self.admin_key is not None and self.rng.random() < 0.3
        if admin:
            key = self.admin_key  # type: ignore[assignment]
        ws = await self._open(key)
        sid = None
        try:
            ctx = _Ctx(admin=admin)
            if self.plane == "pipe":
                sid = await self._session_open(ws, ctx)
            budget = self.rng.randrange(10, wire.MAX_BAD_MESSAGES - 10)
            cases: list[Case] = []
            malformed = 0
            while len(cases) < budget:
                c = self._case(ctx)
                if c.malformed:
                    if malformed >= wire.MAX_BAD_MESSAGES - 20:
                        continue
                    malformed += 1
                cases.append(c)
            for c in cases:
                await self._send(ws, c)
            closed, code = await self._collect(ws, cases)
            if closed:
                self.report.violate(f"{self.report.target}: closed ({code}) in a normal episode")
                return
            if oversized:
                big = Case("oversized", "x" * (self.max_frame + 1 + self.rng.randrange(1024)), None,
                           frozenset({"-"}))
                try:
                    await self._send(ws, big)
                    while True:
                        await asyncio.wait_for(ws.recv(), self.reply_timeout)
                except ConnectionClosed as exc:
                    # (Refused while still being written, the frame may end in a reset: then the
                    # close frame read before it tells.)
                    code = exc.rcvd.code if exc.rcvd is not None else ws.close_code
                    if code == 1009:
                        self.report.closes[1009] += 1
                    else:
                        self.report.violate(f"{self.report.target}: oversized frame: closed with {code}, expected 1009")
                return
            if sid is not None:
                if self.rng.random() < 0.7:
                    rid = self._id()
                    done = Case("session.close", _enc({"id": rid, "op": "session.close", "session_id": sid}), rid,
                                outcome="ok", bad=False)
                    await self._send(ws, done)
                    await self._collect(ws, [done])
                    self._closed_sessions.append(sid)
                else:
                    self._dropped_sessions.append(sid)
                del self._closed_sessions[:-20]
                del self._dropped_sessions[:-20]
        finally:
            await _close(ws)

    async def _session_open(self, ws: Any, ctx: "_Ctx") -> str:
        rid = self._id()
        await ws.send(_enc({"id": rid, "op": "session.open", "pipe_id": self.pipe,
                            "agent_id": f"fuzzer-{self.rng.randrange(1000)}", "schema": "fs", "schema_version": "1.0",
                            "timeout_hint": 1}))  # fmt: skip
        self.report.frames += 1
        while True:
            msg = orjson.loads(await asyncio.wait_for(ws.recv(), self.reply_timeout))
            if msg.get("re") == rid:
                break
        if not msg.get("ok"):
            raise AssertionError(f"the fuzzer's session.open was refused: {msg}")
        if msg["views"].get(self.view) == "leader":
            raise AssertionError("a fuzzer session leads the view: the honest agents must connect first")
        ctx.sid = msg["session_id"]
        # One accepted empty batch (seq 1, or a gap further, which fusion does not check), so that
        # out-of-order seqs below it exist.
        ctx.seq_hi = 1 if self.rng.random() < 0.7 else self.rng.randrange(2, 50)
        rid = self._id()
        setup = Case("setup", _enc({"id": rid, "op": "events", "session_id": ctx.sid, "seq": ctx.seq_hi,
                                    "event": _event("realtime", [])}), rid, outcome="ok", bad=False)  # fmt: skip
        await self._send(ws, setup)
        await self._collect(ws, [setup])
        return ctx.sid

    # --- cases --------------------------------------------------------------------------------

    def _case(self, ctx: "_Ctx") -> Case:
        r = self.rng.random()
        if r < 0.45:
            return self._generic_case()
        if self.plane == "pipe":
            return self._pipe_case(ctx)
        if self.target == "agent":
            return self._agent_case(ctx)
        return self._control_case(ctx)

    def _generic_case(self) -> Case:
        """Malformed whatever the plane."""
        rng = self.rng
        kind = rng.randrange(12)
        ops = sorted(wire.PIPE_OPS if self.plane == "pipe" else wire.CONTROL_OPS)
        other = sorted(wire.CONTROL_OPS if self.plane == "pipe" else wire.PIPE_OPS)
        if kind == 0:
            text = rng.choice(["{not json", "hello", "{'id': 1}", "[1, 2", '{"id": 1, "op": "status"', "{}}",
                               "nul\x00l", "NaN", "{\"id\": 01}"])  # fmt: skip
            return Case("not_json", text, None, frozenset({"bad_json"}))
        if kind == 1:
            full = _enc(self._valid_shape(rng.choice(ops)))
            cut = rng.randrange(1, len(full))
            return Case("truncated", full[:cut], None, frozenset({"bad_json"}))
        if kind == 2:
            data = rng.choice([b"\xff\xfe", b"\x00\x01", b"\x80"]) + rng.randbytes(rng.randrange(0, 300))
            return Case("binary", data, None, frozenset({"bad_json"}))
        if kind == 3:
            depth = rng.choice([2000, 5000])
            return Case("deep_nesting", "[" * depth + "]" * depth, None, frozenset({"bad_json"}))
        if kind == 4:
            value = rng.choice([[1, 2], "text", 42, None, True, 1.5])
            return Case("not_object", _enc(value), None, frozenset({"bad_message"}))
        if kind == 5:
            bad_id = rng.choice([True, False, 1.5, [1], {"a": 1}, None, "__absent__"])
            msg: dict[str, Any] = {"op": rng.choice(ops)}
            if bad_id != "__absent__":
                msg["id"] = bad_id
            return Case("bad_id", _enc(msg), None, frozenset({"bad_message"}))
        rid = self._id()
        if kind == 6:
            msg = {"id": rid}
            if rng.random() < 0.5:
                msg["op"] = rng.choice([5, None, ["status"], {"op": "x"}, True])
                if msg["op"] is None:
                    del msg["op"]
            return Case("no_op", _enc(msg), rid, frozenset({"bad_message"}))
        if kind == 7:
            op = rng.choice(["teleport", "", "STATUS", "session.open ", "query", "events2", "hello2", "x" * 300])
            return Case("unknown_op", _enc({"id": rid, "op": op}), rid, frozenset({"unknown_op"}))
        if kind == 8:
            msg = self._valid_shape(rng.choice(other))
            msg["id"] = rid
            return Case("other_plane_op", _enc(msg), rid, frozenset({"unknown_op"}))
        if kind == 9:
            with_required = [o for o in ops if any(req for _, req in wire.REQUESTS[o].values())]
            op = rng.choice(with_required)
            msg = self._valid_shape(op)
            required = [f for f, (_, req) in wire.REQUESTS[op].items() if req]
            del msg[rng.choice(required)]
            msg["id"] = rid
            return Case("missing_field", _enc(msg), rid, frozenset({"bad_message"}))
        if kind == 10:
            op = rng.choice([o for o in ops if wire.REQUESTS[o]] or ops)
            fields = wire.REQUESTS[op]
            if not fields:
                return Case("unknown_op", _enc({"id": rid, "op": "nope"}), rid, frozenset({"unknown_op"}))
            msg = self._valid_shape(op)
            name = rng.choice(sorted(fields))
            msg[name] = _wrong_value(rng, fields[name][0])
            msg["id"] = rid
            return Case("wrong_type", _enc(msg), rid, frozenset({"bad_message"}))
        return Case("hello_again", _enc({"id": rid, "op": "hello", "protocol": "1.0", "key": self.key}), rid,
                    frozenset({"bad_message"}))

    def _valid_shape(self, op: str) -> dict[str, Any]:
        """A message of ``op`` with every field of the right type (values need not make sense)."""
        msg: dict[str, Any] = {"id": self._id(), "op": op}
        for name, (tname, required) in wire.REQUESTS[op].items():
            if not required and self.rng.random() < 0.5:
                continue
            msg[name] = {"str": f"{name}-x", "int": 3, "num": 1.5, "bool": True, "dict": {}, "list": []}[tname]
        return msg

    # data plane ----------------------------------------------------------------------------------

    def _stale_sid(self) -> tuple[str, frozenset[str]]:
        rng = self.rng
        pools: list[tuple[list[str], frozenset[str]]] = [(self._ghosts, frozenset({"session_unknown"}))]
        if self._closed_sessions:
            pools.append((self._closed_sessions, frozenset({"session_ended"})))
        if self._dropped_sessions:
            pools.append((self._dropped_sessions, frozenset({"session_mismatch", "session_ended"})))
        if self.foreign_sessions:
            pools.append((self.foreign_sessions,
                          frozenset({"session_mismatch", "session_ended", "session_unknown"})))
        pool, codes = rng.choice(pools)
        return rng.choice(pool), codes

    def _pipe_case(self, ctx: "_Ctx") -> Case:
        rng = self.rng
        rid = self._id()
        sid = ctx.sid
        leak = f"{LEAK_PREFIX}{rng.randrange(1 << 20):x}"
        kind = rng.randrange(12)
        seq = ctx.seq_hi + rng.randrange(1, 4)  # above what was enqueued: judged, not taken for a duplicate

        def events(event: Any, s: Any = None, label: str = "bad_event", codes: tuple[str, ...] = ("invalid",)) -> Case:
            return Case(label, _enc({"id": rid, "op": "events", "session_id": sid, "seq": seq if s is None else s,
                                     "event": event}), rid, frozenset(codes))  # fmt: skip

        if kind == 0:  # a stale, unknown or foreign session
            stale, codes = self._stale_sid()
            op = rng.choice(["events", "heartbeat", "audit.start", "snapshot.end", "sentinel.tasks", "session.close",
                             "audit.request", "job.complete"])  # fmt: skip
            msg = self._valid_shape(op)
            msg.update(id=rid, session_id=stale)
            if op == "events":
                msg.update(seq=1, event=_event("realtime", [_valid_row(rng, leak + "/x")]))
            return Case("stale_session", _enc(msg), rid, codes)
        if kind == 1:  # the event itself is malformed
            ev = _event("realtime", [_valid_row(rng, leak + "/a")])
            how = rng.randrange(8)
            if how == 0:
                del ev[rng.choice(["schema", "schema_version", "type", "source", "rows"])]
            elif how == 1:
                ev["type"] = rng.choice(["explode", "", "UPDATE", 3])
            elif how == 2:
                ev["source"] = rng.choice(["telepathy", "", None, 7])
            elif how == 3:
                ev["rows"] = rng.choice([{}, "rows", 5, None])
            elif how == 4:
                ev["index"] = rng.choice(["now", 1.5, True, [1]])
            elif how == 5:
                ev["audit_id"] = rng.choice([5, [], {}])
            elif how == 6:
                ev["schema"] = rng.choice([1, None, ["fs"]])
            else:  # not even an object: the request's shape is wrong
                return events(rng.choice([[], "event", 5]), codes=("bad_message",))
            return events(ev)
        if kind == 2:  # another schema
            ev = _event("realtime", [_valid_row(rng, leak + "/s")])
            if rng.random() < 0.5:
                ev["schema"] = rng.choice(["oss", "fs2", "FS"])
            else:
                ev["schema_version"] = rng.choice(["2.0", "0.1", "x"])
            return events(ev, codes=("schema_mismatch",), label="schema")
        if kind in (3, 4):  # valid rows beside a bad one: the whole batch is refused
            etype = "delete" if rng.random() < 0.2 else "update"
            rows = [_valid_row(rng, f"{leak}/ok-{i}") for i in range(rng.randrange(0, 20))]
            rows.insert(rng.randrange(len(rows) + 1), _bad_row(rng, f"{leak}/bad", deleting=etype == "delete"))
            return events(_event("realtime", rows, etype), codes=("bad_row",), label="bad_rows")
        if kind == 5:  # a listing may not delete
            src = rng.choice(["snapshot", "audit", "on_demand"])
            return events(_event(src, [{"path": leak + "/d"}], "delete"), label="listing_delete")
        if kind == 6:  # listing rows from a follower
            src = rng.choice(["snapshot", "on_demand"])
            extra = {"job_id": "job-x"} if src == "on_demand" else {}
            return events(_event(src, [_valid_row(rng, f"{leak}/f{i}") for i in range(3)], "insert", **extra),
                          codes=("not_leader",), label="not_leader")
        if kind == 7:  # audit rows of no running audit
            return events(_event("audit", [_valid_row(rng, leak + "/au")], audit_id=f"audit-{rng.randrange(999)}"),
                          codes=("audit_refused",), label="audit_refused")
        if kind == 8:  # audit lifecycle from a follower / with wrong ids
            if rng.random() < 0.5:
                return Case("audit_start_follower", _enc({"id": rid, "op": "audit.start", "session_id": sid}), rid,
                            frozenset({"not_leader"}))
            return Case("audit_end_wrong_id", _enc({"id": rid, "op": "audit.end", "session_id": sid,
                                                    "audit_id": f"a-{rng.randrange(1 << 20)}"}), rid,
                        frozenset({"audit_refused"}))  # fmt: skip
        if kind == 9:  # out of order: a seq already received
            if rng.random() < 0.25:
                s = rng.choice([0, -1, -(2**31)])
                return events(_event("realtime", [_valid_row(rng, leak + "/neg")]), s=s, codes=("bad_message",),
                              label="seq_below_1")
            s = rng.randrange(1, ctx.seq_hi + 1)
            c = events(_event("realtime", [_valid_row(rng, leak + "/dup")]), s=s, label="out_of_order")
            c.outcome = "duplicate"
            return c
        if kind == 10:  # sentinel results that are not results
            results = rng.choice([[1], ["x"], [{"exists": False}], [{"path": 5}], [None]])
            return Case("sentinel_bad", _enc({"id": rid, "op": "sentinel.feedback", "session_id": sid,
                                              "results": results}), rid, frozenset({"bad_message"}))  # fmt: skip
        # session.open that cannot be
        how = rng.randrange(2)
        if how == 0:
            msg = {"id": rid, "op": "session.open", "pipe_id": f"nope-{rng.randrange(99)}", "agent_id": "fz",
                   "schema": "fs", "schema_version": "1.0"}
            return Case("open_unknown_pipe", _enc(msg), rid, frozenset({"not_found"}))
        msg = {"id": rid, "op": "session.open", "pipe_id": self.pipe, "agent_id": "fz",
               "schema": rng.choice(["oss", "fs"]), "schema_version": "7.0"}
        return Case("open_bad_schema", _enc(msg), rid, frozenset({"schema_mismatch"}))

    # fusion control plane -------------------------------------------------------------------------

    def _control_case(self, ctx: "_Ctx") -> Case:
        rng = self.rng
        rid = self._id()
        view = self.view
        kind = rng.randrange(9)
        if kind == 0:
            op = rng.choice(["query.ls", "query.tree", "query.stats", "query.summary", "query.suspects",
                             "query.blind_spots", "query.dump"])  # fmt: skip
            msg = self._valid_shape(op)
            msg.update(id=rid, view=f"no-view-{rng.randrange(99)}")
            msg.pop("path", None) if op != "query.summary" else msg.update(path="/")
            return Case("unknown_view", _enc(msg), rid, frozenset({"not_found"}))
        if kind == 1:
            msg = rng.choice([
                {"op": "query.ls", "view": view, "limit": rng.choice([-1, 10_001, 10**9])},
                {"op": "query.ls", "view": view, "sort": rng.choice(["bogus", "NAME"])},
                {"op": "query.ls", "view": view, "cursor": rng.choice(["garbage", "!!", "eyJ4IjoxfQ"])},
                {"op": "query.tree", "view": view, "depth": rng.choice([-1, -100])},
                {"op": "query.tree", "view": view, "max_nodes": rng.choice([-1, -5])},
                {"op": "query.search", "view": view, "pattern": "(", "mode": "regex"},
                {"op": "query.search", "view": view, "pattern": "*", "mode": rng.choice(["fuzzy", "GLOB"])},
                {"op": "query.search", "view": view, "pattern": "*", "field": "owner"},
                {"op": "query.search", "view": view, "pattern": "*", "kind": "socket"},
            ])
            msg = {"id": rid, **msg, "partial": True}
            return Case("bad_query", _enc(msg), rid, frozenset({"invalid"}))
        if kind == 2:
            op = rng.choice(["query.stats", "query.ls", "query.tree"])  # a summary answers "absent"
            path = rng.choice([f"{LEAK_PREFIX}{rng.randrange(1 << 20):x}", "/no/such/dir/x"])
            return Case("absent_path", _enc({"id": rid, "op": op, "view": view, "path": path, "partial": True}), rid,
                        frozenset({"not_found"}))
        if kind == 3:
            return Case("unknown_job", _enc({"id": rid, "op": "job.status", "job_id": f"job-{rng.randrange(1 << 30)}"}),
                        rid, frozenset({"not_found"}))
        if kind == 4:
            return self._config_case(rid, ctx)
        if kind == 5 and not ctx.admin:
            op = rng.choice(sorted(wire.ADMIN_OPS))
            msg = self._valid_shape(op)
            msg.update(id=rid)
            return Case("admin_op_readonly", _enc(msg), rid, frozenset({"forbidden"}))
        if kind == 5 and ctx.admin:
            op = rng.choice(["audit.now", "view.reset", "scan"])
            msg = {"id": rid, "op": op, "view": f"no-view-{rng.randrange(99)}", "path": "/"}
            return Case("admin_unknown_view", _enc(msg), rid, frozenset({"not_found"}))
        if kind == 6:
            path = rng.choice(["relative", "/a//b", "/x/../y", "/trailing/", "/tab\there"])
            return Case("bad_path", _enc({"id": rid, "op": "query.stats", "view": view, "path": path, "partial": True}),
                        rid, frozenset({"not_found", "invalid"}))
        return self._generic_case()

    def _config_case(self, rid: Any, ctx: "_Ctx") -> Case:
        rng = self.rng
        name = rng.choice(["../x.yaml", "/etc/fustor-fuzz.yaml", "views-config/../../x.yaml", "..", "", "x.txt",
                           "a\x00b.yaml", "../../../../tmp/fuzz.yaml"])  # fmt: skip
        op = rng.choice(["config.read", "config.validate"] + (["config.write"] * 2 if ctx.admin else []))
        msg: dict[str, Any] = {"id": rid, "op": op, "name": name}
        if op != "config.read":
            msg["text"] = "driver: fs\n"
        if op == "config.write" and rng.random() < 0.5:
            # A name inside the home with text that does not validate: refused, nothing written.
            msg["name"] = rng.choice(self._config_names())
            msg["text"] = rng.choice([": [\n\t- {", "driver: fs\nhot_file_threshold: -5\n", "- a list\n",
                                      "nonsense_key: 1\n"])  # fmt: skip
            return Case("config_write_invalid", _enc(msg), rid, frozenset({"config_invalid"}))
        return Case("config_outside_home", _enc(msg), rid, frozenset({"invalid", "config_invalid"}))

    def _config_names(self) -> list[str]:
        if self.target == "agent":
            return ["agent.yaml", "sources-config.yaml", "senders-config.yaml", "agent-pipes-config/main.yaml",
                    "agent-pipes-config/fuzz.yaml"]  # fmt: skip
        return ["receivers-config.yaml", "views-config/v.yaml", "fusion-pipes-config/p.yaml", "views-config/fuzz.yaml"]

    # agent control plane ---------------------------------------------------------------------------

    def _agent_case(self, ctx: "_Ctx") -> Case:
        rng = self.rng
        rid = self._id()
        kind = rng.randrange(3)
        if kind == 0:
            # Ops only fusion serves (well-formed): the agent answers unknown_op.
            op = rng.choice(sorted(wire.CONTROL_OPS - {"status", "subscribe", "unsubscribe", "config.list",
                                                       "config.read", "config.validate", "config.write", "reload"}))
            msg = self._valid_shape(op)
            msg["id"] = rid
            return Case("fusion_op_on_agent", _enc(msg), rid, frozenset({"unknown_op"}))
        if kind == 1:
            ctx.admin = True  # the agent's test key is an admin key
            return self._config_case(rid, ctx)
        name = rng.choice(["no-such.yaml", "agent-pipes-config/ghost.yaml"])
        return Case("config_read_absent", _enc({"id": rid, "op": "config.read", "name": name}), rid,
                    frozenset({"not_found"}))


@dataclass
class _Ctx:
    admin: bool = False
    sid: str | None = None
    seq_hi: int = 0


async def fuzz_all(fuzzers: list[tuple[PlaneFuzzer, int]]) -> list[FuzzReport]:
    """Run fuzzers side by side (each with its number of bad messages)."""
    return list(await asyncio.gather(*(f.run(n) for f, n in fuzzers)))
