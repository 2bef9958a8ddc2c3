"""JavaScript, TypeScript and TSX definitions.

Besides declarations, a function or class *expression* is a definition when it
is named by where it is stored: ``const x = () => ...``, ``{ key: function () {} }``,
``module.exports.x = ...``, a class field, or ``export default``.  Anonymous
callbacks and IIFEs are not definitions: what they contain is searched as if
they were not there.
"""
from __future__ import annotations

from coderag.chunking.syntax import Found
from coderag.chunking.syntax import LanguageSpec
from coderag.chunking.syntax import field_text
from coderag.chunking.syntax import text_of

_FUNCTION_VALUES = ("arrow_function", "function_expression", "function", "generator_function")
_TS_TYPES = {
    "interface_declaration": "interface",
    "type_alias_declaration": "type",
    "enum_declaration": "enum",
    "internal_module": "namespace",
    "module": "namespace",
}


def _exported(node):
    parent = node.parent
    return parent if parent is not None and parent.type == "export_statement" else node


def _declaration_outer(declarator):
    """``const x = ...``: the whole declaration (and its ``export``) when it declares only ``x``."""
    decl = declarator.parent
    if decl is None or decl.type not in ("lexical_declaration", "variable_declaration"):
        return declarator
    if sum(1 for c in decl.named_children if c.type == "variable_declarator") != 1:
        return declarator
    return _exported(decl)


def _assigned_name(left) -> str:
    """``module.exports.x`` / ``exports.x`` -> ``x``; ``Foo.prototype.bar`` -> ``Foo.bar``."""
    name = text_of(left, 120).replace(" ", "")
    for prefix in ("module.exports.", "exports."):
        if name.startswith(prefix) and len(name) > len(prefix):
            return name[len(prefix) :]
    return name.replace(".prototype.", ".")


# Expressions a stored function may sit in: "x = cond ? a : function () {}",
# "x = wrap(function () {})", "x = (function () {...})()".
_VALUE_WRAPPERS = frozenset({
    "ternary_expression", "parenthesized_expression", "binary_expression", "arguments",
    "call_expression", "await_expression", "as_expression", "satisfies_expression",
})


def _stored_as(node):
    """Name, outer node and name-kind hint of a function/class/object expression, or None."""
    parent = node.parent
    for _ in range(4):
        if parent is None or parent.type not in _VALUE_WRAPPERS:
            break
        node, parent = parent, parent.parent
    if parent is None:
        return None
    ptype = parent.type
    if ptype == "variable_declarator" and parent.child_by_field_name("value") == node:
        return field_text(parent, "name"), _declaration_outer(parent), ""
    if ptype == "pair" and parent.child_by_field_name("value") == node:
        return field_text(parent, "key").strip("'\"`"), parent, ""
    if ptype == "assignment_expression" and parent.child_by_field_name("right") == node:
        left = parent.child_by_field_name("left")
        grand = parent.parent
        outer = grand if grand is not None and grand.type == "expression_statement" else parent
        hint = "method" if ".prototype." in text_of(left, 120) else ""
        return _assigned_name(left), outer, hint
    if ptype in ("public_field_definition", "field_definition"):
        name = field_text(parent, "name") or field_text(parent, "property")
        return name, parent, "method"
    if ptype == "export_statement":
        return "default", parent, ""
    return None


class JavaScriptSpec(LanguageSpec):
    query = (
        "[(function_declaration) (generator_function_declaration) (class_declaration)"
        " (method_definition) (arrow_function) (function_expression) (generator_function)"
        " (class) (object)] @def"
    )
    attach_types = frozenset({"decorator"})

    def classify(self, node):
        ntype = node.type
        body = node.child_by_field_name("body")
        if ntype in ("function_declaration", "generator_function_declaration"):
            return Found(field_text(node, "name"), "function", False, _exported(node), body)
        if ntype in ("class_declaration", "abstract_class_declaration"):
            return Found(field_text(node, "name"), "class", True, _exported(node), body)
        if ntype == "method_definition":
            return Found(field_text(node, "name"), "function", False, node, body)
        if ntype in _TS_TYPES:
            name = field_text(node, "name").strip("'\"`")
            return Found(name, _TS_TYPES[ntype], True, _exported(node), body)
        stored = _stored_as(node)
        if stored is None or not stored[0]:
            return None
        name, outer, hint = stored
        if ntype == "class":
            return Found(name, "class", True, outer, body)
        if ntype == "object":
            # Only a top-level-ish object literal holding functions is a scope;
            # the chunker drops object scopes that end up with no definitions.
            if node.parent.type in ("pair", "arguments"):
                return None
            return Found(name, "object", True, outer, node)
        return Found(name, hint or "function", False, outer, body)


class TypeScriptSpec(JavaScriptSpec):
    query = JavaScriptSpec.query[:-6] + (
        " (abstract_class_declaration) (interface_declaration) (type_alias_declaration)"
        " (enum_declaration) (internal_module) (module)] @def"
    )
