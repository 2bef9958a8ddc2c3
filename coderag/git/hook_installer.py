"""Plain git hooks that keep the index current: install, chain, uninstall.

Like pre-commit's installer: our hook scripts carry a marker line so we
recognise them; a foreign hook already in place is moved to
``<hook>.coderag-chained`` and run first by ours (with the same arguments
and stdin); ``core.hooksPath`` is honoured because the hooks directory comes
from ``git rev-parse --git-path hooks``.

The hooks never make git wait: after the chained hook, they start
``git coderag index --background`` detached from the hook (``&``, all
output to ``/dev/null``), so the hook itself returns in milliseconds; that
process records the request and starts (or reuses) the background updater,
whose outcome ``git coderag status`` shows.
"""
from __future__ import annotations

import os
import shlex
import sys
from pathlib import Path

from coderag.errors import CoderagError
from coderag.git.plumbing import Repo

HOOK_TYPES = ("post-commit", "post-checkout", "post-merge", "post-rewrite")
MARKER = "# coderag-hook: managed by `git coderag install-hooks`"
CHAINED_SUFFIX = ".coderag-chained"


def hook_script(python: str | None = None) -> str:
    """The script installed for every hook type.

    ``install-hooks`` pins the Python that runs coderag (so GUI git clients
    with another PATH still work); the copies in ``hooks/`` of the source
    tree are made with ``python=None`` and use ``git-coderag`` from PATH.
    ``-P`` keeps the hook's directory off ``sys.path``: in a bare repository
    the index directory itself is called ``coderag`` and would shadow the package.
    """
    detach = "</dev/null >/dev/null 2>&1 &"
    if python:
        run = (f'CODERAG_PYTHON={shlex.quote(python)}\n'
               'if [ -x "$CODERAG_PYTHON" ]; then\n'
               f'    ("$CODERAG_PYTHON" -P -m coderag index --background --quiet {detach})\n'
               'elif command -v git-coderag >/dev/null 2>&1; then\n'
               f'    (git-coderag index --background --quiet {detach})\n'
               'fi\n')
    else:
        run = ('if command -v git-coderag >/dev/null 2>&1; then\n'
               f'    (git-coderag index --background --quiet {detach})\n'
               'fi\n')
    return f"""#!/bin/sh
{MARKER}
# Runs a hook that was here before (if any), then asks for a background index
# update and returns at once: git never waits for indexing, and an indexing
# failure never fails the hook (`git coderag status` shows it).
chained="$0{CHAINED_SUFFIX}"
status=0
if [ -x "$chained" ]; then
    "$chained" "$@" || status=$?
fi
{run}exit $status
"""


def hooks_dir(repo: Repo) -> Path:
    """The directory git runs hooks from (``core.hooksPath`` if set)."""
    out = repo.git("rev-parse", "--git-path", "hooks").decode("utf-8", "surrogateescape").strip()
    path = Path(out)
    return path if path.is_absolute() else repo.root / path


def is_ours(path: Path) -> bool:
    """Whether ``path`` is a hook script written by :func:`install_hooks`."""
    try:
        with open(path, "rb") as handle:
            return MARKER.encode() in handle.read(4096)
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
        return False


def install_hooks(repo: Repo, force: bool = False) -> list[str]:
    """Install our hooks; returns one line per hook saying what was done.

    A foreign hook is kept as ``<hook>.coderag-chained`` and run first; a
    symlinked hook (another manager's) is replaced only with ``force``.
    """
    if repo.bare:
        raise CoderagError("a bare repository has no commits made in it to follow: install hooks in a clone")
    directory = hooks_dir(repo)
    directory.mkdir(parents=True, exist_ok=True)
    script = hook_script(sys.executable)
    lines = []
    for name in HOOK_TYPES:
        path = directory / name
        chained = directory / (name + CHAINED_SUFFIX)
        if path.is_symlink() and not force:
            raise CoderagError(f"{path} is a symlink (managed by another tool?); use --force to chain it anyway")
        if (path.exists() or path.is_symlink()) and not is_ours(path):
            if (chained.exists() or chained.is_symlink()) and not force:
                raise CoderagError(f"both {path} and {chained} exist; move one away or use --force")
            os.replace(path, chained)
            lines.append(f"{name}: installed, chaining the existing hook ({chained.name})")
        else:
            lines.append(f"{name}: {'updated' if path.exists() else 'installed'}")
        tmp = directory / f".{name}.coderag.tmp"
        tmp.write_text(script)
        tmp.chmod(0o755)
        os.replace(tmp, path)  # a hook git runs meanwhile is the old or the new one, never half
    if directory != (repo.git_dir / "hooks"):
        lines.append(f"note: hooks went to {directory} (core.hooksPath); other repositories using it get them too")
    return lines


def uninstall_hooks(repo: Repo) -> list[str]:
    """Remove our hooks and put chained foreign hooks back."""
    directory = hooks_dir(repo)
    lines = []
    for name in HOOK_TYPES:
        path = directory / name
        chained = directory / (name + CHAINED_SUFFIX)
        if is_ours(path):
            path.unlink()
            if chained.exists() or chained.is_symlink():
                os.replace(chained, path)
                lines.append(f"{name}: removed, restored the chained hook")
            else:
                lines.append(f"{name}: removed")
        elif path.exists():
            lines.append(f"{name}: left alone (not installed by coderag)")
    return lines
