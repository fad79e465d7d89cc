"""A whole Fustor deployment on one machine, for end-to-end tests.

:class:`Cluster` mounts one backing directory once per simulated host
(:class:`~fustor.testing.storage.SharedStorage`), starts a real fusion and
a real agent on each host that has one, and offers synchronous helpers to
query both control planes, to wait for an audit that started after some
writes, and to check the view against the disk (CONSISTENCY.md,
"Convergence")::

    with Cluster(tmp_path).start() as c:
        (c.path("B") / "x").write_text("hello")
        c.wait_for_path("/x")
        c.converge_and_compare()

Every wait is a condition with a deadline. Every process runs in its own
process group and is killed by :meth:`Cluster.close`; every mount is
unmounted lazily (``fusermount -uz``), so a crashed test leaves nothing
behind.
"""

from __future__ import annotations

import asyncio
import math
import os
import time
from pathlib import Path
from typing import Any, Awaitable, Callable, Iterable
from urllib.parse import urlsplit

from fustor.client import ClientError, ControlClient

from .agentproc import AGENT_CONTROL_KEY, AgentProcess, make_agent_home
from .processes import ADMIN_KEY, FusionProcess, make_fusion_home, wait_for
from .storage import SharedStorage, walk_disk

VIEW = "v"
PIPE = "p"

#: Short intervals for tests (fusion owns them and hands them to the agents).
FAST_VIEW: dict[str, Any] = {
    "hot_file_threshold": 4, "sentinel_interval": 1, "audit_interval": 2, "full_audit_every": 1,
    "tombstone_ttl": 60, "audit_drain_wait": 2,
}  # fmt: skip
FAST_PIPE: dict[str, Any] = {"session_timeout": 2}

#: How long a bindfs mount may show another mount's changes to attributes stale (as NFS does).
STALE_S = 1.2

#: ``setpriv`` arguments that keep root but take away its power to ignore file permissions.
DROP_DAC = ["setpriv", "--inh-caps=-dac_override,-dac_read_search",
            "--bounding-set=-dac_override,-dac_read_search", "--"]  # fmt: skip


def _control(url: str, key: str, fn: Callable[[ControlClient], Awaitable[Any]], timeout: float = 20.0) -> Any:
    async def main() -> Any:
        client = await ControlClient.connect(url, key, open_timeout=5.0)
        try:
            return await asyncio.wait_for(fn(client), timeout)
        finally:
            await client.close()

    return asyncio.run(main())


def _tail(path: Path, n: int) -> str:
    try:
        lines = Path(path).read_text(errors="replace").splitlines()
    except OSError:
        return ""
    return "\n".join([ln for ln in lines if "websockets.server: connection " not in ln][-n:])


def flatten_tree(node: dict[str, Any], out: dict[str, dict[str, Any]] | None = None) -> dict[str, dict[str, Any]]:
    """``{path: entry}`` of a ``query.tree(full=True)`` answer, the root left out."""
    out = {} if out is None else out
    if node.get("path") not in (None, "/"):
        out[node["path"]] = node
    for child in node.get("children") or ():
        flatten_tree(child, out)
    return out


class Cluster:
    """Fusion plus an agent on each of ``agents`` (hosts of one shared storage)."""

    def __init__(
        self, base: Path, *, hosts: Iterable[str] = ("A", "B", "C"), agents: Iterable[str] = ("A", "B"),
        view: dict[str, Any] | None = None, pipe: dict[str, Any] | None = None, source: dict[str, Any] | None = None,
        timeout_hint: float = 1.0, backoff: float = 0.2, agent_prefix: list[str] | None = None,
        setup: Callable[[Path], Any] | None = None, agent_pipe: dict[str, Any] | None = None,
        max_frame: int | None = None,
    ) -> None:  # fmt: skip
        self.base = Path(base)
        self.hosts = list(hosts)
        self.agent_hosts = list(agents)
        self.view_settings = {**FAST_VIEW, **(view or {})}
        self.pipe_settings = {**FAST_PIPE, **(pipe or {})}
        self.source_settings = dict(source or {})
        self.timeout_hint = timeout_hint
        self.backoff = backoff
        self.agent_prefix = agent_prefix
        #: called with the backing directory once it is mounted, before any process starts
        self.setup = setup
        #: settings of each agent's pipe file (batch_size, bus_capacity, max_unacked ...)
        self.agent_pipe_settings = dict(agent_pipe or {})
        #: fusion's largest frame (``max_frame`` of its receiver); None: the default
        self.max_frame = max_frame
        #: host -> the URL its agent uses instead of fusion's (a proxy); kept across restarts
        self.agent_urls: dict[str, str] = {}
        self.storage: SharedStorage | None = None
        self.fusion: FusionProcess | None = None
        self.agents: dict[str, AgentProcess] = {}
        self._port = 0

    # --- life cycle --------------------------------------------------------------------

    def start(self) -> "Cluster":
        try:
            self.storage = SharedStorage(self.base / "storage", self.hosts)
            if self.setup is not None:
                self.setup(self.storage.backing)
            self.start_fusion()
            for i, host in enumerate(self.agent_hosts):
                self.start_agent(host)
                if i == 0:
                    # The first agent must lead before the next one connects (C12).
                    self.wait_until(lambda h=host: self.leader_host() == h, 20, f"agent {host} to lead")
                    self.wait_ready()
                else:
                    self.wait_until(lambda h=host: h in self.session_roles(), 20, f"agent {host}'s session")
        except BaseException:
            self.close()
            raise
        return self

    def _fusion_home(self) -> Path:
        return make_fusion_home(self.base / "fusion", views={VIEW: self.view_settings},
                                pipes={PIPE: {"views": [VIEW], **self.pipe_settings}}, port=self._port,
                                max_frame=self.max_frame)

    def start_fusion(self) -> FusionProcess:
        self.fusion = FusionProcess(self._fusion_home()).start()
        self._port = urlsplit(self.fusion.url).port or 0
        return self.fusion

    def stop_fusion(self, kill: bool = False) -> None:
        """Stop fusion; :meth:`start_fusion` brings it back on the same port."""
        assert self.fusion is not None
        self.fusion.kill() if kill else self.fusion.stop()

    def start_agent(self, host: str, fusion_url: str | None = None) -> AgentProcess:
        """(Re)start the agent of ``host``; ``fusion_url`` (remembered) replaces fusion's URL, e.g. a proxy."""
        assert self.storage is not None and self.fusion is not None
        old = self.agents.get(host)
        if old is not None:
            old.kill()
        if fusion_url is not None:
            self.agent_urls[host] = fusion_url
        home = make_agent_home(self.base / f"agent-{host}", root=self.storage.host(host),
                               fusion_url=self.agent_urls.get(host, self.fusion.url), agent_id=self.agent_id(host),
                               pipe_id=PIPE, timeout_hint=self.timeout_hint, source=self.source_settings,
                               pipe=self.agent_pipe_settings)  # fmt: skip
        proc = AgentProcess(home, backoff=self.backoff, prefix=self.agent_prefix).start()
        self.agents[host] = proc
        return proc

    def kill_agent(self, host: str) -> None:
        self.agents[host].kill()

    def close(self) -> None:
        for proc in self.agents.values():
            try:
                proc.kill()
            except Exception:
                pass
        if self.fusion is not None:
            try:
                self.fusion.kill()
            except Exception:
                pass
        if self.storage is not None:
            self.storage.close()

    def __enter__(self) -> "Cluster":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def logs(self) -> str:
        """The tails of every process log, for a failure message (control connections left out)."""
        parts = []
        if self.fusion is not None:
            parts.append("--- fusion ---\n" + _tail(self.fusion.log_path, 60))
        for host, proc in self.agents.items():
            parts.append(f"--- agent {host} ---\n" + _tail(proc.log_path, 40))
        return "\n".join(parts)

    # --- paths --------------------------------------------------------------------------

    @staticmethod
    def agent_id(host: str) -> str:
        return f"agent-{host}"

    def path(self, host: str, rel: str = "") -> Path:
        """``rel`` (``"a/b.txt"`` or ``"/a/b.txt"``) as host ``host`` sees it."""
        assert self.storage is not None
        return self.storage.host(host) / rel.lstrip("/")

    @property
    def backing(self) -> Path:
        assert self.storage is not None
        return self.storage.backing

    # --- control planes ------------------------------------------------------------------

    def fusion_call(self, fn: Callable[[ControlClient], Awaitable[Any]], timeout: float = 20.0) -> Any:
        assert self.fusion is not None
        return _control(self.fusion.url, ADMIN_KEY, fn, timeout)

    def agent_status(self, host: str) -> dict[str, Any]:
        url = self.agents[host].control_url
        assert url is not None
        return _control(url, AGENT_CONTROL_KEY, lambda c: c.status())

    def status(self) -> dict[str, Any]:
        return self.fusion_call(lambda c: c.status())

    def view_status(self) -> dict[str, Any]:
        return next(v for v in self.status()["views"] if v["view"] == VIEW)

    def session_roles(self, status: dict[str, Any] | None = None) -> dict[str, str]:
        """``{host: role}`` of the open sessions."""
        status = status or self.status()
        out = {}
        for s in status["sessions"]:
            host = s["agent_id"].removeprefix("agent-")
            out[host] = s["roles"].get(VIEW, "none")
        return out

    def leader_host(self) -> str | None:
        return next((h for h, r in self.session_roles().items() if r == "leader"), None)

    def wait_ready(self, timeout: float = 20.0) -> None:
        self.wait_until(lambda: self.view_status()["ready"], timeout, "the view to be ready")

    def tree(self) -> dict[str, dict[str, Any]]:
        """``{path: entry}`` of the whole view (full entries)."""
        res = self.fusion_call(lambda c: c.tree(VIEW, "/", depth=10_000, full=True, max_nodes=1_000_000, partial=True))
        assert not res["truncated"]
        return flatten_tree(res["tree"])

    def entry(self, path: str) -> dict[str, Any] | None:
        async def get(c: ControlClient) -> dict[str, Any] | None:
            try:
                return await c.stats(VIEW, path, partial=True)
            except ClientError as exc:
                if getattr(exc, "code", None) == "not_found":
                    return None
                raise

        return self.fusion_call(get)

    def suspects(self) -> dict[str, dict[str, Any]]:
        res = self.fusion_call(lambda c: c.suspects(VIEW, "/", limit=10_000, partial=True))
        return {s["path"]: s for s in res["suspects"]}

    def blind_spots(self) -> dict[str, Any]:
        return self.fusion_call(lambda c: c.blind_spots(VIEW, "/", limit=10_000, partial=True))

    def summary(self, path: str, **kwargs: Any) -> dict[str, Any]:
        return self.fusion_call(lambda c: c.summary(VIEW, path, **kwargs))

    # --- waiting -------------------------------------------------------------------------

    def wait_until(self, predicate: Callable[[], Any], timeout: float, what: str, interval: float = 0.05) -> Any:
        """:func:`wait_for` with the process logs in the failure."""
        try:
            return wait_for(predicate, timeout, interval, what)
        except TimeoutError as exc:
            raise AssertionError(f"{exc}\n{self.logs()}") from None

    def wait_for_path(self, path: str, timeout: float = 10.0, gone: bool = False) -> dict[str, Any] | None:
        if gone:
            self.wait_until(lambda: self.entry(path) is None, timeout, f"{path} to leave the view")
            return None
        return self.wait_until(lambda: self.entry(path), timeout, f"{path} in the view")

    def wait_audit_after(self, t: float, timeout: float | None = None) -> dict[str, Any]:
        """Wait for an audit that started after wall time ``t`` + :data:`STALE_S` and completed.

        Attributes written through another mount look stale for about a
        second, so an audit that started sooner may have seen the old state:
        the next audit is not necessarily a witness of the writes.
        """
        after = t + STALE_S
        timeout = timeout if timeout is not None else STALE_S + 3 * float(self.view_settings["audit_interval"]) + 10

        def done() -> dict[str, Any] | None:
            v = self.view_status()
            started, completed = v["last_audit_started_at"], v["last_audit_completed_at"]
            if started is not None and completed is not None and started > after and completed >= started:
                return v
            return None

        return self.wait_until(done, timeout, f"an audit started after {after:.2f} to complete", interval=0.1)

    # --- convergence ----------------------------------------------------------------------

    def differences(self, exclude: Iterable[str] = (), allow_suspect: Iterable[str] = ()) -> list[str]:
        """How the view differs from a walk of the backing directory (empty: none)."""
        excluded = tuple(exclude)

        def keep(p: str) -> bool:
            return not any(p == e or p.startswith(e.rstrip("/") + "/") for e in excluded)

        disk = {p: v for p, v in walk_disk(self.backing).items() if keep(p)}
        view = {p: e for p, e in self.tree().items() if keep(p)}
        out = []
        for p in sorted(set(disk) - set(view)):
            out.append(f"missing from the view: {p} {disk[p]}")
        for p in sorted(set(view) - set(disk)):
            e = view[p]
            out.append(f"not on disk: {p} ({e['kind']}, size {e['size']}, mtime {e['mtime']})")
        for p in sorted(set(disk) & set(view)):
            kind, size, mtime = disk[p]
            e = view[p]
            if e["kind"] != kind:
                out.append(f"{p}: kind {e['kind']} in the view, {kind} on disk")
                continue
            if kind != "dir" and e["size"] != size:
                out.append(f"{p}: size {e['size']} in the view, {size} on disk")
            if e["mtime"] is None or not math.isclose(e["mtime"], mtime, abs_tol=0.0011):
                out.append(f"{p}: mtime {e['mtime']} in the view, {mtime} on disk")
        allowed = set(allow_suspect)
        for p, e in sorted(view.items()):
            if e.get("suspect") and p not in allowed:
                out.append(f"{p}: still suspect")
        return out

    def converge_and_compare(self, timeout: float = 30.0, exclude: Iterable[str] = (),
                             allow_suspect: Iterable[str] = ()) -> float:
        """Let the view converge, then check it equals the disk (CONSISTENCY.md, "Convergence").

        Writes have stopped; an audit that started after the mounts' caches
        caught up must complete (every audit is full when ``full_audit_every``
        is 1, else the one a full audit waits for), then the sentinel answers
        for the suspects: the view must equal a walk of the backing directory
        (paths, kinds, sizes, mtimes to the millisecond) with no file suspect.
        Returns the seconds it took.
        """
        t0 = time.time()
        self.wait_audit_after(t0)
        if int(self.view_settings.get("full_audit_every", 1)) > 1:
            self._wait_full_audit_after(t0 + STALE_S, timeout)
        last: list[str] = []

        def equal() -> bool:
            nonlocal last
            last = self.differences(exclude, allow_suspect)
            return not last

        deadline = time.monotonic() + timeout
        while not equal():
            if time.monotonic() > deadline:
                raise AssertionError("the view did not converge to the disk:\n  " + "\n  ".join(last[:40])
                                     + f"\n{self.logs()}")
            time.sleep(0.2)
        return time.time() - t0

    def _wait_full_audit_after(self, after: float, timeout: float) -> None:
        def full_done() -> bool:
            host = self.leader_host()
            if host is None or host not in self.agents:
                return False
            last = self.agent_status(host)["pipes"][0].get("last_audit") or {}
            return bool(last.get("full")) and not last.get("aborted") and last.get("started_at", 0) > after

        self.wait_until(full_done, timeout, "a full audit after the writes", interval=0.2)


def write_slowly(path: Path, chunks: int, every: float, chunk: bytes = b"x" * 100) -> float:
    """Append ``chunks`` chunks to ``path`` (kept open), one every ``every`` s; the time of the last."""
    with open(path, "ab", buffering=0) as f:
        for i in range(chunks):
            f.write(chunk)
            if i < chunks - 1:
                time.sleep(every)
    return time.time()


def set_old_mtime(path: Path, age: float = 3600.0) -> float:
    t = time.time() - age
    os.utime(path, (t, t), follow_symlinks=False)
    return t
