"""``python -m fustor.fusion --home DIR``: run fusion in the foreground."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from pathlib import Path

from fustor.core import ConfigError

from .app import serve_fusion
from .config import default_home


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m fustor.fusion")
    parser.add_argument("--home", type=Path, default=None)
    parser.add_argument("--log-level", default="INFO")
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # One line per console query or agent connection is noise at INFO.
    logging.getLogger("websockets.server").setLevel(logging.WARNING)
    try:
        asyncio.run(serve_fusion(args.home or default_home()))
    except ConfigError as exc:
        print(f"fusion: {exc.message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
