"""Java definitions: classes, interfaces, enums, records, methods and constructors."""
from __future__ import annotations

from coderag.chunking.syntax import Found
from coderag.chunking.syntax import LanguageSpec
from coderag.chunking.syntax import field_text

_CONTAINERS = {
    "class_declaration": "class",
    "record_declaration": "class",
    "interface_declaration": "interface",
    "annotation_type_declaration": "interface",
    "enum_declaration": "enum",
}


class JavaSpec(LanguageSpec):
    query = (
        "[(class_declaration) (record_declaration) (interface_declaration)"
        " (annotation_type_declaration) (enum_declaration) (method_declaration)"
        " (constructor_declaration) (compact_constructor_declaration)] @def"
    )
    comment_types = frozenset({"line_comment", "block_comment"})

    def classify(self, node):
        name = field_text(node, "name")
        if not name:
            return None
        body = node.child_by_field_name("body")
        kind = _CONTAINERS.get(node.type)
        if kind is not None:
            return Found(name, kind, True, node, body)
        return Found(name, "function", False, node, body)
