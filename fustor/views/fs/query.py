"""Queries of one view: listings, trees, stats, completeness, search, marks.

Reads only; each is answered from the tree's roll-ups where it can be, so a
listing or a stats call costs what it returns, not what the subtree holds.
Listings page by a cursor that names the last entry returned (its sort key
and name), so a page stays correct while the directory changes under it.
"""

from __future__ import annotations

import base64
import fnmatch
import heapq
import re
from typing import Any

import orjson

from fustor.core import NotFoundError, ValidationError
from fustor.schema import ROOT, check_key, join

from .tree import BLIND, IMPLICIT, KNOWN, SKIPPED, SUSPECT, DirNode, Node

SORTS = ("name", "size", "mtime", "count")
_GLOB_CHARS = re.compile(r"[*?\[]")


def _sort_key(sort: str):
    if sort == "name":
        return lambda n: n.name
    if sort == "size":
        return lambda n: (n.total_size if n.is_dir else n.size, n.name)
    if sort == "mtime":
        return lambda n: (n.newest_mtime if n.is_dir else n.mtime, n.name)
    if sort == "count":
        return lambda n: (n.n_files if n.is_dir else 1, n.name)
    raise ValidationError(f"unknown sort {sort!r}; expected one of {', '.join(SORTS)}")


def _encode_cursor(key: Any) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(key)).decode()


def _decode_cursor(cursor: str) -> Any:
    try:
        key = orjson.loads(base64.urlsafe_b64decode(cursor.encode()))
    except Exception:
        raise ValidationError("the cursor is not one this view gave out") from None
    return tuple(key) if isinstance(key, list) else key


class ViewQuery:
    def __init__(self, view) -> None:
        self._view = view

    # --- helpers ----------------------------------------------------------

    def _node(self, path: str) -> Node:
        try:
            check_key(path)
        except ValueError as exc:
            raise ValidationError(str(exc)) from None
        node = self._view.tree.lookup(path)
        if node is None:
            raise NotFoundError(f"{path} is not in view {self._view.view_id!r}", path=path)
        return node

    def entry(self, node: Node, path: str | None = None, full: bool = True) -> dict[str, Any]:
        tree = self._view.tree
        flags = node.flags
        out: dict[str, Any] = {"name": node.name or "/", "kind": node.kind}
        if path is not None:
            out["path"] = path
        if node.is_dir:
            d: DirNode = node  # type: ignore[assignment]
            out.update(
                files=d.n_files,
                dirs=d.n_dirs,
                size=d.total_size,
                newest_mtime=tree.newest(d) or None,
                suspects=d.n_suspect,
                blind_spots=d.n_blind,
                not_known_by_agent=d.n_unknown,
            )
        else:
            out["size"] = node.size
        if not full:
            return out
        out.update(
            mtime=node.mtime,
            ctime=node.ctime,
            inode=node.ino,
            mode=node.mode,
            uid=node.uid,
            gid=node.gid,
            suspect=bool(flags & SUSPECT),
            blind_spot=bool(flags & BLIND),
            known_by_agent=bool(flags & KNOWN),
            last_updated_at=node.updated_at,
        )
        if node.is_dir:
            out["audit_skipped"] = bool(flags & SKIPPED)
            out["implicit"] = bool(flags & IMPLICIT)
        return out

    # --- listings -----------------------------------------------------------

    def list_dir(
        self, path: str = ROOT, *, limit: int = 100, cursor: str | None = None, sort: str = "name", reverse: bool = False
    ) -> dict[str, Any]:
        if not isinstance(limit, int) or limit < 1 or limit > 10_000:
            raise ValidationError("limit must be an integer between 1 and 10000")
        node = self._node(path)
        if not node.is_dir:
            raise ValidationError(f"{path} is a {node.kind}, not a directory")
        key = _sort_key(sort)
        children = node.children.values()  # type: ignore[attr-defined]
        if cursor is not None:
            after = _decode_cursor(cursor)
            try:
                if reverse:
                    children = [c for c in children if key(c) < after]
                else:
                    children = [c for c in children if key(c) > after]
            except TypeError:
                raise ValidationError("the cursor belongs to another sort order") from None
        pick = heapq.nlargest if reverse else heapq.nsmallest
        page = pick(limit + 1, children, key=key)
        more = len(page) > limit
        page = page[:limit]
        entries = [self.entry(c, join(path, c.name)) for c in page]
        return {
            "path": path,
            "total": len(node.children),  # type: ignore[attr-defined]
            "sort": sort,
            "reverse": reverse,
            "entries": entries,
            "next_cursor": _encode_cursor(key(page[-1])) if more and page else None,
        }

    def tree(self, path: str = ROOT, *, depth: int = 1, full: bool = False, max_nodes: int = 10_000) -> dict[str, Any]:
        """The subtree at ``path`` to ``depth`` levels: paths only, or full entries.

        Paths only: a directory at the depth limit (or a file) is its path; a
        directory above it is ``{"path", "children"}``. At most ``max_nodes``
        nodes are returned; ``truncated`` says when more exist.
        """
        if not isinstance(depth, int) or depth < 0:
            raise ValidationError("depth must be a non-negative integer")
        if not isinstance(max_nodes, int) or max_nodes < 1:
            raise ValidationError("max_nodes must be a positive integer")
        node = self._node(path)
        state = {"left": max_nodes, "truncated": False}

        def build(n: Node, p: str, level: int) -> Any:
            state["left"] -= 1
            expand = n.is_dir and level < depth
            if not full and not expand:
                return p
            out: dict[str, Any] = self.entry(n, p, full=True) if full else {"path": p}
            if expand:
                kids = []
                for c in sorted(n.children.values(), key=lambda c: c.name):  # type: ignore[attr-defined]
                    if state["left"] <= 0:
                        state["truncated"] = True
                        break
                    kids.append(build(c, join(p, c.name), level + 1))
                out["children"] = kids
            return out

        result = build(node, path, 0)
        return {"tree": result, "truncated": state["truncated"]}

    def stats(self, path: str = ROOT) -> dict[str, Any]:
        node = self._node(path)
        return self.entry(node, path, full=True)

    # --- completeness -------------------------------------------------------

    def summary(self, path: str) -> dict[str, Any]:
        """Is the upload at ``path`` complete? (files, marks, age, last audit)."""
        view = self._view
        try:
            check_key(path)
        except ValueError as exc:
            raise ValidationError(str(exc)) from None
        watermark = view.logical.watermark()
        node = view.tree.lookup(path)
        deletions = view.blind.deletions_under(path)
        audits = view.audits
        out: dict[str, Any] = {
            "path": path,
            "exists": node is not None,
            "watermark": watermark,
            "view_ready": view.ready,
            "last_audit_started_at": audits.last_started_wall,
            "last_audit_completed_at": audits.last_completed_wall,
            "blind_spot_deletions": deletions,
        }
        if node is None:
            out.update(verdict="absent", reasons=["the view holds nothing at this path"])
            return out
        if node.is_dir:
            d: DirNode = node  # type: ignore[assignment]
            newest = view.tree.newest(d) or None
            out.update(
                kind="dir", files=d.n_files, dirs=d.n_dirs, size=d.total_size, suspects=d.n_suspect,
                blind_spot_additions=d.n_blind + (1 if d.flags & BLIND else 0),
                not_known_by_agent=d.n_unknown, newest_mtime=newest,
            )  # fmt: skip
        else:
            newest = node.mtime
            out.update(
                kind=node.kind, files=1, dirs=0, size=node.size, suspects=1 if node.flags & SUSPECT else 0,
                blind_spot_additions=1 if node.flags & BLIND else 0,
                not_known_by_agent=0 if node.flags & KNOWN else 1, newest_mtime=newest,
            )  # fmt: skip
        age = watermark - newest if newest else None
        out["newest_age_s"] = age
        hot = view.config.hot_file_threshold
        writing, unvouched, notes = [], [], []
        if out["suspects"]:
            writing.append(f"{out['suspects']} file(s) suspect: written recently or still open")
        elif age is not None and age < hot:
            writing.append(f"newest mtime is {age:.0f} s old by the watermark (hot below {hot:.0f} s)")
        # Entries only scans have seen (a host with no agent wrote them) are
        # vouched for once an audit listed the subtree after its newest change
        # and no file is suspect (the sentinel saw the hot ones settle): until
        # then a scan may not have seen the last writes. The blind-spot marks
        # stay (C11) and are reported as notes.
        unseen = []
        if out["blind_spot_additions"]:
            unseen.append(f"{out['blind_spot_additions']} entr(y/ies) appeared where no agent watches (blind spot)")
        if deletions:
            unseen.append(f"{deletions} entr(y/ies) vanished where no agent watches (blind spot)")
        if out["not_known_by_agent"]:
            unseen.append(f"{out['not_known_by_agent']} file(s) seen only by scans, not by an agent")
        if unseen:
            started = audits.last_completed_start_wall
            audited_after = (
                started is not None and newest is not None and started - view.logical.skew > newest
            )
            if audited_after:
                notes += unseen
            else:
                unvouched += unseen
                unvouched.append("no audit has listed it since its newest change")
        if not view.ready:
            unvouched.append("the view's first snapshot has not ended")
        if writing:
            out.update(verdict="writing", reasons=writing + unvouched + notes)
        elif unvouched:
            out.update(verdict="unvouched", reasons=unvouched + notes)
        else:
            out.update(verdict="complete", reasons=notes)
        out["notes"] = notes
        return out

    # --- search -------------------------------------------------------------

    def search(
        self, pattern: str, *, mode: str = "glob", field: str = "name", path: str = ROOT,
        kind: str | None = None, limit: int = 100,
    ) -> dict[str, Any]:  # fmt: skip
        """Entries whose name (or path) matches a glob or a regex, under ``path``."""
        if mode not in ("glob", "regex"):
            raise ValidationError("mode must be 'glob' or 'regex'")
        if field not in ("name", "path"):
            raise ValidationError("field must be 'name' or 'path'")
        if kind not in (None, "file", "dir", "symlink"):
            raise ValidationError("kind must be file, dir or symlink")
        if not isinstance(pattern, str) or not pattern:
            raise ValidationError("pattern must be a non-empty string")
        try:
            rx = re.compile(fnmatch.translate(pattern) if mode == "glob" else pattern)
        except re.error as exc:
            raise ValidationError(f"bad regular expression: {exc}") from None
        base = self._node(path)
        tree = self._view.tree
        results: list[dict[str, Any]] = []
        truncated = False
        if field == "name" and kind == "dir":
            # Directory names are indexed: a literal is one dict look-up.
            if mode == "glob" and not _GLOB_CHARS.search(pattern):
                names = [pattern] if pattern in tree.dirs_by_name else []
            else:
                names = [n for n in tree.dirs_by_name if rx.fullmatch(n)]
            for name in sorted(names):
                for d in sorted(tree.dirs_by_name[name], key=tree.path_of):
                    p = tree.path_of(d)
                    if path != ROOT and not (p == path or p.startswith(path + "/")):
                        continue
                    if len(results) >= limit:
                        truncated = True
                        break
                    results.append(self.entry(d, p, full=False))
            return {"pattern": pattern, "results": results, "truncated": truncated}
        match = rx.fullmatch if field == "name" else rx.search
        stack: list[tuple[Node, str]] = [(base, path)]
        while stack:
            n, p = stack.pop()
            target = n.name if field == "name" else p
            if n is not base or path != ROOT:
                if (kind is None or n.kind == kind) and match(target):
                    if len(results) >= limit:
                        truncated = True
                        break
                    results.append(self.entry(n, p, full=False))
            if n.is_dir:
                for c in n.children.values():  # type: ignore[attr-defined]
                    stack.append((c, join(p, c.name)))
        results.sort(key=lambda e: e["path"])
        return {"pattern": pattern, "results": results, "truncated": truncated}

    # --- marks --------------------------------------------------------------

    def suspects(self, path: str = ROOT, limit: int = 1000) -> dict[str, Any]:
        view = self._view
        now = view.clock.monotonic()
        tree = view.tree
        rows = []
        for node, entry in view.suspects.longest_first(len(view.suspects)):
            p = tree.path_of(node)
            if path != ROOT and not (p == path or p.startswith(path + "/")):
                continue
            if len(rows) >= limit:
                break
            rows.append({
                "path": p, "mtime": entry.mtime, "size": entry.size,
                "suspect_for_s": max(0.0, now - entry.since), "expires_in_s": entry.expiry - now,
                "evidence": entry.evidence, "unvouched": entry.priority,
            })  # fmt: skip
        return {"count": len(view.suspects), "suspects": rows}

    def blind_spots(self, path: str = ROOT, limit: int = 1000) -> dict[str, Any]:
        view = self._view
        tree = view.tree
        adds = sorted(tree.path_of(n) for n in view.blind.additions)
        dels = sorted(view.blind.deletions)
        if path != ROOT:
            adds = [p for p in adds if p == path or p.startswith(path + "/")]
            dels = [p for p in dels if p == path or p.startswith(path + "/")]
        return {
            "has_blind_spot": bool(adds or dels),
            "additions_count": len(adds),
            "deletions_count": len(dels),
            "additions": adds[:limit],
            "deletions": dels[:limit],
        }

