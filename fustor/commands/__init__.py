"""The ``fustor`` sub-commands, one module each, registered by :mod:`fustor.cli`.

* :mod:`.daemon`  ``fustor fusion|agent start|stop|status|reload``
* :mod:`.query`   ``fustor query ls|tree|stats|summary|search|suspects|blind-spots``
* :mod:`.config`  ``fustor config migrate``
* :mod:`.demo`    ``fustor demo``

Modules import the heavy parts (the client, asyncio, the services) inside the
commands, so that ``fustor --help`` stays quick.
"""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add every command group of this package to the top-level app."""
    from .config import app as config_app
    from .daemon import agent_app, fusion_app
    from .demo import demo_command
    from .query import app as query_app

    app.add_typer(fusion_app, name="fusion")
    app.add_typer(agent_app, name="agent")
    app.add_typer(query_app, name="query")
    app.add_typer(config_app, name="config")
    app.command("demo")(demo_command)
