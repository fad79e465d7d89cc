#!/usr/bin/env python3
"""Fusion ingest over the wire: K simulated agents into one view, queries meanwhile.

    ./dev bench fusion_ingest [--rows N] [--batch B] [--window W] [--queries Q]

Starts a real fusion process (loopback, port 0), then for K = 1 and K = 8:
one leader session sends N snapshot rows in the data-archive layout, the
other K-1 sessions (followers) send realtime rows of their own subtrees,
every session pipelining up to W unacknowledged batches (an ack means the
batch was applied to the view). ``ingest_events_per_s`` is rows applied and
acknowledged per second. Meanwhile a control-plane client, in a process of
its own as the console or a script would be, asks for the full-metadata
listing of a 200-file directory as fast as it is answered
(``query_tree_200_ms_p50`` / ``_p99``, K = 8 run).

The floor, ``wire_only_events_per_s``, is the same batches from one client
to a bare websocket server (a subprocess) that decodes each frame and acks
it without applying anything: what the transport alone costs.

The agents' side runs in this process, fusion in its own; the machine's
two cores are shared by the three processes. Human-readable lines first; the last line is one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import orjson

from fustor.client import Connection, ControlClient
from fustor.schema import make_row
from fustor.testing.processes import AGENT_KEY, READONLY_KEY, FusionProcess, make_fusion_home, wait_for

T = 1_700_000_000.0


def archive_rows(prefix: str, n: int, rng: random.Random, source: str, ino0: int) -> list[dict]:
    """``{prefix}/{c1}/{c2}/{uuid}/sub_0/data_XXXX.dat``, 200 files per uuid; dirs before contents."""
    rows: list[dict] = []
    ino = ino0
    listed = source != "realtime"
    inodes: dict[str, int] = {"/": 2}

    def d(path: str) -> None:
        nonlocal ino
        if path in inodes:
            return
        ino += 1
        inodes[path] = ino
        parent = path.rsplit("/", 1)[0] or "/"
        rows.append(make_row(path, "dir", mtime=T, ctime=T + 1, inode=ino, mode=0o40755, uid=1000, gid=1000,
                             parent_mtime=T, parent_ctime=T + 1, parent_ino=inodes.get(parent) if listed else None))

    parts = prefix.strip("/").split("/")
    for i in range(1, len(parts) + 1):
        d("/" + "/".join(parts[:i]))
    files = 0
    while files < n:
        u = "%032x" % rng.getrandbits(128)
        base = f"{prefix}/{u[:2]}/{u[2:4]}/{u}"
        for p in (f"{prefix}/{u[:2]}", f"{prefix}/{u[:2]}/{u[2:4]}", base, base + "/sub_0"):
            d(p)
        sub = inodes[base + "/sub_0"]
        for k in range(min(200, n - files)):
            ino += 1
            rows.append(make_row(f"{base}/sub_0/data_{k:04d}.dat", "file", size=rng.randint(1 << 10, 100 << 20),
                                 mtime=T - 3600, ctime=T - 3600, inode=ino, mode=0o100644, uid=1000, gid=1000,
                                 parent_mtime=T, parent_ctime=T + 1, parent_ino=sub if listed else None,
                                 is_atomic_write=True if source == "realtime" else None))
            files += 1
    return rows


def batches(rows: list[dict], b: int) -> list[list[dict]]:
    return [rows[i:i + b] for i in range(0, len(rows), b)]


def event(source: str, rows: list[dict]) -> dict:
    return {"schema": "fs", "schema_version": "1.0", "type": "insert" if source == "snapshot" else "update",
            "source": source, "index": int(time.time() * 1000), "rows": rows}


async def run_k(url: str, k: int, rows_total: int, batch: int, window: int, queries: bool) -> dict:
    rng = random.Random(k)
    per = rows_total // k
    conns, sids, loads = [], [], []
    for i in range(k):
        conn = await Connection.open(url, AGENT_KEY, plane="pipe")
        opened = await conn.request("session.open", pipe_id="p", agent_id=f"bench-{k}-{i}", schema="fs",
                                    schema_version="1.0", timeout_hint=60)
        role = opened["views"]["v"]
        source = "snapshot" if role == "leader" else "realtime"
        rows = archive_rows(f"/k{k}-a{i}", per, rng, source, 10_000_000 * (i + 1) + 1_000_000 * k)
        conns.append(conn)
        sids.append(opened["session_id"])
        loads.append((source, batches(rows, batch)))
    sample_dir = next(r["path"] for r in loads[0][1][0] if r["path"].endswith("/sub_0"))
    # The first batch of the leader creates the sample directory before queries start.
    await conns[0].request("events", session_id=sids[0], seq=1, event=event(loads[0][0], loads[0][1][0]))
    loads[0] = (loads[0][0], loads[0][1][1:])
    querier = Querier(url, sample_dir) if queries else None
    t0 = time.perf_counter()
    counts = await asyncio.gather(*(pump_from(conns[i], sids[i], loads[i][0], loads[i][1], window, 2 if i == 0 else 1)
                                    for i in range(k)))
    elapsed = time.perf_counter() - t0
    lat = querier.stop() if querier else []
    for c in conns:
        await c.close()
    out = {"k": k, "rows": sum(counts), "seconds": elapsed, "events_per_s": sum(counts) / elapsed}
    if lat:
        lat.sort()
        out["query_tree_200_ms_p50"] = statistics.median(lat)
        out["query_tree_200_ms_p99"] = lat[min(len(lat) - 1, int(len(lat) * 0.99))]
        out["queries"] = len(lat)
    return out


class Querier:
    """The control-plane client, in a process of its own as the console or a script would be.

    It asks for the full listing of ``path`` (200 files) as fast as it is
    answered, with a 5 ms pause in between, until stopped; :meth:`stop`
    returns the latencies (ms).
    """

    def __init__(self, url: str, path: str) -> None:
        self._proc = subprocess.Popen([sys.executable, __file__, "--querier", url, path], stdin=subprocess.PIPE,
                                      stdout=subprocess.PIPE, text=True, start_new_session=True)
        if self._proc.stdout.readline().strip() != "ready":
            raise RuntimeError("the query process did not start")

    def stop(self) -> list[float]:
        self._proc.stdin.close()  # EOF tells it to stop
        out = self._proc.stdout.read()
        self._proc.wait(10)
        return json.loads(out)


def _query_process(url: str, path: str) -> None:
    async def main() -> list[float]:
        loop = asyncio.get_running_loop()
        stop = loop.create_future()
        loop.add_reader(sys.stdin.fileno(), lambda: stop.done() or stop.set_result(None))
        c = await ControlClient.connect(url, READONLY_KEY)
        await c.tree("v", path, depth=1, full=True, partial=True)
        print("ready", flush=True)
        lat: list[float] = []
        while not stop.done():
            t0 = time.perf_counter()
            await c.tree("v", path, depth=1, full=True, partial=True)
            lat.append((time.perf_counter() - t0) * 1e3)
            await asyncio.sleep(0.005)
        await c.close()
        return lat

    print(json.dumps(asyncio.run(main())), flush=True)


async def pump_from(conn, sid, source, chunks, window, first_seq):
    sem = asyncio.Semaphore(window)
    futs = []
    for seq, chunk in enumerate(chunks, first_seq):
        await sem.acquire()
        fut = await conn.submit("events", session_id=sid, seq=seq, event=event(source, chunk))
        fut.add_done_callback(lambda f: sem.release())
        futs.append(fut)
    await asyncio.gather(*futs)
    return sum(len(c) for c in chunks)


# --- the floor: a bare websocket server that decodes and acks --------------------------------

ECHO_SERVER = r"""
import asyncio, sys, orjson
from websockets.asyncio.server import serve
async def handler(ws):
    async for frame in ws:
        msg = orjson.loads(frame)
        if msg.get("op") == "hello":
            await ws.send(orjson.dumps({"re": msg["id"], "ok": True, "protocol": "1.0", "access": "pipe"}).decode())
        else:
            await ws.send(orjson.dumps({"re": msg["id"], "ok": True, "seq": msg.get("seq")}).decode())
async def main():
    async with serve(handler, "127.0.0.1", 0, compression=None, max_size=16 * 1024 * 1024) as server:
        print(server.sockets[0].getsockname()[1], flush=True)
        await asyncio.Future()
asyncio.run(main())
"""


async def wire_only(rows_total: int, batch: int, window: int) -> float:
    proc = subprocess.Popen([sys.executable, "-c", ECHO_SERVER], stdout=subprocess.PIPE, start_new_session=True)
    try:
        port = int(proc.stdout.readline())
        url = f"ws://127.0.0.1:{port}"
        conn = await Connection.open(url + "/api/v1/pipe", "x", plane="pipe")
        chunks = batches(archive_rows("/wire", rows_total, random.Random(7), "snapshot", 1), batch)
        t0 = time.perf_counter()
        n = await pump_from(conn, "s", "snapshot", chunks, window, 1)
        elapsed = time.perf_counter() - t0
        await conn.close()
        return n / elapsed
    finally:
        os.killpg(proc.pid, 9)
        proc.wait()


def main() -> None:
    if sys.argv[1:2] == ["--querier"]:
        _query_process(sys.argv[2], sys.argv[3])
        return
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=400_000)
    ap.add_argument("--batch", type=int, default=1000)
    ap.add_argument("--window", type=int, default=8)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        home = make_fusion_home(Path(tmp) / "fusion", views={"v": {"hot_file_threshold": 300, "sentinel_interval": 60,
                                                                    "audit_interval": 600}},
                                pipes={"p": {"views": ["v"], "queue_size": 64, "session_timeout": 60}})
        results = {}
        for k in (1, 8):
            fusion = FusionProcess(home).start()
            try:
                res = asyncio.run(run_k(fusion.url, k, args.rows, args.batch, args.window, queries=True))
            finally:
                fusion.stop()
            results[k] = res
            print(f"K={k}: {res['rows']} rows in {res['seconds']:.2f} s = {res['events_per_s']:,.0f} events/s; "
                  f"tree(200) p50 {res.get('query_tree_200_ms_p50', 0):.2f} ms, "
                  f"p99 {res.get('query_tree_200_ms_p99', 0):.2f} ms over {res.get('queries', 0)} queries", flush=True)
        floor = asyncio.run(wire_only(args.rows, args.batch, args.window))
        print(f"wire only (decode + ack, no apply): {floor:,.0f} events/s")
    out = {
        "ingest_events_per_s": round(results[1]["events_per_s"]),
        "ingest_events_per_s_k8": round(results[8]["events_per_s"]),
        "query_tree_200_ms_p50": round(results[8].get("query_tree_200_ms_p50", 0), 3),
        "query_tree_200_ms_p99": round(results[8].get("query_tree_200_ms_p99", 0), 3),
        "query_tree_200_ms_p50_k1": round(results[1].get("query_tree_200_ms_p50", 0), 3),
        "query_tree_200_ms_p99_k1": round(results[1].get("query_tree_200_ms_p99", 0), 3),
        "wire_only_events_per_s": round(floor),
        "rows": args.rows, "batch": args.batch, "window": args.window,
    }
    print(json.dumps(out))


if __name__ == "__main__":
    main()
