"""What the reliability tests share: waiting for the agents, reading a process's memory."""

from __future__ import annotations

import time
from pathlib import Path

from fustor.testing.cluster import Cluster


def sleep_until(t: float) -> None:
    """Sleep until ``time.monotonic()`` reaches ``t`` (at once if it has)."""
    delay = t - time.monotonic()
    if delay > 0:
        time.sleep(delay)


def live_sessions(c: Cluster, hosts: tuple[str, ...] = ("A", "B")) -> dict[str, str] | None:
    """``{host: session id}`` once every agent of ``hosts`` runs a session fusion has and one of them leads."""
    status = c.status()
    fusion_sessions = {s["session_id"] for s in status["sessions"]}
    out = {}
    for h in hosts:
        pipe = c.agent_status(h)["pipes"][0]
        sid = pipe.get("session_id")
        if pipe["state"] != "running" or sid not in fusion_sessions:
            return None
        out[h] = sid
    view = next(v for v in status["views"] if v["view"] == "v")
    if view["leader"] not in out.values():
        return None  # a dead agent's session still leads until it times out
    return out


def wait_agents_up(c: Cluster, hosts: tuple[str, ...] = ("A", "B"), timeout: float = 40.0) -> dict[str, str]:
    sessions = c.wait_until(lambda: live_sessions(c, hosts), timeout, f"agents {hosts} to run sessions, one leading",
                            interval=0.1)  # fmt: skip
    c.wait_ready(timeout)
    return sessions


def proc_status_kib(pid: int, field: str) -> int:
    """A ``/proc/PID/status`` field in KiB (``VmRSS``, ``VmHWM``)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")
