"""Running the agent as a process: config home, control listener, signals, state file."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
from pathlib import Path

from fustor.core import ConfigError
from fustor.transport.server import Listeners

from .config import load_agent_config
from .service import SERVER_NAME, AgentService

log = logging.getLogger("fustor.agent")

STATE_FILE = "agent.state.json"
PID_FILE = "agent.pid"
LOG_FILE = "agent.log"


def read_state(home: Path) -> dict | None:
    try:
        return json.loads((home / STATE_FILE).read_text())
    except (OSError, ValueError):
        return None


async def serve_agent(home: Path, stop: asyncio.Event | None = None, backoff_initial: float = 1.0) -> None:
    config = load_agent_config(home)
    service = AgentService(config, backoff_initial=backoff_initial)
    listeners = Listeners(service, SERVER_NAME)
    service.listeners = listeners
    await listeners.start({"control": config.agent.control_listener()})
    await service.start()
    state = {"pid": os.getpid(), "server": SERVER_NAME, "agent_id": config.agent_id, "control": listeners.urls()["control"]}
    tmp = home / (STATE_FILE + ".tmp")
    tmp.write_text(json.dumps(state, indent=2))
    os.replace(tmp, home / STATE_FILE)
    (home / PID_FILE).write_text(f"{os.getpid()}\n")
    log.info("agent %s: control plane on %s", config.agent_id, state["control"])
    print(f"agent {config.agent_id}: control plane on {state['control']}", flush=True)
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
                print(f"agent: reloaded {json.dumps(await service.reload())}", flush=True)
            except ConfigError as exc:
                log.error("reload refused, the running config stays: %s", exc.message)

    task = loop.create_task(reloader())
    try:
        await stop.wait()
    finally:
        task.cancel()
        await service.stop()
        await listeners.close()
        for leftover in (STATE_FILE, PID_FILE):
            try:
                (home / leftover).unlink()
            except OSError:
                pass
