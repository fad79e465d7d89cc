#!/usr/bin/env python3
"""End to end on a generated tree: snapshot build vs `find -ls`, realtime latency, audits, memory.

    ./dev bench e2e [--files N] [--latency-samples S] [--keep DIR]

Generates N files (default 200,000) in the data-archive layout
(``upload/submit/{c1}/{c2}/{uuid}/sub_X/data_XXXX.dat``) in a plain local
directory, then in one run:

* ``find_ls_s``: ``find DIR -type f -ls > /dev/null`` on the directory the
  agent reads, after one warm-up pass; run before each snapshot build, so
  that the two take turns (median of ``--builds`` runs);
* ``snapshot_build_s``: a real fusion and a real agent start (process
  start-up excluded); from the agent's session opening (its snapshot starts
  there) until the view is ready (fusion's own timestamps); a warm-up pass of
  the tree was made by ``find`` above, so both read a warm cache. The median
  of ``--builds`` runs (default 3), each by a fresh fusion and agent (the
  machine is shared and noisy: single runs vary by 10%);
* ``realtime_latency_ms_p50`` / ``_p99``: a file written and closed in the
  watched directory until a query over a persistent control connection shows
  it (S samples, one at a time);
* ``audit_full_s`` then ``audit_unchanged_s``: two audits asked for through
  the control plane (the first after election is full; the second finds
  nothing changed and re-lists nothing: one stat per directory);
* ``agent_rss_mb`` / ``fusion_rss_mb``: peak resident memory (VmHWM).

Human-readable lines first; the last line is one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from fustor.client import ControlClient, RemoteError
from fustor.testing.agentproc import AGENT_CONTROL_KEY, AgentProcess, make_agent_home
from fustor.testing.processes import ADMIN_KEY, READONLY_KEY, FusionProcess, make_fusion_home


def generate(root: Path, n: int, seed: int = 1) -> int:
    rng = random.Random(seed)
    made = 0
    while made < n:
        u = "%032x" % rng.getrandbits(128)
        d = root / "upload" / "submit" / u[:2] / u[2:4] / u / "sub_0"
        d.mkdir(parents=True, exist_ok=True)
        for k in range(min(200, n - made)):
            with open(d / f"data_{k:04d}.dat", "wb") as f:
                f.truncate(rng.randint(1, 4096))
            made += 1
    old = time.time() - 3600
    for dirpath, _, files in os.walk(root):
        for name in files:
            os.utime(os.path.join(dirpath, name), (old, old))
    return made


def time_find(root: Path) -> float:
    t0 = time.perf_counter()
    subprocess.run(["find", str(root), "-type", "f", "-ls"], stdout=subprocess.DEVNULL, check=True)
    return time.perf_counter() - t0


def vm_hwm_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return 0.0


async def wait_for(pred, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while True:
        v = await pred()
        if v:
            return v
        if time.monotonic() > deadline:
            raise TimeoutError(what)
        await asyncio.sleep(0.05)


async def snapshot_build(c: ControlClient) -> tuple[float, int]:
    """Seconds from the agent's session opening (its snapshot starts there) to the view being ready."""
    async def view():
        st = await c.status()
        return st["views"][0] if st["views"] and st["views"][0]["ready"] else None

    v = await wait_for(view, 600, "the view to be ready")
    st = await c.status()
    return v["ready_at"] - st["sessions"][0]["opened_at"], v["files"]


async def build_only(fusion_url: str) -> float:
    c = await ControlClient.connect(fusion_url, READONLY_KEY)
    try:
        return (await snapshot_build(c))[0]
    finally:
        await c.close()


async def measure(fusion_url: str, agent_url: str, root: Path, samples: int) -> dict:
    c = await ControlClient.connect(fusion_url, READONLY_KEY)
    adm = await ControlClient.connect(fusion_url, ADMIN_KEY)
    ag = await ControlClient.connect(agent_url, AGENT_CONTROL_KEY)

    snapshot_build_s, files = await snapshot_build(c)

    # Realtime latency: write + close through the watched tree, poll until visible.
    lat = []
    target = root / "upload" / "latency"
    target.mkdir(parents=True, exist_ok=True)
    await asyncio.sleep(0.5)
    for i in range(samples):
        path = f"/upload/latency/f{i:04d}"
        t0 = time.perf_counter()
        with open(target / f"f{i:04d}", "wb") as f:
            f.write(b"x" * 100)
        while True:
            try:
                await c.stats("v", path)
                break
            except RemoteError:
                await asyncio.sleep(0.0005)
        lat.append((time.perf_counter() - t0) * 1e3)
    lat.sort()

    async def audit() -> dict:
        before = (await ag.status())["pipes"][0].get("last_audit") or {}
        await adm.audit_now("v")

        async def done():
            la = (await ag.status())["pipes"][0].get("last_audit") or {}
            return la if la.get("audit_id") and la.get("audit_id") != before.get("audit_id") else None

        return await wait_for(done, 900, "an audit to end")

    full = await audit()
    unchanged = await audit()
    for x in (c, adm, ag):
        await x.close()
    return {
        "files_in_view": files,
        "snapshot_build_s": snapshot_build_s,
        "realtime_latency_ms_p50": statistics.median(lat),
        "realtime_latency_ms_p99": lat[min(len(lat) - 1, int(len(lat) * 0.99))],
        "audit_full_s": full["ended_at"] - full["started_at"],
        "audit_full_dirs_listed": full["dirs_listed"],
        "audit_unchanged_s": unchanged["ended_at"] - unchanged["started_at"],
        "audit_unchanged_dirs_listed": unchanged["dirs_listed"],
        "audit_unchanged_dirs_skipped": unchanged["dirs_skipped"],
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--files", type=int, default=200_000)
    ap.add_argument("--latency-samples", type=int, default=200)
    ap.add_argument("--builds", type=int, default=3, help="snapshot builds, each by a fresh fusion and agent (median)")
    ap.add_argument("--keep", type=Path, default=None, help="generate into (and keep) this directory")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="fustor-e2e-"))
    root = args.keep or work / "share"
    try:
        t0 = time.perf_counter()
        if not (root / "upload").exists():
            n = generate(root, args.files)
            print(f"generated {n:,} files in {time.perf_counter() - t0:.1f} s under {root}", flush=True)
        time_find(root)  # warm-up
        finds = []
        builds = []
        res: dict = {}
        for run in range(args.builds):
            # find and the snapshot take turns, so that a noisy neighbour weighs on both alike.
            finds.append(time_find(root))
            print(f"find -type f -ls {run + 1}/{args.builds}: {finds[-1]:.3f} s", flush=True)
            # A fresh fusion and agent each time: each run is a first snapshot.
            home = make_fusion_home(work / f"fusion{run}", views={"v": {
                "hot_file_threshold": 300, "sentinel_interval": 60, "audit_interval": 3600, "full_audit_every": 6}},
                pipes={"p": {"views": ["v"], "session_timeout": 30, "queue_size": 64}})
            fusion = FusionProcess(home).start()
            agent = None
            try:
                ahome = make_agent_home(work / f"agent{run}", root=root, fusion_url=fusion.url, agent_id="bench",
                                        timeout_hint=30, pipe={"batch_size": 1000})
                agent = AgentProcess(ahome).start()
                if run == 0:
                    res = asyncio.run(measure(fusion.url, agent.control_url, root, args.latency_samples))
                    res["agent_rss_mb"] = vm_hwm_mb(agent.proc.pid)
                    res["fusion_rss_mb"] = vm_hwm_mb(fusion.proc.pid)
                    builds.append(res["snapshot_build_s"])
                else:
                    builds.append(asyncio.run(build_only(fusion.url)))
            finally:
                if agent:
                    agent.stop()
                fusion.stop()
            print(f"snapshot build {run + 1}/{args.builds}: {builds[-1]:.3f} s", flush=True)
        res["snapshot_build_s"] = statistics.median(builds)
        res["snapshot_build_runs_s"] = [round(b, 4) for b in builds]
        res["find_ls_s"] = find_ls_s = statistics.median(finds)
        res["find_ls_runs_s"] = [round(f, 4) for f in finds]
        res["snapshot_vs_find"] = res["snapshot_build_s"] / find_ls_s
        res["audit_unchanged_vs_full"] = res["audit_unchanged_s"] / res["audit_full_s"]
        res["files"] = args.files
        print(f"snapshot build: {res['snapshot_build_s']:.2f} s = {res['snapshot_vs_find']:.2f} x find -ls")
        print(f"realtime latency: p50 {res['realtime_latency_ms_p50']:.1f} ms, p99 {res['realtime_latency_ms_p99']:.1f} ms")
        print(f"audit: full {res['audit_full_s']:.2f} s, unchanged {res['audit_unchanged_s']:.2f} s "
              f"({100 * res['audit_unchanged_vs_full']:.1f} %)")
        print(f"peak RSS: agent {res['agent_rss_mb']:.0f} MiB, fusion {res['fusion_rss_mb']:.0f} MiB")
        print(json.dumps({k: (round(v, 4) if isinstance(v, float) else v) for k, v in res.items()}))
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
