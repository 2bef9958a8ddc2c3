"""Plain git hooks that keep the index current: install, chain, uninstall.

Like pre-commit's installer: our hook scripts carry a marker line so we
recognise them; a foreign hook already in place is moved to
``<hook>.coderag-chained`` and run first by ours; ``core.hooksPath`` is
honoured.  The hooks start a detached update and return at once, so a
commit never waits for indexing.
"""
from __future__ import annotations

import os
import shlex
import stat
import sys
from pathlib import Path

from coderag.errors import CoderagError
from coderag.gitio import Repo

HOOK_TYPES = ("post-commit", "post-checkout", "post-merge", "post-rewrite")
MARKER = "# coderag-hook: managed by `git coderag install-hooks`"
CHAINED_SUFFIX = ".coderag-chained"


def hook_script(python: str | None = None) -> str:
    """The script installed for every hook type.

    ``install-hooks`` pins the Python that runs coderag (so GUI git clients
    with another PATH still work); the copies in ``hooks/`` of the source
    tree are made with ``python=None`` and use ``git-coderag`` from PATH.
    """
    if python:
        run = (f'CODERAG_PYTHON={shlex.quote(python)}\n'
               'if [ -x "$CODERAG_PYTHON" ]; then\n'
               '    "$CODERAG_PYTHON" -m coderag index --background --quiet >/dev/null 2>&1 || true\n'
               'elif command -v git-coderag >/dev/null 2>&1; then\n'
               '    git-coderag index --background --quiet >/dev/null 2>&1 || true\n'
               'fi\n')
    else:
        run = ('if command -v git-coderag >/dev/null 2>&1; then\n'
               '    git-coderag index --background --quiet >/dev/null 2>&1 || true\n'
               'fi\n')
    return f"""#!/bin/sh
{MARKER}
# Runs a hook that was here before (if any), then starts a background index
# update and returns at once: the commit/checkout never waits for indexing.
chained="$0{CHAINED_SUFFIX}"
status=0
if [ -x "$chained" ]; then
    "$chained" "$@" || status=$?
fi
{run}exit $status
"""


def hooks_dir(repo: Repo) -> Path:
    out = repo.git("rev-parse", "--git-path", "hooks").decode("utf-8", "surrogateescape").strip()
    path = Path(out)
    return path if path.is_absolute() else repo.root / path


def _is_ours(path: Path) -> bool:
    try:
        return MARKER in path.read_text(errors="replace")
    except (FileNotFoundError, IsADirectoryError):
        return False


def install_hooks(repo: Repo, force: bool = False) -> list[str]:
    """Install our hooks; returns one line per hook saying what was done."""
    directory = hooks_dir(repo)
    directory.mkdir(parents=True, exist_ok=True)
    script = hook_script(sys.executable)
    lines = []
    for name in HOOK_TYPES:
        path = directory / name
        chained = directory / (name + CHAINED_SUFFIX)
        if path.is_symlink() and not force:
            raise CoderagError(f"{path} is a symlink (managed by another tool?); use --force to replace it")
        if path.exists() and not _is_ours(path):
            if chained.exists() and not force:
                raise CoderagError(f"both {path} and {chained} exist; move one away or use --force")
            os.replace(path, chained)
            lines.append(f"{name}: installed, chaining the existing hook ({chained.name})")
        else:
            lines.append(f"{name}: {'updated' if path.exists() else 'installed'}")
        path.write_text(script)
        path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return lines


def uninstall_hooks(repo: Repo) -> list[str]:
    """Remove our hooks and put chained foreign hooks back."""
    directory = hooks_dir(repo)
    lines = []
    for name in HOOK_TYPES:
        path = directory / name
        chained = directory / (name + CHAINED_SUFFIX)
        if _is_ours(path):
            path.unlink()
            if chained.exists():
                os.replace(chained, path)
                lines.append(f"{name}: removed, restored the chained hook")
            else:
                lines.append(f"{name}: removed")
        elif path.exists():
            lines.append(f"{name}: left alone (not installed by coderag)")
    return lines
