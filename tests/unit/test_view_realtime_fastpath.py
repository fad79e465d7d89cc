"""The arbitrator's inlined realtime path decides exactly as the general one (C1, C2).

``Arbitrator._realtime_fast`` writes out, once per batch, what
``_realtime_upsert`` does for a new file in a known directory, and sends
every other row to the general path. Two views get the same random
realtime batches (new files, files seen before, directories, symlinks,
partial writes, deletes that leave tombstones, a blocking file, a listed
scan row); one of them has every row sent to the general path. After every
batch both views must hold the same state, field by field: nodes, flags,
versions, roll-ups, suspects, blind spots, tombstones, the logical clock.
"""

from __future__ import annotations

import types

from hypothesis import given, settings
from hypothesis import strategies as st

from fustor.testing.views import ViewDriver, gone, listed, live

WALL0 = 1_700_000_000.0
NAMES = ["a", "b", "c"]


def _general_only(arb, rows, agent_now, scan_ctx):
    n = 0
    for row in rows:
        if row["parent_ino"] is not None:
            n += arb._realtime_scan_row(row, scan_ctx)
        else:
            n += arb._realtime_upsert(row, agent_now, scan_ctx)
    return n


def _state(d: ViewDriver) -> dict:
    view = d.view
    tree = view.tree
    tree.flush()
    nodes = {}
    for node in tree.walk(tree.root):
        entry = (node.kind, getattr(node, "size", None), node.mtime, node.ctime, node.ino, node.meta, node.flags,
                 node.updated_at, node.rt_ver, node.name_ver)
        if node.is_dir:
            entry += (node.n_files, node.n_dirs, node.total_size, node.n_suspect, node.n_blind, node.n_unknown,
                      tree.newest(node))
        nodes[tree.path_of(node)] = entry
    suspects = sorted(tree.path_of(n) for n in tree.walk(tree.root) if view.suspects.get(n) is not None)
    return {
        "nodes": nodes,
        "suspects": suspects,
        "blind_additions": sorted(tree.path_of(n) for n in view.blind.additions),
        "blind_deletions": sorted(view.blind.deletions),
        "tombstones": sorted((p, t.stamp, t.ino) for p, t in view.tombstones.items()),
        "watermark": view.logical.watermark(),
        "counters": dict(view.arbitrator.counters),
    }


paths = st.builds(lambda parts: "/" + "/".join(parts), st.lists(st.sampled_from(NAMES), min_size=1, max_size=3))
ops = st.tuples(
    st.sampled_from(["file", "file", "file", "partial", "dir", "symlink", "delete", "scan"]),
    paths,
    st.integers(1, 6),  # inode
    st.integers(0, 5),  # ctime step
    st.integers(-2, 2),  # parent ctime offset
)
batches = st.lists(st.lists(ops, min_size=1, max_size=6), min_size=1, max_size=6)


def _row(op, path, ino, step, poff, t):
    ctime = t + step
    pc = ctime + poff
    if op == "delete":
        return "delete", gone(path, pc=pc, ino=ino)
    if op == "scan":
        return "update", listed(path, ino=ino, ctime=ctime, pc=pc, pino=1, size=ino)
    kind = {"partial": "file"}.get(op, op)
    return "update", live(path, kind, ino=ino, ctime=ctime, pc=pc, size=ino * 10, mtime=ctime - 1,
                          atomic=op != "partial")


@settings(max_examples=300, deadline=None)
@given(batches)
def test_fast_and_general_realtime_paths_agree(program):
    fast, general = ViewDriver(wall=WALL0), ViewDriver(wall=WALL0)
    general.view.arbitrator._realtime_fast = types.MethodType(_general_only, general.view.arbitrator)
    for d in (fast, general):
        d.start()
    t = WALL0
    for batch in program:
        t += 1
        groups: list[tuple[str, list[dict]]] = []
        for op in batch:
            kind, row = _row(*op, t)
            if groups and groups[-1][0] == kind:
                groups[-1][1].append(row)
            else:
                groups.append((kind, [row]))
        for kind, rows in groups:
            for d in (fast, general):
                copies = [dict(r) for r in rows]
                if kind == "delete":
                    d.delete(*copies)
                else:
                    d.realtime(*copies)
        for d in (fast, general):
            d.clock.advance(0.5)
        assert _state(fast) == _state(general), program
