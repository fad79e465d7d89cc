"""``fustor query ...``: ask fusion's control plane about its views.

Every command connects, sends one op (``ls --all`` follows the pages), prints
a table or, with ``--json``, the raw reply, and exits with a code a script can
branch on (see ``EXITS`` and docs/cli.md).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Awaitable, Callable, Optional

import typer

from .common import (
    EXIT_FAILED,
    EXIT_NOT_FOUND,
    EXIT_NOT_READY,
    EXIT_OK,
    EXIT_USAGE,
    VERDICT_EXIT,
    CommandError,
    console,
    control_keys,
    fusion_home,
    guarded,
    human_age,
    human_duration,
    human_size,
    iso_time,
    local_url,
    pick_key,
    print_json,
    read_json,
    report,
)

EXITS = (
    "Exit status: 0 ok (summary: complete); 3 writing, 4 unvouched, 5 absent (summary only); 2 usage or "
    "connection error (unreachable, key refused, bad argument); 6 the view is not ready; 7 no such view or path; "
    "1 any other error."
)

app = typer.Typer(
    help=(
        "Query fusion's views over its control plane.\n\n"
        "Fusion is found through --connect (ws://host:port), else through the state file of the local fusion home "
        "(--home, $FUSTOR_FUSION_HOME, ~/.fustor/fusion). The key is --key ($FUSTOR_KEY), else a read-only key "
        "of that home's receivers-config.yaml. The view is --view, else the only view there is.\n\n" + EXITS
    ),
    no_args_is_help=True,
)

# --- options ----------------------------------------------------------------------

ConnectOpt = Annotated[Optional[str], typer.Option(
    "--connect", "-c", help="Fusion's URL, ws://host:port (default: the local fusion of --home).",
    envvar="FUSTOR_CONNECT", metavar="URL", show_default=False)]
KeyOpt = Annotated[Optional[str], typer.Option(
    "--key", "-k", help="A control key (default: a read-only key of the home).", envvar="FUSTOR_KEY",
    show_default=False)]
HomeOpt = Annotated[Optional[Path], typer.Option(
    "--home", help="Fusion home to find the URL and key in.", metavar="DIR", show_default=False)]
ViewOpt = Annotated[Optional[str], typer.Option(
    "--view", "-v", help="The view (default: the only one).", metavar="NAME", show_default=False)]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print the raw reply as JSON.")]
PartialOpt = Annotated[bool, typer.Option("--partial", help="Answer even while the view is not ready.")]
PathArg = Annotated[str, typer.Argument(help="A path in the view.", metavar="PATH")]


@dataclass
class Target:
    url: str
    key: str
    view: str | None
    json: bool
    partial: bool


def _target(connect: str | None, key: str | None, home: Path | None, view: str | None, as_json: bool,
            partial: bool = False) -> Target:
    h = fusion_home(home)
    if connect:
        url = connect
    else:
        state = read_json(h / "fusion.state.json")
        receivers = state.get("receivers") if state else None
        if not isinstance(receivers, dict) or not receivers:
            raise CommandError(f"no running fusion found in {h} (no fusion.state.json); start one with "
                               "`fustor fusion start`, or pass --connect ws://HOST:PORT", EXIT_USAGE,
                               code="unreachable")
        url = local_url(str(receivers.get("main") or next(iter(receivers.values()))))
    if not key:
        key = pick_key(control_keys(h / "receivers-config.yaml"), "readonly")
        if not key:
            raise CommandError(f"no control key: pass --key (or set FUSTOR_KEY); none found in "
                               f"{h / 'receivers-config.yaml'}", EXIT_USAGE, code="no_key")
    return Target(url, key, view, as_json, partial)


def _path(path: str | None) -> str:
    from fustor.schema.paths import PathError, normalize_path

    if path is None or path == "":
        return "/"
    try:
        return normalize_path(path)
    except PathError as exc:
        raise CommandError(str(exc), EXIT_USAGE, code="invalid") from None


_REMOTE_EXIT = {"not_ready": EXIT_NOT_READY, "not_found": EXIT_NOT_FOUND, "invalid": EXIT_USAGE,
                "bad_message": EXIT_USAGE, "forbidden": EXIT_USAGE, "unauthorized": EXIT_USAGE}


def _run(t: Target, body: Callable[[Any], Awaitable[int | None]]) -> int:
    """Connect, run ``body(client)``, map client errors to exit codes."""
    import asyncio

    from fustor.client import ClientError, ConnectionLost, ControlClient, Refused, RemoteError

    async def main() -> int | None:
        async with await ControlClient.connect(t.url, t.key, client="fustor-query", open_timeout=10.0) as c:
            return await body(c)

    try:
        return asyncio.run(main()) or EXIT_OK
    except ValueError as exc:  # a bad --connect URL
        raise CommandError(str(exc), EXIT_USAGE, code="invalid") from None
    except Refused as exc:
        raise CommandError(f"{t.url} refused the connection: {exc.message}", EXIT_USAGE,
                           code=exc.code) from None
    except RemoteError as exc:
        raise CommandError(exc.message, _REMOTE_EXIT.get(exc.code, EXIT_FAILED), code=exc.code,
                           details=exc.details) from None
    except ConnectionLost as exc:
        raise CommandError(str(exc.message), EXIT_USAGE, code=exc.code) from None
    except ClientError as exc:
        raise CommandError(str(exc), EXIT_FAILED, code=exc.code) from None


async def _view(c: Any, t: Target) -> str:
    if t.view:
        return t.view
    views = [v.get("view") for v in (await c.status()).get("views", [])]
    if len(views) == 1:
        return views[0]
    if not views:
        raise CommandError("fusion has no views", EXIT_NOT_FOUND, code="not_found")
    raise CommandError(f"fusion has {len(views)} views ({', '.join(views)}): pass --view NAME", EXIT_USAGE,
                       code="invalid")


def _partial(t: Target) -> bool | None:
    return True if t.partial else None


def _prepare(name: str, as_json: bool, setup: Callable[[], Any]) -> Any:
    """``setup()``; its :class:`CommandError` is reported the way the commands report theirs."""
    try:
        return setup()
    except CommandError as exc:
        report(f"fustor query {name}", exc, json_errors=as_json)


def _setup(name: str, connect: str | None, key: str | None, home: Path | None, view: str | None, as_json: bool,
           partial: bool, path: str | None) -> tuple[Target, str]:
    return _prepare(name, as_json, lambda: (_target(connect, key, home, view, as_json, partial), _path(path)))


def _go(name: str, t: Target, body: Callable[[Any], Awaitable[int | None]]) -> None:
    guarded(f"fustor query {name}", lambda: _run(t, body), json_errors=t.json)


# --- rendering helpers --------------------------------------------------------------------


def _flags(e: dict[str, Any]) -> str:
    marks = []
    if e.get("kind") == "dir":
        if e.get("blind_spot"):
            marks.append("[red]blind[/]")
        for field, word, color in (("suspects", "suspect", "yellow"), ("blind_spots", "blind", "red"),
                                   ("not_known_by_agent", "unknown", "magenta")):
            n = e.get(field)
            if n:
                marks.append(f"[{color}]{n} {word}[/]")
        if e.get("implicit"):
            marks.append("[dim]implicit[/]")
        return ", ".join(marks)
    if e.get("suspect"):
        marks.append("[yellow]suspect[/]")
    if e.get("blind_spot"):
        marks.append("[red]blind[/]")
    if e.get("known_by_agent") is False:
        marks.append("[magenta]unknown[/]")
    return " ".join(marks)


def _name(e: dict[str, Any], field: str = "name") -> str:
    from rich.markup import escape

    text = escape(str(e.get(field, "")))
    if e.get("kind") == "dir":
        return f"[bold blue]{text}{'/' if text != '/' else ''}[/]"
    if e.get("kind") == "symlink":
        return f"[cyan]{text}[/]"
    return text


def _entries_table(entries: list[dict[str, Any]], *, name_field: str = "name", view_col: bool = False):
    from rich.table import Table

    now = time.time()
    table = Table(show_edge=False, pad_edge=False, box=None, header_style="bold")
    if view_col:
        table.add_column("view")
    table.add_column(name_field, overflow="fold")
    table.add_column("size", justify="right", no_wrap=True)
    table.add_column("files", justify="right", no_wrap=True)
    table.add_column("modified", justify="right", no_wrap=True)
    table.add_column("flags")
    for e in entries:
        is_dir = e.get("kind") == "dir"
        when = e.get("newest_mtime") if is_dir else e.get("mtime")
        row = [_name(e, name_field), human_size(e.get("size")), str(e.get("files", "")) if is_dir else "",
               human_age(when, now), _flags(e)]
        table.add_row(*([str(e.get("view", ""))] if view_col else []), *row)
    return table


# --- ls ---------------------------------------------------------------------------


@app.command("ls", epilog=EXITS)
def ls(
    path: Annotated[Optional[str], typer.Argument(help="A directory in the view (default /).", metavar="PATH",
                                                  show_default=False)] = None,
    limit: Annotated[Optional[int], typer.Option("--limit", "-n", help="Entries per page (server default 100).",
                                                 min=1, max=10_000, show_default=False)] = None,
    sort: Annotated[str, typer.Option("--sort", help="name, size, mtime or count.")] = "name",
    reverse: Annotated[bool, typer.Option("--reverse", "-r", help="Largest / newest / last first.")] = False,
    all_pages: Annotated[bool, typer.Option("--all", "-a", help="Follow next_cursor: every entry.")] = False,
    cursor: Annotated[Optional[str], typer.Option("--cursor", help="Start after this cursor (from --json).",
                                                  show_default=False)] = None,
    view: ViewOpt = None, connect: ConnectOpt = None, key: KeyOpt = None, home: HomeOpt = None,
    as_json: JsonOpt = False, partial: PartialOpt = False,
) -> None:  # fmt: skip
    """List a directory: name, size, files below, last modification, flags (suspect, blind, unknown)."""
    t, p = _setup("ls", connect, key, home, view, as_json, partial, path)
    if sort not in ("name", "size", "mtime", "count"):
        raise typer.BadParameter("must be name, size, mtime or count", param_hint="--sort")

    async def body(c: Any) -> int:
        from rich.markup import escape

        from fustor.client import RemoteError

        v = await _view(c, t)
        page_size = limit or (1000 if all_pages else None)
        try:
            reply = await c.ls(v, p, limit=page_size, cursor=cursor, sort=sort, reverse=reverse or None,
                               partial=_partial(t))
        except RemoteError as exc:
            if exc.code == "invalid" and "not a directory" in exc.message:
                reply = await c.stats(v, p, partial=_partial(t))  # ls of a file shows the file
                reply = {"path": p, "total": 1, "sort": sort, "reverse": reverse, "entries": [reply],
                         "next_cursor": None}
            else:
                raise
        while all_pages and reply.get("next_cursor"):
            more = await c.ls(v, p, limit=page_size, cursor=reply["next_cursor"], sort=sort,
                              reverse=reverse or None, partial=_partial(t))
            reply["entries"] += more.get("entries", [])
            reply["next_cursor"] = more.get("next_cursor")
        if t.json:
            print_json(reply)
            return EXIT_OK
        out = console()
        entries = reply.get("entries", [])
        if entries:
            out.print(_entries_table(entries))
        shown, total = len(entries), reply.get("total", len(entries))
        foot = f"[dim]{shown} of {total} entr{'y' if total == 1 else 'ies'} in {escape(p)} (view {escape(v)})"
        if reply.get("next_cursor"):
            foot += "; --all for the rest"
        out.print(foot + "[/]")
        return EXIT_OK

    _go("ls", t, body)


# --- tree -------------------------------------------------------------------------


@app.command("tree", epilog=EXITS)
def tree(
    path: Annotated[Optional[str], typer.Argument(help="The top of the tree (default /).", metavar="PATH",
                                                  show_default=False)] = None,
    depth: Annotated[int, typer.Option("--depth", "-d", help="Levels below PATH.", min=0)] = 2,
    full: Annotated[bool, typer.Option("--full", help="Full entries (sizes, counts, flags), not only paths.")] = False,
    max_nodes: Annotated[Optional[int], typer.Option("--max-nodes", help="At most this many nodes (server "
                                                     "default 10000).", min=1, show_default=False)] = None,
    view: ViewOpt = None, connect: ConnectOpt = None, key: KeyOpt = None, home: HomeOpt = None,
    as_json: JsonOpt = False, partial: PartialOpt = False,
) -> None:  # fmt: skip
    """The subtree below a path, to --depth levels."""
    t, p = _setup("tree", connect, key, home, view, as_json, partial, path)

    async def body(c: Any) -> int:
        from rich.markup import escape
        from rich.tree import Tree

        from fustor.schema.paths import name_of

        v = await _view(c, t)
        # Text output asks for full entries anyway, to tell directories from files at the depth limit.
        reply = await c.tree(v, p, depth=depth, full=(full or not t.json) or None, max_nodes=max_nodes,
                             partial=_partial(t))
        if t.json:
            print_json(reply)
            return EXIT_OK

        def label(node: Any) -> str:
            if isinstance(node, str):
                return escape(name_of(node) or "/")
            name = name_of(node.get("path", "")) or "/"
            is_dir = "children" in node or node.get("kind") == "dir"
            text = f"[bold blue]{escape(name)}{'/' if name != '/' else ''}[/]" if is_dir else escape(name)
            if full:
                bits = [human_size(node.get("size"))]
                if node.get("kind") == "dir":
                    n = node.get("files", 0)
                    bits.append(f"{n} file{'' if n == 1 else 's'}")
                flags = _flags(node)
                text += f"  [dim]{', '.join(bits)}[/]" + (f"  {flags}" if flags else "")
            return text

        def add(branch: Any, node: Any) -> None:
            for child in node.get("children", []) if isinstance(node, dict) else []:
                add(branch.add(label(child)), child)

        root = reply.get("tree")
        top = Tree(label(root))
        add(top, root)
        out = console()
        out.print(top)
        if reply.get("truncated"):
            out.print("[dim](truncated: raise --max-nodes or lower --depth)[/]")
        return EXIT_OK

    _go("tree", t, body)


# --- stats ------------------------------------------------------------------------


@app.command("stats", epilog=EXITS)
def stats(
    path: Annotated[Optional[str], typer.Argument(help="A path in the view (default /).", metavar="PATH",
                                                  show_default=False)] = None,
    view: ViewOpt = None, connect: ConnectOpt = None, key: KeyOpt = None, home: HomeOpt = None,
    as_json: JsonOpt = False, partial: PartialOpt = False,
) -> None:  # fmt: skip
    """One entry in full: size, counts below it, times, owner, flags."""
    t, p = _setup("stats", connect, key, home, view, as_json, partial, path)

    async def body(c: Any) -> int:
        from rich.table import Table

        v = await _view(c, t)
        e = await c.stats(v, p, partial=_partial(t))
        if t.json:
            print_json(e)
            return EXIT_OK
        table = Table(show_header=False, show_edge=False, pad_edge=False, box=None)
        table.add_column(style="bold")
        table.add_column(overflow="fold")
        rows: list[tuple[str, str]] = [("path", f"{e.get('path', p)} (view {v})"), ("kind", str(e.get("kind")))]
        size = e.get("size")
        rows.append(("size", f"{human_size(size)} ({size} bytes)" if isinstance(size, int) else "-"))
        if e.get("kind") == "dir":
            rows += [("files", str(e.get("files", 0))), ("dirs", str(e.get("dirs", 0))),
                     ("newest mtime", f"{human_age(e.get('newest_mtime'))} ({iso_time(e.get('newest_mtime'))})"),
                     ("suspects", str(e.get("suspects", 0))), ("blind spots", str(e.get("blind_spots", 0))),
                     ("not known by agent", str(e.get("not_known_by_agent", 0)))]
        rows += [("mtime", f"{human_age(e.get('mtime'))} ({iso_time(e.get('mtime'))})"),
                 ("ctime", iso_time(e.get("ctime"))), ("flags", _flags(e) or "-"),
                 ("inode", str(e.get("inode"))),
                 ("mode", _mode(e.get("mode"))),
                 ("uid:gid", f"{e.get('uid')}:{e.get('gid')}")]
        for k, val in rows:
            table.add_row(k, val)
        console().print(table)
        return EXIT_OK

    _go("stats", t, body)


def _n(n: Any, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def _mode(mode: Any) -> str:
    import stat as st

    return f"{st.filemode(mode)} ({mode & 0o7777:04o})" if isinstance(mode, int) else "-"


# --- summary ----------------------------------------------------------------------

_VERDICT_STYLE = {"complete": "bold green", "writing": "bold yellow", "unvouched": "bold magenta",
                  "absent": "bold red"}


@app.command("summary", epilog=EXITS)
def summary(
    path: PathArg,
    force_real_time: Annotated[bool, typer.Option("--force-real-time", help="Have the view's leader rescan PATH "
                                                  "first.")] = False,
    timeout: Annotated[Optional[float], typer.Option("--timeout", help="With --force-real-time: seconds to wait "
                                                     "for the scan (server default 5).", min=0,
                                                     show_default=False)] = None,
    view: ViewOpt = None, connect: ConnectOpt = None, key: KeyOpt = None, home: HomeOpt = None,
    as_json: JsonOpt = False, partial: PartialOpt = False,
) -> None:  # fmt: skip
    """Is the upload at PATH complete? Exit 0 complete, 3 writing, 4 unvouched, 5 absent."""
    t, p = _setup("summary", connect, key, home, view, as_json, partial, path)

    async def body(c: Any) -> int:
        v = await _view(c, t)
        r = await c.summary(v, p, force_real_time=force_real_time or None, timeout=timeout, partial=_partial(t))
        verdict = str(r.get("verdict"))
        code = VERDICT_EXIT.get(verdict, EXIT_FAILED)
        if t.json:
            print_json(r)
            return code
        from rich.markup import escape

        out = console()
        style = _VERDICT_STYLE.get(verdict, "bold")
        out.print(f"{escape(p)}: [{style}]{escape(verdict.upper())}[/] (view {escape(v)})")
        if r.get("exists"):
            out.print(f"  {_n(r.get('files', 0), 'file')}, {_n(r.get('dirs', 0), 'dir')}, {human_size(r.get('size'))}; "
                      f"newest modified {human_age(r.get('newest_mtime'))}"
                      + (f" ({human_duration(r.get('newest_age_s'))} by storage time)"
                         if r.get("newest_age_s") is not None else ""))
            out.print(f"  suspects {r.get('suspects', 0)}, blind-spot additions {r.get('blind_spot_additions', 0)}, "
                      f"deletions {r.get('blind_spot_deletions', 0)}, not known by agent "
                      f"{r.get('not_known_by_agent', 0)}")
        if r.get("job_id"):
            state = "still pending" if r.get("job_pending") else (r.get("job") or {}).get("state", "done")
            out.print(f"  rescan job {r['job_id']}: {state}")
        if r.get("last_audit_completed_at"):
            out.print(f"  last audit completed {human_age(r['last_audit_completed_at'])}")
        for reason in r.get("reasons") or ():
            out.print(f"  - {escape(str(reason))}")
        return code

    _go("summary", t, body)


# --- search -----------------------------------------------------------------------


@app.command("search", epilog=EXITS)
def search(
    pattern: Annotated[str, typer.Argument(help="A glob (default) or, with --regex, a regular expression.",
                                           metavar="PATTERN")],
    regex: Annotated[bool, typer.Option("--regex", help="PATTERN is a regular expression.")] = False,
    path_field: Annotated[bool, typer.Option("--path-field", help="Match the whole path, not the name.")] = False,
    kind: Annotated[Optional[str], typer.Option("--kind", help="file, dir or symlink.", show_default=False)] = None,
    under: Annotated[Optional[str], typer.Option("--under", help="Only below this path.", metavar="PATH",
                                                 show_default=False)] = None,
    limit: Annotated[Optional[int], typer.Option("--limit", "-n", help="At most this many results (server "
                                                 "default 100).", min=1, show_default=False)] = None,
    view: Annotated[Optional[str], typer.Option("--view", "-v", help="Search this view only (default: every "
                                                "ready view).", metavar="NAME", show_default=False)] = None,
    connect: ConnectOpt = None, key: KeyOpt = None, home: HomeOpt = None, as_json: JsonOpt = False,
    partial: PartialOpt = False,
) -> None:  # fmt: skip
    """Entries whose name (or path) matches PATTERN, in one view or in all of them."""
    if kind not in (None, "file", "dir", "symlink"):
        raise typer.BadParameter("must be file, dir or symlink", param_hint="--kind")
    t, sub = _prepare("search", as_json, lambda: (_target(connect, key, home, view, as_json, partial),
                                        _path(under) if under else None))

    async def body(c: Any) -> int:
        r = await c.search(pattern, view=t.view, mode="regex" if regex else None,
                           field="path" if path_field else None, kind=kind, path=sub, limit=limit,
                           partial=_partial(t))
        if t.json:
            print_json(r)
            return EXIT_OK
        out = console()
        results = r.get("results", [])
        if results:
            out.print(_entries_table(results, name_field="path", view_col=t.view is None))
        views = ", ".join(r.get("views") or []) or "none ready"
        foot = f"[dim]{len(results)} result{'' if len(results) == 1 else 's'} (views: {views})"
        if r.get("truncated"):
            foot += "; truncated, raise --limit"
        out.print(foot + "[/]")
        return EXIT_OK

    _go("search", t, body)


# --- suspects and blind spots ---------------------------------------------------------------


@app.command("suspects", epilog=EXITS)
def suspects(
    path: Annotated[Optional[str], typer.Argument(help="Only below this path (default /).", metavar="PATH",
                                                  show_default=False)] = None,
    limit: Annotated[Optional[int], typer.Option("--limit", "-n", help="At most this many (server default 1000).",
                                                 min=1, show_default=False)] = None,
    view: ViewOpt = None, connect: ConnectOpt = None, key: KeyOpt = None, home: HomeOpt = None,
    as_json: JsonOpt = False, partial: PartialOpt = False,
) -> None:  # fmt: skip
    """Files that may still be written (suspect), longest-suspect first."""
    t, p = _setup("suspects", connect, key, home, view, as_json, partial, path)

    async def body(c: Any) -> int:
        from rich.markup import escape
        from rich.table import Table

        v = await _view(c, t)
        r = await c.suspects(v, p, limit=limit, partial=_partial(t))
        if t.json:
            print_json(r)
            return EXIT_OK
        out = console()
        rows = r.get("suspects", [])
        if rows:
            table = Table(show_edge=False, pad_edge=False, box=None, header_style="bold")
            table.add_column("path", overflow="fold")
            for col in ("size", "modified", "suspect for", "expires in"):
                table.add_column(col, justify="right", no_wrap=True)
            table.add_column("evidence")
            now = time.time()
            for s in rows:
                ev = s.get("evidence")
                table.add_row(escape(str(s.get("path"))), human_size(s.get("size")), human_age(s.get("mtime"), now),
                              human_duration(s.get("suspect_for_s")), human_duration(s.get("expires_in_s")),
                              escape(", ".join(map(str, ev)) if isinstance(ev, list) else str(ev or "")))
            out.print(table)
        out.print(f"[dim]{len(rows)} shown; {r.get('count', len(rows))} suspect in view {v}[/]")
        return EXIT_OK

    _go("suspects", t, body)


@app.command("blind-spots", epilog=EXITS)
def blind_spots(
    path: Annotated[Optional[str], typer.Argument(help="Only below this path (default /).", metavar="PATH",
                                                  show_default=False)] = None,
    limit: Annotated[Optional[int], typer.Option("--limit", "-n", help="At most this many of each (server "
                                                 "default 1000).", min=1, show_default=False)] = None,
    view: ViewOpt = None, connect: ConnectOpt = None, key: KeyOpt = None, home: HomeOpt = None,
    as_json: JsonOpt = False, partial: PartialOpt = False,
) -> None:  # fmt: skip
    """Entries that appeared or vanished where no agent watches (seen only by scans)."""
    t, p = _setup("blind-spots", connect, key, home, view, as_json, partial, path)

    async def body(c: Any) -> int:
        from rich.markup import escape

        v = await _view(c, t)
        r = await c.blind_spots(v, p, limit=limit, partial=_partial(t))
        if t.json:
            print_json(r)
            return EXIT_OK
        out = console()
        if not r.get("has_blind_spot"):
            out.print(f"no blind spots below {escape(p)} (view {escape(v)})")
            return EXIT_OK
        for title, items, count, color in (("appeared", r.get("additions", []), r.get("additions_count", 0), "red"),
                                           ("vanished", r.get("deletions", []), r.get("deletions_count", 0),
                                            "magenta")):
            if not count:
                continue
            out.print(f"[bold {color}]{count} {title}[/] where no agent watches:")
            for item in items:
                out.print(f"  {escape(str(item))}")
            if count > len(items):
                out.print(f"  [dim]... and {count - len(items)} more (raise --limit)[/]")
        return EXIT_OK

    _go("blind-spots", t, body)
