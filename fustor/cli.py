"""The ``fustor`` command.

The top-level app only holds global options; each command lives in its own
module and is registered here: ``replay`` below, and the process, query,
config and demo commands from :mod:`fustor.commands` (``register``), each a
sub-app (``fustor fusion start``) or a single command (``fustor demo``).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from fustor import __version__

app = typer.Typer(
    name="fustor",
    help="A live, arbitrated metadata index of shared NFS storage.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"fustor {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    """A live, arbitrated metadata index of shared NFS storage.

    A callback keeps this a group even while it has one command, so that
    ``fustor replay FILE`` keeps its shape as commands are added.
    """


@app.command("replay")
def replay_command(
    file: Annotated[str, typer.Argument(help="A JSON-lines recording ('-' reads standard input).", metavar="FILE")],
    explain: Annotated[
        bool, typer.Option("--explain", help="Add every arbitration decision, with the line that caused it.")
    ] = False,
    view_config: Annotated[
        Optional[Path],
        typer.Option(
            "--view-config",
            help="A YAML or JSON file of view settings; they override the recording's config line.",
            metavar="FILE",
        ),
    ] = None,
    pretty: Annotated[bool, typer.Option("--pretty/--compact", help="Indented or one-line JSON.")] = True,
) -> None:
    """Feed a recorded event stream through an FS view and print the resulting view as JSON.

    Exit status: 0 when every line applied, 1 when some line was refused (see
    "errors" in the output), 2 when the recording or the view config cannot be read.
    """
    from fustor.replay import EXIT_UNREADABLE, ReplayFileError, load_view_config, replay_file

    try:
        overrides = load_view_config(view_config) if view_config is not None else None
        result = replay_file(file, explain=explain, view_config=overrides)
    except ReplayFileError as exc:
        typer.echo(f"fustor replay: {exc.message}", err=True)
        raise typer.Exit(EXIT_UNREADABLE) from None
    try:
        sys.stdout.buffer.write(result.to_json(pretty))
        sys.stdout.buffer.flush()
    except BrokenPipeError:  # `fustor replay x | head`: the reader left; not an error of ours
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        raise typer.Exit(result.exit_code) from None
    if result.errors:
        n = len(result.errors)
        first = result.errors[0]
        typer.echo(
            f"fustor replay: {n} line(s) refused; first: line {first['line']}: {first['code']}: {first['message']}",
            err=True,
        )
    raise typer.Exit(result.exit_code)


from fustor.commands import register as _register_commands  # noqa: E402

_register_commands(app)


from fustor.tui.command import tui_command as _tui_command  # noqa: E402  (Textual loads only when it runs)

app.command("tui")(_tui_command)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
