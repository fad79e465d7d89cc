"""The agent's configuration home.

``$FUSTOR_AGENT_HOME`` (default ``~/.fustor/agent``)::

    agent.yaml                   optional: agent_id, control plane (bind, port, keys)
    sources-config.yaml          what to watch (a shared tree per source)
    senders-config.yaml          where to send (a fusion, or echo)
    agent-pipes-config/NAME.yaml one pipe per file: a source bound to a sender

The old names ``pushers-config.yaml`` (``pushers:``) and ``syncs-config/``
(``pusher:``) still load, with a deprecation warning; ``fustor config
migrate`` rewrites them under the new names.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from fustor.core import ConfigError
from fustor.core.config import load_model, parse_yaml, validate_model

AGENT_FILE = "agent.yaml"
SOURCES_FILE = "sources-config.yaml"
SENDERS_FILE = "senders-config.yaml"
PIPES_DIR = "agent-pipes-config"
OLD_SENDERS_FILE = "pushers-config.yaml"
OLD_PIPES_DIR = "syncs-config"


def default_home() -> Path:
    env = os.environ.get("FUSTOR_AGENT_HOME")
    return Path(env) if env else Path.home() / ".fustor" / "agent"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ControlKey(_Strict):
    key: str = Field(min_length=8)
    access: Literal["readonly", "admin"]


class AgentControl(_Strict):
    bind: str = "127.0.0.1"
    port: int = Field(7710, ge=0, le=65535)
    keys: list[ControlKey] = Field(default_factory=list)


class AgentFile(_Strict):
    agent_id: str | None = None
    control: AgentControl = Field(default_factory=AgentControl)

    def control_listener(self):
        """The control endpoint in the shape the websocket listeners take."""
        from types import SimpleNamespace

        return SimpleNamespace(bind=self.control.bind, port=self.control.port, tls=None)


class SourceConfig(_Strict):
    driver: Literal["fs"] = "fs"
    uri: str = Field(description="root of the shared tree on this host")
    include: list[str] = Field(default_factory=list)
    exclude: list[str] = Field(default_factory=list)
    watch_limit: int = Field(100_000, ge=1)
    realtime_backend: Literal["auto", "inotify", "watchfiles"] = "auto"
    snapshot_workers: int = Field(1, ge=1, le=64)
    audit_max_stats_per_s: float = Field(0, ge=0, description="0: unthrottled")
    prescan: bool = True


class SourcesFile(_Strict):
    sources: dict[str, SourceConfig] = Field(default_factory=dict)


class SenderConfig(_Strict):
    driver: Literal["websocket", "echo"] = "websocket"
    url: str | None = None
    key: str | None = None
    timeout_hint: float = Field(30.0, gt=0)

    @model_validator(mode="after")
    def _ws_needs_url_key(self) -> "SenderConfig":
        if self.driver == "websocket" and (not self.url or not self.key):
            raise ValueError("a websocket sender needs url and key")
        if self.url and not self.url.startswith(("ws://", "wss://")):
            raise ValueError("url must start with ws:// or wss://")
        return self


class SendersFile(_Strict):
    senders: dict[str, SenderConfig] = Field(default_factory=dict)


class AgentPipeConfig(_Strict):
    source: str
    sender: str
    pipe_id: str | None = Field(None, description="the fusion pipe to feed (default: this file's name)")
    batch_size: int = Field(1000, ge=1, le=50_000, description="rows per realtime or audit batch")
    listing_batch_size: int = Field(
        4000, ge=1, le=200_000,
        description="entries per snapshot or on-demand batch; grouped by directory an entry is about 85 bytes on the "
                    "wire against about 400 for a row, so 4000 make a frame the size of 1000 rows",
    )
    bus_capacity: int = Field(10_000, ge=100)
    max_unacked: int = Field(64, ge=1, description="batches in flight before the sender waits")
    enabled: bool = True


class AgentConfig(BaseModel):
    home: Path
    agent: AgentFile
    sources: dict[str, SourceConfig]
    senders: dict[str, SenderConfig]
    pipes: dict[str, AgentPipeConfig]
    warnings: list[str] = Field(default_factory=list)

    @property
    def agent_id(self) -> str:
        return self.agent.agent_id or f"{socket.gethostname()}-agent"

    def files(self) -> list[str]:
        out = []
        for name in (AGENT_FILE, SOURCES_FILE, SENDERS_FILE):
            if (self.home / name).exists():
                out.append(name)
        out += [f"{PIPES_DIR}/{n}.yaml" for n in sorted(self.pipes) if (self.home / PIPES_DIR / f"{n}.yaml").exists()]
        return out


def _load_old_senders(path: Path) -> SendersFile:
    data = parse_yaml(path.read_text(encoding="utf-8"), str(path)) or {}
    if isinstance(data, dict) and "pushers" in data:
        data = {"senders": data["pushers"]}
    return validate_model(SendersFile, data, str(path))


def _load_pipe(path: Path) -> AgentPipeConfig:
    data = parse_yaml(path.read_text(encoding="utf-8"), str(path)) or {}
    if isinstance(data, dict) and "pusher" in data and "sender" not in data:
        data = dict(data)
        data["sender"] = data.pop("pusher")
    return validate_model(AgentPipeConfig, data, str(path))


def check_references(cfg: AgentConfig) -> None:
    errors = []
    for name, p in cfg.pipes.items():
        where = f"{PIPES_DIR}/{name}.yaml"
        if p.source not in cfg.sources:
            errors.append(f"{where}: source: unknown source {p.source!r} (known: {', '.join(sorted(cfg.sources)) or 'none'})")
        if p.sender not in cfg.senders:
            errors.append(f"{where}: sender: unknown sender {p.sender!r} (known: {', '.join(sorted(cfg.senders)) or 'none'})")
    pairs: dict[tuple[str, str], str] = {}
    for name, p in cfg.pipes.items():
        if (p.source, p.sender) in pairs:
            errors.append(f"{PIPES_DIR}/{name}.yaml: the pair (source {p.source}, sender {p.sender}) is already "
                          f"used by pipe {pairs[(p.source, p.sender)]!r}; a source/sender pair is unique")
        pairs[(p.source, p.sender)] = name
    if errors:
        raise ConfigError("\n".join(errors), errors=errors)


def load_agent_config(home: Path | None = None) -> AgentConfig:
    home = Path(home) if home is not None else default_home()
    if not home.is_dir():
        raise ConfigError(f"agent home {home} does not exist (set FUSTOR_AGENT_HOME or pass --home)")
    warnings = []
    agent = load_model(AgentFile, home / AGENT_FILE) if (home / AGENT_FILE).exists() else AgentFile()
    sources = load_model(SourcesFile, home / SOURCES_FILE).sources if (home / SOURCES_FILE).exists() else {}
    if (home / SENDERS_FILE).exists():
        senders = load_model(SendersFile, home / SENDERS_FILE).senders
    elif (home / OLD_SENDERS_FILE).exists():
        senders = _load_old_senders(home / OLD_SENDERS_FILE).senders
        warnings.append(f"{OLD_SENDERS_FILE} is deprecated: it is now {SENDERS_FILE} (run `fustor config migrate`)")
    else:
        senders = {}
    pipes: dict[str, AgentPipeConfig] = {}
    for folder, old in ((home / PIPES_DIR, False), (home / OLD_PIPES_DIR, True)):
        if not folder.is_dir():
            continue
        if old:
            warnings.append(f"{OLD_PIPES_DIR}/ is deprecated: it is now {PIPES_DIR}/ (run `fustor config migrate`)")
        for path in sorted(folder.iterdir()):
            if path.suffix in (".yaml", ".yml") and not path.name.startswith(".") and path.stem not in pipes:
                pipes[path.stem] = _load_pipe(path)
    cfg = AgentConfig(home=home, agent=agent, sources=sources, senders=senders, pipes=pipes, warnings=warnings)
    check_references(cfg)
    return cfg


def validate_file_text(home: Path, name: str, text: str) -> None:
    data = parse_yaml(text, name)
    parts = Path(name).parts
    current = load_agent_config(home)
    if name == AGENT_FILE:
        current.agent = validate_model(AgentFile, data, name)
    elif name == SOURCES_FILE:
        current.sources = validate_model(SourcesFile, data, name).sources
    elif name == SENDERS_FILE:
        current.senders = validate_model(SendersFile, data, name).senders
    elif len(parts) == 2 and parts[0] == PIPES_DIR:
        current.pipes[Path(name).stem] = validate_model(AgentPipeConfig, data, name)
    else:
        raise ConfigError(f"{name!r} is not an agent config file")
    check_references(current)


def migrate(home: Path) -> list[str]:
    """Rewrite the old file names under the new ones (comments kept); returns what was done."""
    done = []
    old = home / OLD_SENDERS_FILE
    if old.exists() and not (home / SENDERS_FILE).exists():
        text = old.read_text(encoding="utf-8")
        lines = text.splitlines(keepends=True)
        out = [("senders:" + ln[len("pushers:"):]) if ln.startswith("pushers:") else ln for ln in lines]
        (home / SENDERS_FILE).write_text("".join(out), encoding="utf-8")
        old.rename(home / (OLD_SENDERS_FILE + ".migrated"))
        done.append(f"{OLD_SENDERS_FILE} -> {SENDERS_FILE}")
    old_dir = home / OLD_PIPES_DIR
    if old_dir.is_dir():
        new_dir = home / PIPES_DIR
        new_dir.mkdir(exist_ok=True)
        for path in sorted(old_dir.iterdir()):
            if path.suffix not in (".yaml", ".yml") or (new_dir / path.name).exists():
                continue
            lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
            out = [("sender:" + ln[len("pusher:"):]) if ln.startswith("pusher:") else ln for ln in lines]
            (new_dir / path.name).write_text("".join(out), encoding="utf-8")
            done.append(f"{OLD_PIPES_DIR}/{path.name} -> {PIPES_DIR}/{path.name}")
        old_dir.rename(home / (OLD_PIPES_DIR + ".migrated"))
    load_agent_config(home)  # the result must load
    return done
