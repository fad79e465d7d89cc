"""The agent's event bus and configuration home."""

from __future__ import annotations

import asyncio
import io
import json

import pytest

from fustor.agent.bus import BusGroup
from fustor.agent.config import load_agent_config, migrate
from fustor.agent.sender import EchoSender
from fustor.core import ConfigError
from fustor.fusion.config import load_fusion_config
from fustor.testing.processes import make_fusion_home


def test_bus_subscribers_keep_their_own_positions():
    g = BusGroup(capacity=100)
    a, b = g.subscribe("a"), g.subscribe("b")
    for i in range(10):
        g.publish(i)
    assert a.take(4) == [0, 1, 2, 3]
    assert b.take(100) == list(range(10))
    assert a.take(100) == [4, 5, 6, 7, 8, 9]
    assert a.lag == b.lag == 0


def test_bus_splits_a_slow_subscriber_onto_its_own_bus_before_it_loses_anything():
    g = BusGroup(capacity=100)
    fast, slow = g.subscribe("fast"), g.subscribe("slow")
    for i in range(94):
        g.publish(i)
        fast.take(10)
    assert g.splits == 0
    g.publish(94)  # the fast one leads by 95 = 95% of 100
    fast.take(10)
    assert g.splits == 1 and slow.bus is not fast.bus
    assert slow.take(1000) == list(range(95)) and slow.lost == 0
    g.publish(95)
    assert slow.take(10) == [95] and fast.take(10) == [95]


def test_bus_subscriber_that_lost_its_position_is_told():
    g = BusGroup(capacity=10)
    lone = g.subscribe("lone")
    for i in range(25):
        g.publish(i)
    items = lone.take(100)
    assert items == list(range(15, 25)) and lone.lost == 15  # it must ask for an audit


def test_bus_wait_wakes_on_publish():
    async def main():
        g = BusGroup(capacity=10)
        s = g.subscribe("s")
        waiter = asyncio.create_task(s.wait(timeout=5))
        await asyncio.sleep(0.01)
        assert not waiter.done()
        g.publish("x")
        await asyncio.wait_for(waiter, 1)
        assert s.take(5) == ["x"]

    asyncio.run(main())


def _old_home(tmp_path):
    home = tmp_path / "agent"
    (home / "syncs-config").mkdir(parents=True)
    (home / "sources-config.yaml").write_text("sources:\n  share:\n    uri: /srv/share\n")
    (home / "pushers-config.yaml").write_text(
        "# where events go\npushers:\n  fusion:\n    url: ws://127.0.0.1:7700\n    key: old-style-key-123\n")
    (home / "syncs-config" / "archive.yaml").write_text("# the pipe\nsource: share\npusher: fusion\n")
    return home


def test_old_config_names_load_with_a_deprecation_warning_and_migrate_rewrites_them(tmp_path):
    home = _old_home(tmp_path)
    cfg = load_agent_config(home)
    assert cfg.pipes["archive"].sender == "fusion" and cfg.senders["fusion"].key == "old-style-key-123"
    assert any("pushers-config.yaml is deprecated" in w for w in cfg.warnings)
    assert any("syncs-config/ is deprecated" in w for w in cfg.warnings)
    done = migrate(home)
    assert len(done) == 2
    assert (home / "senders-config.yaml").read_text().startswith("# where events go\nsenders:")
    assert "sender: fusion" in (home / "agent-pipes-config" / "archive.yaml").read_text()
    cfg = load_agent_config(home)
    assert cfg.warnings == [] and cfg.pipes["archive"].sender == "fusion"


def test_agent_config_errors_name_the_file_and_key(tmp_path):
    home = _old_home(tmp_path)
    (home / "sources-config.yaml").write_text("sources:\n  share:\n    uri: /srv/share\n    watch_limit: -3\n")
    with pytest.raises(ConfigError) as err:
        load_agent_config(home)
    assert "sources-config.yaml" in err.value.message and "sources.share.watch_limit" in err.value.message
    (home / "sources-config.yaml").write_text("sources:\n  share:\n    uri: /srv/share\n")
    (home / "syncs-config" / "archive.yaml").write_text("source: nope\npusher: fusion\n")
    with pytest.raises(ConfigError) as err:
        load_agent_config(home)
    assert "unknown source 'nope'" in err.value.message


def test_obsolete_datastores_config_is_reported_with_a_pointer(tmp_path):
    home = make_fusion_home(tmp_path / "fusion")
    (home / "datastores-config.yaml").write_text("datastores: {}\n")
    cfg = load_fusion_config(home)
    assert any("datastores-config.yaml is obsolete" in w and "views-config" in w and "fusion-pipes-config" in w
               for w in cfg.warnings)


def test_echo_sender_prints_each_event_as_a_json_line():
    async def main():
        out = io.StringIO()
        s = EchoSender(out)
        await s.open_session(pipe_id="p")
        await s.send({"source": "realtime", "rows": [{"path": "/a"}]})
        await s.request("snapshot.end")
        lines = [json.loads(line) for line in out.getvalue().splitlines()]
        assert lines[0]["rows"][0]["path"] == "/a" and lines[1]["op"] == "snapshot.end"

    asyncio.run(main())


def test_snapshot_walk_with_workers_lists_the_same_rows_in_the_same_order(tmp_path):
    from fustor.sources.fs import PathFilter, ScanErrors, walk_rows

    for d in range(6):
        for s in range(3):
            sub = tmp_path / f"d{d}" / f"s{s}"
            sub.mkdir(parents=True)
            for f in range(4):
                (sub / f"f{f}").write_text("x" * f)
    root = bytes(tmp_path)

    def paths(workers):
        return [r["path"] for b in walk_rows(root, "/", PathFilter(), ScanErrors(), batch=7, workers=workers) for r in b]

    one = paths(1)
    assert len(one) == 1 + 6 + 18 + 72
    assert paths(4) == one
    # A directory's row precedes everything below it.
    seen = set()
    for p in one:
        parent = p.rsplit("/", 1)[0] or "/"
        assert parent == "/" or parent in seen, p
        seen.add(p)
