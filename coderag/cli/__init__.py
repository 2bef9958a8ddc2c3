"""The ``git coderag`` command line: parser, handlers and terminal output.

``coderag.cli:main`` is the console-script entry point.
"""
from coderag.cli.app import main

__all__ = ["main"]
