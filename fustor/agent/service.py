"""The agent process: its pipes, their shared sources, and its control plane.

The control plane (``/api/v1/control``) is the same protocol fusion serves;
an agent answers ``status``, ``subscribe`` and the config ops, so the
console can attach to it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from fustor import __version__
from fustor.core import ConfigError, FustorError
from fustor.core.config import resolve_in_home, write_atomic
from fustor.transport import wire
from fustor.transport.protocol import Grant
from fustor.transport.wire import Code, WireError

from .config import AgentConfig, load_agent_config, validate_file_text
from .pipe import AgentPipe
from .source import SourceDriver

log = logging.getLogger("fustor.agent")

SERVER_NAME = f"fustor-agent/{__version__}"


class AgentService:
    def __init__(self, config: AgentConfig, *, backoff_initial: float = 1.0) -> None:
        self.config = config
        self.started = time.time()
        self.backoff_initial = backoff_initial
        self.sources: dict[str, SourceDriver] = {}
        self.pipes: dict[str, AgentPipe] = {}
        self.subscribers: set[Any] = set()
        self.log_lines: list[dict] = []
        self._auth: dict[str, Grant] = {}
        self._ticker: asyncio.Task | None = None
        self.listeners: Any = None
        self._rebuild_auth()

    def _rebuild_auth(self) -> None:
        self._auth = {k.key: Grant(k.access) for k in self.config.agent.control.keys}

    def authenticate(self, plane: str, key: str) -> Grant | None:
        return self._auth.get(key) if plane == "control" else None

    def _source(self, name: str, bus_capacity: int) -> SourceDriver:
        src = self.sources.get(name)
        if src is None:
            src = self.sources[name] = SourceDriver(name, self.config.sources[name], bus_capacity)
        return src

    def _make_pipe(self, name: str) -> AgentPipe:
        pc = self.config.pipes[name]
        src = self._source(pc.source, pc.bus_capacity)
        return AgentPipe(name, pc, src, self.config.senders[pc.sender], self.config.agent_id,
                         backoff_initial=self.backoff_initial)

    async def start(self) -> None:
        for w in self.config.warnings:
            self._log("warning", w)
        for name, pc in self.config.pipes.items():
            if pc.enabled:
                self.pipes[name] = self._make_pipe(name)
                self.pipes[name].start()
        self._ticker = asyncio.get_running_loop().create_task(self._tick())

    async def stop(self) -> None:
        if self._ticker is not None:
            self._ticker.cancel()
        for p in list(self.pipes.values()):
            await p.stop()
        self.pipes.clear()
        for s in self.sources.values():
            s.close()

    def _log(self, level: str, message: str) -> None:
        getattr(log, level)(message)
        line = {"at": time.time(), "level": level, "message": message}
        self.log_lines.append(line)
        del self.log_lines[:-200]
        for peer in list(self.subscribers):
            peer.send(wire.push("log", **line))

    async def _tick(self) -> None:
        while True:
            await asyncio.sleep(0.5)
            if self.subscribers:
                st = self.status()
                for peer in list(self.subscribers):
                    peer.send(wire.push("status", **st))

    def status(self) -> dict:
        return {
            "server": SERVER_NAME, "agent_id": self.config.agent_id, "started_at": self.started,
            "uptime_s": time.time() - self.started,
            "pipes": [p.status() for _, p in sorted(self.pipes.items())],
            "sources": {n: s.stats() for n, s in sorted(self.sources.items())},
            "warnings": list(self.config.warnings),
        }  # fmt: skip

    # --- control plane --------------------------------------------------------------

    async def dispatch(self, peer: Any, req_id: Any, op: str, msg: dict) -> Any:
        try:
            if op == "status":
                return self.status()
            if op == "subscribe":
                self.subscribers.add(peer)
                return {"subscribed": True, "status": self.status(), "log": self.log_lines[-50:]}
            if op == "unsubscribe":
                self.subscribers.discard(peer)
                return {"subscribed": False}
            if op == "config.list":
                home = self.config.home
                return {"home": str(home), "files": [{"name": n, "size": (home / n).stat().st_size}
                                                      for n in self.config.files()]}
            if op == "config.read":
                path = resolve_in_home(self.config.home, msg["name"])
                if not path.exists():
                    raise WireError(Code.NOT_FOUND, f"no config file {msg['name']!r}")
                return {"name": msg["name"], "text": path.read_text(encoding="utf-8")}
            if op == "config.validate":
                resolve_in_home(self.config.home, msg["name"])
                try:
                    validate_file_text(self.config.home, msg["name"], msg["text"])
                except ConfigError as exc:
                    return {"valid": False, "message": exc.message, "errors": exc.details.get("errors") or [
                        {"key": "", "message": ln} for ln in exc.message.splitlines()]}
                return {"valid": True}
            if op == "config.write":
                path = resolve_in_home(self.config.home, msg["name"])
                validate_file_text(self.config.home, msg["name"], msg["text"])
                write_atomic(path, msg["text"])
                self._log("info", f"config {msg['name']} written through the control plane")
                return {"written": msg["name"], "reload": await self.reload()}
            if op == "reload":
                return await self.reload()
        except FustorError as exc:
            code = Code.CONFIG_INVALID if exc.code == "config_invalid" else Code.INVALID
            raise WireError(code, exc.message, **exc.details) from None
        raise WireError(Code.UNKNOWN_OP, f"op {op!r} is served by fusion, not by an agent")

    def peer_gone(self, peer: Any) -> None:
        self.subscribers.discard(peer)

    async def reload(self) -> dict:
        """Re-read the home; restart only the pipes whose source, sender or settings changed."""
        new = load_agent_config(self.config.home)
        old = self.config
        out: dict[str, list[str]] = {"pipes_added": [], "pipes_removed": [], "pipes_restarted": []}
        self.config = new
        for name in list(self.pipes):
            pc = new.pipes.get(name)
            changed = (pc is None or not pc.enabled or pc != old.pipes.get(name)
                       or new.sources.get(pc.source) != old.sources.get(pc.source)
                       or new.senders.get(pc.sender) != old.senders.get(pc.sender))
            if not changed:
                continue
            await self.pipes.pop(name).stop()
            if pc is None or not pc.enabled:
                out["pipes_removed"].append(name)
        for name in list(self.sources):
            if self.sources[name].refs <= 0:
                self.sources.pop(name).close()
        for name, pc in new.pipes.items():
            if pc.enabled and name not in self.pipes:
                self.pipes[name] = self._make_pipe(name)
                self.pipes[name].start()
                (out["pipes_restarted"] if name in old.pipes else out["pipes_added"]).append(name)
        self._rebuild_auth()
        self._log("info", "reloaded: " + (", ".join(f"{k} {v}" for k, v in out.items() if v) or "nothing changed"))
        return out
