"""The cost of the wire's codec and of per-message compression on one event batch.

Builds the ``events`` frame an agent sends for ``--rows`` FS rows and times
encode and decode with the stdlib ``json`` and with ``orjson``; what fusion
does with the frame, decode plus row validation, both ways it can
(``orjson`` then ``fustor.schema.validate_rows``, or the typed msgspec decode
of ``fustor.transport.wire.decode_events``); and deflate
with the settings websockets uses for permessage-deflate (12-bit window,
memLevel 5, default level). Best of 5 repeats. Ends with one JSON line.
The figures back the choices written down in docs/protocol.md §11.

    python benchmarks/wire_codec.py [--rows 1000]
"""

from __future__ import annotations

import argparse
import json
import sys
import timeit
import zlib

import orjson

from fustor.core.events import EventBase, EventType, MessageSource
from fustor.schema import make_row, validate_rows
from fustor.transport import wire


def frame(n: int) -> dict:
    rows = [
        make_row(
            f"/archive/submissions/S{i // 100:04d}/data/file_{i:06d}.fastq.gz", "file", size=123_456_789 + i,
            mtime=1.7e9 + i * 0.37, ctime=1.7e9 + i * 0.41, inode=1_000_000 + i, mode=0o100644, uid=1000, gid=1000,
            parent_mtime=1.7e9, parent_ctime=1.7e9 + 0.5, parent_ino=99, is_atomic_write=True,
        )  # fmt: skip
        for i in range(n)
    ]
    event = EventBase("fs", "1.0", EventType.UPDATE, MessageSource.REALTIME, 1_700_000_000_000, rows)
    return {"id": 42, "op": "events", "session_id": "agent-a-1-4f1c2a9e", "seq": 17, "event": event.to_dict()}


def best_ms(fn, number: int) -> float:
    return min(timeit.repeat(fn, number=number, repeat=5)) / number * 1e3


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=1000)
    ap.add_argument("--number", type=int, default=100, help="calls per timing repeat")
    args = ap.parse_args(argv)
    msg = frame(args.rows)
    as_json = json.dumps(msg)
    as_orjson = orjson.dumps(msg)
    n = args.number

    def deflate() -> bytes:
        c = zlib.compressobj(zlib.Z_DEFAULT_COMPRESSION, zlib.DEFLATED, -12, 5)
        return c.compress(as_orjson) + c.flush(zlib.Z_SYNC_FLUSH)

    compressed = deflate()
    out = {
        "rows": args.rows,
        "frame_bytes": len(as_orjson),
        "json_encode_ms": best_ms(lambda: json.dumps(msg), n),
        "json_decode_ms": best_ms(lambda: json.loads(as_json), n),
        "orjson_encode_ms": best_ms(lambda: orjson.dumps(msg), n),
        "orjson_decode_ms": best_ms(lambda: orjson.loads(as_orjson), n),
        "orjson_decode_validate_ms": best_ms(lambda: validate_rows(orjson.loads(as_orjson)["event"]["rows"]), n),
        "typed_decode_validate_ms": best_ms(lambda: validate_rows(wire.decode_events(as_orjson)["event"]["rows"]), n),
        "deflate_ms": best_ms(deflate, max(1, n // 2)),
        "inflate_ms": best_ms(lambda: zlib.decompressobj(-12).decompress(compressed), max(1, n // 2)),
        "deflated_bytes": len(compressed),
    }
    out["decode_ratio"] = out["json_decode_ms"] / out["orjson_decode_ms"]
    out["encode_ratio"] = out["json_encode_ms"] / out["orjson_encode_ms"]
    out["typed_ratio"] = out["orjson_decode_validate_ms"] / out["typed_decode_validate_ms"]
    print(
        f"{args.rows} rows, {len(as_orjson):,} bytes: decode json {out['json_decode_ms']:.2f} ms, orjson "
        f"{out['orjson_decode_ms']:.2f} ms ({out['decode_ratio']:.1f}x); encode json {out['json_encode_ms']:.2f} ms, "
        f"orjson {out['orjson_encode_ms']:.2f} ms ({out['encode_ratio']:.1f}x); deflate {out['deflate_ms']:.2f} ms "
        f"+ inflate {out['inflate_ms']:.2f} ms to {len(compressed):,} bytes"
    )
    print(
        f"decode + validate: orjson then validate_rows {out['orjson_decode_validate_ms']:.2f} ms, typed msgspec "
        f"decode {out['typed_decode_validate_ms']:.2f} ms ({out['typed_ratio']:.1f}x)"
    )
    print(json.dumps({k: round(v, 4) if isinstance(v, float) else v for k, v in out.items()}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
