#!/usr/bin/env python3
"""The console's latency against a real fusion: opening a big directory, and keys under load.

    ./dev bench tui [--entries N] [--rate R] [--keys K] [--opens O]

Starts a real fusion process (loopback), fills view ``v`` with a directory
``/big`` of N files (10,000 by default) and a few small ones, and runs the
console headless (``App.run_test`` + Pilot, 100×30) attached to it over the
control plane, as ``fustor tui`` does.

* ``open_dir_10k_ms``: from the Enter key on ``big/`` until the first page
  of its listing is painted (median of O opens; the listing is paged by the
  server, so only a page of rows reaches the widget).
* ``keypress_to_paint_ms_p50/p99/max``: from a navigation key (↓/↑ in that
  listing, which also pages through it) until the app handled it and painted
  the moved cursor, K keys, while a simulated agent (a subprocess, on the
  pipe plane with the test agent key, large realtime batches) pushes about R
  events per second (50,000 by default) into the same fusion.
  ``load_events_per_s`` is what fusion acknowledged meanwhile.

"Painted" is the moment the app hands a screen update to its driver (here a
headless one) after rendering it to terminal sequences. Targets: open ≤ 500
ms, p99 ≤ 100 ms. Human-readable lines first; the last line is one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from fustor.client import Connection
from fustor.schema import make_row
from fustor.testing.processes import ADMIN_KEY, AGENT_KEY, FusionProcess, make_fusion_home

T = 1_700_000_000.0


def _event(source: str, rows: list[dict]) -> dict:
    return {"schema": "fs", "schema_version": "1.0", "type": "insert" if source == "snapshot" else "update",
            "source": source, "index": int(time.time() * 1000), "rows": rows}


def tree_rows(entries: int) -> list[dict]:
    rows = []
    ino = 10

    def d(path: str, parent_ino: int) -> int:
        nonlocal ino
        ino += 1
        rows.append(make_row(path, "dir", mtime=T, ctime=T, inode=ino, mode=0o40755, uid=1000, gid=1000,
                             parent_mtime=T, parent_ctime=T, parent_ino=parent_ino))
        return ino

    big = d("/big", 2)
    for i in range(entries):
        ino += 1
        rows.append(make_row(f"/big/f{i:06d}.dat", "file", size=(i * 7919) % 1_000_003 + 1, mtime=T - i, ctime=T - i,
                             inode=ino, mode=0o100644, uid=1000, gid=1000, parent_mtime=T, parent_ctime=T,
                             parent_ino=big))  # fmt: skip
    for name in ("small", "upload", "zz"):
        p = d(f"/{name}", 2)
        for k in range(20):
            ino += 1
            rows.append(make_row(f"/{name}/x{k}.dat", "file", size=k + 1, mtime=T, ctime=T, inode=ino, mode=0o100644,
                                 uid=1000, gid=1000, parent_mtime=T, parent_ctime=T, parent_ino=p))  # fmt: skip
    d("/load", 2)
    return rows


async def populate(url: str, entries: int) -> Connection:
    """A leader session sends the snapshot; it stays open (long timeout) so the view stays ready."""
    conn = await Connection.open(url, AGENT_KEY, plane="pipe")
    opened = await conn.request("session.open", pipe_id="p", agent_id="bench-leader", schema="fs",
                                schema_version="1.0", timeout_hint=3600)
    sid = opened["session_id"]
    rows = tree_rows(entries)
    seq = 0
    for i in range(0, len(rows), 2000):
        seq += 1
        await conn.request("events", session_id=sid, seq=seq, event=_event("snapshot", rows[i:i + 2000]))
    await conn.request("snapshot.end", session_id=sid)
    return conn


# --- the load: a subprocess pushing realtime batches -------------------------------------------


async def load_main(url: str, rate: float, seconds: float, batch: int, window: int) -> None:
    conn = await Connection.open(url, AGENT_KEY, plane="pipe")
    opened = await conn.request("session.open", pipe_id="p", agent_id="bench-load", schema="fs",
                                schema_version="1.0", timeout_hint=3600)
    sid = opened["session_id"]
    dirs = 50
    per_dir = 2000
    # Pre-built rows (5 dirs x 2000 files, updated over and over with a new mtime per round).
    base = []
    for dnum in range(dirs):
        for f in range(per_dir):
            base.append((f"/load/d{dnum:02d}/f{f:05d}", 1_000_000 + dnum * per_dir + f, dnum))
    dir_rows = [make_row(f"/load/d{dnum:02d}", "dir", mtime=T, ctime=T, inode=900_000 + dnum, mode=0o40755,
                         uid=1000, gid=1000, parent_mtime=T, parent_ctime=T) for dnum in range(dirs)]  # fmt: skip
    sem = asyncio.Semaphore(window)
    seq = 1
    await conn.request("events", session_id=sid, seq=seq, event=_event("realtime", dir_rows))
    sent = acked = 0
    t0 = time.perf_counter()
    pos = 0
    rnd = 0
    pending: set[asyncio.Future] = set()

    def done(f: asyncio.Future, n: int) -> None:
        nonlocal acked
        sem.release()
        pending.discard(f)
        if not f.cancelled() and f.exception() is None:
            acked += n

    while time.perf_counter() - t0 < seconds:
        ahead = sent / rate - (time.perf_counter() - t0)
        if ahead > 0:
            await asyncio.sleep(ahead)
        rows = []
        mt = T + rnd
        for _ in range(batch):
            path, ino, dnum = base[pos]
            rows.append(make_row(path, "file", size=pos, mtime=mt, ctime=mt, inode=ino, mode=0o100644, uid=1000,
                                 gid=1000, parent_mtime=mt, parent_ctime=mt, is_atomic_write=True))
            pos += 1
            if pos == len(base):
                pos, rnd = 0, rnd + 1
        await sem.acquire()
        seq += 1
        fut = await conn.submit("events", session_id=sid, seq=seq, event=_event("realtime", rows))
        pending.add(fut)
        fut.add_done_callback(lambda f, n=len(rows): done(f, n))
        sent += len(rows)
    if pending:
        await asyncio.wait(pending, timeout=30)
    elapsed = time.perf_counter() - t0
    print(json.dumps({"sent": sent, "acked": acked, "seconds": elapsed, "acked_per_s": acked / elapsed}), flush=True)
    await conn.close()


# --- the console ----------------------------------------------------------------------------


def pct(xs: list[float], q: float) -> float:
    s = sorted(xs)
    return s[min(len(s) - 1, int(round(q * (len(s) - 1))))]


async def console_main(url: str, args: argparse.Namespace) -> dict:
    from fustor.tui.app import FustorApp
    from fustor.tui.connection import ConnectionManager
    from fustor.tui.screens import BrowserScreen

    app = FustorApp(ConnectionManager(url, ADMIN_KEY), kind="fusion", blink=False)
    paints: list[tuple[float, int]] = []
    out: dict = {}

    async with app.run_test(size=(100, 30)) as pilot:
        scr: BrowserScreen = app.get_screen("browser")  # type: ignore[assignment]
        table = None
        real_display = app._display
        console = app.console

        def display(screen, renderable):  # noqa: ANN001
            real_display(screen, renderable)
            if renderable is not None and hasattr(renderable, "render_segments"):
                renderable.render_segments(console)  # what a terminal write costs, without the terminal
            paints.append((time.perf_counter(), table.cursor_row if table is not None and app.screen is scr else -1))

        app._display = display  # type: ignore[method-assign]

        async def until(pred, what: str, timeout: float = 60.0) -> None:
            deadline = time.monotonic() + timeout
            while not pred():
                if time.monotonic() > deadline:
                    raise TimeoutError(f"timed out waiting for {what}")
                await asyncio.sleep(0.005)

        await until(lambda: any(v.get("ready") for v in (app.source.status or {}).get("views", [])), "view v ready")
        app.open_view("v", "/")
        await until(lambda: app.screen is scr and "big" in scr._shown, "the root listing")
        table = scr.query_one("#listing")

        async def open_big() -> float:
            table.move_cursor(row=scr._shown.index("big"), animate=False)
            await pilot.pause()
            mark = len(paints)
            t0 = time.perf_counter()
            await pilot.press("enter")
            await until(lambda: scr.pager.path == "/big" and scr.first_page_at is not None, "the first page of /big")
            first = scr.first_page_at
            await until(lambda: any(t >= first for t, _ in paints[mark:]), "the first page painted")
            t_paint = next(t for t, _ in paints[mark:] if t >= first)
            assert len(scr._shown) <= scr.pager.page_size * scr.pager.max_pages
            return (t_paint - t0) * 1e3

        opens = []
        for _ in range(args.opens):
            opens.append(await open_big())
            await pilot.press("backspace")
            await until(lambda: scr.pager.path == "/" and "big" in scr._shown, "back at the root")
        out["open_dir_10k_ms"] = statistics.median(opens)
        out["open_dir_10k_ms_max"] = max(opens)
        out["rows_in_widget_max"] = scr.pager.page_size * scr.pager.max_pages
        print(f"open /big ({args.entries:,} entries): median {out['open_dir_10k_ms']:.1f} ms, "
              f"max {max(opens):.1f} ms over {len(opens)} opens", flush=True)

        await open_big()
        await until(lambda: len(scr._shown) >= 100, "a page of rows")

        # The load starts; wait until fusion applies it.
        load_seconds = args.load_seconds
        loader = subprocess.Popen(
            [sys.executable, __file__, "--load", url, "--rate", str(args.rate), "--seconds", str(load_seconds),
             "--batch", str(args.batch)], stdout=subprocess.PIPE, text=True, start_new_session=True)  # fmt: skip
        try:
            t_load = time.perf_counter()
            await until(lambda: sum(v.get("events_per_s") or 0 for v in (app.source.status or {}).get("views", []))
                        > args.rate * 0.2, "the load to reach fusion", timeout=30)
            rates: list[float] = []
            lat: list[float] = []
            direction = "down"
            row = table.cursor_row
            for i in range(args.keys):
                if row >= 380:
                    direction = "up"
                elif row <= 5:
                    direction = "down"
                expected = row + (1 if direction == "down" else -1)
                mark = len(paints)
                t0 = time.perf_counter()
                await pilot.press(direction)
                # The cursor may have moved rows if a page came in; accept the first paint showing a move.
                await until(lambda: any(c != row and c >= 0 for _, c in paints[mark:]), "the moved cursor painted",
                            timeout=10)
                t_paint = next(t for t, c in paints[mark:] if c != row and c >= 0)
                lat.append((t_paint - t0) * 1e3)
                row = table.cursor_row
                del expected
                if i % 20 == 0:
                    rates.append(sum(v.get("events_per_s") or 0 for v in (app.source.status or {}).get("views", [])))
                await asyncio.sleep(args.key_gap)
            measured_for = time.perf_counter() - t_load
        finally:
            try:
                stdout, _ = loader.communicate(timeout=load_seconds + 60)
            except subprocess.TimeoutExpired:
                os.killpg(loader.pid, 9)
                stdout = ""
        load = json.loads(stdout.strip().splitlines()[-1]) if stdout.strip() else {}
        out["keypress_to_paint_ms_p50"] = statistics.median(lat)
        out["keypress_to_paint_ms_p99"] = pct(lat, 0.99)
        out["keypress_to_paint_ms_max"] = max(lat)
        out["keys"] = len(lat)
        out["load_events_per_s"] = load.get("acked_per_s", 0.0)
        out["load_target_events_per_s"] = args.rate
        out["fusion_reported_events_per_s_median"] = statistics.median(rates) if rates else 0.0
        out["measured_for_s"] = measured_for
        out["pages_in_widget_max"] = scr.pager.max_pages
        print(f"keys under load: p50 {out['keypress_to_paint_ms_p50']:.1f} ms, p99 "
              f"{out['keypress_to_paint_ms_p99']:.1f} ms, max {out['keypress_to_paint_ms_max']:.1f} ms over "
              f"{len(lat)} keys; load acked {out['load_events_per_s']:,.0f} events/s (target {args.rate:,}), "
              f"fusion reported {out['fusion_reported_events_per_s_median']:,.0f} events/s", flush=True)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--entries", type=int, default=10_000)
    ap.add_argument("--rate", type=float, default=50_000)
    ap.add_argument("--batch", type=int, default=2_500)
    ap.add_argument("--keys", type=int, default=300)
    ap.add_argument("--key-gap", type=float, default=0.03, help="seconds between keys")
    ap.add_argument("--opens", type=int, default=5)
    ap.add_argument("--load-seconds", type=float, default=None)
    ap.add_argument("--load", metavar="URL", help=argparse.SUPPRESS)
    ap.add_argument("--seconds", type=float, default=20.0, help=argparse.SUPPRESS)
    ap.add_argument("--window", type=int, default=16, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.load:
        asyncio.run(load_main(args.load, args.rate, args.seconds, args.batch, args.window))
        return
    if args.load_seconds is None:
        args.load_seconds = max(10.0, args.keys * (args.key_gap + 0.03) + 8)
    with tempfile.TemporaryDirectory(prefix="fustor-bench-tui-") as tmp:
        home = make_fusion_home(Path(tmp) / "fusion", views={"v": {"audit_interval": 3600, "sentinel_interval": 60, "hot_file_threshold": 120}},
                                pipes={"p": {"views": ["v"], "session_timeout": 3600, "queue_size": 256}})
        fusion = FusionProcess(home).start()
        try:
            async def run() -> dict:
                conn = await populate(fusion.url, args.entries)
                try:
                    return await console_main(fusion.url, args)
                finally:
                    await conn.close()

            out = asyncio.run(run())
        finally:
            fusion.kill()
    out["entries"] = args.entries
    out["targets"] = {"open_dir_10k_ms": 500, "keypress_to_paint_ms_p99": 100}
    print(json.dumps(out))


if __name__ == "__main__":
    main()
