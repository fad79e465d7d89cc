#!/usr/bin/env python3
"""Fustor against the way people answer the same questions today, in one run on one tree.

    ./dev bench report [--files N] [--roots K] [--quick] [--skip-others] [--window S] ...

Generates N files (default 200,000) in the data-archive layout
``upload/submit/{c1}/{c2}/{uuid}/sub_X/data_XXXX.dat`` (the generator of
``benchmarks/view_ingest.py``: ~200 files per submission, sizes 1 KiB-100 MiB
as sparse files, mtimes days old) spread over K roots (default 3), each root
standing for one storage area. Then:

* **Deployment.** Each root is a backing directory mounted twice with
  ``bindfs`` (``fustor.testing.storage.SharedStorage``): host ``agent`` runs a
  Fustor agent on its mount, host ``noagent`` is a host with no agent (a
  blind spot). One fusion process holds K views (one per root, one pipe
  each). Without FUSE the agents watch the backing directories directly and
  the "unwatched" writes go to the backing directory too, where the agent's
  inotify sees them (there is then no real blind spot; the report says so).
* **Writer.** A child process (this script with ``--writer``) keeps some
  submissions being written throughout (appending chunks to open files,
  through the watched host and through the host with no agent; some every
  0.2-0.6 s, some every 1.2-1.6 s, both inside the find window) and writes
  others to the end, then leaves them alone. It records what it did in a
  status file: that is the ground truth.
* **Discovery** ("where is submission U?"): ``find R1 .. RK -type d -name U``
  over the backing directories (local disk, warm page cache: the best case
  for find; ``find`` through the FUSE mounts of the host with no agent is
  measured on a few samples too) against ``search(U, kind="dir")`` over
  every view through one persistent ``ControlClient``; one warm-up run
  each, then many sampled submissions (old ones and the writer's).
* **Completeness** ("is submission U complete?"): the double ``find -ls``
  (printed with ``-printf`` so the mtime has its fraction), a silence window
  (``--window``, default 2 s; people use minutes) and the second listing:
  complete when both listings are equal and no mtime is within the window;
  against one ``summary(view, path)`` (``complete`` is complete; ``writing``,
  ``unvouched`` and ``absent`` are not vouched complete). Both verdicts are
  compared with the writer's truth.
* **Throughput**: C (default 8) concurrent clients for a fixed time, each
  with its own connection (asyncio tasks) against C parallel ``find``
  processes; completed discovery queries per second.
* **The other benchmarks** (``view_ingest.py``, ``fusion_ingest.py``,
  ``e2e.py``) run as subprocesses after the cluster is gone; their last-line
  JSON is collected.

Writes ``benchmarks/REPORT.md`` and ``benchmarks/report.json`` (``--md``,
``--json`` to change) and, at full size, the headline block of README.md
(``--no-readme`` to leave it). Human-readable lines first; the last line
printed is one JSON object of the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import platform
import random
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))

from view_ingest import FILE, NOW, make_layout, walk  # noqa: E402  (the data-archive generator)

from fustor.client import ControlClient  # noqa: E402
from fustor.testing.agentproc import AgentProcess, make_agent_home  # noqa: E402
from fustor.testing.processes import READONLY_KEY, FusionProcess, make_fusion_home  # noqa: E402
from fustor.testing.storage import FuseUnavailable, SharedStorage, fuse_problem  # noqa: E402

#: The views' intervals (fusion hands them to the agents): short, so that the
#: writes of the host with no agent are found by audits within seconds.
VIEW_SETTINGS: dict[str, Any] = {
    "hot_file_threshold": 5, "sentinel_interval": 1, "audit_interval": 3, "full_audit_every": 100,
    "tombstone_ttl": 300, "audit_drain_wait": 2,
}  # fmt: skip
PIPE_SETTINGS: dict[str, Any] = {"session_timeout": 20, "queue_size": 64}
#: A bindfs mount shows attributes changed through another mount stale for about this long (as NFS does).
STALE_S = 1.2
#: Kinds of submission sampled for completeness. *-writing: appended to until the end of the run, a
#: chunk every 0.2-0.6 s; *-writing-slow: a chunk every 1.2-1.6 s (still inside the default find
#: window, but long enough for the sentinel to see a file unchanged between two chunks);
#: *-finished: written to the end, then left alone; old: the generated tree.
CLASSES = ("watched-writing", "watched-writing-slow", "unwatched-writing", "unwatched-writing-slow",
           "watched-finished", "unwatched-finished", "old")
WRITER_CLASSES = CLASSES[:-1]
FAST_EVERY, SLOW_EVERY = (0.2, 0.6), (1.2, 1.6)
TARGET_DISCOVERY_RATIO = 100.0

# --- data -------------------------------------------------------------------------------


def generate(roots: list[Path], n_files: int, seed: int) -> list[dict[str, Any]]:
    """Write the archive over ``roots``; each submission goes to one root. Returns the submissions."""
    layout = make_layout(n_files, seed)
    rng = random.Random(seed + 101)
    where = {u.name: rng.randrange(len(roots)) for u in layout.uploads}
    made: set[str] = set()
    for e, _pct, _pmt, _pino in walk(layout, NOW):
        if e.kind != FILE:
            continue
        parts = e.path.split("/")  # '', upload, submit, c1, c2, uuid, sub_X, data
        root = roots[where[parts[5]]]
        parent = f"{root}{'/'.join(parts[:-1])}"
        if parent not in made:
            os.makedirs(parent, exist_ok=True)
            made.add(parent)
        fd = os.open(f"{root}{e.path}", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            os.ftruncate(fd, e.size)
            os.utime(fd, (e.mtime, e.mtime))
        finally:
            os.close(fd)
    return [{"name": u.name, "root": where[u.name], "path": u.path, "files": sum(u.subs), "class": "old"}
            for u in layout.uploads]


def new_name(rng: random.Random) -> str:
    return "%032x" % rng.getrandbits(128)


def sub_path(name: str) -> str:
    return f"/upload/submit/{name[:2]}/{name[2:4]}/{name}"


# --- the writer (a child process) -----------------------------------------------------------


def writer_main(plan_path: Path, status_path: Path) -> None:
    """Write the plan's submissions; keep the ``keep`` ones going until SIGTERM.

    Every submission appends one chunk to its open file every ``every``
    seconds (drawn once per submission from its range; always shorter than
    the find window); a file gets ``chunks`` chunks, then is closed and the
    next one opened.
    ``finish`` submissions stop after their ``files`` files and record when.
    """
    plan = json.loads(plan_path.read_text())
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    rng = random.Random(plan["seed"])
    status: dict[str, Any] = {"pid": os.getpid(), "started_at": time.time(), "subs": {}}
    active = []
    now = time.monotonic()
    for s in plan["subs"]:
        active.append({**s, "file": 0, "chunk": 0, "fh": None, "due": now + rng.uniform(0, 0.3),
                       "every": rng.uniform(*s["every"])})
        status["subs"][s["name"]] = {"started_at": None, "finished_at": None, "files": 0, "bytes": 0,
                                     "last_write": None}

    def save() -> None:
        tmp = status_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(status))
        os.replace(tmp, status_path)

    last_save = 0.0
    chunk = b"x" * plan["chunk_bytes"]
    while not stop.is_set() and active:
        now = time.monotonic()
        for a in list(active):
            if a["due"] > now:
                continue
            st = status["subs"][a["name"]]
            if a["fh"] is None:
                d = Path(a["base"]) / a["path"].lstrip("/") / "sub_0"
                d.mkdir(parents=True, exist_ok=True)
                a["fh"] = open(d / f"data_{a['file']:04d}.dat", "ab", buffering=0)
                if st["started_at"] is None:
                    st["started_at"] = time.time()
            a["fh"].write(chunk)
            st["bytes"] += len(chunk)
            st["last_write"] = time.time()
            a["chunk"] += 1
            if a["chunk"] >= a["chunks"]:
                a["fh"].close()
                a["fh"] = None
                a["chunk"] = 0
                a["file"] += 1
                st["files"] = a["file"]
                if a["kind"] == "finish" and a["file"] >= a["files"]:
                    st["finished_at"] = time.time()
                    active.remove(a)
                    save()
                    continue
            a["due"] = now + a["every"]
        if time.monotonic() - last_save > 0.5:
            save()
            last_save = time.monotonic()
        nxt = min((a["due"] for a in active), default=now + 0.05)
        stop.wait(max(0.0, min(0.05, nxt - time.monotonic())))
    for a in active:
        if a["fh"] is not None:
            a["fh"].close()
    status["stopped_at"] = time.time()
    save()


class Writer:
    def __init__(self, work: Path, subs: list[dict[str, Any]], seed: int) -> None:
        self.plan_path = work / "writer-plan.json"
        self.status_path = work / "writer-status.json"
        self.plan_path.write_text(json.dumps({"seed": seed, "chunk_bytes": 4096, "subs": subs}))
        self.proc: subprocess.Popen | None = None

    def start(self) -> "Writer":
        self.proc = subprocess.Popen([sys.executable, str(Path(__file__).resolve()), "--writer",
                                      str(self.plan_path), str(self.status_path)], start_new_session=True)
        return self

    def status(self) -> dict[str, Any]:
        for _ in range(50):
            try:
                return json.loads(self.status_path.read_text())
            except (OSError, ValueError):
                time.sleep(0.05)
        return {"subs": {}}

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)


# --- find, the way it is done today ------------------------------------------------------------


def run_find(args: list[str]) -> tuple[float, str]:
    t0 = time.perf_counter()
    res = subprocess.run(["find", *args], capture_output=True, text=True)
    return (time.perf_counter() - t0) * 1e3, res.stdout


LS_FORMAT = "%i %k %M %n %u %g %s %T@ %p\\n"  # the fields of `find -ls`, the mtime with its fraction


def double_find(path: Path, window: float) -> dict[str, Any]:
    """``find -ls``, ``window`` seconds of silence, ``find -ls`` again: complete or writing."""
    t0 = time.perf_counter()
    a = subprocess.run(["find", str(path), "-printf", LS_FORMAT], capture_output=True, text=True)
    time.sleep(window)
    b = subprocess.run(["find", str(path), "-printf", LS_FORMAT], capture_output=True, text=True)
    now = time.time()
    ms = (time.perf_counter() - t0) * 1e3
    lines = b.stdout.splitlines()
    newest = max((float(ln.split(" ")[7]) for ln in lines if ln), default=None)
    if a.returncode or b.returncode or not lines:
        verdict, why = "writing", "find failed (no such directory yet?)"
    elif a.stdout != b.stdout:
        verdict, why = "writing", "the two listings differ"
    elif newest is not None and now - newest < window:
        verdict, why = "writing", f"a file changed {now - newest:.1f} s ago (within the window)"
    else:
        verdict, why = "complete", "listings equal, nothing changed within the window"
    return {"ms": ms, "verdict": verdict, "why": why}


# --- statistics -----------------------------------------------------------------------------


def pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    if not xs:
        return float("nan")
    return xs[min(len(xs) - 1, max(0, math.ceil(q * len(xs)) - 1))]


def p50(xs: list[float]) -> float:
    return statistics.median(xs) if xs else float("nan")


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a live process (0 when it is gone)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


def loadavg() -> list[float]:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return []


# --- the measurement ----------------------------------------------------------------------------


class Bench:
    def __init__(self, args: argparse.Namespace, work: Path) -> None:
        self.args = args
        self.work = work
        self.k = args.roots
        self.views = [f"area{i}" for i in range(self.k)]
        self.storages: list[SharedStorage] = []
        self.backing: list[Path] = []
        self.watched: list[Path] = []  # where the agent of root i reads (and the watched writes go)
        self.unwatched: list[Path] = []  # the host with no agent
        self.fuse = False
        self.fuse_note = ""
        self.fusion: FusionProcess | None = None
        self.agents: list[AgentProcess] = []
        self.writer: Writer | None = None
        self.out: dict[str, Any] = {}
        self.notes: list[str] = []

    # -- set-up ---------------------------------------------------------------

    def mount(self) -> None:
        problem = None if not self.args.no_fuse else "--no-fuse was given"
        problem = problem or fuse_problem()
        if problem is None:
            try:
                for i in range(self.k):
                    st = SharedStorage(self.work / f"area{i}", ["agent", "noagent"])
                    self.storages.append(st)
                    self.backing.append(st.backing)
                    self.watched.append(st.host("agent"))
                    self.unwatched.append(st.host("noagent"))
                self.fuse = True
            except FuseUnavailable as exc:
                problem = str(exc)
                for st in self.storages:
                    st.close()
                self.storages, self.backing, self.watched, self.unwatched = [], [], [], []
        if not self.fuse:
            self.fuse_note = (f"FUSE mounts could not be made ({problem}): the agents watch the backing "
                              "directories and the 'unwatched' writes go into the backing directory, where "
                              "the agent's inotify sees them; there is no real blind spot in this run")
            for i in range(self.k):
                b = self.work / f"area{i}" / "backing"
                b.mkdir(parents=True, exist_ok=True)
                self.backing.append(b)
                self.watched.append(b)
                self.unwatched.append(b)

    def start_cluster(self) -> None:
        views = {v: dict(VIEW_SETTINGS) for v in self.views}
        pipes = {f"pipe{i}": {"views": [v], **PIPE_SETTINGS} for i, v in enumerate(self.views)}
        home = make_fusion_home(self.work / "fusion", views=views, pipes=pipes)
        self.fusion = FusionProcess(home).start()
        for i in range(self.k):
            ah = make_agent_home(self.work / f"agent{i}", root=self.watched[i], fusion_url=self.fusion.url,
                                 agent_id=f"agent-area{i}", pipe_id=f"pipe{i}", timeout_hint=10.0,
                                 pipe={"batch_size": 1000})
            self.agents.append(AgentProcess(ah).start())

    def close(self) -> None:
        if self.writer:
            self.writer.stop()
        for a in self.agents:
            try:
                a.stop()
            except Exception:
                a.kill()
        if self.fusion:
            try:
                self.fusion.stop()
            except Exception:
                self.fusion.kill()
        for st in self.storages:
            st.close()

    def logs(self) -> str:
        parts = []
        if self.fusion:
            parts.append("--- fusion ---\n" + self.fusion.log_tail(30))
        for i, a in enumerate(self.agents):
            parts.append(f"--- agent {i} ---\n" + a.log_tail(20))
        return "\n".join(parts)

    # -- the run -------------------------------------------------------------------

    def run(self) -> dict[str, Any]:
        a = self.args
        out = self.out
        out["load_avg_start"] = loadavg()
        self.mount()
        out["fuse"] = self.fuse
        t0 = time.perf_counter()
        self.subs = generate(self.backing, a.files, a.seed)
        out["generate_s"] = time.perf_counter() - t0
        out["submissions"] = len(self.subs)
        per_root = [0] * self.k
        for s in self.subs:
            per_root[s["root"]] += s["files"]
        out["files_per_root"] = per_root
        print(f"generated {a.files:,} files ({len(self.subs):,} submissions) over {self.k} roots "
              f"{per_root} in {out['generate_s']:.1f} s; FUSE: {'yes' if self.fuse else 'no'}", flush=True)
        # Warm the page cache the way a repeated find would, before anyone reads.
        run_find([str(b) for b in self.backing] + ["-type", "d", "-name", "x"])
        self.start_cluster()
        asyncio.run(self.measure())
        return out

    def plan_writer(self) -> list[dict[str, Any]]:
        """The writer's submissions: per class, spread over the roots."""
        rng = random.Random(self.args.seed + 7)
        n = self.per_class
        subs = []
        for cls in WRITER_CLASSES:
            for j in range(n):
                root = j % self.k
                watched = cls.startswith("watched")
                name = new_name(rng)
                subs.append({
                    "name": name, "root": root, "path": sub_path(name), "class": cls,
                    "base": str(self.watched[root] if watched else self.unwatched[root]),
                    "kind": "finish" if cls.endswith("finished") else "keep",
                    "every": SLOW_EVERY if cls.endswith("slow") else FAST_EVERY,
                    "files": rng.randint(2, 5), "chunks": rng.randint(15, 25) if cls.endswith("slow") else rng.randint(2, 5),
                })  # fmt: skip
        return subs

    async def wait(self, pred, timeout: float, what: str, interval: float = 0.2):
        deadline = time.monotonic() + timeout
        while True:
            v = await pred()
            if v:
                return v
            if time.monotonic() > deadline:
                raise TimeoutError(f"timed out after {timeout:g} s waiting for {what}\n{self.logs()}")
            await asyncio.sleep(interval)

    async def measure(self) -> None:
        c = await ControlClient.connect(self.fusion.url, READONLY_KEY)
        try:
            await self._measure(c)
        finally:
            await c.close()

    async def _measure(self, c: ControlClient) -> None:
        a, out = self.args, self.out

        async def all_ready():
            st = await c.status()
            vs = {v["view"]: v for v in st["views"]}
            return st if all(vs.get(v, {}).get("ready") for v in self.views) else None

        t0 = time.perf_counter()
        st = await self.wait(all_ready, 1800, "every view to be ready", 0.1)
        opened = {s["pipe"]: s["opened_at"] for s in st["sessions"]}
        builds = [v["ready_at"] - opened[v["pipes"][0]] for v in st["views"] if v["view"] in self.views]
        out["cluster_snapshot_s_max"] = max(builds)
        out["cluster_files_in_views"] = sum(v["files"] for v in st["views"])
        print(f"{self.k} views ready (snapshots {', '.join(f'{b:.1f}' for b in builds)} s; waited "
              f"{time.perf_counter() - t0:.1f} s), {out['cluster_files_in_views']:,} files in the views", flush=True)

        # -- the writer ----------------------------------------------------------------
        self.per_class = max(1, math.ceil(a.integrity_samples / len(CLASSES)))
        wsubs = self.plan_writer()
        self.writer = Writer(self.work, wsubs, a.seed).start()
        t_writer = time.time()

        async def writer_started():
            s = self.writer.status()["subs"]
            return len(s) == len(wsubs) and all(x["started_at"] for x in s.values())

        await self.wait(writer_started, 60, "the writer to start every submission")
        await self.wait_audit_after(c, time.time(), "an audit after the writer started")
        print(f"writer running: {self.per_class} submissions per class, {len(wsubs)} in all "
              f"({time.time() - t_writer:.1f} s to start them and see an audit)", flush=True)

        # -- discovery -------------------------------------------------------------------
        cpu0 = self.cpu_now()
        rng = random.Random(a.seed + 3)
        old = rng.sample(self.subs, min(len(self.subs), a.discovery_samples - min(len(wsubs), a.discovery_samples // 4)))
        disc = old + rng.sample(wsubs, min(len(wsubs), a.discovery_samples - len(old)))
        rng.shuffle(disc)
        await self.discovery(c, disc)

        # -- throughput ------------------------------------------------------------------
        names = [s["name"] for s in self.subs]
        await self.throughput(names)

        # -- completeness -----------------------------------------------------------------
        await self.settle(c, wsubs)
        await self.integrity(c, wsubs)
        cpu1 = self.cpu_now()
        el = cpu1[0] - cpu0[0]
        out["fusion_cpu_pct_during_queries"] = 100 * (cpu1[1] - cpu0[1]) / el
        out["agents_cpu_pct_during_queries"] = 100 * (cpu1[2] - cpu0[2]) / el
        out["writer_alive_at_end"] = self.writer.alive()
        self.writer.stop()
        out["load_avg_end"] = loadavg()

    def cpu_now(self) -> tuple[float, float, float]:
        """(monotonic now, fusion CPU s, the agents' CPU s)."""
        return (time.monotonic(), cpu_seconds(self.fusion.proc.pid),
                sum(cpu_seconds(a.proc.pid) for a in self.agents))

    async def wait_audit_after(self, c: ControlClient, t: float, what: str) -> None:
        """Every view completed an audit that started after ``t`` + the mounts' staleness."""
        after = t + STALE_S

        async def done():
            st = await c.status()
            for v in st["views"]:
                s, e = v["last_audit_started_at"], v["last_audit_completed_at"]
                if not (s is not None and e is not None and s > after and e >= s):
                    return False
            return True

        await self.wait(done, 120, what, 0.2)

    async def discovery(self, c: ControlClient, samples: list[dict[str, Any]]) -> None:
        out = self.out
        roots = [str(b) for b in self.backing]
        # one warm-up run each
        run_find(roots + ["-type", "d", "-name", samples[0]["name"]])
        await c.search(samples[0]["name"], kind="dir")
        find_ms, fustor_ms, direct_ms = [], [], []
        find_ok = fustor_ok = 0
        wrong: list[str] = []
        for s in samples:
            want_disk = f"{self.backing[s['root']]}{s['path']}"
            ms, stdout = run_find(roots + ["-type", "d", "-name", s["name"]])
            find_ms.append(ms)
            find_ok += stdout.split() == [want_disk]
            t0 = time.perf_counter()
            res = await c.search(s["name"], kind="dir")
            fustor_ms.append((time.perf_counter() - t0) * 1e3)
            got = [(r["view"], r["path"]) for r in res["results"]]
            if got == [(self.views[s["root"]], s["path"])]:
                fustor_ok += 1
            else:
                wrong.append(f"{s['class']} {s['name']} in {self.views[s['root']]}: fustor answered {got}")
            # the layout's shortcut: stat the K candidate paths
            t0 = time.perf_counter()
            hits = [i for i, r in enumerate(roots) if os.path.isdir(f"{r}{s['path']}")]
            direct_ms.append((time.perf_counter() - t0) * 1e3)
            assert hits == [s["root"]], (s, hits)
        n = len(samples)
        out.update({
            "discovery_samples": n,
            "find_discovery_ms_p50": p50(find_ms), "find_discovery_ms_p99": pct(find_ms, 0.99),
            "fustor_discovery_ms_p50": p50(fustor_ms), "fustor_discovery_ms_p99": pct(fustor_ms, 0.99),
            "discovery_ratio": p50(find_ms) / p50(fustor_ms),
            "find_discovery_correct": find_ok / n, "fustor_discovery_correct": fustor_ok / n,
            "direct_stat_discovery_ms_p50": p50(direct_ms),
        })  # fmt: skip
        self.discovery_wrong = wrong
        # The same searches back to back: fusion and this client stay on a core between queries
        # (interleaved with find above, each query wakes an idle process on a busy machine).
        b2b = []
        for s in samples * max(1, 200 // n):
            t0 = time.perf_counter()
            await c.search(s["name"], kind="dir")
            b2b.append((time.perf_counter() - t0) * 1e3)
        out["fustor_discovery_ms_p50_back_to_back"] = p50(b2b)
        print(f"discovery over {n} submissions: find {out['find_discovery_ms_p50']:.1f} ms p50, fustor "
              f"{out['fustor_discovery_ms_p50']:.2f} ms p50 = {out['discovery_ratio']:,.0f} x; correct: find "
              f"{find_ok}/{n}, fustor {fustor_ok}/{n}", flush=True)
        for w in wrong[:10]:
            print(f"  wrong: {w}", flush=True)
        await self.wire_floor(p50(find_ms) / 1e3)
        if self.fuse and self.args.fuse_find_samples:
            mounts = [str(m) for m in self.unwatched]
            run_find(mounts + ["-type", "d", "-name", samples[0]["name"]])
            ms = [run_find(mounts + ["-type", "d", "-name", s["name"]])[0]
                  for s in samples[: self.args.fuse_find_samples]]
            out["find_discovery_fuse_ms_p50"] = p50(ms)
            out["find_discovery_fuse_samples"] = len(ms)
            print(f"  find through the FUSE mounts of the host with no agent: {p50(ms):.0f} ms p50 over {len(ms)}",
                  flush=True)

    async def wire_floor(self, gap: float) -> None:
        """A bare websockets echo server (``fusion_ingest.ECHO_SERVER``): one round trip, no fusion.

        Measured after an idle gap as long as a ``find`` (as the interleaved
        Fustor queries are) and back to back: how much of a Fustor answer is
        the Python websocket round trip and waking two idle processes.
        """
        from fusion_ingest import ECHO_SERVER

        from fustor.client import Connection

        proc = subprocess.Popen([sys.executable, "-c", ECHO_SERVER], stdout=subprocess.PIPE, start_new_session=True)
        try:
            port = int(proc.stdout.readline())
            conn = await Connection.open(f"ws://127.0.0.1:{port}/api/v1/pipe", "x", plane="pipe")
            idle, hot = [], []
            for i in range(240):
                if i < 40:
                    time.sleep(gap)
                t0 = time.perf_counter()
                await conn.request("query.search", pattern="x", kind="dir")
                (idle if i < 40 else hot).append((time.perf_counter() - t0) * 1e3)
            await conn.close()
        finally:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        self.out["echo_floor_ms_p50_after_idle"] = p50(idle)
        self.out["echo_floor_ms_p50_back_to_back"] = p50(hot)
        print(f"  websocket echo floor: {p50(idle):.2f} ms after {gap * 1e3:.0f} ms idle, {p50(hot):.2f} ms back to "
              f"back; fustor back to back {self.out['fustor_discovery_ms_p50_back_to_back']:.2f} ms", flush=True)

    async def throughput(self, names: list[str]) -> None:
        a, out = self.args, self.out
        conc, dur = a.concurrency, a.qps_seconds
        clients = [await ControlClient.connect(self.fusion.url, READONLY_KEY) for _ in range(conc)]
        counts = [0] * conc
        deadline = time.perf_counter() + dur

        async def worker(i: int) -> None:
            r = random.Random(i)
            while time.perf_counter() < deadline:
                await clients[i].search(r.choice(names), kind="dir")
                counts[i] += 1

        t0 = time.perf_counter()
        await asyncio.gather(*(worker(i) for i in range(conc)))
        el = time.perf_counter() - t0
        for cl in clients:
            await cl.close()
        out["fustor_qps"] = sum(counts) / el
        roots = [str(b) for b in self.backing]
        fcounts = [0] * conc
        deadline = time.perf_counter() + dur

        def fworker(i: int) -> None:
            r = random.Random(100 + i)
            while time.perf_counter() < deadline:
                run_find(roots + ["-type", "d", "-name", r.choice(names)])
                fcounts[i] += 1

        t0 = time.perf_counter()
        with ThreadPoolExecutor(conc) as ex:
            list(ex.map(fworker, range(conc)))
        el = time.perf_counter() - t0
        out["find_qps"] = sum(fcounts) / el
        out["qps_ratio"] = out["fustor_qps"] / out["find_qps"] if out["find_qps"] else float("inf")
        out["qps_concurrency"] = conc
        out["qps_seconds"] = dur
        print(f"throughput, {conc} concurrent clients for {dur:g} s: fustor {out['fustor_qps']:,.0f} q/s, "
              f"find {out['find_qps']:.2f} q/s", flush=True)

    async def settle(self, c: ControlClient, wsubs: list[dict[str, Any]]) -> None:
        """Wait until the finished submissions are finished long enough to be vouched for.

        Watched ones: older than the hot threshold. Unwatched ones: also an
        audit that started after the last write (plus the mounts' staleness)
        has completed, then two sentinel rounds.
        """
        hot = VIEW_SETTINGS["hot_file_threshold"]

        async def finished():
            st = self.writer.status()["subs"]
            done = [st[s["name"]]["finished_at"] for s in wsubs if s["kind"] == "finish"]
            return max(done) if all(done) else None

        t_fin = await self.wait(finished, 120, "the writer to finish its finished submissions")
        await self.wait_audit_after(c, t_fin, "an audit after the last finished submission")
        wait = max(t_fin + hot + 1.0, time.time() + 2 * VIEW_SETTINGS["sentinel_interval"]) - time.time()
        if wait > 0:
            await asyncio.sleep(wait)
        self.out["settle_after_last_finish_s"] = time.time() - t_fin

    async def integrity(self, c: ControlClient, wsubs: list[dict[str, Any]]) -> None:
        a, out = self.args, self.out
        rng = random.Random(a.seed + 5)
        old = [{**s, "kind": "old"} for s in rng.sample(self.subs, min(self.per_class, len(self.subs)))]
        samples = [*wsubs, *old]
        rng.shuffle(samples)
        rows = []
        await c.summary(self.views[samples[0]["root"]], samples[0]["path"])  # warm-up
        for s in samples:
            view = self.views[s["root"]]
            wst = self.writer.status()["subs"].get(s["name"])
            truth = "writing" if s["kind"] == "keep" else "complete"
            if truth == "writing":
                assert self.writer.alive(), "the writer died"
            elif wst is not None:
                assert wst["finished_at"] is not None
            t0 = time.perf_counter()
            summ = await c.summary(view, s["path"])
            f_ms = (time.perf_counter() - t0) * 1e3
            fverdict = summ["verdict"]
            disk = self.backing[s["root"]] / s["path"].lstrip("/")
            df = double_find(disk, a.window)
            n_files, size = 0, 0
            for dp, _dn, fn in os.walk(disk):
                for f in fn:
                    n_files += 1
                    size += os.lstat(os.path.join(dp, f)).st_size
            rows.append({
                "class": s["class"], "name": s["name"], "view": view, "path": s["path"], "truth": truth,
                "fustor_verdict": fverdict, "fustor_reasons": summ.get("reasons", []), "fustor_ms": f_ms,
                "fustor_files": summ.get("files"), "fustor_size": summ.get("size"),
                "disk_files": n_files, "disk_size": size,
                "fustor_ok": (fverdict == "complete") == (truth == "complete"),
                "find_verdict": df["verdict"], "find_why": df["why"], "find_ms": df["ms"],
                "find_ok": (df["verdict"] == "complete") == (truth == "complete"),
            })  # fmt: skip
        n = len(rows)
        out.update({
            "integrity_samples": n, "window_s": a.window,
            "find_integrity_ms_p50": p50([r["find_ms"] for r in rows]),
            "fustor_integrity_ms_p50": p50([r["fustor_ms"] for r in rows]),
            "fustor_integrity_ms_p99": pct([r["fustor_ms"] for r in rows], 0.99),
            "fustor_integrity_correct": sum(r["fustor_ok"] for r in rows) / n,
            "find_integrity_correct": sum(r["find_ok"] for r in rows) / n,
        })  # fmt: skip
        out["integrity_ratio"] = out["find_integrity_ms_p50"] / out["fustor_integrity_ms_p50"]
        writing = [r for r in rows if r["truth"] == "writing"]
        out["fustor_false_complete"] = sum(r["fustor_verdict"] == "complete" for r in writing)
        out["find_false_complete"] = sum(r["find_verdict"] == "complete" for r in writing)
        fin = [r for r in rows if r["truth"] == "complete" and r["fustor_verdict"] == "complete"]
        out["fustor_complete_content_match"] = (
            sum(r["fustor_files"] == r["disk_files"] and r["fustor_size"] == r["disk_size"] for r in fin) / len(fin)
            if fin else None)
        by_class: dict[str, dict[str, Any]] = {}
        for cls in CLASSES:
            rs = [r for r in rows if r["class"] == cls]
            if not rs:
                continue
            verdicts: dict[str, int] = {}
            for r in rs:
                verdicts[r["fustor_verdict"]] = verdicts.get(r["fustor_verdict"], 0) + 1
            fv: dict[str, int] = {}
            for r in rs:
                fv[r["find_verdict"]] = fv.get(r["find_verdict"], 0) + 1
            by_class[cls] = {"n": len(rs), "truth": rs[0]["truth"], "fustor_verdicts": verdicts,
                             "fustor_correct": sum(r["fustor_ok"] for r in rs), "find_verdicts": fv,
                             "find_correct": sum(r["find_ok"] for r in rs)}
        out["integrity_by_class"] = by_class
        for cls, b in by_class.items():
            key = cls.replace("-", "_")
            out[f"fustor_integrity_correct_{key}"] = b["fustor_correct"] / b["n"]
            out[f"find_integrity_correct_{key}"] = b["find_correct"] / b["n"]
        self.integrity_rows = rows
        print(f"completeness over {n} submissions (window {a.window:g} s): double find "
              f"{out['find_integrity_ms_p50']:.0f} ms p50, correct {out['find_integrity_correct']:.2f}; fustor "
              f"{out['fustor_integrity_ms_p50']:.2f} ms p50, correct {out['fustor_integrity_correct']:.2f}", flush=True)
        for cls, b in by_class.items():
            print(f"  {cls:24s} truth {b['truth']:8s} fustor {b['fustor_correct']}/{b['n']} {b['fustor_verdicts']}  "
                  f"find {b['find_correct']}/{b['n']} {b['find_verdicts']}", flush=True)


# --- the other benchmarks ------------------------------------------------------------------------------


def run_other(name: str, argv: list[str], timeout: float) -> dict[str, Any]:
    t0 = time.perf_counter()
    print(f"running benchmarks/{name}.py {' '.join(argv)} ...", flush=True)
    try:
        res = subprocess.run([sys.executable, str(HERE / f"{name}.py"), *argv], capture_output=True, text=True,
                             timeout=timeout, cwd=REPO)
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout:g} s", "argv": argv}
    el = time.perf_counter() - t0
    lines = res.stdout.strip().splitlines()
    try:
        figures = json.loads(lines[-1])
    except (IndexError, ValueError):
        tail = "\n".join((res.stderr or res.stdout).strip().splitlines()[-8:])
        return {"error": f"exit {res.returncode}, no JSON line: {tail}", "argv": argv, "wall_s": el}
    print(f"  done in {el:.0f} s", flush=True)
    return {"figures": figures, "argv": argv, "wall_s": el, "exit": res.returncode}


OTHER_FIGURES = [
    # (benchmark, key, label, unit)
    ("e2e", "snapshot_build_s", "snapshot build (one agent, one root, all files)", "s"),
    ("e2e", "find_ls_s", "`find -type f -ls` of the same tree (warm)", "s"),
    ("e2e", "snapshot_vs_find", "snapshot build / find -ls", "x"),
    ("e2e", "realtime_latency_ms_p50", "realtime latency p50 (write+close to visible in a query)", "ms"),
    ("e2e", "realtime_latency_ms_p99", "realtime latency p99", "ms"),
    ("e2e", "audit_full_s", "full audit", "s"),
    ("e2e", "audit_unchanged_s", "audit of an unchanged tree (one stat per directory)", "s"),
    ("e2e", "audit_unchanged_vs_full", "unchanged audit / full audit", "x"),
    ("e2e", "fusion_rss_mb", "fusion peak RSS", "MiB"),
    ("e2e", "agent_rss_mb", "agent peak RSS", "MiB"),
    ("view_ingest", "snapshot_events_per_s", "view ingest, snapshot rows (in process)", "rows/s"),
    ("view_ingest", "realtime_events_per_s", "view ingest, realtime rows (in process)", "rows/s"),
    ("view_ingest", "bytes_per_entry", "memory per entry (tracemalloc)", "B"),
    ("view_ingest", "search_uuid_ms_p50", "search by uuid inside the view (no wire)", "ms"),
    ("view_ingest", "summary_uuid_ms_p50", "summary of an upload inside the view (no wire)", "ms"),
    ("fusion_ingest", "ingest_events_per_s", "fusion ingest over the wire, 1 agent", "rows/s"),
    ("fusion_ingest", "ingest_events_per_s_k8", "fusion ingest over the wire, 8 agents", "rows/s"),
    ("fusion_ingest", "wire_only_events_per_s", "wire floor (decode + ack only)", "rows/s"),
    ("fusion_ingest", "query_tree_200_ms_p99", "tree(200 files) p99 during 8-agent ingest", "ms"),
]  # fmt: skip


# --- the report ----------------------------------------------------------------------------------------


def shown(path: Path) -> str:
    """``path`` relative to the repository when it is inside it."""
    try:
        return str(path.resolve().relative_to(REPO))
    except ValueError:
        return str(path)


def fmt(v: Any, unit: str = "") -> str:
    if v is None:
        return "-"
    if isinstance(v, float) and math.isnan(v):
        return "-"
    if unit in ("rows/s", "q/s") or (isinstance(v, (int, float)) and abs(v) >= 1000):
        return f"{v:,.0f}"
    if isinstance(v, float):
        if abs(v) >= 100:
            return f"{v:.0f}"
        if abs(v) >= 10:
            return f"{v:.1f}"
        if abs(v) >= 1:
            return f"{v:.2f}"
        return f"{v:.3f}"
    return str(v)


def write_markdown(path: Path, res: dict[str, Any], rows: list[dict[str, Any]], machine: dict[str, Any],
                   args: argparse.Namespace, notes: list[str]) -> None:
    f = res
    disc_met = f.get("discovery_ratio", 0) >= TARGET_DISCOVERY_RATIO
    integ_met = f.get("fustor_integrity_correct") == 1.0
    L: list[str] = []
    L += ["# Fustor against `find`: benchmark report", "",
          f"Made by `benchmarks/report.py{' ' + ' '.join(sys.argv[1:]) if sys.argv[1:] else ''}` "
          f"({'defaults' if not sys.argv[1:] else 'options as shown'}) on {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}"
          f" in {f.get('wall_s', 0) / 60:.1f} min. The figures are also in `{shown(args.json)}`; the run's last output line"
          " is the same JSON object.", ""]
    L += ["## Machine", "",
          f"* {machine['cores']} cores ({machine['cpu']}), {machine['mem_gib']:.0f} GiB RAM, {machine['kernel']}",
          f"* Python {machine['python']}, {machine['find']}",
          f"* load average (1, 5, 15 min) at the start: {', '.join(map(str, f.get('load_avg_start', [])))}; at the end of the "
          f"cluster phase: {', '.join(map(str, f.get('load_avg_end', [])))}. Other processes (test suites of other work) "
          "ran on this machine during the run, so latencies include their noise.",
          f"* FUSE (bindfs): {'yes' if f.get('fuse') else 'no'}", ""]
    if not f.get("fuse"):
        L += [f"**No FUSE:** {res.get('fuse_note', '')}", ""]
    L += ["## Headline", "",
          "| question | today (`find`) | Fustor | ratio | target | met |",
          "|---|---|---|---|---|---|",
          f"| where is submission U? (p50 over {f['discovery_samples']} submissions, {args.roots} roots, "
          f"{args.files:,} files) | {fmt(f['find_discovery_ms_p50'])} ms | {fmt(f['fustor_discovery_ms_p50'])} ms | "
          f"{fmt(f['discovery_ratio'])} x | ≥ {TARGET_DISCOVERY_RATIO:.0f} x | {'met' if disc_met else 'NOT MET'} |",
          f"| is U complete? (p50 over {f['integrity_samples']} submissions; find window {f['window_s']:g} s included) | "
          f"{fmt(f['find_integrity_ms_p50'])} ms | {fmt(f['fustor_integrity_ms_p50'])} ms | {fmt(f['integrity_ratio'])} x | | |",
          f"| ... verdict agrees with the writer | {f['find_integrity_correct']:.2f} | {f['fustor_integrity_correct']:.2f} | | "
          f"1.0 (Fustor) | {'met' if integ_met else 'NOT MET'} |",
          f"| discovery queries/s, {f['qps_concurrency']} concurrent clients | {fmt(f['find_qps'])} | {fmt(f['fustor_qps'])} | "
          f"{fmt(f['qps_ratio'])} x | | |",
          f"| discovery answer right | {f['find_discovery_correct']:.2f} | {f['fustor_discovery_correct']:.2f} | | | |",
          ""]
    L += ["Other reference points of the same run:", "",
          f"* discovery by `find` through the FUSE mounts of the host with no agent (closer to an NFS client): "
          f"{fmt(f.get('find_discovery_fuse_ms_p50'))} ms p50 over {f.get('find_discovery_fuse_samples', 0)} submissions"
          if f.get("fuse") else "* (no FUSE: find through a mount was not measured)",
          f"* discovery by stat-ing the K candidate paths, which works only because this layout derives the path "
          f"from the uuid (`{{c1}}/{{c2}}` are its first hex digits): {fmt(f['direct_stat_discovery_ms_p50'])} ms p50. "
          "That is faster than Fustor; it answers \"where\" only when the exact name and the layout are known, and says "
          "nothing about completeness.",
          f"* Fustor discovery with the queries back to back (not interleaved with `find`, so neither fusion nor the client "
          f"sleeps between them): {fmt(f['fustor_discovery_ms_p50_back_to_back'])} ms p50, "
          f"{fmt(f['find_discovery_ms_p50'] / f['fustor_discovery_ms_p50_back_to_back'])} x faster than find. A bare "
          f"websockets echo server answering the same client takes {fmt(f['echo_floor_ms_p50_after_idle'])} ms after an "
          f"idle gap as long as a find and {fmt(f['echo_floor_ms_p50_back_to_back'])} ms back to back: most of an "
          "interleaved Fustor answer is the Python websocket round trip and waking idle processes on this VM, not the "
          "look-up.",
          f"* Fustor discovery p99 {fmt(f['fustor_discovery_ms_p99'])} ms, find p99 {fmt(f['find_discovery_ms_p99'])} ms; "
          f"Fustor summary p99 {fmt(f['fustor_integrity_ms_p99'])} ms.",
          f"* while the queries ran (with the writer, the {VIEW_SETTINGS['audit_interval']} s audits and the "
          f"{VIEW_SETTINGS['sentinel_interval']} s sentinel going on) fusion used "
          f"{fmt(f['fusion_cpu_pct_during_queries'])} % of a core and the {args.roots} agents together "
          f"{fmt(f['agents_cpu_pct_during_queries'])} %.",
          f"* the K = {args.roots} snapshots (one agent per root, through bindfs when FUSE is there) took at most "
          f"{fmt(f['cluster_snapshot_s_max'])} s; the views held {f['cluster_files_in_views']:,} files.", ""]
    L += ["## Method", "",
          f"* **Data.** {args.files:,} files in {f['submissions']:,} submissions "
          "(`upload/submit/{c1}/{c2}/{uuid}/sub_X/data_XXXX.dat`, the generator of `benchmarks/view_ingest.py`: about 200 files "
          "per submission in `sub_0` and a handful in `sub_1`/`sub_2`, sizes 1 KiB-100 MiB written as sparse files, mtimes days "
          f"old) spread at random over {args.roots} roots ({', '.join(f'{n:,}' for n in f['files_per_root'])} files), each root "
          f"one storage area, generated in {f['generate_s']:.0f} s.",
          "* **Deployment.** Each root is a backing directory mounted twice with bindfs: an agent watches one mount, nobody "
          "watches the other (the host with no agent). One fusion process, one view per root "
          f"(`hot_file_threshold` {VIEW_SETTINGS['hot_file_threshold']} s, `sentinel_interval` "
          f"{VIEW_SETTINGS['sentinel_interval']} s, `audit_interval` {VIEW_SETTINGS['audit_interval']} s, "
          f"`full_audit_every` {VIEW_SETTINGS['full_audit_every']}), one agent per root.",
          f"* **Writer.** A separate process writes {f['integrity_samples'] - len([r for r in rows if r['class'] == 'old'])} "
          "new submissions: half through the watched mounts, half through the mounts with no agent; of each half, some "
          f"keep being written until the end of the run (a 4 KiB chunk appended to an open file every {FAST_EVERY[0]}-"
          f"{FAST_EVERY[1]} s, a new file every 2-5 chunks; the *slow* ones a chunk every {SLOW_EVERY[0]}-{SLOW_EVERY[1]} s, "
          "a new file every 15-25 chunks: pauses shorter than the find window but long enough for the sentinel to see a "
          "file unchanged) and the others are written to the end (2-5 files of 2-5 chunks) and left alone. It records when "
          "each started "
          "and finished: the ground truth.",
          "* **Discovery.** `find R1 .. RK -type d -name U` over the backing directories (local disk, warm page cache: the "
          "best case for find) timed as a subprocess, against `search(U, kind=\"dir\")` over every view through one "
          "persistent control connection (Fustor indexes directory names; a directory-name search is a dict look-up); one "
          f"warm-up run each, then {f['discovery_samples']} submissions (old ones and the writer's, shuffled). Both answers are "
          "checked against where the submission really is.",
          f"* **Completeness.** The double find: `find DIR -ls` (as `-printf` with the `-ls` fields and the mtime with its "
          f"fraction), {f['window_s']:g} s of silence, `find DIR -ls` again; complete if both listings are equal and no mtime "
          f"is within the window. In practice people wait minutes, so the find figures here are a lower bound of its cost. "
          "Fustor: one `summary(view, path)`; `complete` is complete, `writing`, `unvouched` and `absent` are \"not vouched "
          "complete\". Each verdict is compared with the writer's truth: a submission still being appended to is *writing*, "
          "one whose writer finished is *complete*. Finished submissions are sampled only once they are settled: older than "
          "the hot threshold and, for those written through the host with no agent, after an audit that started after their "
          f"last write (plus {STALE_S} s for the mounts' attribute caches) has completed and two sentinel rounds "
          f"(here {fmt(f.get('settle_after_last_finish_s'))} s after the last finish). The untouched generated submissions "
          "(*old*) are complete.",
          f"* **Throughput.** {f['qps_concurrency']} concurrent clients for {f['qps_seconds']:g} s each: Fustor, asyncio tasks "
          "in this process with a connection each; find, that many `find` processes at a time. Completed discovery "
          "queries per second.",
          "* **Other benchmarks** ran as subprocesses after the cluster stopped; their figures are below.", ""]
    L += ["## Completeness by kind of submission", "",
          "| submissions | n | truth | Fustor verdicts | Fustor right | find verdicts | find right |",
          "|---|---|---|---|---|---|---|"]
    for cls, b in f["integrity_by_class"].items():
        L.append(f"| {cls} | {b['n']} | {b['truth']} | {', '.join(f'{k} {v}' for k, v in sorted(b['fustor_verdicts'].items()))} | "
                 f"{b['fustor_correct']}/{b['n']} | {', '.join(f'{k} {v}' for k, v in sorted(b['find_verdicts'].items()))} | "
                 f"{b['find_correct']}/{b['n']} |")
    L += ["", f"Fustor said *complete* for a submission still being written: {f['fustor_false_complete']} time(s); find: "
          f"{f['find_false_complete']} time(s). Of the finished submissions Fustor called complete, "
          f"{fmt(f['fustor_complete_content_match'])} (fraction) had exactly the files and bytes on disk.", ""]
    wrong = [r for r in rows if not r["fustor_ok"]]
    if wrong:
        L += ["Fustor verdicts that disagree with the writer (first 10):", ""]
        for r in wrong[:10]:
            L.append(f"* `{r['view']}:{r['path']}` ({r['class']}, truth {r['truth']}): **{r['fustor_verdict']}** "
                     f"({'; '.join(r['fustor_reasons']) or 'no reason given'}); the view had {r['fustor_files']} files, "
                     f"{r['fustor_size']} B; the disk {r['disk_files']} files, {r['disk_size']} B")
        L.append("")
    L += ["## The other benchmarks", "", "| benchmark | figure | value |", "|---|---|---|"]
    others = res.get("others", {})
    for bench, key, label, unit in OTHER_FIGURES:
        o = others.get(bench)
        if not o:
            continue
        if "error" in o:
            continue
        L.append(f"| `{bench}.py {' '.join(o['argv'])}` | {label} | {fmt(o['figures'].get(key), unit)} {unit} |")
    for bench, o in others.items():
        if "error" in o:
            L.append(f"| `{bench}.py` | failed | {o['error'][:200]} |")
    if not others:
        L.append("| (skipped) | | |")
    L += ["", "## Caveats", ""]
    L += [f"* {n}" for n in notes]
    L.append("")
    path.write_text("\n".join(L))


def readme_block(f: dict[str, Any], args: argparse.Namespace) -> str:
    e2e = (f.get("others", {}).get("e2e") or {}).get("figures", {})
    vi = (f.get("others", {}).get("view_ingest") or {}).get("figures", {})
    lines = [
        "<!-- report:begin (written by benchmarks/report.py; do not edit by hand) -->",
        f"From [benchmarks/REPORT.md](benchmarks/REPORT.md) ({args.files:,} files over {args.roots} storage areas, "
        f"{os.cpu_count()} cores; `./dev bench report` makes it again):",
        "",
        f"* **where is submission U?** {fmt(f['fustor_discovery_ms_p50'])} ms with Fustor against "
        f"{fmt(f['find_discovery_ms_p50'])} ms for `find` over the {args.roots} roots: **{fmt(f['discovery_ratio'])}x** "
        f"faster (p50); {fmt(f['fustor_qps'])} against {fmt(f['find_qps'])} queries/s with {f['qps_concurrency']} clients.",
        f"* **is it complete?** {fmt(f['fustor_integrity_ms_p50'])} ms against {fmt(f['find_integrity_ms_p50'])} ms for a "
        f"double `find -ls` with a {f['window_s']:g} s window; verdicts right for "
        f"{f['fustor_integrity_correct']:.0%} of the sampled submissions (find: {f['find_integrity_correct']:.0%}); "
        + ("never *complete* while being written" if not f["fustor_false_complete"]
           else f"**{f['fustor_false_complete']} called complete while being written**")
        + ("; missed: " + ", ".join(f"{b['n'] - b['fustor_correct']} of {b['n']} {cls}"
                                     for cls, b in f["integrity_by_class"].items() if b["fustor_correct"] < b["n"]) + "."
           if f["fustor_integrity_correct"] < 1 else "."),
    ]
    if e2e:
        lines.append(f"* snapshot of {e2e.get('files', 0):,} files in {fmt(e2e.get('snapshot_build_s'))} s "
                     f"({fmt(e2e.get('snapshot_vs_find'))}x one `find -ls`); a write is visible in "
                     f"{fmt(e2e.get('realtime_latency_ms_p50'))} ms (p50); an audit of an unchanged tree costs "
                     f"{fmt(100 * e2e.get('audit_unchanged_vs_full', 0))} % of a full one.")
    if vi:
        lines.append(f"* {fmt(vi.get('bytes_per_entry'))} bytes of memory per entry; "
                     f"{fmt(vi.get('snapshot_events_per_s'))} snapshot rows/s into a view.")
    lines.append("<!-- report:end -->")
    return "\n".join(lines)


def update_readme(block: str) -> bool:
    readme = REPO / "README.md"
    text = readme.read_text()
    pat = re.compile(r"<!-- report:begin.*?<!-- report:end -->", re.S)
    if pat.search(text):
        text = pat.sub(lambda m: block, text)
    elif "## Performance\n" in text:
        text = text.replace("## Performance\n", "## Performance\n\n" + block + "\n", 1)
    else:
        return False
    readme.write_text(text)
    return True


def machine_info() -> dict[str, Any]:
    cpu = platform.processor() or platform.machine()
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    except (ValueError, OSError):
        mem = 0.0
    fv = subprocess.run(["find", "--version"], capture_output=True, text=True).stdout.splitlines()
    return {"cores": os.cpu_count(), "cpu": cpu, "mem_gib": mem, "kernel": f"{platform.system()} {platform.release()}",
            "python": platform.python_version(), "find": fv[0] if fv else "find"}


def caveats(res: dict[str, Any], args: argparse.Namespace) -> list[str]:
    n = [
        "One machine plays every host: the storage is a local disk, the hosts are bindfs mounts of it. Real NFS makes "
        "every `find` slower (each directory is a round trip to the server) while Fustor's answers come from memory "
        "either way, so the find figures here favour find. The headline find figures walk the backing directories "
        "themselves with a warm page cache: the best case for find.",
        f"The completeness window is {args.window:g} s so that the run is short; people use minutes, and the double "
        "find costs the window plus two walks. With this window find is right only because this writer never "
        f"pauses longer than {SLOW_EVERY[1]} s; a writer that stalls for longer than the window fools it.",
        "Fustor's verdicts depend on the view's hot threshold (here 5 s) the same way: a writer silent for longer "
        "than the threshold with a file left open looks finished once the sentinel sees the file unchanged.",
        "Query clients run in the benchmark process, in Python, on the same cores as fusion, the agents, bindfs and the "
        "writer: a Fustor query is a websocket round trip between two Python processes, and on a loaded machine most of "
        "its time is spent waking them up (compare the back-to-back figure); the throughput figure is bounded by the "
        "one client process as much as by fusion. Fusion answers a directory-name search from an index (a dict look-up "
        "per view).",
        "Discovery samples alternate `find` and Fustor, so each Fustor query wakes processes that sat idle during a "
        "`find` that kept the cores busy; the p99 figures include pauses while fusion applies event batches and audit "
        "rows (the writer and the 3 s audits run throughout).",
        "*Correct* is strict: a finished submission must be called `complete`, one still written anything else "
        "(`writing`, `unvouched` or `absent`). Fustor can vouch for a submission written through the host with no agent "
        "only once an audit that started after its newest change has listed it and the sentinel has seen its hot files "
        "settle (docs/design.md, \"The completeness verdict\"; its blind-spot marks stay, CONSISTENCY.md C11, and come "
        "back as notes); the finished ones are sampled only after that (see Method). Before it, Fustor answers "
        "`unvouched`: not wrong, but not the answer yet, which the double find gives after its window instead.",
    ]
    rows_by = res.get("integrity_by_class", {})
    if res.get("fustor_false_complete"):
        bad = {c: b["fustor_verdicts"].get("complete", 0) for c, b in rows_by.items()
               if b["truth"] == "writing" and b["fustor_verdicts"].get("complete")}
        n.append(f"**Fustor called {res['fustor_false_complete']} submission(s) complete while they were being written** "
                 f"({', '.join(f'{k}: {v}' for k, v in bad.items())}). For a file appended in place through the host "
                 "with no agent: the append changes no directory's ctime, so the incremental audits skip the directory "
                 "(C8); the sentinel saw the file unchanged between two chunks and cleared its suspect mark (C10), and "
                 "nothing looks at it again until a full audit (`full_audit_every`: here every "
                 f"{VIEW_SETTINGS['full_audit_every']} audits = {VIEW_SETTINGS['full_audit_every'] * VIEW_SETTINGS['audit_interval']} s; "
                 "with the production defaults 6 x 600 s = 1 h); the view keeps the old size and "
                 "mtime, and once that mtime is older than the hot threshold the summary calls the upload complete "
                 "(an audit did list it after its newest *known* change). See the list above: the view's sizes lag "
                 "the disk's.")
    uf = rows_by.get("unwatched-finished")
    if uf and res.get("fuse") and uf["fustor_correct"] < uf["n"]:
        n.append(f"{uf['n'] - uf['fustor_correct']} of {uf['n']} submissions finished through the host with no agent "
                 f"were not called complete (verdicts {uf['fustor_verdicts']}), although an audit that started after "
                 "their last write had completed: see the list above.")
    e2e = (res.get("others", {}).get("e2e") or {}).get("figures") or {}
    if e2e.get("snapshot_vs_find"):
        n.append(f"The index is not free: building it (the first snapshot) took {e2e['snapshot_vs_find']:.1f} times "
                 "one `find -ls` of the same tree in `e2e.py`, once per leader election; after that the answers "
                 "walk nothing, and an audit of an unchanged tree costs one stat per directory.")
    if args.window <= SLOW_EVERY[1]:
        n.append(f"The find window ({args.window:g} s) is not longer than the slow writers' pauses (up to "
                 f"{SLOW_EVERY[1]} s): find is expected to call some of them complete.")
    if not res.get("fuse"):
        n.append(res.get("fuse_note", "no FUSE"))
    if args.files < 200_000 or args.roots != 3:
        n.append(f"This run used {args.files:,} files over {args.roots} roots, not the 200,000 over 3 of the target.")
    return n


# --- main ---------------------------------------------------------------------------------------------------


def main() -> None:
    if len(sys.argv) == 4 and sys.argv[1] == "--writer":
        writer_main(Path(sys.argv[2]), Path(sys.argv[3]))
        return
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--files", type=int, default=None, help="files over all roots (default 200,000; --quick 20,000)")
    ap.add_argument("--roots", type=int, default=3, help="roots = storage areas = views (K)")
    ap.add_argument("--quick", action="store_true", help="a small smoke run (20,000 files, fewer samples)")
    ap.add_argument("--discovery-samples", type=int, default=None, help="default 80 (--quick 30)")
    ap.add_argument("--integrity-samples", type=int, default=None,
                    help="default 40, spread over the 5 kinds of submission (--quick 15)")
    ap.add_argument("--window", type=float, default=2.0, help="the double find's silence window, seconds")
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--qps-seconds", type=float, default=None, help="default 10 (--quick 4)")
    ap.add_argument("--fuse-find-samples", type=int, default=None, help="find through the mounts (default 5, quick 2)")
    ap.add_argument("--skip-others", action="store_true", help="do not run view_ingest, fusion_ingest, e2e")
    ap.add_argument("--other-files", type=int, default=None, help="files for the other benchmarks (default --files)")
    ap.add_argument("--no-fuse", action="store_true", help="do not mount (the fallback without a blind host)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--md", type=Path, default=HERE / "REPORT.md")
    ap.add_argument("--json", type=Path, default=HERE / "report.json")
    ap.add_argument("--no-readme", action="store_true", help="leave README.md alone (quick runs always do)")
    ap.add_argument("--keep", type=Path, default=None, help="work in (and keep) this new directory")
    args = ap.parse_args()
    q = args.quick
    args.files = args.files or (20_000 if q else 200_000)
    args.discovery_samples = args.discovery_samples or (30 if q else 80)
    args.integrity_samples = args.integrity_samples or (15 if q else 40)
    args.qps_seconds = args.qps_seconds or (4.0 if q else 10.0)
    args.fuse_find_samples = args.fuse_find_samples if args.fuse_find_samples is not None else (2 if q else 5)
    other_files = args.other_files or args.files

    machine = machine_info()
    t_start = time.perf_counter()
    if args.keep:
        args.keep.mkdir(parents=True)
        work = args.keep
    else:
        work = Path(tempfile.mkdtemp(prefix="fustor-report-"))
    bench = Bench(args, work)
    try:
        res = bench.run()
    except BaseException:
        print(bench.logs(), file=sys.stderr)
        raise
    finally:
        bench.close()
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    res["fuse_note"] = bench.fuse_note
    res["discovery_wrong"] = bench.discovery_wrong[:20]
    others: dict[str, Any] = {}
    if not args.skip_others:
        others["view_ingest"] = run_other("view_ingest", ["--files", str(other_files)], 1200)
        others["fusion_ingest"] = run_other("fusion_ingest", ["--rows", str(other_files)], 1200)
        e2e_args = ["--files", str(other_files), "--latency-samples", "50" if q else "200", "--builds", "1" if q else "3"]
        others["e2e"] = run_other("e2e", e2e_args, 1800)
    res["others"] = others
    res["wall_s"] = time.perf_counter() - t_start
    res["files"] = args.files
    res["roots"] = args.roots
    res["quick"] = q
    res["machine"] = machine
    res["discovery_target_met"] = res["discovery_ratio"] >= TARGET_DISCOVERY_RATIO
    res["integrity_target_met"] = res["fustor_integrity_correct"] == 1.0
    notes = caveats(res, args)
    rows = bench.integrity_rows
    full = {**res, "integrity_rows": rows}
    for p in (args.json, args.md):
        p.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(full, indent=1, default=str) + "\n")
    write_markdown(args.md, res, rows, machine, args, notes)
    if not q and not args.no_readme and args.md.resolve() == (HERE / "REPORT.md").resolve():
        if update_readme(readme_block(res, args)):
            print("README.md: headline block updated", flush=True)
    print(f"wrote {args.md} and {args.json} ({res['wall_s'] / 60:.1f} min)", flush=True)
    flat = {k: (round(v, 4) if isinstance(v, float) else v) for k, v in res.items()
            if not isinstance(v, (dict, list)) or k in ("files_per_root", "load_avg_start", "load_avg_end")}
    for bench_name, o in others.items():
        for key, v in (o.get("figures") or {}).items():
            if isinstance(v, (int, float)):
                flat[f"{bench_name}.{key}"] = round(v, 4) if isinstance(v, float) else v
    print(json.dumps(flat))


if __name__ == "__main__":
    main()
