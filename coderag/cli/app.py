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


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``git coderag``; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
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
