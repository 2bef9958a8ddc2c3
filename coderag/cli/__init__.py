"""The ``git coderag`` command line: parser, handlers and terminal output.

``coderag.cli:run`` is the console-script entry point; :func:`main` is the same
command line for a caller in the same process.
"""
from coderag.cli.app import main
from coderag.cli.app import run

__all__ = ["main", "run"]
