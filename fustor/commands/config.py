"""``fustor config ...``: maintenance of config homes."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from .common import EXIT_FAILED, EXIT_OK, EXIT_USAGE, CommandError, agent_home, guarded

app = typer.Typer(help="Maintain config homes.", no_args_is_help=True)


def _migrate(home: Path) -> int:
    from fustor.agent.config import OLD_PIPES_DIR, OLD_SENDERS_FILE, migrate
    from fustor.core import ConfigError

    if not home.is_dir():
        raise CommandError(f"agent home {home} does not exist (pass --home DIR or set FUSTOR_AGENT_HOME)", EXIT_USAGE)
    try:
        done = migrate(home)
    except ConfigError as exc:
        raise CommandError(f"{home}: the migrated home does not load:\n{exc.message}", EXIT_FAILED) from None
    if not done:
        typer.echo(f"nothing to migrate in {home}")
        return EXIT_OK
    typer.echo(f"migrated {home}:")
    for line in done:
        typer.echo(f"  {line}")
    kept = [n for n in (OLD_SENDERS_FILE + ".migrated", OLD_PIPES_DIR + ".migrated") if (home / n).exists()]
    if kept:
        typer.echo(f"the old files are kept as {', '.join(kept)}; remove them once the agent runs")
    return EXIT_OK


@app.command("migrate")
def migrate_command(
    home: Annotated[Optional[Path], typer.Option("--home", help="The agent home (default $FUSTOR_AGENT_HOME, else "
                                                 "~/.fustor/agent).", metavar="DIR", show_default=False)] = None,
) -> None:
    """Rewrite an agent home's old file names: pushers-config.yaml (pushers:) becomes senders-config.yaml
    (senders:), syncs-config/ (pusher:) becomes agent-pipes-config/ (sender:). Comments are kept.

    Exit status: 0 migrated or nothing to do, 1 the result does not load, 2 no such home.
    """
    guarded("fustor config migrate", lambda: _migrate(agent_home(home)))
