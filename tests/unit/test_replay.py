"""fustor replay: the recording format, the bundled examples and the command."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import orjson
import pytest
from typer.testing import CliRunner

from fustor.cli import app
from fustor.replay import (
    EXIT_OK,
    EXIT_REFUSED,
    EXIT_UNREADABLE,
    MONOTONIC_BASE,
    ReplayFileError,
    Replayer,
    replay_file,
    replay_lines,
)
from fustor.schema import make_row

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples" / "replay"
FUSTOR = Path(sys.executable).parent / "fustor"


def _generator():
    spec = importlib.util.spec_from_file_location("fustor_replay_examples", EXAMPLES / "generate.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def gen():
    return _generator()


def run(name: str, **kw):
    return replay_file(EXAMPLES / name, explain=True, **kw)


def node(out: dict, path: str) -> dict | None:
    return next((n for n in out["nodes"] if n["path"] == path), None)


def decisions(out: dict, path: str) -> list[tuple[int, str, str, str]]:
    return [(d["line"], d["source"], d["decision"], d["reason"]) for d in out["decisions"] if d["path"] == path]


def recording_lines(name: str) -> list[dict]:
    return [orjson.loads(x) for x in (EXAMPLES / name).read_bytes().splitlines() if x.strip()]


# --- a tiny recording builder for the tests below ------------------------------------

T = 1_732_000_000.0  # storage clock; fusion is 2 s ahead in these recordings


def rec(*lines: dict) -> list[bytes]:
    return [orjson.dumps(x) for x in lines]


def L(at: float, op: str, **fields) -> dict:
    return {"at": at, "op": op, **fields}


def ev(source: str, rows: list[dict], type_: str = "insert", **extra) -> dict:
    return {"schema": "fs", "schema_version": "1.0", "type": type_, "source": source,
            "index": int(T * 1000), "rows": rows, **extra}  # fmt: skip


def listed(path: str, kind: str = "file", *, t: float, ino: int, pt: float, pino: int, size: int = 10, **kw) -> dict:
    return make_row(path, kind, size=size if kind == "file" else 0, mtime=t, ctime=t, inode=ino,
                    parent_mtime=pt, parent_ctime=pt, parent_ino=pino, **kw)  # fmt: skip


def realtime(path: str, *, t: float, ino: int, pt: float, atomic: bool = True, size: int = 10, mtime=None) -> dict:
    return make_row(path, "file", size=size, mtime=t if mtime is None else mtime, ctime=t, inode=ino,
                    parent_mtime=pt, parent_ctime=pt, is_atomic_write=atomic)  # fmt: skip


def snapshot_of_d(at: float) -> list[dict]:
    """Session s1 opens and snapshots /d (inode 500) holding /d/a (inode 501)."""
    return [
        L(at, "session_start", session="s1"),
        L(at + 0.1, "event", session="s1", event=ev("snapshot", [
            listed("/d", "dir", t=T - 100, ino=500, pt=T - 200, pino=2),
            listed("/d/a", t=T - 100, ino=501, pt=T - 100, pino=500),
        ])),  # fmt: skip
        L(at + 0.2, "snapshot_end", session="s1"),
    ]


# --- the bundled examples -------------------------------------------------------------


def test_examples_are_what_the_generator_writes(gen):
    rendered = gen.render()
    assert sorted(rendered) == sorted(p.name for p in EXAMPLES.glob("*.jsonl"))
    for name, data in rendered.items():
        assert (EXAMPLES / name).read_bytes() == data, f"{name} is stale: run python examples/replay/generate.py"


@pytest.mark.parametrize("name", ["blind-spot-create.jsonl", "cp-p-during-audit.jsonl", "zombie-refused.jsonl", "mixed.jsonl"])
def test_examples_rows_are_realistic(name):
    """Every row has an inode and a ctime; listed rows carry parent_ino, realtime rows never do."""
    for line in recording_lines(name):
        if line["op"] != "event":
            continue
        event = line["event"]
        for row in event["rows"]:
            if event["type"] == "delete":
                assert row.get("parent_ctime") and row.get("parent_mtime")
                continue
            assert row["inode"] and row["ctime"] and row["mode"] and "uid" in row
            if row["path"] != "/":
                assert row.get("parent_ctime") and row.get("parent_mtime")
            scan = event["source"] == "realtime" and "parent_ino" in row
            if event["source"] != "realtime" or scan:
                assert row["path"] == "/" or row.get("parent_ino"), row
            else:
                assert "parent_ino" not in row and isinstance(row["is_atomic_write"], bool)


@pytest.mark.parametrize("name", ["blind-spot-create.jsonl", "cp-p-during-audit.jsonl", "zombie-refused.jsonl", "mixed.jsonl"])
def test_examples_apply_cleanly(name):
    result = run(name)
    assert result.exit_code == EXIT_OK
    assert result.errors == []
    assert result.output["lines"]["refused"] == 0


def test_blind_spot_create():
    out = run("blind-spot-create.jsonl").output
    path = "/projects/sub-1042/reads_R2.fastq.gz"
    r2 = node(out, path)
    assert r2 is not None
    assert r2["blind_spot"] is True
    assert r2["known_by_agent"] is False
    assert r2["suspect"] is True
    assert r2["last_updated_at"] == 0  # no realtime confirmation ever
    assert out["blind_spots"] == {"additions": [path], "deletions": []}
    assert [s["path"] for s in out["suspects"]] == [path]
    # the audit wrote it (C5.5) ...
    assert (6, "audit", "apply", "new entry") in decisions(out, path)
    # ... the sentinel was handed it and found it still growing (C10: renew)
    assert out["sentinel"][0] == {"line": 8, "tasks": [path]}
    assert (9, "sentinel", "renew", "changed since it was marked") in decisions(out, path)
    assert r2["size"] == 2_576_980_377
    # everything the snapshot saw stays vouched for
    for n in out["nodes"]:
        if n["path"] != path:
            assert n["known_by_agent"] and not n["blind_spot"] and not n["suspect"], n
    (report,) = out["audits"]
    assert report["alias"] == "A1" and report["deleted"] == [] and report["dirs_judged"] == 4


def test_blind_spot_create_is_suspect_because_hot():
    """With a hot threshold below the file's age the same audit row is not suspect (C5.5 'when hot')."""
    result = replay_file(EXAMPLES / "blind-spot-create.jsonl", explain=True,
                         view_config={"hot_file_threshold": 5, "sentinel_interval": 1})  # fmt: skip
    out = result.output
    r2 = node(out, "/projects/sub-1042/reads_R2.fastq.gz")
    assert r2["blind_spot"] and not r2["suspect"]
    assert out["sentinel"][0]["tasks"] == []
    assert out["debug"]["suspects"] == 0


def test_cp_p_during_audit_is_not_deleted():
    out = run("cp-p-during-audit.jsonl").output
    lines = recording_lines("cp-p-during-audit.jsonl")
    audit_started = next(x["at"] for x in lines if x["op"] == "audit_start")
    path = "/projects/sub-2001/raw.tar"
    raw = node(out, path)
    assert raw is not None, "the audit end deleted a file realtime confirmed during the audit (C6)"
    assert raw["mtime"] == pytest.approx(1699963200.713402)  # cp -p kept the old mtime ...
    assert raw["ctime"] > audit_started - 2  # ... the ctime is new
    assert raw["known_by_agent"] and not raw["blind_spot"]
    # C6(a): realtime confirmed it after the audit began
    assert raw["last_updated_at"] > audit_started
    assert all(d[2] != "delete" for d in decisions(out, path))
    (report,) = out["audits"]
    assert path not in report["deleted"]
    assert sum(report["spared"].values()) >= 1
    # the same audit end still deletes what a host without an agent removed
    assert report["deleted"] == ["/projects/sub-2002/old.log"]
    assert node(out, "/projects/sub-2002/old.log") is None
    assert out["blind_spots"]["deletions"] == ["/projects/sub-2002/old.log"]
    assert [t["path"] for t in out["tombstones"]] == ["/projects/sub-2002/old.log"]
    assert (9, "audit", "delete", "missing from a complete listing (C6)") in decisions(out, "/projects/sub-2002/old.log")
    # the attribute change (cp -p setting the mtime back) is a partial write: suspect until vouched for (C1)
    assert raw["suspect"]
    # the fresh content writes taught fusion the 2 s skew; the restored mtime was not sampled
    assert out["skew"] == 2


def test_c6a_alone_spares_a_file_a_stale_listing_missed():
    """The listing shows a newer directory version than realtime saw, yet misses the file
    (NFS readdir cache stale, attributes fresh): only C6(a) can spare it."""
    lines = [
        *snapshot_of_d(T + 2),
        L(T + 10, "audit_start", session="s1", **{"as": "A"}),
        # created on a watched host after the audit began
        L(T + 12, "event", session="s1", event=ev("realtime", [realtime("/d/new", t=T + 10, ino=502, pt=T + 10)])),
        # a host without an agent chmods /d afterwards: its ctime moves to T+11
        L(T + 14, "event", session="s1", event=ev("audit", [
            listed("/d/a", t=T - 100, ino=501, pt=T + 11, pino=500),
            listed("/d", "dir", t=T + 11, ino=500, pt=T - 200, pino=2, audit_skipped=False),
        ], audit_id="A")),  # fmt: skip
        L(T + 15, "audit_end", session="s1", audit_id="A"),
    ]
    out = replay_lines(rec(*lines), explain=True).output
    assert out["errors"] == []
    assert node(out, "/d/new") is not None
    (report,) = out["audits"]
    assert report["deleted"] == []
    assert report["spared"]["realtime_after_start"] == 1


def test_zombie_refused():
    out = run("zombie-refused.jsonl").output
    lines = recording_lines("zombie-refused.jsonl")
    path = "/projects/sub-3001/draft.txt"
    assert node(out, path) is None
    assert node(out, "/projects/sub-3001/final.txt") is not None
    ds = decisions(out, path)
    assert ds[0] == (4, "realtime", "tombstone", "delete of a path the view does not hold")
    refused = [d for d in ds if d[2] == "drop"]
    assert [(d[0], d[1]) for d in refused] == [(5, "snapshot"), (8, "audit")]
    assert all(d[3].startswith("tombstone") for d in refused)  # C3, not some other rule
    delete_row = lines[3]["event"]["rows"][0]
    (tomb,) = out["tombstones"]
    assert tomb["path"] == path and tomb["stamp"] == delete_row["parent_ctime"]
    # refusing a zombie makes no blind spot, and later fresh audits leave it alone
    assert out["blind_spots"] == {"additions": [], "deletions": []}
    assert [a["deleted"] for a in out["audits"]] == [[], []]
    assert out["debug"]["drops"] == {"tombstone: the listing did not bind the name after the delete": 2}


def test_mixed_converges_to_the_share(gen):
    """After the last audit and sentinel round the view equals the simulated share."""
    out = run("mixed.jsonl").output
    rows = sum(len(x["event"]["rows"]) for x in recording_lines("mixed.jsonl") if x["op"] == "event")
    assert rows >= 250
    disk = gen.mixed_disk()
    view = {n["path"]: n for n in out["nodes"]}
    assert sorted(view) == sorted(disk)
    for path, want in disk.items():
        got = view[path]
        for key in ("kind", "mtime", "ctime", "inode") + (("size",) if want["kind"] != "dir" else ()):
            assert got[key] == want[key], (path, key)
    assert out["suspects"] == []
    assert out["blind_spots"] == {
        "additions": ["/projects/sub-4001/md5sums.txt", "/projects/sub-4003/notes_lab07.txt",
                      "/projects/sub-4003/notes_lab07_2.txt"],
        "deletions": ["/projects/sub-4005/qc/fastqc_R2.html"],
    }  # fmt: skip
    assert out["skew"] == 2
    assert out["debug"]["drops"] == {"older than the node: a lagging host": 1}
    lagging = [d for d in out["decisions"] if d["decision"] == "drop"]
    assert [d["path"] for d in lagging] == ["/projects/sub-4006/notes.txt"]
    sweeps = [d for d in out["decisions"] if d["source"] == "sweep"]
    assert sweeps and all(d["decision"] == "clear" for d in sweeps)
    # The audited-only files (no agent watched their writes) clear at expiry, on the sentinel's
    # evidence, not at its first unchanged answer.
    assert {d["path"] for d in sweeps} == {f"/projects/sub-4008/raw/sample_0{i}.bam" for i in range(1, 7)} | {
        "/projects/sub-4001/md5sums.txt", "/projects/sub-4003/notes_lab07.txt", "/projects/sub-4003/notes_lab07_2.txt"}
    tasks = [s["tasks"] for s in out["sentinel"] if "tasks" in s]
    assert [set(t) for t in tasks] == [
        {"/projects/sub-4001/md5sums.txt", "/projects/sub-4003/notes_lab07.txt", "/projects/sub-4007/sample_sheet.csv"},
        {"/projects/sub-4001/md5sums.txt", "/projects/sub-4003/notes_lab07.txt", "/projects/sub-4003/notes_lab07_2.txt"},
        set(),
    ]
    # The sentinel clears the watched host's file at once; the audited-only ones it only vouches for.
    assert [s["feedback"]["cleared"] for s in out["sentinel"] if "feedback" in s] == [1, 0]
    assert [a["alias"] for a in out["audits"]] == ["A1", "A2"]
    assert out["audits"][0]["deleted"] == ["/projects/sub-4005/qc/fastqc_R2.html"]
    assert node(out, "/projects/latest")["kind"] == "symlink"


# --- determinism -----------------------------------------------------------------------


@pytest.mark.parametrize("name", ["mixed.jsonl", "cp-p-during-audit.jsonl"])
def test_same_file_same_bytes(name):
    a = run(name).to_json(pretty=True)
    b = run(name).to_json(pretty=True)
    assert a == b
    assert run(name).to_json(pretty=False) == replay_file(EXAMPLES / name, explain=True).to_json(pretty=False)


@pytest.mark.skipif(not FUSTOR.exists(), reason="fustor is not installed in this interpreter's environment")
def test_same_bytes_across_processes_and_hash_seeds():
    outs = []
    for seed in ("1", "2"):
        env = dict(os.environ, PYTHONHASHSEED=seed)
        proc = subprocess.run([str(FUSTOR), "replay", str(EXAMPLES / "mixed.jsonl"), "--explain"],
                              capture_output=True, env=env, timeout=60)  # fmt: skip
        assert proc.returncode == 0, proc.stderr
        outs.append(proc.stdout)
    assert outs[0] == outs[1]


# --- bad input --------------------------------------------------------------------------


def test_bad_lines_are_reported_and_later_lines_still_apply():
    good_row = listed("/d/b", t=T + 1, ino=503, pt=T + 1, pino=500)
    bad_row = dict(good_row, kind="socket")
    lines = [orjson.dumps(x) for x in snapshot_of_d(T + 2)] + [
        b"{this is not json",  # 4
        orjson.dumps(L(T + 3, "rewind")),  # 5 unknown op
        orjson.dumps(L(T + 4, "event", session="s1", event=ev("snapshot", [good_row, bad_row]))),  # 6 bad row
        orjson.dumps(L(T + 1, "tick")),  # 7 time going backwards
        orjson.dumps(L(T + 5, "event", session="s1", event=ev("audit", [good_row], audit_id="A9"))),  # 8
        orjson.dumps(L(T + 6, "audit_start", session="s1", **{"as": "A1"})),  # 9
        orjson.dumps(L(T + 7, "audit_end", session="s1", audit_id="A1")),  # 10
        orjson.dumps(L(T + 8, "event", session="s1", event=ev("audit", [good_row], audit_id="A1"))),  # 11 refused id
        orjson.dumps(L(T + 9, "event", session="s1", event=dict(ev("snapshot", [good_row]), schema_version="2.0"))),  # 12
        orjson.dumps(L(T + 10, "event", session="ghost", event=ev("snapshot", [good_row]))),  # 13
        b"",  # 14 blank: skipped, not an error
        orjson.dumps(L(T + 11, "event", session="s1", event=ev("snapshot", [good_row]))),  # 15 applies
    ]
    result = replay_lines(lines, explain=True)
    errors = [(e["line"], e["code"]) for e in result.errors]
    assert errors == [
        (4, "bad_json"),
        (5, "unknown_op"),
        (6, "bad_row"),
        (7, "time_backwards"),
        (8, "unknown_alias"),
        (11, "audit_refused"),
        (12, "schema_mismatch"),
        (13, "unknown_session"),
    ]
    messages = {e["line"]: e["message"] for e in result.errors}
    assert "row 2" in messages[6] and "socket" in messages[6]
    assert "line 6" in messages[7]  # names the line whose time it went behind
    assert "'A9'" in messages[8]
    assert result.exit_code == EXIT_REFUSED
    out = result.output
    assert out["lines"] == {"total": 14, "applied": 6, "refused": 8}
    # the bad row refused its whole event; the last line applied it
    assert node(out, "/d/b") is not None
    assert [(d["line"], d["decision"]) for d in out["decisions"] if d["path"] == "/d/b"] == [(15, "apply")]


@pytest.mark.parametrize(
    "line, code",
    [
        (b"[1, 2]", "invalid"),
        (b'{"op": "tick"}', "invalid"),  # no at
        (b'{"at": "soon", "op": "tick"}', "invalid"),
        (b'{"at": 1, "op": "tick", "extra": 1}', "invalid"),
        (b'{"at": 1, "op": "session_start"}', "invalid"),
        (b'{"at": 1, "op": "session_start", "session": ""}', "invalid"),
        (b'{"at": 1, "op": "event", "session": "s", "event": {"schema": "fs"}}', "unknown_session"),
        (b'{"at": 1, "op": "sentinel_tasks", "limit": 0}', "invalid"),
        (b'{"at": 1, "op": "sentinel_feedback", "results": [{"path": "x", "exists": false}]}', "bad_row"),
        (b'{"at": 1, "op": "audit_end", "session": "s", "audit_id": "A1"}', "unknown_session"),
        (b'\xff\xfe', "bad_json"),
    ],
)
def test_each_bad_line_has_a_code(line, code):
    result = replay_lines([line])
    assert [(e["line"], e["code"]) for e in result.errors] == [(1, code)]
    assert result.exit_code == EXIT_REFUSED


def test_event_shape_errors_are_refused():
    base = snapshot_of_d(T)
    for bad in (
        {"schema": "fs", "schema_version": "1.0", "type": "insert", "source": "snapshot"},  # no rows
        {"schema": "fs", "schema_version": "1.0", "type": "move", "source": "snapshot", "rows": []},
        ev("snapshot", [{"path": "relative/path", "kind": "file", "ctime": 1.0}]),
        ev("snapshot", [{"path": "/x", "kind": "file", "ctime": 1.0, "colour": "red"}]),
        ev("snapshot", [{"path": "/x", "kind": "file"}]),  # no ctime
        ev("audit", [], type_="delete"),  # deletes only come from realtime
    ):
        result = replay_lines(rec(*base, L(T + 5, "event", session="s1", event=bad)))
        assert [e["line"] for e in result.errors] == [4], bad
        assert result.errors[0]["code"] in ("invalid", "bad_row", "audit_refused"), result.errors


def test_config_line():
    cfg = L(T, "config", config={"hot_file_threshold": 30, "sentinel_interval": 10})
    out = replay_lines(rec(cfg, *snapshot_of_d(T + 1))).output
    assert out["errors"] == []
    # the recording's settings reach the view: /d/a is 102 s old, not hot under 30 s
    assert node(out, "/d/a")["suspect"] is False
    # the command line's view config wins, field by field
    out = replay_lines(rec(cfg, *snapshot_of_d(T + 1)), view_config={"hot_file_threshold": 300}).output
    assert node(out, "/d/a")["suspect"] is True


def test_bad_or_late_config_lines():
    bad = L(T, "config", config={"hot_file_threshold": -1})
    result = replay_lines(rec(bad, *snapshot_of_d(T + 1)))
    assert [(e["line"], e["code"]) for e in result.errors] == [(1, "config_invalid")]
    assert "hot_file_threshold" in result.errors[0]["message"]
    assert node(result.output, "/d/a")["suspect"] is True  # defaults: 300 s hot
    late = L(T + 5, "config", config={})
    result = replay_lines(rec(*snapshot_of_d(T), late))
    assert [(e["line"], e["code"]) for e in result.errors] == [(4, "invalid")]


def test_invalid_view_config_override():
    with pytest.raises(ReplayFileError):
        Replayer(view_config={"hot_file_threshold": 10, "sentinel_interval": 60})


# --- clocks, aliases and the audit lifecycle -------------------------------------------------


def test_both_clocks_follow_at():
    r = Replayer()
    for n, x in enumerate(rec(*snapshot_of_d(T + 2), L(T + 62, "tick")), 1):
        assert r.feed(n, x) is True
    assert r.clock.wall() == T + 62
    assert r.clock.monotonic() == pytest.approx(MONOTONIC_BASE + 60)
    out = r.result().output
    (s,) = out["suspects"]  # /d/a is hot (102 s old by the watermark when listed)
    assert s["suspect_for_s"] == pytest.approx(59.9)
    assert s["expires_in_s"] == pytest.approx(300 - 102.1 - 59.9)


def test_alias_defaults_to_the_view_audit_id():
    lines = [*snapshot_of_d(T), L(T + 5, "audit_start", session="s1")]
    r = Replayer()
    for n, x in enumerate(rec(*lines), 1):
        r.feed(n, x)
    (alias,) = r.aliases
    assert alias == r.aliases[alias] == r.view.audits.current.audit_id
    more = rec(*lines, L(T + 6, "audit_end", session="s1", audit_id=alias))
    out = replay_lines(more).output
    assert out["errors"] == [] and out["audits"][0]["alias"] == alias


def test_audit_id_must_be_an_alias_string():
    result = replay_lines(rec(*snapshot_of_d(T), L(T + 5, "audit_end", session="s1", audit_id=7)))
    assert [(e["line"], e["code"]) for e in result.errors] == [(4, "invalid")]


def test_duplicate_alias_is_refused():
    result = replay_lines(rec(*snapshot_of_d(T), L(T + 5, "audit_start", session="s1", **{"as": "A"}),
                              L(T + 6, "audit_start", session="s1", **{"as": "A"})))  # fmt: skip
    assert [(e["line"], e["code"]) for e in result.errors] == [(5, "invalid")]


def test_tick_runs_the_audit_watchdog():
    cfg = L(T, "config", config={"audit_interval": 60, "hot_file_threshold": 300, "sentinel_interval": 30})
    lines = [cfg, *snapshot_of_d(T + 1), L(T + 5, "audit_start", session="s1", **{"as": "A1"}),
             L(T + 100, "tick"), L(T + 126, "tick"), L(T + 127, "audit_end", session="s1", audit_id="A1")]  # fmt: skip
    result = replay_lines(rec(*lines))
    out = result.output
    assert [(a["line"], a["alias"]) for a in out["abandoned_audits"]] == [(7, "A1")]
    assert "watchdog" in out["abandoned_audits"][0]["reason"]
    assert [(e["line"], e["code"]) for e in result.errors] == [(8, "audit_refused")]
    assert out["audits"] == []


def test_session_close_abandons_its_audit_and_a_new_start_supersedes():
    lines = [*snapshot_of_d(T), L(T + 5, "audit_start", session="s1", **{"as": "A1"}),
             L(T + 6, "audit_start", session="s1", **{"as": "A2"}), L(T + 7, "session_close", session="s1")]  # fmt: skip
    out = replay_lines(rec(*lines)).output
    assert [(a["line"], a["alias"]) for a in out["abandoned_audits"]] == [(5, "A1"), (6, "A2")]
    assert out["errors"] == []


def test_sentinel_gone_and_job_complete():
    lines = [
        *snapshot_of_d(T),
        L(T + 5, "sentinel_tasks", limit=10),
        L(T + 6, "sentinel_feedback", results=[{"path": "/d/a", "exists": False, "parent_ctime": T + 4}]),
        L(T + 7, "event", session="s1", event=ev("on_demand", [listed("/d/c", t=T + 6, ino=504, pt=T + 6, pino=500)],
                                                  job_id="j1")),  # fmt: skip
        L(T + 8, "job_complete", session="s1", job_id="j1"),
    ]
    result = replay_lines(rec(*lines), explain=True)
    out = result.output
    assert result.errors == []
    assert out["sentinel"] == [{"line": 4, "tasks": ["/d/a"]},
                               {"line": 5, "feedback": {"cleared": 0, "updated": 0, "deleted": 1, "ignored": 0}}]  # fmt: skip
    assert node(out, "/d/a") is None
    assert out["blind_spots"]["deletions"] == ["/d/a"]
    assert (5, "sentinel", "delete", "the sentinel found it gone") in decisions(out, "/d/a")
    assert node(out, "/d/c")["blind_spot"] is True  # C4: on-demand rows are stat observations


def test_decisions_only_with_explain():
    assert "decisions" not in replay_file(EXAMPLES / "zombie-refused.jsonl").output
    assert "decisions" in replay_file(EXAMPLES / "zombie-refused.jsonl", explain=True).output


def test_unreadable_file(tmp_path):
    with pytest.raises(ReplayFileError):
        replay_file(tmp_path / "missing.jsonl")
    with pytest.raises(ReplayFileError):
        replay_file(tmp_path)  # a directory


def test_empty_file(tmp_path):
    p = tmp_path / "empty.jsonl"
    p.write_bytes(b"")
    result = replay_file(p)
    assert result.exit_code == EXIT_OK
    assert [n["path"] for n in result.output["nodes"]] == ["/"]


# --- the command --------------------------------------------------------------------------

runner = CliRunner()


def test_cli_replay_compact_explain():
    res = runner.invoke(app, ["replay", str(EXAMPLES / "zombie-refused.jsonl"), "--explain", "--compact"])
    assert res.exit_code == 0, res.output
    assert res.stdout.count("\n") == 1
    out = orjson.loads(res.stdout)
    assert node(out, "/projects/sub-3001/draft.txt") is None
    assert out["decisions"]
    assert res.stdout.encode() == replay_file(EXAMPLES / "zombie-refused.jsonl", explain=True).to_json(pretty=False)


def test_cli_pretty_is_default():
    res = runner.invoke(app, ["replay", str(EXAMPLES / "blind-spot-create.jsonl")])
    assert res.exit_code == 0
    assert res.stdout.startswith('{\n  "watermark"')
    assert "decisions" not in orjson.loads(res.stdout)


def test_cli_exit_codes(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_bytes(b'{"at": 1, "op": "tick"}\nnot json\n{"at": 2, "op": "tick"}\n')
    res = runner.invoke(app, ["replay", str(bad)])
    assert res.exit_code == 1
    assert orjson.loads(res.stdout)["errors"][0]["line"] == 2
    assert "line 2" in res.stderr
    res = runner.invoke(app, ["replay", str(tmp_path / "nope.jsonl")])
    assert res.exit_code == 2
    assert "cannot read" in res.stderr and res.stdout == ""


def test_cli_view_config(tmp_path):
    yaml_cfg = tmp_path / "view.yaml"
    yaml_cfg.write_text("# a view's settings\nhot_file_threshold: 5\nsentinel_interval: 1\n")
    res = runner.invoke(app, ["replay", str(EXAMPLES / "blind-spot-create.jsonl"), "--view-config", str(yaml_cfg)])
    assert res.exit_code == 0
    assert node(orjson.loads(res.stdout), "/projects/sub-1042/reads_R2.fastq.gz")["suspect"] is False
    json_cfg = tmp_path / "view.json"
    json_cfg.write_text('{"hot_file_threshold": 5, "sentinel_interval": 1}')
    res2 = runner.invoke(app, ["replay", str(EXAMPLES / "blind-spot-create.jsonl"), "--view-config", str(json_cfg)])
    assert res2.stdout == res.stdout
    for text in ("hot_file_threshold: [1", "- 1\n", "no_such_setting: 1\n", "hot_file_threshold: -5\n"):
        broken = tmp_path / "broken.yaml"
        broken.write_text(text)
        res = runner.invoke(app, ["replay", str(EXAMPLES / "blind-spot-create.jsonl"), "--view-config", str(broken)])
        assert res.exit_code == 2, text
        assert str(broken) in res.stderr
    res = runner.invoke(app, ["replay", str(EXAMPLES / "blind-spot-create.jsonl"), "--view-config", str(tmp_path / "x.yaml")])
    assert res.exit_code == 2


def test_cli_reads_stdin():
    data = (EXAMPLES / "zombie-refused.jsonl").read_bytes()
    res = runner.invoke(app, ["replay", "-", "--compact"], input=data)
    assert res.exit_code == 0
    assert res.stdout.encode() == replay_file(EXAMPLES / "zombie-refused.jsonl").to_json(pretty=False)


def test_cli_help_and_version():
    res = runner.invoke(app, ["--help"])
    assert res.exit_code == 0 and "replay" in res.stdout
    res = runner.invoke(app, ["--version"])
    assert res.exit_code == 0 and res.stdout.startswith("fustor ")


@pytest.mark.skipif(not FUSTOR.exists(), reason="fustor is not installed in this interpreter's environment")
def test_installed_command(tmp_path):
    proc = subprocess.run([str(FUSTOR), "replay", str(EXAMPLES / "cp-p-during-audit.jsonl"), "--compact"],
                          capture_output=True, timeout=60)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == replay_file(EXAMPLES / "cp-p-during-audit.jsonl").to_json(pretty=False)
    proc = subprocess.run([str(FUSTOR), "replay", str(tmp_path / "none.jsonl")], capture_output=True, timeout=60)
    assert proc.returncode == EXIT_UNREADABLE
