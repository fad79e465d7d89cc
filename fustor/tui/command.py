"""The ``fustor tui`` command (Textual is imported only when it runs)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer


def tui_command(
    connect: Annotated[
        Optional[str], typer.Option("--connect", help="Attach to ws://HOST:PORT (fusion or agent) instead of the "
                                    "local fusion.", metavar="URL")
    ] = None,
    key: Annotated[Optional[str], typer.Option("--key", help="The control key (with --connect, or to override "
                                               "the home's).", metavar="KEY")] = None,
    agent: Annotated[bool, typer.Option("--agent", help="Attach to the local agent (its home's agent.state.json "
                                        "and agent.yaml).")] = False,
    home: Annotated[
        Optional[Path], typer.Option("--home", help="The config home to read the URL and key from (default "
                                     "$FUSTOR_FUSION_HOME or ~/.fustor/fusion; with --agent $FUSTOR_AGENT_HOME or "
                                     "~/.fustor/agent).", metavar="DIR")
    ] = None,
    readonly: Annotated[bool, typer.Option("--readonly", help="No config writes and no rescans (also implied by "
                                           "a read-only key).")] = False,
    start: Annotated[
        Optional[str], typer.Option("--screen", help="The first screen: overview, sessions, pipes, browser, "
                                    "search, config (fusion); agent, config (agent).", metavar="NAME")
    ] = None,
    demo: Annotated[bool, typer.Option("--fake", help="Show fixed sample data instead of attaching (no process "
                                       "needed).", hidden=True)] = False,
) -> None:
    """The operator console: views, sessions, pipes, a view browser, search and config edits."""
    from .app import FustorApp
    from .attach import AttachError, resolve
    from .connection import ConnectionManager

    if demo:
        from .screenshots import make_app

        make_app("agent" if agent else "fusion", start=start, readonly=readonly).run()
        return
    try:
        target = resolve(connect=connect, key=key, agent=agent, home=home, readonly=readonly)
    except AttachError as exc:
        typer.echo(f"fustor tui: {exc}", err=True)
        raise typer.Exit(2) from None
    source = ConnectionManager(target.url, target.key)
    kind = target.kind if target.kind in ("fusion", "agent") else "fusion"
    FustorApp(source, kind=kind, readonly=readonly or target.access == "readonly", start=start).run()


__all__ = ["tui_command"]
