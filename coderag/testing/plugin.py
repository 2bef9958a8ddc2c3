"""The ``pytest11`` entry point of coderag's testing kit.

It is inert: it defines no autouse fixtures and changes nothing unless a test
module uses the kit's classes or fixtures explicitly.
"""
from __future__ import annotations
