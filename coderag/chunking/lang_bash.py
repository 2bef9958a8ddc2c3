"""Shell (bash/sh) definitions: functions, in both ``foo() {...}`` and ``function foo {...}`` forms.

Bodies may be any compound command (``{...}``, ``(...)`` subshells...).
Functions defined inside a function stay in it; ``#`` comments directly
above a function attach.  Everything else is module-level code.
"""
from __future__ import annotations

from coderag.chunking.syntax import Found
from coderag.chunking.syntax import LanguageSpec
from coderag.chunking.syntax import field_text


class BashSpec(LanguageSpec):
    query = "(function_definition) @def"

    def classify(self, node):
        name = field_text(node, "name")
        if not name:
            return None
        return Found(name, "function", False, node, node.child_by_field_name("body"))
