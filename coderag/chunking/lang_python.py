"""Python definitions: functions, classes and their decorators."""
from __future__ import annotations

from coderag.chunking.syntax import Found
from coderag.chunking.syntax import LanguageSpec
from coderag.chunking.syntax import field_text


class PythonSpec(LanguageSpec):
    query = "[(function_definition) (class_definition)] @def"

    def classify(self, node):
        name = field_text(node, "name")
        if not name:
            return None
        parent = node.parent
        outer = parent if parent is not None and parent.type == "decorated_definition" else node
        body = node.child_by_field_name("body")
        if node.type == "class_definition":
            return Found(name, "class", True, outer, body)
        return Found(name, "function", False, outer, body)
