"""Go definitions: functions, methods (``Type.Method``) and type declarations."""
from __future__ import annotations

import re

from coderag.chunking.syntax import Found
from coderag.chunking.syntax import LanguageSpec
from coderag.chunking.syntax import field_text

_TYPE_KINDS = {"struct_type": "struct", "interface_type": "interface"}


def _receiver_type(method) -> str:
    """``(s *Server[T])`` -> ``Server``."""
    receiver = method.child_by_field_name("receiver")
    param = receiver.named_children[0] if receiver is not None and receiver.named_children else None
    raw = field_text(param, "type") if param is not None else ""
    return re.sub(r"\[.*", "", raw.replace("*", "").strip())


class GoSpec(LanguageSpec):
    query = "[(function_declaration) (method_declaration) (type_spec) (type_alias)] @def"

    def classify(self, node):
        name = field_text(node, "name")
        if not name:
            return None
        body = node.child_by_field_name("body")
        if node.type == "function_declaration":
            return Found(name, "function", False, node, body)
        if node.type == "method_declaration":
            owner = _receiver_type(node)
            return Found(f"{owner}.{name}" if owner else name, "method", False, node, body)
        # type_spec / type_alias: the whole "type X ..." declaration when it declares only X.
        parent = node.parent
        outer = node
        if parent is not None and parent.type == "type_declaration" and parent.named_child_count == 1:
            outer = parent
        type_node = node.child_by_field_name("type")
        kind = _TYPE_KINDS.get(type_node.type if type_node is not None else "", "type")
        return Found(name, kind, True, outer, type_node if kind != "type" else None)


