"""The data-plane conformance suite: what any agent implementation must do.

An agent is run against a real :class:`~fustor.fusion.FusionService` served
in-process on loopback, whose dispatcher records every request it gets.
Each check drives a situation (a promotion, a session fusion ends, a
dropped connection, a scan) and asserts on what the agent sent. Run it
against an implementation through an :class:`AgentUnderTest` adapter::

    report = await run_conformance(MyAdapter(), tmp_path)
    assert report.failures == []

The simulated agent (``fustor.testing.simagent``) and the real agent
(``fustor.agent``) both pass it (``tests/conformance/``).
"""

from __future__ import annotations

import asyncio
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Awaitable, Callable, Protocol

from fustor.core import expand_groups
from fustor.fusion import FusionService, load_fusion_config
from fustor.transport import wire
from fustor.transport.server import Listeners

from .processes import AGENT_KEY, make_fusion_home


class AgentUnderTest(Protocol):
    """How the suite drives one agent implementation."""

    async def start(self, url: str, key: str, pipe_id: str, agent_id: str, timeout_hint: float) -> None: ...

    async def stop(self) -> None: ...

    async def make_change(self, name: str) -> None:
        """Cause one realtime event for a new file ``/<name>`` (write a file, or feed the simulated tree)."""

    def has_path(self, path: str) -> bool:
        """Whether the agent's source holds ``path`` (used to check scan answers)."""


@dataclass
class Record:
    at: float
    op: str
    msg: dict
    peer: Any


class RecordingFusion:
    """FusionService on loopback, recording every request it dispatches."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self.records: list[Record] = []
        self.service: FusionService | None = None
        self.listeners: Listeners | None = None
        self.url = ""

    async def start(self) -> "RecordingFusion":
        self.service = FusionService(load_fusion_config(self.home))
        inner = self.service.dispatch

        async def recording(peer: Any, req_id: Any, op: str, msg: dict) -> Any:
            self.records.append(Record(time.monotonic(), op, msg, peer))
            return await inner(peer, req_id, op, msg)

        self.service.dispatch = recording  # type: ignore[method-assign]
        self.listeners = Listeners(self.service, "conformance-fusion")
        self.service.listeners = self.listeners
        await self.service.start()
        await self.listeners.start(self.service.config.receivers.receivers)
        self.url = self.listeners.urls()["main"]
        return self

    async def stop(self) -> None:
        if self.listeners is not None:
            await self.listeners.close()
        if self.service is not None:
            await self.service.stop()

    def ops(self, op: str, since: float = 0.0) -> list[Record]:
        return [r for r in self.records if r.op == op and r.at >= since]

    async def wait(self, predicate: Callable[[], Any], timeout: float, what: str) -> Any:
        deadline = time.monotonic() + timeout
        while True:
            value = predicate()
            if value:
                return value
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
            await asyncio.sleep(0.02)


@dataclass
class Report:
    passed: list[str] = field(default_factory=list)
    failures: list[tuple[str, str]] = field(default_factory=list)


Check = Callable[[RecordingFusion, AgentUnderTest], Awaitable[None]]
CHECKS: list[tuple[str, Check]] = []


def check(fn: Check) -> Check:
    CHECKS.append((fn.__name__, fn))
    return fn


TIMEOUT = 2.0  # session timeout both sides settle on (pipe default 2 s, hint 1 s)


@check
async def opens_a_session_with_hello_schema_and_hint(f: RecordingFusion, agent: AgentUnderTest) -> None:
    hello = await f.wait(lambda: f.ops("session.open"), 10, "session.open")
    msg = hello[0].msg
    assert msg["schema"] == "fs" and msg["schema_version"].split(".")[0] == "1", msg
    assert msg["pipe_id"] == "p" and msg["agent_id"] == "conf-agent", msg
    assert isinstance(msg.get("timeout_hint"), (int, float)), "session.open must carry a timeout_hint"


@check
async def first_session_leads_and_sends_a_snapshot_then_snapshot_end(f: RecordingFusion, agent: AgentUnderTest) -> None:
    await f.wait(lambda: f.ops("snapshot.end"), 10, "snapshot.end from the leader")
    opened = f.ops("session.open")[0].at
    snap_end = f.ops("snapshot.end")[0].at
    batches = [r for r in f.ops("events") if r.msg["event"]["source"] == "snapshot"]
    assert batches and all(r.at <= snap_end for r in batches) and batches[0].at >= opened


@check
async def heartbeats_at_half_the_negotiated_timeout(f: RecordingFusion, agent: AgentUnderTest) -> None:
    start = time.monotonic()
    await f.wait(lambda: len(f.ops("heartbeat", start)) >= 4, 4 * TIMEOUT, "four heartbeats")
    beats = [r.at for r in f.ops("heartbeat", start)]
    gaps = [b - a for a, b in zip(beats, beats[1:])]
    assert all(0.25 * TIMEOUT <= g <= 0.8 * TIMEOUT for g in gaps), f"heartbeat gaps {gaps} for timeout {TIMEOUT}"


@check
async def numbers_batches_one_by_one_per_session(f: RecordingFusion, agent: AgentUnderTest) -> None:
    await f.wait(lambda: f.ops("snapshot.end"), 10, "the snapshot to end (the agent watches by then)")
    await agent.make_change("conf-seq-1")
    await agent.make_change("conf-seq-2")
    await f.wait(lambda: any(r.msg["event"]["source"] == "realtime" for r in f.ops("events")), 10, "realtime events")
    by_session: dict[str, list[int]] = {}
    for r in f.ops("events"):
        by_session.setdefault(r.msg["session_id"], []).append(r.msg["seq"])
    for sid, seqs in by_session.items():
        assert seqs == list(range(1, len(seqs) + 1)), f"session {sid}: seqs {seqs}"


@check
async def audits_with_the_id_fusion_gave_and_always_ends_them(f: RecordingFusion, agent: AgentUnderTest) -> None:
    await f.wait(lambda: f.ops("audit.end"), 15, "an audit end")
    start = f.ops("audit.start")[0]
    end = f.ops("audit.end")[0]
    rows = [r for r in f.ops("events") if r.msg["event"]["source"] == "audit"]
    ids = {r.msg["event"].get("audit_id") for r in rows if start.at <= r.at <= end.at}
    assert len(ids) <= 1 and end.msg["audit_id"] in (ids or {end.msg["audit_id"]}), ids


@check
async def answers_a_scan_with_on_demand_rows_and_job_complete(f: RecordingFusion, agent: AgentUnderTest) -> None:
    await f.wait(lambda: f.ops("snapshot.end"), 10, "the snapshot to end")
    await agent.make_change("conf-scan")
    await f.wait(lambda: agent.has_path("/conf-scan"), 5, "the change to exist")
    job = f.service.start_scan("v", "/")
    done = await f.wait(lambda: [r for r in f.ops("job.complete") if r.msg["job_id"] == job.job_id], 10, "job.complete")
    rows = [row for r in f.ops("events") if r.msg["event"].get("job_id") == job.job_id and r.at <= done[0].at
            for row in expand_groups(r.msg["event"])["rows"]]
    assert all(r.msg["event"]["source"] == "on_demand" for r in f.ops("events") if r.msg["event"].get("job_id") == job.job_id)
    assert "/conf-scan" in {row["path"] for row in rows}, "the scan must list what is there"


@check
async def reopens_at_once_when_fusion_ends_the_session(f: RecordingFusion, agent: AgentUnderTest) -> None:
    session = await f.wait(lambda: next(iter(f.service.sessions.values()), None), 10, "a session")
    ended_at = time.monotonic()
    f.service.end_session(session, "conformance: ended by fusion")
    opens = await f.wait(lambda: [r for r in f.ops("session.open") if r.at > ended_at], 3, "a new session.open")
    assert opens[0].at - ended_at < 1.5, "a session fusion ended must be re-opened at once, not after a backoff"
    assert opens[0].msg.get("resume") in (None, session.session_id)


@check
async def resumes_after_a_dropped_connection_and_resends_unacked(f: RecordingFusion, agent: AgentUnderTest) -> None:
    session = await f.wait(lambda: next(iter(f.service.sessions.values()), None), 10, "a session")
    await f.wait(lambda: f.ops("snapshot.end"), 10, "the snapshot to end")
    dropped = time.monotonic()
    session.peer.close(1011, "conformance: dropped")
    opens = await f.wait(lambda: [r for r in f.ops("session.open") if r.at > dropped], 10, "a reconnect")
    assert opens[0].msg.get("resume") == session.session_id, "after a dropped connection, resume the session"
    await agent.make_change("conf-after-drop")
    await f.wait(lambda: [r for r in f.ops("events") if r.at > dropped and
                          any(row["path"] == "/conf-after-drop" for row in expand_groups(r.msg["event"])["rows"])], 10,
                 "events after the reconnect")
    seqs = [r.msg["seq"] for r in f.ops("events") if r.msg["session_id"] == session.session_id]
    assert seqs == sorted(seqs), f"resent batches keep their order: {seqs}"


@check
async def survives_an_unknown_push(f: RecordingFusion, agent: AgentUnderTest) -> None:
    session = await f.wait(lambda: next(iter(f.service.sessions.values()), None), 10, "a session")
    session.push(wire.push("from-the-future", session_id=session.session_id, data=[1, 2, 3]))
    before = time.monotonic()
    await f.wait(lambda: f.ops("heartbeat", before), 3 * TIMEOUT, "a heartbeat after the unknown push")


async def run_conformance(agent: AgentUnderTest, workdir: Path, only: list[str] | None = None) -> Report:
    """Run every check (a fresh fusion and agent each); collect what failed and why."""
    report = Report()
    for name, fn in CHECKS:
        if only and name not in only:
            continue
        home = make_fusion_home(workdir / f"conf-{name}", views={"v": {"audit_interval": 1.5, "sentinel_interval": 1,
                                                                        "hot_file_threshold": 5}},
                                pipes={"p": {"views": ["v"], "session_timeout": TIMEOUT}})
        fusion = await RecordingFusion(home).start()
        try:
            await agent.start(fusion.url, AGENT_KEY, "p", "conf-agent", TIMEOUT / 2)
            await fn(fusion, agent)
            report.passed.append(name)
        except Exception:
            report.failures.append((name, traceback.format_exc(limit=3)))
        finally:
            try:
                await agent.stop()
            finally:
                await fusion.stop()
    return report
