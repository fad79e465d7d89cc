"""benchmarks/view_ingest.py runs end to end on a small archive and ends with its JSON line.

No timing is asserted: this only keeps the benchmark from rotting.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "view_ingest.py"

KEYS = (
    "snapshot_events_per_s", "snapshot_hot10_events_per_s", "realtime_events_per_s", "bytes_per_entry",
    "tree_200_ms_p50", "summary_uuid_ms_p50", "stats_root_ms_p50", "search_uuid_ms_p50",
    "gc_pause_ms_max", "dict_insert_events_per_s",
)  # fmt: skip
# A view that keeps its nodes out of the cyclic collector may see no
# collection at all in a small run, so a pause of 0 is a valid figure.
MAY_BE_ZERO = {"gc_pause_ms_max"}


def test_view_ingest_small_run_ends_with_its_figures():
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--files", "5000", "--batch", "500"],
        capture_output=True, text=True, timeout=120, cwd=SCRIPT.parents[1],
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.strip().splitlines()
    assert len(lines) > 1, "human-readable lines come before the JSON"
    figures = json.loads(lines[-1])
    assert isinstance(figures, dict)
    for key in KEYS:
        assert key in figures, key
        value = figures[key]
        assert isinstance(value, (int, float)) and not isinstance(value, bool), (key, value)
        assert math.isfinite(value), (key, value)
        if key in MAY_BE_ZERO:
            assert value >= 0, (key, value)
        else:
            assert value > 0, (key, value)
    assert figures["files"] == 5000
    assert figures["hot10_suspects"] > 0


REPORT = SCRIPT.parent / "report.py"
REPORT_KEYS = (
    "find_discovery_ms_p50", "fustor_discovery_ms_p50", "discovery_ratio", "find_integrity_ms_p50",
    "fustor_integrity_ms_p50", "fustor_integrity_correct", "find_integrity_correct", "fustor_qps", "find_qps",
)  # fmt: skip


def test_report_quick(tmp_path):
    """benchmarks/report.py on a tiny tree (3 roots, 3,000 files, no other benchmarks): ~30 s.

    Bindfs mounts when FUSE is there, the fallback without; either way the
    report, the JSON file and the last-line figures must come out.
    """
    md, js = tmp_path / "REPORT.md", tmp_path / "report.json"
    proc = subprocess.run(
        [sys.executable, str(REPORT), "--quick", "--skip-others", "--files", "3000", "--discovery-samples", "10",
         "--integrity-samples", "10", "--qps-seconds", "1", "--fuse-find-samples", "1", "--window", "1",
         "--md", str(md), "--json", str(js), "--no-readme"],
        capture_output=True, text=True, timeout=110, cwd=SCRIPT.parents[1],
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    figures = json.loads(proc.stdout.strip().splitlines()[-1])
    for key in REPORT_KEYS:
        value = figures[key]
        assert isinstance(value, (int, float)) and not isinstance(value, bool), (key, value)
        assert math.isfinite(value) and value >= 0, (key, value)
    assert figures["files"] == 3000 and figures["roots"] == 3
    assert md.read_text().startswith("# Fustor against `find`")
    assert json.loads(js.read_text())["integrity_samples"] == figures["integrity_samples"]
