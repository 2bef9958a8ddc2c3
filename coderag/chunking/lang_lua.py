"""Lua definitions: function declarations, functions stored in variables and table fields.

``function M.name()`` is ``M.name``, ``function M:name()`` the method
``M.name``, ``local function name()`` and ``function name()`` are functions.
A function expression is a definition when it is named by where it is stored:
``M.name = function () end``, ``local f = function () end`` or a table field
``{ name = function () end }``.  A table constructor stored in a variable is a
scope (kind ``object``) when it holds such fields, like a JavaScript object
literal; a module table built up with ``function M.x()`` statements and
returned at the end is not a node, its functions are top-level definitions.
``--`` comments directly above a definition are its doc comment.
"""
from __future__ import annotations

from coderag.chunking.syntax import Found
from coderag.chunking.syntax import LanguageSpec
from coderag.chunking.syntax import field_text
from coderag.chunking.syntax import text_of


def _dotted(raw: str) -> str:
    return raw.replace(" ", "").replace(":", ".")


def _stored_as(node):
    """Name and outer node of a function/table expression named by where it is stored, or None."""
    parent = node.parent
    if parent is None:
        return None
    if parent.type == "field" and parent.child_by_field_name("value") == node:
        return field_text(parent, "name").strip("'\"[]"), parent
    assignment = parent.parent if parent.type == "expression_list" else None
    if assignment is None or assignment.type != "assignment_statement" or parent.named_child_count != 1:
        return None
    variables = next((c for c in assignment.named_children if c.type == "variable_list"), None)
    if variables is None or variables.named_child_count != 1:
        return None
    declaration = assignment.parent
    outer = declaration if declaration is not None and declaration.type == "variable_declaration" else assignment
    return _dotted(text_of(variables.named_children[0], 120)), outer


class LuaSpec(LanguageSpec):
    query = "[(function_declaration) (function_definition) (table_constructor)] @def"

    def classify(self, node):
        ntype = node.type
        if ntype == "function_declaration":
            name_node = node.child_by_field_name("name")
            kind = "method" if name_node is not None and name_node.type == "method_index_expression" else "function"
            return Found(_dotted(text_of(name_node, 120)), kind, False, node, None)
        stored = _stored_as(node)
        if stored is None or not stored[0]:
            return None
        name, outer = stored
        if ntype == "table_constructor":
            # A nested table's functions belong to the outer table; the chunker
            # drops object scopes that end up with no definitions.
            if outer.type == "field":
                return None
            return Found(name, "object", True, outer, None)
        return Found(name, "function", False, outer, None)
