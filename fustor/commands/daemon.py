"""``fustor fusion|agent start|stop|status|reload``: run and manage the two processes.

A process is found through its home: ``<home>/fusion.pid`` (``agent.pid``),
written by ``start``, and the state file the process writes once it listens
(``fusion.state.json``: pid and receiver urls; ``agent.state.json``: pid and
control url). A process started some other way (``python -m fustor.fusion``)
is found through its state file alone.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Callable, Optional

import typer

from .common import (
    EXIT_FAILED,
    EXIT_OK,
    EXIT_USAGE,
    CommandError,
    Tee,
    agent_home,
    console,
    control_keys,
    err,
    fail,
    file_size,
    fusion_home,
    guarded,
    human_duration,
    human_size,
    local_url,
    log_tail,
    pick_key,
    pid_alive,
    print_json,
    read_json,
    read_pid,
    remove_if_pid,
    wait_dead,
    write_pid,
)

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


@dataclass(frozen=True)
class Kind:
    """What differs between fusion and an agent."""

    name: str  # fusion | agent
    module: str  # python -m MODULE --home HOME
    state_file: str
    pid_file: str
    log_file: str
    keys_file: str  # the YAML file holding control.keys
    resolve_home: Callable[[Path | None], Path]

    def urls(self, state: dict[str, Any] | None) -> dict[str, str]:
        if not state:
            return {}
        if self.name == "fusion":
            recv = state.get("receivers")
            return {str(k): str(v) for k, v in recv.items()} if isinstance(recv, dict) else {}
        return {"control": str(state["control"])} if state.get("control") else {}

    def control_url(self, state: dict[str, Any] | None) -> str | None:
        urls = self.urls(state)
        if not urls:
            return None
        url = urls.get("main") or urls.get("control") or next(iter(urls.values()))
        return local_url(url)

    def keys(self, home: Path) -> list[tuple[str, str]]:
        return control_keys(home / self.keys_file)


FUSION = Kind("fusion", "fustor.fusion", "fusion.state.json", "fusion.pid", "fusion.log", "receivers-config.yaml",
              fusion_home)
AGENT = Kind("agent", "fustor.agent", "agent.state.json", "agent.pid", "agent.log", "agent.yaml", agent_home)


@dataclass
class Found:
    home: Path
    pid: int | None  # the live process, if any
    state: dict[str, Any] | None  # its state file, when it names that pid
    stale_pid: int | None  # a pid file naming a dead process


def find(kind: Kind, home: Path) -> Found:
    pid_path, state_path = home / kind.pid_file, home / kind.state_file
    file_pid = read_pid(pid_path)
    state = read_json(state_path)
    state_pid = state.get("pid") if state and isinstance(state.get("pid"), int) else None
    pid = None
    for candidate in (file_pid, state_pid):
        if candidate and pid_alive(candidate):
            pid = candidate
            break
    stale = file_pid if file_pid and not pid_alive(file_pid) else None
    return Found(home, pid, state if (state_pid is not None and state_pid == pid) else None, stale)


# --- start ------------------------------------------------------------------------


def _check_home(kind: Kind, home: Path) -> None:
    if not home.is_dir():
        env = "FUSTOR_FUSION_HOME" if kind is FUSION else "FUSTOR_AGENT_HOME"
        fail(f"{kind.name} home {home} does not exist (pass --home DIR or set {env})", EXIT_USAGE)


def _start(kind: Kind, home: Path, background: bool, log_level: str, wait: float, extra: list[str],
           serve: Callable[[Path], Any]) -> int:
    _check_home(kind, home)
    found = find(kind, home)
    if found.pid is not None:
        urls = " ".join(kind.urls(found.state).values())
        fail(f"{kind.name} is already running in {home} (pid {found.pid}{', ' + urls if urls else ''})")
    if found.stale_pid is not None:
        remove_if_pid(home / kind.pid_file, found.stale_pid)
    if background:
        return _start_background(kind, home, log_level, wait, extra)
    return _start_foreground(kind, home, log_level, serve)


def _start_foreground(kind: Kind, home: Path, log_level: str, serve: Callable[[Path], Any]) -> int:
    import asyncio

    from fustor.core import ConfigError

    log_path = home / kind.log_file
    log_file = open(log_path, "a", encoding="utf-8", buffering=1)
    root = logging.getLogger()
    handlers = [logging.StreamHandler(sys.stderr), logging.StreamHandler(log_file)]
    for h in handlers:
        h.setFormatter(logging.Formatter(LOG_FORMAT))
        root.addHandler(h)
    try:
        root.setLevel(log_level.upper())
    except ValueError:
        fail(f"unknown log level {log_level!r}", EXIT_USAGE)
    stdout = sys.stdout
    sys.stdout = Tee(stdout, log_file)  # the "listening on" lines go to the log too
    pid_path = home / kind.pid_file
    write_pid(pid_path, os.getpid())
    logging.getLogger("fustor.cli").info("%s starting in the foreground (pid %d), home %s", kind.name,
                                         os.getpid(), home)
    try:
        asyncio.run(serve(home))
    except ConfigError as exc:
        logging.getLogger("fustor.cli").error("%s", exc.message)
        return EXIT_USAGE
    except OSError as exc:  # a port in use, an unreadable certificate
        logging.getLogger("fustor.cli").error("%s could not start: %s", kind.name, exc)
        return EXIT_FAILED
    except KeyboardInterrupt:
        pass
    finally:
        sys.stdout = stdout
        remove_if_pid(pid_path, os.getpid())
        for h in handlers:
            root.removeHandler(h)
        log_file.close()
    return EXIT_OK


def _start_background(kind: Kind, home: Path, log_level: str, wait: float, extra: list[str]) -> int:
    log_path = home / kind.log_file
    state_path = home / kind.state_file
    remove_if_pid(state_path, None)  # no live process owns it (checked by the caller)
    offset = file_size(log_path)
    cmd = [sys.executable, "-m", kind.module, "--home", str(home), "--log-level", log_level, *extra]
    with open(log_path, "ab") as log:
        log.write(f"--- {time.strftime('%Y-%m-%d %H:%M:%S')} fustor {kind.name} start --background\n".encode())
        log.flush()
        proc = subprocess.Popen(
            cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            cwd=str(home), close_fds=True, env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )  # fmt: skip
    pid_path = home / kind.pid_file
    write_pid(pid_path, proc.pid)
    deadline = time.monotonic() + wait
    while True:
        rc = proc.poll()
        if rc is not None:
            remove_if_pid(pid_path, proc.pid)
            tail = log_tail(log_path, offset=offset)
            fail(f"{kind.name} exited with code {rc} while starting; the end of {log_path}:\n{tail}")
        state = read_json(state_path)
        if state and state.get("pid") == proc.pid:
            break
        if time.monotonic() >= deadline:
            _terminate(proc.pid, 5.0)
            remove_if_pid(pid_path, proc.pid)
            tail = log_tail(log_path, offset=offset)
            fail(f"{kind.name} did not report listening within {wait:g} s and was stopped; "
                 f"the end of {log_path}:\n{tail}")
        time.sleep(0.05)
    proc.returncode = 0  # it is the daemon's own business now; no "still running" warning from Popen
    typer.echo(f"{kind.name} started in the background (pid {proc.pid}), home {home}")
    for name, url in kind.urls(state).items():
        typer.echo(f"  {name}: {url}")
    typer.echo(f"  log: {log_path}")
    return EXIT_OK


# --- stop -------------------------------------------------------------------------


def _terminate(pid: int, timeout: float) -> str:
    """SIGTERM, wait, then SIGKILL; ``stopped`` or ``killed``."""
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return "stopped"
    if wait_dead(pid, timeout):
        return "stopped"
    try:
        if os.getpgid(pid) == pid:
            os.killpg(pid, signal.SIGKILL)  # a group we made: take its children too
        else:
            os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        return "stopped"
    wait_dead(pid, 5.0)
    return "killed"


def _stop(kind: Kind, home: Path, timeout: float) -> int:
    found = find(kind, home)
    if found.pid is None:
        cleaned = []
        if remove_if_pid(home / kind.pid_file, None):
            cleaned.append(kind.pid_file)
        if remove_if_pid(home / kind.state_file, None):
            cleaned.append(kind.state_file)
        note = f" (removed stale {', '.join(cleaned)})" if cleaned else ""
        typer.echo(f"{kind.name} is not running in {home}{note}")
        return EXIT_FAILED
    how = _terminate(found.pid, timeout)
    remove_if_pid(home / kind.pid_file, found.pid)
    remove_if_pid(home / kind.state_file, found.pid, json_pid=True)
    if how == "killed":
        typer.echo(f"{kind.name} (pid {found.pid}) did not stop within {timeout:g} s of SIGTERM; killed it")
    else:
        typer.echo(f"{kind.name} stopped (pid {found.pid})")
    return EXIT_OK


# --- status -----------------------------------------------------------------------


async def _control(url: str, key: str, op: str) -> dict[str, Any]:
    from fustor.client import ControlClient

    async with await ControlClient.connect(url, key, client=f"fustor-cli/{op}", open_timeout=5.0,
                                           request_timeout=30.0) as c:
        return await c.request(op)


def _ask(url: str, key: str, op: str) -> tuple[dict[str, Any] | None, str | None]:
    import asyncio

    from fustor.client import ClientError

    try:
        return asyncio.run(_control(url, key, op)), None
    except ClientError as exc:
        return None, str(exc)
    except OSError as exc:
        return None, str(exc)


def _status(kind: Kind, home: Path, key: str | None, as_json: bool) -> int:
    found = find(kind, home)
    urls = kind.urls(found.state)
    key = key or pick_key(kind.keys(home), "readonly")
    reply, problem = None, None
    url = kind.control_url(found.state)
    if found.pid is not None and url and key:
        reply, problem = _ask(url, key, "status")
    elif found.pid is not None and not key:
        problem = f"no control key (pass --key, or add one under control.keys in {home / kind.keys_file})"
    if as_json:
        print_json({"name": kind.name, "home": str(home), "running": found.pid is not None, "pid": found.pid,
                    "urls": urls, "log": str(home / kind.log_file), "stale_pid": found.stale_pid,
                    "status": reply, "error": problem})
        return EXIT_OK if found.pid is not None else EXIT_FAILED
    if found.pid is None:
        stale = f" (stale {kind.pid_file} names dead pid {found.stale_pid})" if found.stale_pid else ""
        typer.echo(f"{kind.name}: not running in {home}{stale}")
        return EXIT_FAILED
    typer.echo(f"{kind.name}: running (pid {found.pid}), home {home}")
    for name, u in urls.items():
        typer.echo(f"  {name}: {u}")
    if not urls:
        typer.echo("  (not listening yet: no state file)")
    if reply is not None:
        (_fusion_summary if kind is FUSION else _agent_summary)(reply)
    elif problem:
        typer.echo(f"  control plane: {problem}")
    return EXIT_OK


def _fusion_summary(st: dict[str, Any]) -> None:
    from rich.markup import escape
    from rich.table import Table

    out = console()
    out.print(f"  {st.get('server', '?')}, up {human_duration(st.get('uptime_s'))}")
    views = Table(title="views", title_justify="left", title_style="bold", box=None, header_style="dim",
                  show_edge=False, pad_edge=False)
    for col, just in (("view", "left"), ("ready", "left"), ("files", "right"), ("dirs", "right"),
                      ("size", "right"), ("suspects", "right"), ("blind +/-", "right"), ("leader", "left"),
                      ("events/s", "right")):
        views.add_column(col, justify=just)  # type: ignore[arg-type]
    for v in st.get("views", []):
        ready = "[green]yes[/]" if v.get("ready") else "[yellow]no[/]"
        views.add_row(v.get("view"), ready, str(v.get("files", 0)), str(v.get("dirs", 0)),
                      human_size(v.get("total_size")), str(v.get("suspects", 0)),
                      f"{v.get('blind_spot_additions', 0)}/{v.get('blind_spot_deletions', 0)}",
                      v.get("leader") or "-", str(v.get("events_per_s", 0)))
    out.print(views)
    for v in st.get("views", []):
        if not v.get("ready") and v.get("not_ready_reason"):
            out.print(f"  [yellow]{escape(str(v.get('view')))} not ready:[/] {escape(str(v['not_ready_reason']))}")
    for w in st.get("warnings") or ():
        out.print(f"  [yellow]warning:[/] {escape(str(w))}")
    sessions = st.get("sessions", [])
    if not sessions:
        out.print("  no agent sessions")
        return
    table = Table(title="sessions", title_justify="left", title_style="bold", box=None, header_style="dim",
                  show_edge=False, pad_edge=False)
    for col in ("session", "agent", "host", "pipe", "roles", "connected", "heartbeat", "rows"):
        table.add_column(col, no_wrap=col != "host")
    for s in sessions:
        roles = ", ".join(f"{r} of {v}" for v, r in sorted((s.get("roles") or {}).items())) or "-"
        table.add_row(s.get("session_id"), s.get("agent_id"), s.get("host") or "-", s.get("pipe"), roles,
                      "yes" if s.get("connected") else "[yellow]no[/]",
                      f"{human_duration(s.get('last_heartbeat_age'))} ago", str(s.get("rows_received", 0)))
    out.print(table)


def _agent_summary(st: dict[str, Any]) -> None:
    from rich.markup import escape
    from rich.table import Table

    out = console()
    out.print(f"  {st.get('server', '?')} {st.get('agent_id', '')}, up {human_duration(st.get('uptime_s'))}")
    pipes = st.get("pipes", [])
    if not pipes:
        out.print("  no pipes running")
        return
    table = Table(title="pipes", title_justify="left", title_style="bold", box=None, header_style="dim",
                  show_edge=False, pad_edge=False)
    for col in ("pipe", "fusion pipe", "state", "roles", "snapshot", "errors", "reconnects", "last error"):
        table.add_column(col, no_wrap=col != "last error", overflow="fold")
    for p in pipes:
        roles = ", ".join(f"{r} of {v}" for v, r in sorted((p.get("roles") or {}).items())) or "-"
        snap = "done" if p.get("snapshot_done") else f"{p.get('snapshot_rows', 0)} rows"
        last = p.get("last_error")
        table.add_row(p.get("pipe"), p.get("fusion_pipe"), str(p.get("state")), roles, snap, str(p.get("errors", 0)),
                      str(p.get("reconnects", 0)), escape(str(last)) if last else "-")
    out.print(table)
    for w in st.get("warnings") or ():
        out.print(f"  [yellow]warning:[/] {escape(str(w))}")


# --- reload -----------------------------------------------------------------------


def _reload(kind: Kind, home: Path, key: str | None, use_signal: bool, as_json: bool) -> int:
    found = find(kind, home)
    if found.pid is None:
        fail(f"{kind.name} is not running in {home}")
    key = key or pick_key(kind.keys(home), "admin")
    url = kind.control_url(found.state)
    note = None
    if key and url and not use_signal:
        import asyncio

        from fustor.client import ClientError, RemoteError

        try:
            result = asyncio.run(_control(url, key, "reload"))
        except RemoteError as exc:
            if exc.code == "config_invalid" or exc.code == "invalid":
                if as_json:
                    print_json({"reloaded": False, "via": "control", "error": {"code": exc.code,
                                                                              "message": exc.message}})
                fail(f"reload refused, the running config stays:\n{exc.message}")
            note = f"control-plane reload failed ({exc}); sending SIGHUP instead"
        except (ClientError, OSError) as exc:
            note = f"control plane unreachable ({exc}); sending SIGHUP instead"
        else:
            if as_json:
                print_json({"reloaded": True, "via": "control", "pid": found.pid, "result": result})
            else:
                _print_reload(kind, result)
            return EXIT_OK
    if note:
        err(f"fustor {kind.name} reload: {note}")
    log_path = home / kind.log_file
    offset = file_size(log_path)
    os.kill(found.pid, signal.SIGHUP)
    # The process logs the outcome; show it when it comes quickly.
    line, deadline = None, time.monotonic() + 5.0
    while line is None and time.monotonic() < deadline:
        for ln in log_tail(log_path, offset=offset, lines=200).splitlines():
            if "reloaded" in ln or "reload refused" in ln:
                line = ln
                break
        else:
            time.sleep(0.05)
    refused = line is not None and "reload refused" in line
    if as_json:
        print_json({"reloaded": not refused if line else None, "via": "SIGHUP", "pid": found.pid, "log_line": line})
    else:
        typer.echo(f"sent SIGHUP to {kind.name} (pid {found.pid})")
        typer.echo(f"  {line}" if line else f"  (no outcome logged yet; see {log_path})")
    return EXIT_FAILED if refused else EXIT_OK


def _print_reload(kind: Kind, result: dict[str, Any]) -> None:
    changed = {k: v for k, v in result.items() if v}
    if not changed:
        typer.echo(f"{kind.name} reloaded: nothing changed")
        return
    typer.echo(f"{kind.name} reloaded:")
    for k, v in changed.items():
        typer.echo(f"  {k.replace('_', ' ')}: {', '.join(map(str, v)) if isinstance(v, list) else v}")


# --- the typer apps -----------------------------------------------------------------

HomeOpt = Annotated[Optional[Path], typer.Option(
    "--home", help="The config home (default: $FUSTOR_FUSION_HOME or $FUSTOR_AGENT_HOME, else ~/.fustor/NAME).",
    metavar="DIR", show_default=False)]
KeyOpt = Annotated[Optional[str], typer.Option("--key", help="A control key (default: one from the home's config).",
                                               show_default=False)]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")]
BackgroundOpt = Annotated[bool, typer.Option("--background", "-b", help="Detach: run in its own session, log to "
                                             "the home's log file, return once it listens.")]
LogLevelOpt = Annotated[str, typer.Option("--log-level", help="DEBUG, INFO, WARNING or ERROR.")]
WaitOpt = Annotated[float, typer.Option("--wait", help="With --background: seconds to wait for it to listen.")]
TimeoutOpt = Annotated[float, typer.Option("--timeout", help="Seconds between SIGTERM and SIGKILL.")]
SignalOpt = Annotated[bool, typer.Option("--signal", help="Send SIGHUP even when a control key is available.")]

_EXITS = (
    "Exit status: start: 0 started (or ran and stopped), 1 already running or died while starting, 2 bad home; "
    "stop: 0 stopped, 1 nothing was running; status: 0 running, 1 not running; reload: 0 reloaded, 1 not running "
    "or the new config was refused."
)


def _make_app(kind: Kind, home_help: str, start: Callable[..., None]) -> typer.Typer:
    app = typer.Typer(
        help=f"Start, stop and inspect the {kind.name} process.\n\n{home_help}\n\n{_EXITS}",
        no_args_is_help=True,
    )
    prog = f"fustor {kind.name}"
    app.command("start")(start)

    @app.command("stop")
    def stop(home: HomeOpt = None, timeout: TimeoutOpt = 10.0) -> None:
        """Stop it: SIGTERM, then SIGKILL after --timeout seconds. Exit 1 if nothing was running."""
        guarded(f"{prog} stop", lambda: _stop(kind, kind.resolve_home(home), timeout))

    @app.command("status")
    def status(home: HomeOpt = None, key: KeyOpt = None, as_json: JsonOpt = False) -> None:
        """Is it running? Its pid and urls and, with a control key, a summary from its control plane."""
        guarded(f"{prog} status", lambda: _status(kind, kind.resolve_home(home), key, as_json))

    @app.command("reload")
    def reload(home: HomeOpt = None, key: KeyOpt = None, use_signal: SignalOpt = False,
               as_json: JsonOpt = False) -> None:
        """Re-read the config home: through the control plane with an admin key (shows what changed), else SIGHUP."""
        guarded(f"{prog} reload", lambda: _reload(kind, kind.resolve_home(home), key, use_signal, as_json))

    return app


def fusion_start(home: HomeOpt = None, background: BackgroundOpt = False, log_level: LogLevelOpt = "INFO",
                 wait: WaitOpt = 30.0) -> None:
    """Run fusion: in the foreground (logs to stderr and <home>/fusion.log) or, with --background, detached."""

    def serve(h: Path) -> Any:
        from fustor.fusion.app import serve_fusion

        return serve_fusion(h)

    guarded("fustor fusion start",
            lambda: _start(FUSION, FUSION.resolve_home(home), background, log_level, wait, [], serve))


def agent_start(
    home: HomeOpt = None, background: BackgroundOpt = False, log_level: LogLevelOpt = "INFO", wait: WaitOpt = 30.0,
    backoff: Annotated[Optional[float], typer.Option("--backoff", help="First reconnect delay in seconds "
                                                     "(default 1).", show_default=False)] = None,
) -> None:  # fmt: skip
    """Run an agent: in the foreground (logs to stderr and <home>/agent.log) or, with --background, detached."""
    if backoff is not None and backoff <= 0:
        err("fustor agent start: --backoff must be positive")
        raise typer.Exit(EXIT_USAGE)

    def serve(h: Path) -> Any:
        from fustor.agent.app import serve_agent

        return serve_agent(h, backoff_initial=backoff if backoff is not None else 1.0)

    extra = ["--backoff", str(backoff)] if backoff is not None else []
    guarded("fustor agent start",
            lambda: _start(AGENT, AGENT.resolve_home(home), background, log_level, wait, extra, serve))


fusion_app = _make_app(FUSION, "The home defaults to $FUSTOR_FUSION_HOME, else ~/.fustor/fusion.", fusion_start)
agent_app = _make_app(AGENT, "The home defaults to $FUSTOR_AGENT_HOME, else ~/.fustor/agent.", agent_start)


__all__ = ["AGENT", "FUSION", "CommandError", "Found", "Kind", "agent_app", "find", "fusion_app"]
