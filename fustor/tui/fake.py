"""A fixed, in-memory control source: the console without any process.

:class:`FakeSource` answers the control ops the console uses with
deterministic replies shaped like fusion's and an agent's (same fields as
``fustor/fusion/service.py`` ``status()`` and ``_op_*``, ``fustor/views/fs/
query.py`` entries and summaries, ``fustor/agent`` status). The snapshot
tests, the screenshots (``python -m fustor.tui.screenshots``) and the model
tests use it, with the clock fixed at :data:`NOW` (times shown in UTC).

The archive it pretends to index::

    archive:/upload/submit/S1234   still being written (suspect files)
    archive:/upload/submit/S1201   complete
    archive:/upload/submit/S1199   not vouched for (a blind-spot addition)
    archive:/big                   a directory of ``big_entries`` files (paging)
"""

from __future__ import annotations

import copy
import zlib
import datetime as _dt
from typing import Any

from fustor.client import RemoteError
from fustor.core import ConfigError
from fustor.core.config import parse_yaml

from .source import CONNECTED, ConnState, ControlSource

#: the fixed wall clock of the fake (2025-06-15 15:06:40 UTC)
NOW = 1_750_000_000.0
UTC = _dt.timezone.utc
DAY = 86_400.0

LEADER_A = "storage-a-1-3f9c2e1a"
FOLLOWER_B = "storage-b-2-77d01b42"
LEADER_C = "storage-c-3-0be4aa19"


def fake_clock() -> float:
    return NOW


def _file(name: str, size: int, age: float, *, suspect: bool = False, blind: bool = False,
          known: bool = True) -> dict:  # fmt: skip
    t = NOW - age
    return {"name": name, "kind": "file", "size": size, "mtime": t, "ctime": t, "inode": zlib.crc32(name.encode()) % 10**7,
            "mode": 0o100644, "uid": 1000, "gid": 1000, "suspect": suspect, "blind_spot": blind,
            "known_by_agent": known, "last_updated_at": t}


class _Dir:
    def __init__(self, name: str, age: float = 3 * DAY, children: list[Any] | None = None) -> None:
        self.name = name
        self.age = age
        self.children: dict[str, Any] = {}
        for c in children or []:
            self.children[c["name"] if isinstance(c, dict) else c.name] = c

    def rollup(self) -> dict:
        files = dirs = size = suspects = blind = unknown = 0
        newest = NOW - self.age
        for c in self.children.values():
            if isinstance(c, _Dir):
                r = c.rollup()
                dirs += 1 + r["dirs"]
                files += r["files"]
                size += r["size"]
                suspects += r["suspects"]
                blind += r["blind_spots"]
                unknown += r["not_known_by_agent"]
                newest = max(newest, r["newest_mtime"])
            else:
                files += 1
                size += c["size"]
                suspects += 1 if c["suspect"] else 0
                blind += 1 if c["blind_spot"] else 0
                unknown += 0 if c["known_by_agent"] else 1
                newest = max(newest, c["mtime"])
        t = NOW - self.age
        return {"name": self.name or "/", "kind": "dir", "files": files, "dirs": dirs, "size": size,
                "newest_mtime": newest, "suspects": suspects, "blind_spots": blind, "not_known_by_agent": unknown,
                "mtime": t, "ctime": t, "inode": zlib.crc32(self.name.encode()) % 10**7, "mode": 0o40755, "uid": 1000,
                "gid": 1000, "suspect": False, "blind_spot": False, "known_by_agent": True, "last_updated_at": t,
                "audit_skipped": False, "implicit": False}


def _submission(name: str, n: int, age: float, *, hot: int = 0, blind: int = 0) -> _Dir:
    files = []
    for i in range(n):
        files.append(_file(f"data_{i:04d}.dat", 1_000_000 + 37_117 * i, age + i * 7, suspect=i < hot,
                           blind=hot <= i < hot + blind, known=not (hot <= i < hot + blind)))
    return _Dir(name, age, [_Dir("sub_0", age, files), _file("manifest.json", 2_345, age + 60)])


def build_archive(big_entries: int = 10_000) -> _Dir:
    submit = _Dir("submit", 40, [
        _submission("S1234", 14, 3, hot=4),
        _submission("S1201", 9, 3 * DAY),
        _submission("S1199", 6, 9 * DAY, blind=1),
        _submission("S1187", 22, 40 * DAY),
    ])  # fmt: skip
    upload = _Dir("upload", 40, [submit, _Dir("incoming", 2 * DAY, [_file("README.txt", 812, 200 * DAY)])])
    projects = _Dir("projects", 30 * DAY, [
        _Dir("genomes", 60 * DAY, [_file(f"chr{i}.fa.gz", 50_000_000 * i + 12_345, 90 * DAY + i) for i in range(1, 9)]),
        _Dir("imaging", 12 * DAY, [_file(f"scan_{i:03d}.tif", 8_000_000 + i * 1_111, 12 * DAY + i) for i in range(12)]),
    ])  # fmt: skip
    big = _Dir("big", 5 * DAY, [_file(f"f{i:06d}.bin", (i * 7919) % 100_003 + 1, 5 * DAY + i % 1000)
                                for i in range(big_entries)])  # fmt: skip
    tmp = _Dir("tmp", 600, [_file("core.1234", 2_000_000_000, 600, known=False), _file(".lock", 0, 5, suspect=True)])
    return _Dir("", 40, [upload, projects, big, tmp])


FUSION_CONFIGS = {
    "receivers-config.yaml": (
        "# Receivers: where agents connect (data plane) and who may use the control plane.\n"
        "receivers:\n"
        "  main:\n"
        "    bind: 0.0.0.0   # every interface of the fusion host\n"
        "    port: 7700\n"
        "    keys:\n"
        "      - key: agent-key-archive-01\n"
        "        pipes: [archive-pipe, scratch-pipe]\n"
        "control:\n"
        "  keys:\n"
        "    - key: console-admin-key-01\n"
        "      access: admin\n"
        "    - key: console-readonly-key-01\n"
        "      access: readonly\n"
    ),
    "views-config/archive.yaml": (
        "# The data archive: every submission lands under /upload/submit.\n"
        "driver: fs\n"
        "hot_file_threshold: 120   # seconds: newer files are suspect\n"
        "audit_interval: 600\n"
        "sentinel_interval: 60\n"
        "tombstone_ttl: 3600\n"
    ),
    "views-config/scratch.yaml": "# Scratch space, audited less often.\ndriver: fs\naudit_interval: 3600\n",
    "fusion-pipes-config/archive-pipe.yaml": "# Feeds the archive view.\nreceiver: main\nviews: [archive]\n",
    "fusion-pipes-config/scratch-pipe.yaml": "receiver: main\nviews: [scratch]\n",
}

AGENT_CONFIGS = {
    "agent.yaml": "# This storage host.\nagent_id: storage-a\ncontrol:\n  bind: 127.0.0.1\n  port: 7801\n",
    "sources-config.yaml": "sources:\n  share:\n    uri: /srv/archive   # the NFS export, mounted here\n",
    "senders-config.yaml": "senders:\n  fusion:\n    url: ws://fusion.example:7700\n    key: agent-key-archive-01\n",
    "agent-pipes-config/archive.yaml": "source: share\nsender: fusion\npipe_id: archive-pipe\n",
}

#: keys the fake's view files accept, with the type each wants
_VIEW_KEYS = {"driver": str, "hot_file_threshold": (int, float), "audit_interval": (int, float),
              "sentinel_interval": (int, float), "tombstone_ttl": (int, float), "live_mode": bool}


def _history(n: int = 60) -> list[float]:
    # A deterministic, lively-looking rate: a slow wave with a burst.
    out = []
    for i in range(n):
        base = 800 + 600 * (((i * 37) % 60) / 60.0)
        if 40 <= i < 46:
            base += 40_000 - 5_000 * (i - 40)
        out.append(round(base, 1))
    return out


def fusion_status() -> dict:
    hist = _history()
    return {
        "server": "fustor-fusion/0.1.0", "started_at": NOW - 3 * DAY - 7200, "uptime_s": 3 * DAY + 7200,
        "views": [
            {"view": "archive", "files": 1_234_567, "dirs": 45_678, "total_size": 13_534_000_000_000,
             "suspects": 12, "blind_spot_additions": 3, "blind_spot_deletions": 1, "tombstones": 40,
             "watermark": NOW - 0.4, "skew": 0.2, "ready": True, "not_ready_reason": None, "leader": LEADER_A,
             "followers": [FOLLOWER_B],
             "audit": {"audit_id": "a-17", "session_id": LEADER_A, "started_at": NOW - 95, "elapsed_s": 95.0,
                       "rows_seen": 412_345, "dirs_listed": 9_876, "dirs_skipped": 21_000},
             "last_audit_started_at": NOW - 700, "last_audit_completed_at": NOW - 605, "events_per_s": 1520.5,
             "events_history": hist, "pipes": ["archive-pipe"], "live_mode": False},
            {"view": "scratch", "files": 1_234, "dirs": 56, "total_size": 9_876_543_210, "suspects": 0,
             "blind_spot_additions": 0, "blind_spot_deletions": 0, "tombstones": 0, "watermark": NOW - 3.0,
             "skew": -1.5, "ready": False,
             "not_ready_reason": "the first snapshot is running (1,234 rows so far)", "leader": LEADER_C,
             "followers": [], "audit": None, "last_audit_started_at": None, "last_audit_completed_at": None,
             "events_per_s": 12.0, "events_history": [12.0] * 20, "pipes": ["scratch-pipe"], "live_mode": False},
        ],
        "pipes": [
            {"pipe": "archive-pipe", "receiver": "main", "views": ["archive"], "queue": 3, "queue_size": 64,
             "sessions": 2, "rows_applied": 98_765_432, "events_per_s": 1520.5, "errors": 0},
            {"pipe": "scratch-pipe", "receiver": "main", "views": ["scratch"], "queue": 60, "queue_size": 64,
             "sessions": 1, "rows_applied": 1_234, "events_per_s": 12.0, "errors": 2},
        ],
        "sessions": [
            {"session_id": LEADER_A, "pipe": "archive-pipe", "agent_id": "storage-a", "host": "nfs-a.dc1",
             "source_uri": "/srv/archive", "roles": {"archive": "leader"}, "last_heartbeat_age": 0.8,
             "timeout": 30.0, "rows_received": 98_000_000, "events_per_s": 1490.2, "can_realtime": True,
             "connected": True, "last_seq": 196_001, "audit_id": "a-17", "counters": {}},
            {"session_id": FOLLOWER_B, "pipe": "archive-pipe", "agent_id": "storage-b", "host": "nfs-b.dc1",
             "source_uri": "/srv/archive", "roles": {"archive": "follower"}, "last_heartbeat_age": 2.1,
             "timeout": 30.0, "rows_received": 765_432, "events_per_s": 30.3, "can_realtime": True,
             "connected": True, "last_seq": 1_531, "audit_id": None, "counters": {}},
            {"session_id": LEADER_C, "pipe": "scratch-pipe", "agent_id": "storage-c", "host": "scratch-1.dc2",
             "source_uri": "/scratch", "roles": {"scratch": "leader"}, "last_heartbeat_age": 21.0,
             "timeout": 30.0, "rows_received": 1_234, "events_per_s": 12.0, "can_realtime": False,
             "connected": False, "last_seq": 3, "audit_id": None, "counters": {}},
        ],
        "receivers": [{"receiver": "main", "bind": "0.0.0.0", "port": 7700, "tls": False}],
        "jobs": [], "warnings": [],
    }  # fmt: skip


def agent_status() -> dict:
    return {
        "server": "fustor-agent/0.1.0", "agent_id": "storage-a", "started_at": NOW - 86_400, "uptime_s": 86_400.0,
        "pipes": [
            {"pipe": "archive", "source": "share", "sender": "fusion", "fusion_pipe": "archive-pipe",
             "state": "running", "roles": {"archive": "leader"}, "session_id": LEADER_A,
             "sender_stats": {"sent": 196_001, "acked": 195_990, "unacked": 11, "resent": 4, "duplicates": 0,
                              "refused": 0, "last_error": None},
             "bus_lag": 120, "errors": 0, "can_realtime": True, "drift": 0.012, "snapshot_done": True,
             "snapshot_rows": 1_280_000, "audit_running": True,
             "audit_progress": {"rows": 412_345, "dirs_listed": 9_876, "dirs_skipped": 21_000, "full": False},
             "last_audit": {"audit_id": "a-16", "path": "/", "started_at": NOW - 700, "ended_at": NOW - 605,
                            "aborted": False, "rows": 1_301_222, "dirs_listed": 12_000, "dirs_skipped": 33_678,
                            "full": True},
             "last_sentinel": {"at": NOW - 42, "checked": 12, "counts": {"confirmed": 9, "cleared": 3}},
             "last_error": None, "crashes": 0, "restarts": 0, "reconnects": 1, "jobs_run": 3,
             "watch": {"watches": 45_678, "limit": 65_536, "evictions": 0, "overflows": 0, "enospc": 0,
                       "events": 9_876_543, "degraded": False}},
            {"pipe": "scratch", "source": "scratch", "sender": "fusion", "fusion_pipe": "scratch-pipe",
             "state": "backoff", "roles": {"scratch": "follower"}, "session_id": None,
             "sender_stats": {"sent": 3, "acked": 3, "unacked": 0, "resent": 0, "duplicates": 0, "refused": 0,
                              "last_error": "connection lost"},
             "bus_lag": 4_500, "errors": 7, "can_realtime": False, "drift": -2.5, "snapshot_done": False,
             "snapshot_rows": 1_234, "audit_running": False,
             "audit_progress": {"rows": 0, "dirs_listed": 0, "dirs_skipped": 0, "full": False},
             "last_audit": None, "last_sentinel": None, "last_error": "connection lost", "crashes": 0,
             "restarts": 1, "reconnects": 5, "jobs_run": 0,
             "watch": {"watches": 8_192, "limit": 8_192, "evictions": 310, "overflows": 2, "enospc": 1,
                       "events": 12_345, "degraded": True}},
        ],
        "sources": {
            "share": {"root": "/srv/archive", "drift": 0.012, "errors": 0, "recent_errors": [], "can_realtime": True,
                      "degraded_reason": None},
            "scratch": {"root": "/scratch", "drift": -2.5, "errors": 7, "recent_errors": [], "can_realtime": False,
                        "degraded_reason": "inotify watch limit reached (8192): polling the rest"},
        },
        "warnings": [],
    }  # fmt: skip


class FakeSource(ControlSource):
    """Deterministic replies (see the module doc). ``kind`` is ``fusion`` or ``agent``.

    A rescan (``query.summary`` with ``force_real_time``) answers ``job_pending``;
    the job completes after ``job_polls`` ``job.status`` calls. ``config.write``
    keeps the text and answers a reload. ``calls`` records every request.
    """

    def __init__(self, kind: str = "fusion", *, access: str = "admin", big_entries: int = 10_000,
                 job_polls: int = 2, connected: bool = True) -> None:  # fmt: skip
        super().__init__()
        self.kind = kind
        self.access = access
        self.url = "ws://fusion.example:7700" if kind == "fusion" else "ws://127.0.0.1:7801"
        self.root = build_archive(big_entries)
        self.configs = dict(FUSION_CONFIGS if kind == "fusion" else AGENT_CONFIGS)
        self.job_polls = job_polls
        self.calls: list[tuple[str, dict]] = []
        self.connected = connected
        self._jobs: dict[str, dict] = {}
        self._ls_cache: dict[tuple, list[dict]] = {}
        self._set_status(fusion_status() if kind == "fusion" else agent_status())
        self._add_logs([{"at": NOW - 5, "level": "info", "message": "view archive: audit a-17 started"}])

    def state(self) -> ConnState:
        server = "fustor-fusion/0.1.0" if self.kind == "fusion" else "fustor-agent/0.1.0"
        if not self.connected:
            return ConnState("disconnected", self.url, None, server, "connection lost", 4.0, 2)
        return ConnState(CONNECTED, self.url, self.access, server)

    # -- the ops ---------------------------------------------------------------------

    async def request(self, op: str, /, **params: Any) -> dict[str, Any]:
        params = {k: v for k, v in params.items() if v is not None}
        self.calls.append((op, params))
        handler = getattr(self, "_op_" + op.replace(".", "_"), None)
        if handler is None:
            raise RemoteError("unknown_op", f"op {op!r} is not served by this fake", op=op)
        return handler(**params)

    def _op_status(self) -> dict:
        return copy.deepcopy(self.status or {})

    def _view_root(self, view: str) -> _Dir:
        if self.kind != "fusion":
            raise RemoteError("unknown_op", "an agent serves no views", op="query")
        if view == "archive":
            return self.root
        if view == "scratch":
            raise RemoteError("not_ready", "view 'scratch' is not ready: the first snapshot is running",
                              {"reason": "the first snapshot is running"}, op="query")
        raise RemoteError("not_found", f"no view {view!r} (views: archive, scratch)", op="query")

    def _lookup(self, view: str, path: str) -> Any:
        node: Any = self._view_root(view)
        for part in [p for p in path.split("/") if p]:
            if not isinstance(node, _Dir) or part not in node.children:
                return None
            node = node.children[part]
        return node

    @staticmethod
    def _entry(node: Any, path: str) -> dict:
        e = node.rollup() if isinstance(node, _Dir) else dict(node)
        e["path"] = path
        return e

    def _op_query_ls(self, view: str, path: str = "/", limit: int = 100, cursor: str | None = None,
                     sort: str = "name", reverse: bool = False, partial: bool = False) -> dict:  # fmt: skip
        node = self._lookup(view, path)
        if node is None:
            raise RemoteError("not_found", f"{path} is not in view {view!r}", op="query.ls")
        if not isinstance(node, _Dir):
            raise RemoteError("invalid", f"{path} is a file, not a directory", op="query.ls")
        keys = {"name": lambda e: e["name"], "size": lambda e: (e["size"], e["name"]),
                "mtime": lambda e: (e.get("newest_mtime") or e["mtime"], e["name"]),
                "count": lambda e: (e.get("files", 1) if e["kind"] == "dir" else 1, e["name"])}
        if sort not in keys:
            raise RemoteError("invalid", f"unknown sort {sort!r}", op="query.ls")
        cache_key = (view, path, sort, bool(reverse))
        entries = self._ls_cache.get(cache_key)
        if entries is None:  # the data never changes: sort a directory once per order
            join = (lambda n: "/" + n) if path == "/" else (lambda n: path.rstrip("/") + "/" + n)
            entries = [self._entry(c, join(name)) for name, c in node.children.items()]
            entries.sort(key=keys[sort], reverse=reverse)
            self._ls_cache[cache_key] = entries
        start = int(cursor) if cursor else 0
        page = copy.deepcopy(entries[start:start + limit])
        nxt = str(start + limit) if start + limit < len(entries) else None
        return {"path": path, "total": len(entries), "sort": sort, "reverse": reverse, "entries": page,
                "next_cursor": nxt}

    def _op_query_stats(self, view: str, path: str = "/", partial: bool = False) -> dict:
        node = self._lookup(view, path)
        if node is None:
            raise RemoteError("not_found", f"{path} is not in view {view!r}", op="query.stats")
        return self._entry(node, path)

    def _op_query_summary(self, view: str, path: str, force_real_time: bool = False, timeout: float | None = None,
                          partial: bool = False) -> dict:  # fmt: skip
        node = self._lookup(view, path)
        out: dict[str, Any] = {"path": path, "exists": node is not None, "watermark": NOW - 0.4, "view_ready": True,
                               "last_audit_started_at": NOW - 700, "last_audit_completed_at": NOW - 605,
                               "blind_spot_deletions": 1 if path in ("/", "/upload", "/upload/submit",
                                                                     "/upload/submit/S1199") else 0}
        if node is None:
            out.update(verdict="absent", reasons=["the view holds nothing at this path"])
        else:
            e = self._entry(node, path)
            is_dir = e["kind"] == "dir"
            newest = e.get("newest_mtime") if is_dir else e["mtime"]
            suspects = e.get("suspects", 0) if is_dir else int(e["suspect"])
            adds = e.get("blind_spots", 0) if is_dir else int(e["blind_spot"])
            unknown = e.get("not_known_by_agent", 0) if is_dir else int(not e["known_by_agent"])
            out.update(kind=e["kind"], files=e.get("files", 1), dirs=e.get("dirs", 0), size=e["size"],
                       suspects=suspects, blind_spot_additions=adds, not_known_by_agent=unknown, newest_mtime=newest,
                       newest_age_s=(NOW - 0.4) - newest)
            writing, unvouched = [], []
            if suspects:
                writing.append(f"{suspects} file(s) suspect: written recently or still open")
            if adds:
                unvouched.append(f"{adds} entr(y/ies) appeared where no agent watches (blind spot)")
            if out["blind_spot_deletions"]:
                unvouched.append(f"{out['blind_spot_deletions']} entr(y/ies) vanished where no agent watches "
                                 "(blind spot)")
            if unknown:
                unvouched.append(f"{unknown} file(s) seen only by scans, not by an agent")
            if writing:
                out.update(verdict="writing", reasons=writing + unvouched)
            elif unvouched:
                out.update(verdict="unvouched", reasons=unvouched)
            else:
                out.update(verdict="complete", reasons=[])
        if force_real_time:
            job_id = f"job-{len(self._jobs) + 1}-fake"
            job = {"job_id": job_id, "view": view, "path": path, "session_id": LEADER_A, "state": "pending",
                   "created_at": NOW, "completed_at": None, "rows": 0, "error": None, "_polls": 0}
            self._jobs[job_id] = job
            out.update(job_id=job_id, job_pending=True, job=self._public(job))
        return out

    @staticmethod
    def _public(job: dict) -> dict:
        return {k: v for k, v in job.items() if not k.startswith("_")}

    def _op_job_status(self, job_id: str) -> dict:
        job = self._jobs.get(job_id)
        if job is None:
            raise RemoteError("not_found", f"no job {job_id!r}", op="job.status")
        job["_polls"] += 1
        if job["state"] == "pending" and job["_polls"] >= self.job_polls:
            job.update(state="complete", completed_at=NOW + 0.8, rows=15)
        return self._public(job)

    def _op_query_search(self, pattern: str, view: str | None = None, limit: int = 100, **_: Any) -> dict:
        import fnmatch

        views = [view] if view else ["archive"]
        results: list[dict] = []
        for v in views:
            root = self._view_root(v)
            stack: list[tuple[Any, str]] = [(root, "/")]
            while stack:
                node, p = stack.pop()
                if isinstance(node, _Dir):
                    for name, c in node.children.items():
                        cp = ("/" if p == "/" else p + "/") + name
                        if fnmatch.fnmatchcase(name, pattern):
                            e = self._entry(c, cp)
                            short = {"name": e["name"], "kind": e["kind"], "path": cp, "size": e["size"], "view": v}
                            if e["kind"] == "dir":
                                short.update(files=e["files"], dirs=e["dirs"], newest_mtime=e["newest_mtime"])
                            results.append(short)
                        if isinstance(c, _Dir) and name != "big":
                            stack.append((c, cp))
        results.sort(key=lambda r: (r["view"], r["path"]))
        return {"pattern": pattern, "results": results[:limit], "truncated": len(results) > limit,
                "views": ["archive"] if not view else [view]}

    def _op_query_blind_spots(self, view: str, path: str = "/", limit: int = 1000, partial: bool = False) -> dict:
        self._view_root(view)
        dels = ["/upload/submit/S1199/sub_0/data_0009.dat"]
        dels = [d for d in dels if path == "/" or d.startswith(path.rstrip("/") + "/")]
        adds = ["/upload/submit/S1199/sub_0/data_0000.dat"]
        adds = [d for d in adds if path == "/" or d.startswith(path.rstrip("/") + "/")]
        return {"has_blind_spot": bool(adds or dels), "additions_count": len(adds), "deletions_count": len(dels),
                "additions": adds[:limit], "deletions": dels[:limit]}

    # -- config --------------------------------------------------------------------------

    def _op_config_list(self) -> dict:
        home = "/etc/fustor/fusion" if self.kind == "fusion" else "/etc/fustor/agent"
        return {"home": home, "files": [{"name": n, "size": len(t.encode())} for n, t in self.configs.items()]}

    def _op_config_read(self, name: str) -> dict:
        if name not in self.configs:
            raise RemoteError("not_found", f"no config file {name!r}", op="config.read")
        return {"name": name, "text": self.configs[name]}

    def _check(self, name: str, text: str) -> list[dict]:
        try:
            data = parse_yaml(text, name)
        except ConfigError as exc:
            return [{"key": "", "message": exc.message}]
        if data is None:
            data = {}
        if not isinstance(data, dict):
            return [{"key": "", "message": f"{name}: expected a mapping at the top level"}]
        errors = []
        if name.startswith("views-config/"):
            for k, v in data.items():
                want = _VIEW_KEYS.get(k)
                if want is None:
                    errors.append({"key": str(k), "message": "Extra inputs are not permitted"})
                elif not isinstance(v, want) or isinstance(v, bool) and want is not bool:
                    errors.append({"key": str(k), "message": f"Input should be a valid {getattr(want, '__name__', 'number')}"})
                elif isinstance(v, (int, float)) and not isinstance(v, bool) and v <= 0:
                    errors.append({"key": str(k), "message": "Input should be greater than 0"})
        return errors

    def _op_config_validate(self, name: str, text: str) -> dict:
        errors = self._check(name, text)
        if errors:
            return {"valid": False, "message": "\n".join(f"{name}: {e['key']}: {e['message']}" if e["key"]
                                                         else e["message"] for e in errors), "errors": errors}
        return {"valid": True}

    def _op_config_write(self, name: str, text: str) -> dict:
        if self.access != "admin":
            raise RemoteError("forbidden", "config.write needs an admin key", op="config.write")
        errors = self._check(name, text)
        if errors:
            raise RemoteError("config_invalid", errors[0]["message"], {"errors": errors}, op="config.write")
        self.configs[name] = text
        stem = name.rsplit("/", 1)[-1].rsplit(".", 1)[0]
        if name.startswith("views-config/"):
            reload = {"views_changed": [stem]}
        elif name.startswith(("fusion-pipes-config/", "agent-pipes-config/")):
            reload = {"pipes_restarted": [stem]}
        else:
            reload = {}
        return {"written": name, "reload": reload}
