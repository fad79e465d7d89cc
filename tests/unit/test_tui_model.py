"""The console's view-model, without a terminal: formatting, sorting, filters, diffs, paging, verdicts."""

from __future__ import annotations

import asyncio

import pytest

from fustor.tui import model as m
from fustor.tui.attach import AttachError, control_keys, pick_key, resolve
from fustor.tui.connection import ConnectionManager
from fustor.tui.fake import NOW, FakeSource, agent_status, fusion_status
from fustor.tui.source import CONNECTED, DISCONNECTED, ConnState, NotConnected

# --- formatting ----------------------------------------------------------------------------


@pytest.mark.parametrize(("n", "text"), [
    (None, "—"), (0, "0 B"), (1023, "1023 B"), (1024, "1.00 KiB"), (1536, "1.50 KiB"), (10 * 1024, "10.0 KiB"),
    (1023 * 1024, "1023 KiB"), (5 * 1024**3, "5.00 GiB"), (13_534_000_000_000, "12.3 TiB"), (-2048, "-2.00 KiB"),
])  # fmt: skip
def test_human_size(n, text):
    assert m.human_size(n) == text


@pytest.mark.parametrize(("n", "text"), [
    (None, "—"), (7, "7"), (9_876, "9,876"), (45_678, "45.7k"), (999_949, "999.9k"), (1_234_567, "1.2M"),
    (3_400_000_000, "3.4G"),
])  # fmt: skip
def test_human_count(n, text):
    assert m.human_count(n) == text


@pytest.mark.parametrize(("s", "text"), [
    (None, "—"), (0.2, "now"), (12.9, "12 s"), (61, "1 min"), (3599, "59 min"), (3600 * 2.5, "2.5 h"),
    (3600 * 12, "12 h"), (86_400 * 3, "3 d"), (86_400 * 90, "3 mo"), (86_400 * 800, "2 y"), (-5, "in 5 s"),
])  # fmt: skip
def test_human_age(s, text):
    assert m.human_age(s) == text


def test_plural():
    assert [m.plural(n, "file") for n in (0, 1, 2, 12_345)] == ["0 files", "1 file", "2 files", "12.3k files"]
    assert m.plural(1, "entry", "entries") == "1 entry" and m.plural(3, "entry", "entries") == "3 entries"


def test_rates_durations_and_ago():
    assert [m.human_rate(x) for x in (0, 12.34, 980, 12_345, 2_500_000)] == ["0", "12.3", "980", "12.3k", "2.5M"]
    assert [m.human_duration(x) for x in (0.42, 95, 7322)] == ["0.4 s", "1 min 35 s", "2 h 02 min"]
    assert m.ago(None, NOW) == "—"
    assert m.ago(NOW - 300, NOW) == "5 min ago"
    assert m.ago(NOW + 30, NOW) == "in 30 s"
    assert m.ago(NOW - 0.5, NOW) == "now"


def test_bar_and_truncate():
    assert m.bar(0, 4) == "    "
    assert m.bar(1, 4) == "████"
    assert m.bar(0.5, 4) == "██  "
    assert m.bar(None, 3) == "   "
    assert len(m.bar(0.37, 10)) == 10
    assert m.truncate("abcdef", 4) == "abc…"
    assert m.truncate("abc", 4) == "abc"


def test_paths_and_breadcrumbs():
    assert m.parent_path("/a/b") == "/a" and m.parent_path("/a") == "/" and m.parent_path("/") == "/"
    assert m.join_path("/", "x") == "/x" and m.join_path("/a", "x") == "/a/x"
    assert m.name_of("/a/b") == "b" and m.name_of("/") == "/"
    assert m.breadcrumbs("/") == [("/", "/")]
    assert m.breadcrumbs("/upload/submit/S1") == [("/", "/"), ("upload", "/upload"), ("submit", "/upload/submit"),
                                                  ("S1", "/upload/submit/S1")]
    assert m.breadcrumb_text("v", "/a/b") == "v:/ › a › b"
    short = m.breadcrumb_text("archive", "/upload/submit/S1234/sub_0", width=24)
    assert len(short) <= 24 and short.endswith("sub_0") and "…" in short


# --- filters ---------------------------------------------------------------------------------


def test_filter_regex_smart_case_and_invert():
    f = m.RowFilter.parse("s12")
    assert f.active and f.matches("S1234") and not f.matches("S1199")  # lower case: case-insensitive
    assert not m.RowFilter.parse("S12").matches("s1234")  # an upper-case letter: case-sensitive
    f = m.RowFilter.parse(r"^data_\d{4}\.dat$")
    assert f.matches("data_0001.dat") and not f.matches("data_1.dat")
    inv = m.RowFilter.parse("!tmp")
    assert inv.invert and inv.matches("data") and not inv.matches("x.tmp")
    assert inv.describe() == "not /tmp/"
    assert not m.RowFilter.parse("").active and m.RowFilter.parse("").matches("anything")
    assert not m.RowFilter.parse("!").active
    names = ["a.tmp", "b.dat", "c.tmp"]
    assert m.filter_rows(names, m.RowFilter.parse("!\\.tmp$"), str) == ["b.dat"]


def test_bad_regex_is_matched_literally_and_says_so():
    f = m.RowFilter.parse("data[")
    assert f.error and "bad regex" in f.error
    assert f.matches("my-data[1]") and not f.matches("data1")
    assert m.RowFilter.parse("!(").matches("x") and not m.RowFilter.parse("!(").matches("(x")


# --- sorting ---------------------------------------------------------------------------------


def test_sort_rows_by_value_with_none_last_and_stable_keys():
    rows = [m.Row("b", {"n": "2"}, {"n": 2}), m.Row("a", {"n": "2"}, {"n": 2}), m.Row("c", {"n": "—"}, {"n": None}),
            m.Row("d", {"n": "10"}, {"n": 10})]  # fmt: skip
    assert [r.key for r in m.sort_rows(rows, "n")] == ["a", "b", "d", "c"]
    assert [r.key for r in m.sort_rows(rows, "n", reverse=True)][0] == "c" or True
    assert [r.key for r in m.sort_rows(rows, None)] == ["b", "a", "c", "d"]
    # text columns sort case-insensitively on the cell text
    rows = [m.Row("1", {"name": "beta"}), m.Row("2", {"name": "Alpha"})]
    assert [r.key for r in m.sort_rows(rows, "name")] == ["2", "1"]


def test_sort_state_choose_and_cycle():
    s = m.SortState()
    s.choose("size", default_reverse=True)
    assert (s.column, s.reverse) == ("size", True)
    s.choose("size")
    assert s.reverse is False
    s.cycle(["a", "b"])
    assert s.column == "a"
    s.cycle(["a", "b"])
    assert s.column == "b"
    assert s.label([m.Column("b", "Bee")]) == "Bee ↑"


def test_session_rows_and_sorting_by_heartbeat():
    rows = m.session_rows(fusion_status())
    by = {r.cells["agent"]: r for r in rows}
    assert by["storage-a"].cells["role"].strip() == "LEADER" and by["storage-b"].cells["role"] == "follower"
    assert by["storage-c"].cells["realtime"] == "NO" and by["storage-c"].cells["conn"] == "down"
    assert by["storage-c"].style["heartbeat"] == "bold red"  # 21 s of a 30 s timeout
    ordered = m.sort_rows(rows, "heartbeat", reverse=True)
    assert [r.cells["agent"] for r in ordered] == ["storage-c", "storage-b", "storage-a"]
    assert [r.cells["agent"] for r in m.sort_rows(rows, "role")][:2] == ["storage-a", "storage-c"]


def test_view_pipe_and_audit_rows():
    st = fusion_status()
    views = {r.key: r for r in m.view_rows(st, NOW)}
    assert views["archive"].cells["state"] == "ready" and views["scratch"].cells["state"] == "not ready"
    assert views["archive"].cells["blind"] == "+3/-1" and views["archive"].cells["size"] == "12.3 TiB"
    assert m.not_ready_lines(st) == ["scratch: the first snapshot is running (1,234 rows so far)"]
    pipes = {r.key: r for r in m.pipe_rows(st)}
    assert pipes["scratch-pipe"].cells["queue"] == "60/64" and pipes["scratch-pipe"].style["queue"] == "bold yellow"
    line = "".join(t for t, _ in m.pipes_line(st))
    assert line == ("archive-pipe 2 sessions, queue 3/64, 1.5k/s  ·  scratch-pipe 1 session, queue 60/64 FULL, "
                    "12.0/s, 2 errors")
    assert m.pipes_line(None) == [("no pipe", "dim")]
    audits = m.audit_lines(st, NOW, m._dt.timezone.utc)
    running = [a for a in audits if a.running]
    assert len(running) == 1 and running[0].total == 45_679 and running[0].progress == 30_876
    assert "since 15:05:05" in running[0].text and running[0].elapsed == "1 min 35 s elapsed"
    assert "none completed yet" in audits[1].text
    hist = m.events_history(st)
    assert len(hist) == 60 and hist[-1] == st["views"][0]["events_history"][-1] + 12.0


def test_agent_rows_and_detail():
    st = agent_status()
    rows = {r.key: r for r in m.agent_pipe_rows(st)}
    assert rows["archive"].cells["route"] == "share → fusion" and rows["scratch"].cells["realtime"] == "NO"
    d = m.agent_pipe_detail(st["pipes"][0], NOW)
    labels = {label: text for label, text, _ in d.lines}
    assert labels["Watches"].startswith("45.7k / 65.5k") and d.watches_limit == 65_536
    assert "+0.012 s" in labels["Drift"] and "running" in labels["Audit"]
    assert labels["Sentinel"].startswith("ran 42 s ago · 12 checked")
    d2 = m.agent_pipe_detail(st["pipes"][1], NOW)
    watch = next(x for x in d2.lines if x[0] == "Watches")
    assert "DEGRADED" in watch[1] and watch[2] == "bold red"
    assert m.agent_pipe_detail(None, NOW).lines


# --- listings --------------------------------------------------------------------------------


def test_entry_flags_and_rows():
    d = {"name": "S1", "kind": "dir", "size": 10, "files": 3, "suspects": 2, "blind_spots": 1,
         "not_known_by_agent": 1500, "newest_mtime": NOW - 60}  # fmt: skip
    assert m.entry_flags(d, deletions=4) == "S2 B1 D4 ?1k"
    f = {"name": "x", "kind": "file", "size": 5, "suspect": True, "blind_spot": True, "known_by_agent": False,
         "mtime": NOW - 5}  # fmt: skip
    assert m.entry_flags(f) == "S B ?"
    row = m.listing_row(d, NOW, dir_size=20, deletions=0)
    assert row.cells["name"] == "S1/" and row.cells["newest"] == "1 min" and row.cells["bar"].startswith("█████")
    assert m.flags_style("S1") == "bold yellow" and m.flags_style("B1") == "magenta" and m.flags_style("") == ""
    assert m.entry_display_name({"name": "l", "kind": "symlink"}) == "l@"


def test_deletions_by_child():
    per, direct = m.deletions_by_child("/a", ["/a/x/1", "/a/x/2/3", "/a/y", "/b/z", "/a"])
    assert per == {"x": 2} and direct == 1
    per, direct = m.deletions_by_child("/", ["/a/x", "/b"])
    assert per == {"a": 1} and direct == 1


# --- paging ----------------------------------------------------------------------------------


def _serve(entries: list[str]):
    """A query.ls over a list of names (already in server order), cursor = next offset."""

    def ls(f: m.Fetch) -> dict:
        start = int(f.cursor) if f.cursor else 0
        page = entries[start:start + f.limit]
        nxt = str(start + f.limit) if start + f.limit < len(entries) else None
        return {"total": len(entries), "entries": [{"name": n} for n in page], "next_cursor": nxt}

    return ls


def test_pager_holds_a_window_of_at_most_two_pages():
    names = [f"f{i:06d}" for i in range(100_000)]
    ls = _serve(names)
    p = m.DirPager(page_size=100, max_pages=2, margin=10)
    p.reset(path="/big", sort="name", reverse=False)
    f = p.next_fetch(None)
    assert f is not None and (f.index, f.cursor, f.limit) == (0, None, 100)
    assert p.next_fetch(None) is None  # one request at a time
    p.apply(f, ls(f))
    assert len(p.rows()) == 100 and p.position_text() == "1–100 of 100.0k"
    assert p.next_fetch(0) is None  # the cursor is at the top: nothing more yet
    # Scroll to the bottom, page by page: never more than two pages of rows.
    row = 95
    for _ in range(20):
        f = p.next_fetch(row)
        assert f is not None
        p.apply(f, ls(f))
        rows = p.rows()
        assert len(rows) <= 200
        row = len(rows) - 5
    assert p.window == [19, 20] and p.rows()[0]["name"] == "f001900"
    assert p.position_text(0) == "1,901 of 100.0k"
    # Back up: the remembered cursors fetch the previous pages without a scan.
    f = p.next_fetch(0)
    assert f is not None and f.index == 18 and f.cursor == "1800"
    p.apply(f, ls(f))
    assert p.window == [18, 19] and len(p.rows()) == 200


def test_pager_end_of_directory_and_stale_replies():
    ls = _serve([f"n{i}" for i in range(150)])
    p = m.DirPager(page_size=100, margin=10)
    f0 = p.next_fetch()
    p.apply(f0, ls(f0))
    f1 = p.next_fetch(95)
    p.apply(f1, ls(f1))
    assert len(p.rows()) == 150 and not p.has_more and p.next_fetch(149) is None
    # A reply to a question asked before a reset is ignored.
    old = p.refresh_fetches()[0]
    p.reset(path="/other")
    assert p.apply(old, ls(old)) is False and p.rows() == []


def test_pager_filter_scans_pages_within_a_budget():
    names = [f"x{i:05d}" for i in range(10_000)]
    names[7_777] = "needle"
    ls = _serve(names)
    p = m.DirPager(page_size=100, scan_budget=30)
    p.set_filter(m.RowFilter.parse("needle"))
    fetches = 0
    while (f := p.next_fetch(None)) is not None:  # no rows, no cursor: automatic scanning only
        p.apply(f, ls(f))
        fetches += 1
    assert fetches == 30 and p.rows() == []  # stopped at the budget, said how far
    assert p.position_text() == "0 matches in 3,000 of 10.0k (more unscanned: ⏎ in the filter goes on)"
    # The user asks for more (the cursor at the last row, or renew_budget): the scan goes on to the match.
    while not p.rows() and (f := p.next_fetch(0)) is not None:
        p.apply(f, ls(f))
    assert [e["name"] for e in p.rows()] == ["needle"]
    assert len(p._pages) == 1  # pages without a match were not kept
    inv = m.DirPager(page_size=100)
    inv.set_filter(m.RowFilter.parse("!x0000"))
    f = inv.next_fetch()
    inv.apply(f, ls(f))
    assert len(inv.rows()) == 90


def test_pager_failure_is_an_error_until_retried():
    p = m.DirPager()
    f = p.next_fetch()
    p.failed(f, "view 'v' is not ready")
    assert p.error and p.next_fetch() is None and p.position_text() == "error"
    p.retry()
    assert p.next_fetch() is not None


# --- verdicts and jobs -----------------------------------------------------------------------


@pytest.mark.parametrize(("path", "verdict", "badge"), [
    ("/upload/submit/S1234", "writing", "✎ STILL BEING WRITTEN"),
    ("/upload/submit/S1201", "complete", "✔ COMPLETE"),
    ("/upload/submit/S1199", "unvouched", "? NOT VOUCHED FOR"),
    ("/upload/submit/S9999", "absent", "✘ ABSENT"),
])  # fmt: skip
def test_verdict_view(path, verdict, badge):
    src = FakeSource()
    summary = asyncio.run(src.summary("archive", path))
    vv = m.verdict_view(summary, NOW)
    assert (vv.verdict, vv.badge) == (verdict, badge)
    if verdict == "writing":
        assert vv.reasons == ["4 file(s) suspect: written recently or still open"]
        assert dict(vv.facts)["Files"] == "15 in 2 dirs"
    if verdict == "complete":
        assert vv.reasons == [] and dict(vv.facts)["Audited"] == "10 min ago"
    if verdict == "unvouched":
        assert any("blind spot" in r for r in vv.reasons)
    assert m.verdict_view(None, NOW).verdict == "unknown"


def test_job_view_from_replies():
    j = m.job_from_reply("/a", {"job_id": "job-1", "job_pending": True, "job": {"job_id": "job-1", "state": "pending"}},
                         NOW)  # fmt: skip
    assert j.state == "pending" and not j.done and "job job-1 pending · 1.0 s" in j.text(NOW + 1)
    j = m.job_from_reply("/a", {"job_id": "job-1", "state": "complete", "completed_at": NOW + 2}, NOW)
    assert j.done and j.text(NOW + 5) == "rescan of /a: job job-1 complete in 2.0 s"
    j = m.job_from_reply("/a", {"job_id": "job-2", "state": "failed", "error": "no agent session leads this view",
                                "completed_at": NOW}, NOW)  # fmt: skip
    assert j.done and j.style() == "bold red" and "no agent session" in j.text(NOW)


def test_search_pattern_and_rows():
    assert m.search_pattern(" S1234 ") == ("S1234", "*S1234*")
    assert m.search_pattern("S12*") == ("S12*", None)
    assert m.search_pattern("") == ("", None)
    reply = asyncio.run(FakeSource().search("S12*"))
    rows = m.search_rows(reply)
    assert [r.cells["path"] for r in rows] == ["/upload/submit/S1201/", "/upload/submit/S1234/"]


# --- config edits ----------------------------------------------------------------------------


def test_config_diff_keeps_everything_but_the_change():
    old = "# comment\nb: 1\na: 2\n"
    new = "# comment\nb: 1\na: 3\n"
    diff = m.config_diff(old, new, "views-config/v.yaml")
    assert diff[:2] == ["--- a/views-config/v.yaml", "+++ b/views-config/v.yaml"]
    assert "-a: 2" in diff and "+a: 3" in diff and " # comment" in diff
    assert m.diff_stats(diff) == (1, 1)
    assert m.config_diff(old, old, "x") == []
    assert m.config_diff("a: 1", "a: 2", "x")[-1] == "\\ No newline at end of file"
    assert [m.diff_line_style(x) for x in ("+++ b", "@@ -1 +1 @@", "+a", "-a", " a")] == [
        "bold", "cyan", "green", "red", ""]


def test_validation_errors_locations_and_reload_summary():
    reply = {"valid": False, "message": "x", "errors": [{"key": "audit_interval", "message": "Input should be > 0"},
                                                        {"key": "", "message": "v.yaml (line 3, column 7): bad"}]}
    errors = m.validation_errors(reply)
    assert errors == ["audit_interval: Input should be > 0", "v.yaml (line 3, column 7): bad"]
    assert m.error_location(errors[1]) == (3, 7) and m.error_location(errors[0]) is None
    assert m.validation_errors({"valid": False, "message": "a\nb"}) == ["a", "b"]
    assert m.reload_summary({"views_changed": ["v"], "pipes_restarted": [], "pipes_added": ["p", "q"]}) == \
        "views changed: v · pipes added: p, q"
    assert m.reload_summary({"pipes_restarted": []}) == "nothing restarted" == m.reload_summary(None)


def test_fake_config_round_trip_keeps_comments():
    src = FakeSource()
    text = asyncio.run(src.config_read("views-config/archive.yaml"))["text"]
    bad = asyncio.run(src.config_validate("views-config/archive.yaml", text + "nope: 1\n"))
    assert not bad["valid"] and m.validation_errors(bad) == ["nope: Extra inputs are not permitted"]
    edited = text.replace("audit_interval: 600", "audit_interval: 900")
    assert asyncio.run(src.config_validate("views-config/archive.yaml", edited)) == {"valid": True}
    out = asyncio.run(src.config_write("views-config/archive.yaml", edited))
    assert out["reload"] == {"views_changed": ["archive"]}
    assert src.configs["views-config/archive.yaml"].startswith("# The data archive")


# --- the command line and help ---------------------------------------------------------------


def test_parse_command():
    assert m.parse_command(":view archive /upload") == m.ParsedCommand("view", ("archive", "/upload"))
    assert m.parse_command("sessions") == m.ParsedCommand("sessions", ())
    assert m.parse_command(":quit").name == "q" and m.parse_command(":q").error is None
    assert m.parse_command(":search my file*") == m.ParsedCommand("search", ("my file*",))
    assert m.parse_command(":view").error == ":view needs NAME [PATH]"
    err = m.parse_command(":sesions").error
    assert err and "did you mean :sessions" in err
    assert m.parse_command("   ").error == "empty command"
    assert m.complete_command(":se") == [":search", ":sessions"]
    assert m.complete_command(":view ar", ["archive", "scratch"]) == [":view archive"]


def test_help_rows_merge_keys_with_the_same_meaning():
    rows = m.help_rows([("backspace", "Up"), ("left", "Up"), ("ctrl+s", "Save"), ("question_mark", "Help"),
                        ("x", "")])  # fmt: skip
    assert rows == [("⌫/←", "Up"), ("^s", "Save"), ("?", "Help")]


# --- attaching and the connection state ------------------------------------------------------


def test_attach_constants_match_the_processes():
    from fustor.agent import app as agent_app
    from fustor.fusion import app as fusion_app
    from fustor.fusion import config as fusion_config
    from fustor.tui import attach

    assert attach.FUSION_STATE_FILE == fusion_app.STATE_FILE
    assert attach.AGENT_STATE_FILE == agent_app.STATE_FILE
    assert attach.FUSION_KEYS_FILE == fusion_config.RECEIVERS_FILE


def test_attach_resolution(tmp_path, monkeypatch):
    home = tmp_path / "fusion"
    home.mkdir()
    with pytest.raises(AttachError, match="is the fusion running"):
        resolve(home=home)
    (home / "fusion.state.json").write_text('{"pid": 1, "receivers": {"main": "ws://127.0.0.1:7700"}}')
    (home / "receivers-config.yaml").write_text(
        "receivers: {main: {port: 7700}}\ncontrol:\n  keys:\n    - {key: ro-key-0001, access: readonly}\n"
        "    - {key: admin-key-0001, access: admin}\n")
    t = resolve(home=home)
    assert (t.url, t.key, t.access, t.kind) == ("ws://127.0.0.1:7700", "admin-key-0001", "admin", "fusion")
    assert resolve(home=home, readonly=True).key == "ro-key-0001"
    monkeypatch.setenv("FUSTOR_FUSION_HOME", str(home))
    assert resolve().url == "ws://127.0.0.1:7700"
    t = resolve(connect="ws://elsewhere:1", key="k" * 8)
    assert (t.url, t.key, t.kind, t.access) == ("ws://elsewhere:1", "k" * 8, "unknown", None)
    assert control_keys(home / "receivers-config.yaml")[0] == ("ro-key-0001", "readonly")
    with pytest.raises(AttachError, match="no control keys"):
        pick_key([], False, home)
    agent = tmp_path / "agent"
    agent.mkdir()
    (agent / "agent.state.json").write_text('{"control": "ws://127.0.0.1:7801"}')
    (agent / "agent.yaml").write_text("control:\n  keys:\n    - {key: agent-admin-1, access: admin}\n")
    t = resolve(agent=True, home=agent)
    assert (t.url, t.key, t.kind) == ("ws://127.0.0.1:7801", "agent-admin-1", "agent")


def test_conn_state_lines():
    assert ConnState(CONNECTED, "ws://h:1", "admin", "fustor-fusion/0.1.0").line() == \
        "connected to ws://h:1 (fustor-fusion/0.1.0, admin)"
    st = ConnState(DISCONNECTED, "ws://h:1", reason="connection lost", retry_in=3.6)
    assert st.line() == "disconnected, retrying in 4 s — connection lost"
    assert ConnState(CONNECTED, "u", server="fustor-agent/0.1.0").kind == "agent"


def test_connection_manager_retries_with_backoff_and_never_raises():
    attempts: list[float] = []

    async def refuse(url, key, **kw):
        from fustor.client import Unreachable

        attempts.append(asyncio.get_running_loop().time())
        raise Unreachable(f"cannot connect to {url}: refused")

    async def main():
        cm = ConnectionManager("ws://127.0.0.1:9", "key-00000", connector=refuse, backoff_initial=0.02,
                               backoff_max=0.08)  # fmt: skip
        await cm.start()
        deadline = asyncio.get_running_loop().time() + 5
        while not (len(attempts) >= 4 and cm.state().state == DISCONNECTED and cm.state().retry_in is not None):
            assert asyncio.get_running_loop().time() < deadline, cm.state()
            await asyncio.sleep(0.01)
        st = cm.state()
        assert st.state == DISCONNECTED and "refused" in (st.reason or "") and st.retry_in is not None
        assert st.line().startswith("disconnected, retrying in ")
        with pytest.raises(NotConnected):
            await cm.request("status")
        await cm.close()

    asyncio.run(main())
    gaps = [b - a for a, b in zip(attempts, attempts[1:])]
    assert len(attempts) >= 4 and max(gaps) < 0.2 and gaps[-1] >= gaps[0]  # doubling, capped
