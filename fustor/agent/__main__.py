"""``python -m fustor.agent --home DIR``: run an agent in the foreground."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from pathlib import Path

from fustor.core import ConfigError

from .app import serve_agent
from .config import default_home


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m fustor.agent")
    parser.add_argument("--home", type=Path, default=None)
    parser.add_argument("--log-level", default="INFO")
    parser.add_argument("--backoff", type=float, default=1.0, help="first reconnect delay (s)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # One line per console query or agent connection is noise at INFO.
    logging.getLogger("websockets.server").setLevel(logging.WARNING)
    try:
        asyncio.run(serve_agent(args.home or default_home(), backoff_initial=args.backoff))
    except ConfigError as exc:
        print(f"agent: {exc.message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
