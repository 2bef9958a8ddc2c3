"""``python -m coderag`` is ``git coderag``."""
import sys

from coderag.cli import main

sys.exit(main())
