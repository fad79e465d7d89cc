"""``fustor demo``: fusion, an agent and a changing sample tree on one machine.

The demo copies ``config/demo/`` (a fusion home and an agent home template)
into a working directory, writes a sample tree in the data-archive layout,
starts fusion and then the agent (each ``python -m ...`` in its own process
group, logging into its home), waits for the view to be ready, prints how to
look at it, and keeps changing the tree until Ctrl-C or SIGTERM; then it
stops both process groups and removes the working directory (unless
``--keep``).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from .common import (
    EXIT_FAILED,
    EXIT_OK,
    EXIT_USAGE,
    CommandError,
    guarded,
    human_size,
    log_tail,
    read_json,
    write_pid,
)

MARKER = ".fustor-demo"
READONLY_KEY = "demo-readonly-key-change-me"
VIEW = "archive"
START_TIMEOUT = 30.0


def demo_config_dir() -> Path:
    """``config/demo`` of the source tree (or ``$FUSTOR_DEMO_CONFIG``)."""
    env = os.environ.get("FUSTOR_DEMO_CONFIG")
    candidates = [Path(env)] if env else []
    candidates.append(Path(__file__).resolve().parents[2] / "config" / "demo")
    candidates.append(Path(sys.prefix) / "share" / "fustor" / "config" / "demo")
    for c in candidates:
        if (c / "fusion").is_dir() and (c / "agent").is_dir():
            return c
    raise CommandError(f"the demo configuration is missing (looked in {', '.join(map(str, candidates))}); "
                       "set FUSTOR_DEMO_CONFIG to a copy of config/demo", EXIT_FAILED)


def _workdir(dir_opt: Path | None) -> tuple[Path, bool]:
    """The working directory and whether we made it (temporary)."""
    if dir_opt is None:
        return Path(tempfile.mkdtemp(prefix="fustor-demo-")), True
    d = dir_opt.expanduser().absolute()
    if d.exists():
        if not d.is_dir():
            raise CommandError(f"{d} is not a directory", EXIT_USAGE)
        entries = [p for p in d.iterdir()]
        if entries and not (d / MARKER).exists():
            raise CommandError(f"{d} is not empty and not a demo directory; pass an empty or new one", EXIT_USAGE)
        for p in entries:  # an earlier demo's directory (--keep): start afresh
            shutil.rmtree(p) if p.is_dir() and not p.is_symlink() else p.unlink()
    d.mkdir(parents=True, exist_ok=True)
    (d / MARKER).write_text("made by fustor demo; removed with it unless --keep\n")
    return d, False


def _cleanup(d: Path, temporary: bool) -> None:
    if temporary:
        shutil.rmtree(d, ignore_errors=True)
        return
    for name in ("fusion", "agent", "data", MARKER):
        p = d / name
        if p.is_dir():
            shutil.rmtree(p, ignore_errors=True)
        elif p.exists():
            p.unlink()
    try:
        d.rmdir()
    except OSError:
        pass


def _fill(folder: Path, values: dict[str, str]) -> None:
    for f in folder.rglob("*.yaml"):
        text = f.read_text(encoding="utf-8")
        new = text
        for k, v in values.items():
            new = new.replace(k, v)
        if new != text:
            f.write_text(new, encoding="utf-8")


def _pdeathsig() -> None:  # pragma: no cover - runs in the child
    """Linux: the child gets SIGTERM if the demo dies without cleaning up."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except Exception:
        pass


class _Stopped(Exception):
    """A signal came while the demo was starting."""


class Child:
    def __init__(self, name: str, home: Path, module: str, extra: list[str], state_file: str, pid_file: str,
                 log_file: str) -> None:
        self.name, self.home, self.state_path = name, home, home / state_file
        self.pid_path, self.log_path = home / pid_file, home / log_file
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", module, "--home", str(home), *extra], stdin=subprocess.DEVNULL, stdout=log,
                stderr=subprocess.STDOUT, start_new_session=True, cwd=str(home),
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
                preexec_fn=_pdeathsig if sys.platform.startswith("linux") else None,
            )  # fmt: skip
        write_pid(self.pid_path, self.proc.pid)

    def died(self) -> str | None:
        rc = self.proc.poll()
        if rc is None:
            return None
        return f"{self.name} exited with code {rc}; the end of {self.log_path}:\n{log_tail(self.log_path)}"

    async def wait_state(self, stop: asyncio.Event) -> dict[str, Any]:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            why = self.died()
            if why:
                raise CommandError(why, EXIT_FAILED)
            state = read_json(self.state_path)
            if state and state.get("pid") == self.proc.pid:
                return state
            if stop.is_set():
                raise _Stopped
            if time.monotonic() > deadline:
                raise CommandError(f"{self.name} did not start within {START_TIMEOUT:g} s; the end of "
                                   f"{self.log_path}:\n{log_tail(self.log_path)}", EXIT_FAILED)
            await asyncio.sleep(0.05)

    async def stop(self, timeout: float = 5.0) -> None:
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            deadline = time.monotonic() + timeout
            while self.proc.poll() is None and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
        try:  # the group, even when its leader is gone
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        if self.proc.poll() is None:
            self.proc.wait(5)
        try:
            self.pid_path.unlink()
        except OSError:
            pass


def _fustor_cmd() -> str:
    if shutil.which("fustor"):
        return "fustor"
    script = Path(sys.executable).parent / "fustor"
    return str(script) if script.exists() else f"{sys.executable} -m fustor"


def _has_command(name: str) -> bool:
    from fustor.cli import app

    names = {g.name for g in app.registered_groups}
    names |= {c.name or (c.callback.__name__ if c.callback else None) for c in app.registered_commands}
    return name in names


def _instructions(d: Path, url: str, agent_url: str, files: int, sample: str | None) -> str:
    f = _fustor_cmd()
    conn = f"--connect {url} --key {READONLY_KEY}"
    lines = [
        "",
        f"fustor demo is running: fusion on {url}, agent control plane on {agent_url}",
        f"  sample tree: {d / 'data'} ({files} files under upload/submit; a writer keeps changing it)",
        f"  working directory: {d} (logs: fusion/fusion.log, agent/agent.log)",
        "",
        "Look at it from another terminal:",
        f"  {f} query ls /upload/submit {conn}",
        f"  {f} query tree /upload/submit --depth 3 {conn}",
        f"  {f} query suspects {conn}",
        f"  {f} query search 'sub_*' --kind dir {conn}",
    ]
    if sample:
        lines.append(f"  {f} query summary {sample} {conn}    # exit 0 complete, 3 writing")
    lines += [
        f"  {f} fusion status --home {d / 'fusion'}",
        f"  {f} agent status --home {d / 'agent'}",
    ]
    if _has_command("tui"):
        lines.append(f"  {f} tui {conn}")
    else:
        lines.append(f"  (once the console exists: {f} tui {conn})")
    lines += ["", "Ctrl-C stops the demo.", ""]
    return "\n".join(lines)


async def _wait_ready(client: Any, stop: asyncio.Event, children: list[Child]) -> dict[str, Any] | None:
    deadline = time.monotonic() + START_TIMEOUT
    last = None
    while time.monotonic() < deadline and not stop.is_set():
        for c in children:
            why = c.died()
            if why:
                raise CommandError(why, EXIT_FAILED)
        st = await client.status()
        view = next((v for v in st.get("views", []) if v.get("view") == VIEW), None)
        if view and view.get("ready"):
            return view
        reason = view.get("not_ready_reason") if view else "no view"
        if reason != last:
            print(f"waiting for the view: {reason}", flush=True)
            last = reason
        await asyncio.sleep(0.2)
    return None


async def _writer(tree: Any, interval: float) -> None:
    while True:
        tree.step()
        await asyncio.sleep(interval)


async def _demo(d: Path, interval: float, seed: int | None) -> int:
    from fustor.client import ClientError, ControlClient

    from .demo_tree import SampleTree

    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    cfg = demo_config_dir()
    fusion_home, agent_home, data = d / "fusion", d / "agent", d / "data"
    shutil.copytree(cfg / "fusion", fusion_home)
    shutil.copytree(cfg / "agent", agent_home)
    tree = SampleTree(data, seed=seed)
    files = tree.build()
    print(f"fustor demo: sample tree of {files} files in {data}"
          f"{' (sparse files: sizes are apparent)' if tree.sparse else ''}", flush=True)
    children: list[Child] = []
    client = None
    writer = None
    code = EXIT_OK
    try:
        fusion = Child("fusion", fusion_home, "fustor.fusion", [], "fusion.state.json", "fusion.pid", "fusion.log")
        children.append(fusion)
        receivers = (await fusion.wait_state(stop))["receivers"]
        url = receivers.get("main") or next(iter(receivers.values()))
        _fill(agent_home, {"__SOURCE_URI__": str(data), "__FUSION_URL__": url})
        agent = Child("agent", agent_home, "fustor.agent", ["--backoff", "0.5"], "agent.state.json", "agent.pid",
                      "agent.log")
        children.append(agent)
        agent_url = (await agent.wait_state(stop))["control"]
        client = await ControlClient.connect(url, READONLY_KEY, client="fustor-demo")
        view = await _wait_ready(client, stop, children)
        if stop.is_set():
            return EXIT_OK
        if view is None:
            print("the view is not ready yet; queries answer with exit code 6 until it is", flush=True)
        sample = None
        if tree.complete:
            sample = "/" + str(tree.complete[0].path.relative_to(data))
        print(_instructions(d, url, agent_url, files, sample), flush=True)
        writer = loop.create_task(_writer(tree, interval))
        next_line = time.monotonic() + 5.0
        while not stop.is_set():
            try:
                await asyncio.wait_for(stop.wait(), 0.25)
            except TimeoutError:
                pass
            for c in children:
                why = c.died()
                if why:
                    print(f"fustor demo: {why}", file=sys.stderr, flush=True)
                    code = EXIT_FAILED
                    stop.set()
            if writer.done() and not stop.is_set():
                exc = writer.exception()
                print(f"fustor demo: the writer failed: {exc!r}", file=sys.stderr, flush=True)
                code = EXIT_FAILED
                stop.set()
            if not stop.is_set() and time.monotonic() >= next_line:
                next_line = time.monotonic() + 5.0
                try:
                    st = await client.status()
                except ClientError as exc:
                    print(f"{time.strftime('%H:%M:%S')} fusion: {exc}", flush=True)
                    continue
                v = next((x for x in st.get("views", []) if x.get("view") == VIEW), {})
                n = tree.counts
                print(f"{time.strftime('%H:%M:%S')} view {VIEW}: {v.get('files', 0)} files, {v.get('dirs', 0)} dirs, "
                      f"{human_size(v.get('total_size'))}, {v.get('suspects', 0)} suspect, "
                      f"{v.get('blind_spot_additions', 0)} blind | writer so far: "
                      + " ".join(f"{k}={n[k]}" for k in ("uploads", "files", "appends", "renames", "deletes")),
                      flush=True)
        return code
    except _Stopped:
        return EXIT_OK
    finally:
        if writer is not None:
            writer.cancel()
        tree.close()
        if client is not None:
            try:
                await asyncio.wait_for(client.close(), 2.0)
            except Exception:
                pass
        for c in reversed(children):
            await c.stop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
        print("fustor demo: stopped", flush=True)


def demo_command(
    dir: Annotated[Optional[Path], typer.Option("--dir", help="Working directory (default: a new temporary one). "
                                                "It must be empty, new, or an earlier demo's.", metavar="DIR",
                                                show_default=False)] = None,
    keep: Annotated[bool, typer.Option("--keep", help="Keep the working directory (homes, logs, tree) at exit.")]
    = False,
    interval: Annotated[float, typer.Option("--interval", help="Seconds between two changes of the writer.",
                                            min=0.01)] = 0.4,
    seed: Annotated[Optional[int], typer.Option("--seed", help="Seed of the sample tree and the writer.",
                                                show_default=False)] = None,
) -> None:  # fmt: skip
    """Run fusion and an agent on one machine over a sample tree that keeps changing.

    Prints the URL, a read-only key and the commands to look at the view; stops both processes on
    Ctrl-C or SIGTERM. Exit status: 0 stopped by a signal, 1 a process died, 2 bad --dir.
    """

    def run() -> int:
        d, temporary = _workdir(dir)
        try:
            return asyncio.run(_demo(d, interval, seed))
        except KeyboardInterrupt:
            return EXIT_OK
        finally:
            if keep:
                print(f"fustor demo: kept {d}", flush=True)
            else:
                _cleanup(d, temporary)

    guarded("fustor demo", run)
