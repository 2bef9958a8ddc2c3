"""Output helpers shared by the command handlers."""
from __future__ import annotations

import json
import sys


def print_json(data) -> None:
    """Print ``data`` as indented JSON (UTF-8 kept as is) on stdout."""
    json.dump(data, sys.stdout, indent=1, ensure_ascii=False)
    sys.stdout.write("\n")
