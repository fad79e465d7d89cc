"""Running fusion as a process: config home, listeners, signals, state file."""

from __future__ import annotations

import asyncio
import gc
import json
import logging
import os
import signal
from pathlib import Path

from fustor.core import ConfigError, gcpolicy
from fustor.transport.server import Listeners

from .config import load_fusion_config
from .service import SERVER_NAME, FusionService

log = logging.getLogger("fustor.fusion")

STATE_FILE = "fusion.state.json"
PID_FILE = "fusion.pid"
LOG_FILE = "fusion.log"


def _tune_gc() -> None:
    # See fustor.core.gcpolicy: views freeze what they grew every so often.
    gcpolicy.DEFAULT.install()
    gc.freeze()


def write_state(home: Path, listeners: Listeners) -> None:
    state = {"pid": os.getpid(), "server": SERVER_NAME, "receivers": listeners.urls()}
    tmp = home / (STATE_FILE + ".tmp")
    tmp.write_text(json.dumps(state, indent=2))
    os.replace(tmp, home / STATE_FILE)


def read_state(home: Path) -> dict | None:
    try:
        return json.loads((home / STATE_FILE).read_text())
    except (OSError, ValueError):
        return None


async def serve_fusion(home: Path, stop: asyncio.Event | None = None) -> None:
    config = load_fusion_config(home)
    for w in config.warnings:
        log.warning(w)
    service = FusionService(config)
    listeners = Listeners(service, SERVER_NAME)
    service.listeners = listeners
    listeners.on_change = lambda: write_state(home, listeners)
    await service.start()
    await listeners.start(config.receivers.receivers)
    _tune_gc()
    write_state(home, listeners)
    (home / PID_FILE).write_text(f"{os.getpid()}\n")
    for name, url in listeners.urls().items():
        log.info("receiver %s listening on %s", name, url)
        print(f"fusion: receiver {name} listening on {url}", flush=True)
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        try:
            loop.add_signal_handler(sig, stop.set)
        except (NotImplementedError, RuntimeError):
            pass
    reload_requested = asyncio.Event()
    try:
        loop.add_signal_handler(signal.SIGHUP, reload_requested.set)
    except (NotImplementedError, RuntimeError):
        pass

    async def reloader() -> None:
        while True:
            await reload_requested.wait()
            reload_requested.clear()
            try:
                result = await service.reload()
                write_state(home, listeners)
                print(f"fusion: reloaded {json.dumps(result)}", flush=True)
            except ConfigError as exc:
                log.error("reload refused, the running config stays: %s", exc.message)

    reload_task = loop.create_task(reloader())
    try:
        await stop.wait()
    finally:
        reload_task.cancel()
        await listeners.close()
        await service.stop()
        for leftover in (STATE_FILE, PID_FILE):
            try:
                (home / leftover).unlink()
            except OSError:
                pass
