"""Where ``fustor tui`` attaches: a URL and a key, found from a config home.

* default: the local fusion. Its home (``--home``, ``$FUSTOR_FUSION_HOME`` or
  ``~/.fustor/fusion``) holds ``fusion.state.json`` (written by the running
  process: the URL of each receiver; the control plane is served on each) and
  ``receivers-config.yaml`` (control keys: ``control.keys[].key/access``).
* ``--agent``: the local agent. Its home (``$FUSTOR_AGENT_HOME`` or
  ``~/.fustor/agent``) holds ``agent.state.json`` (``control``: the URL) and
  ``agent.yaml`` (``control.keys``).
* ``--connect ws://host:port --key KEY``: anything, anywhere.

An admin key is preferred (edits and rescans need one) unless ``readonly``
asks for a read-only key; the console is read-only whenever the key is.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from fustor.core import ConfigError
from fustor.core.config import parse_yaml

# The process modules define these too (fustor.fusion.app / .config, fustor.agent.app /
# .config); a unit test keeps them equal without the console importing the processes.
FUSION_STATE_FILE = "fusion.state.json"
AGENT_STATE_FILE = "agent.state.json"
FUSION_KEYS_FILE = "receivers-config.yaml"
AGENT_KEYS_FILE = "agent.yaml"


class AttachError(Exception):
    """Nothing to attach to, with what to do about it."""


@dataclass(frozen=True)
class Target:
    url: str
    key: str
    kind: str  # fusion | agent | unknown
    access: str | None  # the key's access when known from a config file
    home: Path | None = None


def fusion_home(home: Path | None = None) -> Path:
    if home is not None:
        return Path(home)
    env = os.environ.get("FUSTOR_FUSION_HOME")
    return Path(env) if env else Path.home() / ".fustor" / "fusion"


def agent_home(home: Path | None = None) -> Path:
    if home is not None:
        return Path(home)
    env = os.environ.get("FUSTOR_AGENT_HOME")
    return Path(env) if env else Path.home() / ".fustor" / "agent"


def _read_state(path: Path, what: str) -> dict:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise AttachError(f"{path} does not exist: is the {what} running with this home? (start it, or pass "
                          f"--connect ws://HOST:PORT --key KEY)") from None
    except (OSError, ValueError) as exc:
        raise AttachError(f"{path}: cannot read the {what}'s state file: {exc}") from None


def control_keys(path: Path) -> list[tuple[str, str]]:
    """``(key, access)`` of the control keys in a fusion ``receivers-config.yaml`` or an ``agent.yaml``."""
    try:
        data = parse_yaml(path.read_text(encoding="utf-8"), str(path))
    except OSError as exc:
        raise AttachError(f"{path}: cannot read the control keys: {exc.strerror}") from None
    except ConfigError as exc:
        raise AttachError(exc.message) from None
    keys = ((data or {}).get("control") or {}).get("keys") or [] if isinstance(data, dict) else []
    out = []
    for k in keys:
        if isinstance(k, dict) and isinstance(k.get("key"), str):
            out.append((k["key"], str(k.get("access") or "readonly")))
    return out


def pick_key(keys: list[tuple[str, str]], readonly: bool, where: Path) -> tuple[str, str]:
    if not keys:
        raise AttachError(f"{where} has no control keys (control: keys: - key: ..., access: admin); add one or "
                          "pass --key")
    order = ("readonly", "admin") if readonly else ("admin", "readonly")
    for wanted in order:
        for key, access in keys:
            if access == wanted:
                return key, access
    return keys[0]


def resolve(*, connect: str | None = None, key: str | None = None, agent: bool = False, home: Path | None = None,
            readonly: bool = False) -> Target:  # fmt: skip
    """The target of ``fustor tui`` with these options (see the module doc)."""
    if connect:
        if not key:
            # A local home may still know a key for it.
            h = agent_home(home) if agent else fusion_home(home)
            keys_file = h / (AGENT_KEYS_FILE if agent else FUSION_KEYS_FILE)
            if not keys_file.exists():
                raise AttachError("--connect needs --key KEY (no local config home to take a key from)")
            key, access = pick_key(control_keys(keys_file), readonly, keys_file)
            return Target(connect, key, "agent" if agent else "unknown", access, h)
        return Target(connect, key, "agent" if agent else "unknown", None, None)
    if agent:
        h = agent_home(home)
        state = _read_state(h / AGENT_STATE_FILE, "agent")
        url = state.get("control")
        if not isinstance(url, str):
            raise AttachError(f"{h / AGENT_STATE_FILE} names no control URL")
        if key:
            return Target(url, key, "agent", None, h)
        k, access = pick_key(control_keys(h / AGENT_KEYS_FILE), readonly, h / AGENT_KEYS_FILE)
        return Target(url, k, "agent", access, h)
    h = fusion_home(home)
    state = _read_state(h / FUSION_STATE_FILE, "fusion")
    receivers = state.get("receivers") or {}
    if not isinstance(receivers, dict) or not receivers:
        raise AttachError(f"{h / FUSION_STATE_FILE} names no receiver URL")
    url = receivers.get("main") or next(iter(receivers.values()))
    if key:
        return Target(url, key, "fusion", None, h)
    k, access = pick_key(control_keys(h / FUSION_KEYS_FILE), readonly, h / FUSION_KEYS_FILE)
    return Target(url, k, "fusion", access, h)
