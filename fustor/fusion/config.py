"""Fusion's configuration: receivers, views, fusion pipes (one home directory).

Layout of ``$FUSTOR_FUSION_HOME`` (default ``~/.fustor/fusion``)::

    receivers-config.yaml        receivers (bind, port, TLS, data-plane keys) and control keys
    views-config/NAME.yaml       one view per file; NAME is the view id
    fusion-pipes-config/NAME.yaml  one fusion pipe per file; binds a receiver to views

An old ``datastores-config.yaml`` is reported as obsolete: views and fusion
pipes replace datastores.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from fustor.core import ConfigError
from fustor.core.config import load_model, parse_yaml, validate_model
from fustor.views.fs import FSViewConfig

RECEIVERS_FILE = "receivers-config.yaml"
VIEWS_DIR = "views-config"
PIPES_DIR = "fusion-pipes-config"
OBSOLETE_DATASTORES = "datastores-config.yaml"


def default_home() -> Path:
    env = os.environ.get("FUSTOR_FUSION_HOME")
    return Path(env) if env else Path.home() / ".fustor" / "fusion"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DataKey(_Strict):
    key: str = Field(min_length=8)
    pipes: list[str] = Field(min_length=1, description="fusion pipes this key may feed")


class ControlKey(_Strict):
    key: str = Field(min_length=8)
    access: Literal["readonly", "admin"]


class TLSConfig(_Strict):
    cert: str
    key: str


class ReceiverConfig(_Strict):
    driver: Literal["websocket"] = "websocket"
    bind: str = "127.0.0.1"
    port: int = Field(7700, ge=0, le=65535)
    tls: TLSConfig | None = None
    keys: list[DataKey] = Field(default_factory=list)
    max_frame: int = Field(16 * 1024 * 1024, ge=64 * 1024, description="largest frame in bytes; bigger closes with 1009")


class ControlConfig(_Strict):
    keys: list[ControlKey] = Field(default_factory=list)


class ReceiversFile(_Strict):
    receivers: dict[str, ReceiverConfig] = Field(min_length=1)
    control: ControlConfig = Field(default_factory=ControlConfig)

    @model_validator(mode="after")
    def _keys_unique(self) -> "ReceiversFile":
        seen: dict[str, str] = {}
        for name, rc in self.receivers.items():
            for k in rc.keys:
                if k.key in seen:
                    raise ValueError(f"key used twice (receivers {seen[k.key]!r} and {name!r})")
                seen[k.key] = name
        for k in self.control.keys:
            if k.key in seen:
                raise ValueError("a control key may not also be a data-plane key")
            seen[k.key] = "control"
        return self


class ViewFile(FSViewConfig):
    model_config = ConfigDict(extra="forbid", frozen=True)
    driver: Literal["fs"] = "fs"

    def view_config(self) -> FSViewConfig:
        return FSViewConfig(**self.model_dump(exclude={"driver"}))


class PipeFile(_Strict):
    receiver: str
    views: list[str] = Field(min_length=1)
    queue_size: int = Field(64, ge=1, description="event batches queued before fusion stops acknowledging")
    session_timeout: float = Field(30.0, gt=0, description="server default; a session gets max(hint, this)")
    allow_realtime: bool = True


class FusionConfig(BaseModel):
    home: Path
    receivers: ReceiversFile
    views: dict[str, ViewFile]
    pipes: dict[str, PipeFile]
    warnings: list[str] = Field(default_factory=list)

    def files(self) -> list[str]:
        """Config file names relative to the home."""
        out = [RECEIVERS_FILE]
        out += [f"{VIEWS_DIR}/{n}.yaml" for n in sorted(self.views)]
        out += [f"{PIPES_DIR}/{n}.yaml" for n in sorted(self.pipes)]
        return out


def _dir_models(home: Path, sub: str, model):
    folder = home / sub
    out = {}
    if not folder.is_dir():
        return out
    for path in sorted(folder.iterdir()):
        if path.suffix not in (".yaml", ".yml") or path.name.startswith("."):
            continue
        out[path.stem] = load_model(model, path)
    return out


def check_references(cfg: FusionConfig) -> None:
    errors = []
    for name, pipe in cfg.pipes.items():
        where = f"{PIPES_DIR}/{name}.yaml"
        if pipe.receiver not in cfg.receivers.receivers:
            errors.append(f"{where}: receiver: unknown receiver {pipe.receiver!r} (known: {', '.join(sorted(cfg.receivers.receivers))})")
        for v in pipe.views:
            if v not in cfg.views:
                errors.append(f"{where}: views: unknown view {v!r} (known: {', '.join(sorted(cfg.views)) or 'none'})")
    for rname, rc in cfg.receivers.receivers.items():
        for k in rc.keys:
            for p in k.pipes:
                if p not in cfg.pipes:
                    errors.append(f"{RECEIVERS_FILE}: receivers.{rname}.keys: unknown pipe {p!r}")
                elif cfg.pipes[p].receiver != rname:
                    errors.append(f"{RECEIVERS_FILE}: receivers.{rname}.keys: pipe {p!r} belongs to receiver {cfg.pipes[p].receiver!r}")
    if errors:
        raise ConfigError("\n".join(errors), errors=errors)


def load_fusion_config(home: Path | None = None) -> FusionConfig:
    home = Path(home) if home is not None else default_home()
    if not home.is_dir():
        raise ConfigError(f"fusion home {home} does not exist (set FUSTOR_FUSION_HOME or pass --home)")
    warnings = []
    if (home / OBSOLETE_DATASTORES).exists():
        warnings.append(
            f"{home / OBSOLETE_DATASTORES} is obsolete and ignored: datastores became views. Move each "
            f"datastore to {VIEWS_DIR}/NAME.yaml and bind it to a receiver in {PIPES_DIR}/NAME.yaml "
            "(see config/fusion/ for a complete example)."
        )
    receivers_path = home / RECEIVERS_FILE
    if not receivers_path.exists():
        raise ConfigError(f"{receivers_path}: missing (every fusion home needs one)", file=str(receivers_path))
    cfg = FusionConfig(
        home=home,
        receivers=load_model(ReceiversFile, receivers_path),
        views=_dir_models(home, VIEWS_DIR, ViewFile),
        pipes=_dir_models(home, PIPES_DIR, PipeFile),
        warnings=warnings,
    )
    check_references(cfg)
    return cfg


def validate_file_text(home: Path, name: str, text: str) -> None:
    """Validate ``text`` as the content of config file ``name`` (and the whole home with it)."""
    source = name
    data = parse_yaml(text, source)
    parts = Path(name).parts
    if name == RECEIVERS_FILE:
        model = ReceiversFile
    elif len(parts) == 2 and parts[0] == VIEWS_DIR:
        model = ViewFile
    elif len(parts) == 2 and parts[0] == PIPES_DIR:
        model = PipeFile
    else:
        raise ConfigError(f"{name!r} is not a fusion config file ({RECEIVERS_FILE}, {VIEWS_DIR}/*.yaml, {PIPES_DIR}/*.yaml)")
    parsed = validate_model(model, data, source)
    # Cross-file references, with the candidate in place of the current file.
    current = load_fusion_config(home)
    stem = Path(name).stem
    if model is ReceiversFile:
        current.receivers = parsed
    elif model is ViewFile:
        current.views[stem] = parsed
    else:
        current.pipes[stem] = parsed
    check_references(current)
