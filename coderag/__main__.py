"""``python -m coderag`` is ``git coderag``."""
from coderag.cli import run

run()
