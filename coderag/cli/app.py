"""``git coderag``: the command line (installed as the ``git-coderag`` script).

Every expected failure prints one line, ``coderag: error: ...``, and exits
non-zero; tracebacks are for bugs only. Parsing is in :mod:`coderag.cli.parser`,
the handlers in :mod:`coderag.cli.commands` (imported only once a command is known).
"""
from __future__ import annotations

import os
import sys
from typing import Sequence

from coderag.cli.parser import build_parser

QUICK_EXIT_COMMANDS = frozenset({"search", "status", "plugins", "index"})
"""Commands whose process may end without the interpreter's teardown: they write nothing, or (``index``)
everything they wrote is committed, fsynced and closed, and their pool and threads joined, by the time
the handler returns."""


def run() -> None:
    """The ``git-coderag`` script: :func:`main`, then the process's exit.

    After a command of :data:`QUICK_EXIT_COMMANDS` the process ends with
    ``os._exit`` once its output is flushed: the interpreter's teardown
    (freeing numpy, Whoosh's modules, the tokenizer and the BLAS threads) cost
    a ``git coderag search`` ~40 ms of its ~0.3 s, and a commit hook's update
    as much, for nothing either needs.
    """
    sys.exit(main(quick_exit=True))


def main(argv: Sequence[str] | None = None, *, quick_exit: bool = False) -> int:
    """Entry point of ``git coderag``; returns the exit status.

    :param quick_exit: end the process right after a read-only command (the
        console script's choice; a caller in the same process keeps it off).
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    status = _dispatch(args)
    if quick_exit and args.command in QUICK_EXIT_COMMANDS:
        _exit_now(status)
    return status


def _exit_now(status: int) -> None:
    try:
        sys.stdout.flush()
    except BrokenPipeError:  # the reader went away (`| head`): as in _dispatch, not an error
        pass
    except OSError:  # e.g. a full disk: the output is lost, say so by the status
        status = status or 1
    try:
        sys.stderr.flush()
    except OSError:
        pass
    os._exit(status)


def _dispatch(args) -> int:
    from coderag.errors import CoderagError

    try:
        from coderag.cli import commands

        handler = getattr(commands, "cmd_" + args.command.replace("-", "_"))
        return handler(args)
    except CoderagError as exc:
        print(f"coderag: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("coderag: interrupted; the index is unchanged", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # `git coderag search ... | head`: the reader went away; not an error.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    sys.exit(main())
