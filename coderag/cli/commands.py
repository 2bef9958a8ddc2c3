"""The handlers behind each ``git coderag`` command (argument parsing is in :mod:`coderag.cli.parser`)."""
from __future__ import annotations

import sys
import time
from argparse import Namespace

from coderag.cli.output import print_json
from coderag.errors import CoderagError


def _open_index(args: Namespace):
    from coderag.index import Index

    return Index.open(args.directory)


# ---------------------------------------------------------------------------
def cmd_index(args: Namespace) -> int:
    if args.background:
        return _request_background(args)
    index = _open_index(args)
    progress = None
    if not (args.quiet or args.json) and sys.stderr.isatty():
        from coderag.cli.progress import TerminalProgress

        progress = TerminalProgress()
    try:
        report = index.update(args.rev, staged=args.staged, full=args.full, wait=not args.no_wait,
                              progress=progress)
    finally:
        if progress is not None:
            progress.close()
    if args.json:
        print_json(report.to_dict())
    elif not args.quiet:
        _print_report(report, args.stats)
    indexed_anything = report.files_added or report.files_unchanged or not report.errors
    return 0 if indexed_anything else 1


def _print_report(report, stats: bool) -> None:
    what = "staged content" if report.target == ":staged" else (report.commit or "")[:12]
    if report.rebuilt_because:
        print(f"built a new index ({report.rebuilt_because})")
    print(f"indexed {what}: +{report.files_added} files, -{report.files_removed}, "
          f"{report.files_unchanged} unchanged, {report.files_skipped} skipped; "
          f"{report.chunks_added} chunks ({report.chunks_embedded} embedded, {report.chunks_cached} reused) "
          f"in {report.seconds.get('total', 0):.2f}s")
    for stage, count in sorted(report.errors.items()):
        print(f"  {count} file(s) failed at {stage}")
    for example in report.error_examples[:5]:
        print(f"    {example['path']}: {example['stage']}: {example['reason']}")
    if stats:
        _print_stats(report)


STAGE_ORDER = ("read", "chunk", "embed", "store", "store_commit")


def _print_stats(report) -> None:
    """``--stats``: throughput, CPU, per-stage time and share, peak memory, errors."""
    rates = report.rates()
    wall = report.seconds.get("total", 0.0)
    print(f"  {rates['files_per_s']} files/s, {rates['chunks_per_s']} chunks/s, {rates['mb_per_s']} MB/s; "
          f"wall {wall:.2f}s, CPU {report.cpu_seconds:.2f}s, workers={report.workers}")
    stages = sorted((k for k in report.seconds if k != "total"),
                    key=lambda k: (STAGE_ORDER.index(k) if k in STAGE_ORDER else len(STAGE_ORDER), k))
    print("  stage          busy s   share  (read/chunk/embed summed over workers)")
    for stage in stages:
        print(f"  {stage:<13} {report.seconds[stage]:8.2f}  {100 * rates['stage_share'].get(stage, 0):5.1f}%")
    peak = report.peak_rss_mb
    if peak:
        workers = f", largest worker {peak['workers']:.0f} MB" if peak.get("workers") else ""
        print(f"  peak RSS: writer {peak['writer']:.0f} MB{workers}")
    errors = ", ".join(f"{stage} {count}" for stage, count in sorted(report.errors.items())) or "none"
    print(f"  errors: {errors}; skipped: {report.files_skipped}")


def _request_background(args: Namespace) -> int:
    """Ask for a detached update and return at once: git hooks must never wait or fail.

    Imports nothing heavy (no numpy, no model).  Any problem is reported on
    stderr and recorded for ``status``, and the exit status stays 0, so a
    pre-commit hook never blocks a commit.
    """
    from coderag.indexing.background import request_update
    from coderag.git.plumbing import Repo

    location = None
    try:
        repo = Repo.discover(args.directory)
        from coderag.ondisk.layout import IndexLocation

        location = IndexLocation(repo.index_dir())
        outcome = request_update(repo, args.rev, staged=args.staged, full=args.full)
    except Exception as exc:
        message = str(exc).splitlines()[0] if isinstance(exc, CoderagError) else f"{type(exc).__name__}: {exc}"
        print(f"coderag: warning: background update not started: {message}", file=sys.stderr)
        if location is not None:
            try:
                location.write_status({"ok": False, "finished_at": time.time(), "error": message})
            except OSError:
                pass
        return 0
    if not args.quiet:
        print(f"coderag: update {outcome} in the background (`git coderag status` shows it)")
    return 0


# ---------------------------------------------------------------------------
def cmd_search(args: Namespace) -> int:
    index = _open_index(args)
    if args.wait:
        _wait_for_update(index)
    query = " ".join(args.query)
    hits = index.search(query, k=args.k, mode=args.mode, path=args.path, language=args.lang)
    status = _freshness(index)
    if args.json:
        print_json({"query": query, **status, "results": [h.to_dict() for h in hits]})
        return 0
    if status["stale"]:
        print(f"coderag: note: the index is at {str(status['commit'])[:12]}, HEAD is {str(status['head'])[:12]}"
              f"{' (an update is running)' if status['updating'] else ''}", file=sys.stderr)
    if not hits:
        print("no results")
        return 0
    for hit in hits:
        symbol = f"  {hit.symbol}" if hit.symbol else ""
        print(f"{hit.path}:{hit.start_line}-{hit.end_line}  {hit.score:.3f}{symbol}")
        if not args.no_snippet:
            for line in _snippet(hit.text):
                print(f"    {line}")
    return 0


def _snippet(text: str, lines: int = 4, width: int = 110) -> list[str]:
    picked = [line.rstrip() for line in text.split("\n") if line.strip()][:lines]
    return [line if len(line) <= width else line[: width - 1] + "…" for line in picked]


def _freshness(index) -> dict:
    from coderag.indexing.background import background_state

    commit = index.indexed_commit
    head = index.repo.resolve("HEAD")
    state = background_state(index.location)
    return {"commit": commit, "head": head, "stale": index.is_stale(head),
            "updating": state["updating"] or state["pending"]}


def _wait_for_update(index, timeout: float = 600) -> None:
    from coderag.indexing.background import wait_until_idle
    from coderag.errors import IndexBusy

    def is_stale() -> bool:
        from coderag.index import behind_head
        from coderag.ondisk.manifest import Manifest
        from coderag.ondisk.layout import MANIFEST_NAME

        current = index.location.current()
        if current is None:
            return True
        try:
            manifest = Manifest(current / MANIFEST_NAME, readonly=True)
        except CoderagError:
            return True
        try:
            return behind_head(index.repo, manifest.meta(), index.repo.resolve("HEAD"))
        finally:
            manifest.close()

    if not wait_until_idle(index.location, timeout, is_stale):
        raise IndexBusy(f"an index update is still running after {timeout:.0f}s")


# ---------------------------------------------------------------------------
def cmd_status(args: Namespace) -> int:
    info = _open_index(args).status()
    if args.json:
        print_json(info)
        return 0
    print(f"repository: {info['repository']}")
    if info.get("error"):
        print(f"index: DAMAGED: {info['error']}")
    elif not info["indexed"]:
        print("index: none (run `git coderag index`)")
    else:
        target = {":staged": "staged content",
                  ":worktree": f"work tree (on {str(info.get('commit'))[:12]})"}.get(info.get("target") or "",
                                                                               info.get("commit"))
        print(f"indexed: {target}  ({'behind HEAD' if info['stale'] else 'current'})")
        print(f"files: {info.get('files', 0)} ({info.get('files_skipped', 0)} skipped), chunks: {info['chunks']}")
        print(f"embedder: {info['embedder']}")
        print(f"chunker: {info['chunker']}; stores: {info['vector_store']}, {info['lexical_store']}")
    if info.get("watch_pid"):
        print(f"watch running (pid {info['watch_pid']}): the index follows the work tree")
    if info["updating"]:
        print(f"update running (pid {info['update_pid']})")
    elif info.get("pending"):
        print("update requested, starting")
    last = info.get("last_background")
    if last:
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(last.get("finished_at", 0)))
        if not last.get("ok", True):
            print(f"last background update FAILED ({when}): {last.get('error')}")
        else:
            print(f"last background update: ok ({when})")
    return 0


def cmd_plugins(args: Namespace) -> int:
    from coderag.plugins import plugin_infos

    selected: dict[str, str] = {}
    try:  # inside a repository its git config filters plugins and selects backends
        from coderag.config import load_settings
        from coderag.git.plumbing import Repo

        selected = load_settings(Repo.discover(args.directory).root).backends
    except CoderagError:
        pass
    infos = plugin_infos()
    if args.json:
        rows = []
        for info in infos:
            row = dict(info.__dict__)
            row["selected"] = {kind: name for kind, name in selected.items()
                               if name in info.backends.get(kind, [])}
            rows.append(row)
        print_json(rows)
        return 0
    for info in infos:
        origin = f"builtin, coderag {info.version}" if info.builtin else f"{info.distribution} {info.version}".strip()
        state = " DISABLED" if info.disabled else (" BROKEN" if info.error else "")
        print(f"{info.name} ({origin}){state}")
        for kind, names in sorted(info.backends.items()):
            shown = [f"{n} *" if selected.get(kind) == n else n for n in names]
            print(f"  {kind.replace('_', ' ')}: {', '.join(shown)}")
        if info.error:
            print(f"  error: {info.error}")
    if selected:
        print("(* selected by this repository's configuration)")
    return 0


def cmd_install_hooks(args: Namespace) -> int:
    from coderag.git.hook_installer import install_hooks

    index = _open_index(args)
    for line in install_hooks(index.repo, force=args.force):
        print(line)
    return 0


def cmd_uninstall_hooks(args: Namespace) -> int:
    from coderag.git.hook_installer import uninstall_hooks

    index = _open_index(args)
    for line in uninstall_hooks(index.repo):
        print(line)
    return 0


def cmd_watch(args: Namespace) -> int:
    try:
        from coderag.indexing.watch import watch
    except ImportError as exc:
        raise CoderagError(f"watch mode is unavailable: {exc}") from None
    return watch(_open_index(args), quiet=args.quiet)


def cmd_mcp(args: Namespace) -> int:
    from coderag.mcp.server import serve

    serve(args.directory, http=args.http)
    return 0
