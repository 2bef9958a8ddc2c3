"""Ruby definitions: classes, modules, methods and singleton methods.

``class`` and ``module`` are containers (``A::B`` is named ``A.B``); a ``def``
in one is a method, ``def self.x`` / ``def Owner.x`` is a method named ``x``
under its owner.  ``class << self`` is transparent: its methods belong to the
enclosing class.  ``private def x`` spans its visibility call, and ``#``
comments directly above a definition are its doc comment, also the ones the
grammar puts before the first statement of a class body.
"""
from __future__ import annotations

from coderag.chunking.syntax import Found
from coderag.chunking.syntax import LanguageSpec
from coderag.chunking.syntax import field_text
from coderag.chunking.syntax import text_of

_CONTAINERS = {"class": "class", "module": "module"}
_SCOPES = frozenset({"class", "module", "singleton_class", "method", "singleton_method"})
_VISIBILITY = frozenset({
    "private", "protected", "public", "module_function", "private_class_method", "public_class_method",
})


def _dotted(raw: str) -> str:
    return raw.replace(" ", "").replace("::", ".")


def _scope(node):
    """The nearest enclosing class, module, ``class << self`` or method, or None."""
    parent = node.parent
    while parent is not None and parent.type not in _SCOPES:
        parent = parent.parent
    return parent


def _visibility_call(node):
    """``private def x ... end``: the ``private`` call around a method, else the method."""
    args = node.parent
    call = args.parent if args is not None and args.type == "argument_list" else None
    if call is not None and call.type == "call" and args.named_child_count == 1:
        if call.child_by_field_name("receiver") is None and field_text(call, "method") in _VISIBILITY:
            return call
    return node


class _FirstInBody:
    """A definition node that opens a class body, seen with the comments the grammar puts before the body.

    tree-sitter-ruby makes comments between ``class Foo`` and the first statement
    children of the class, not of its ``body_statement``: this continues
    ``prev_sibling`` there so they attach as doc comments.
    """

    def __init__(self, node, prev):
        self._node, self.prev_sibling = node, prev

    def __getattr__(self, name):
        return getattr(self._node, name)


def _with_doc(outer):
    parent = outer.parent
    if outer.prev_sibling is None and parent is not None and parent.type == "body_statement":
        before = parent.prev_sibling
        if before is not None and before.type == "comment":
            return _FirstInBody(outer, before)
    return outer


class RubySpec(LanguageSpec):
    query = "[(class) (module) (method) (singleton_method)] @def"

    def classify(self, node):
        ntype = node.type
        name = _dotted(field_text(node, "name"))
        if not name:
            return None
        if ntype in _CONTAINERS:
            return Found(name, _CONTAINERS[ntype], True, _with_doc(node), None)
        scope = _scope(node)
        in_type = scope is not None and scope.type in ("class", "module", "singleton_class")
        if ntype == "singleton_method":
            owner = node.child_by_field_name("object")
            owner_name = _dotted(text_of(owner, 120)) if owner is not None and owner.type != "self" else ""
            scope_name = _dotted(field_text(scope, "name")) if in_type else ""
            if owner_name and owner_name != scope_name and not scope_name.endswith("." + owner_name):
                name = f"{owner_name}.{name}"
        kind = "method" if in_type or ntype == "singleton_method" else "function"
        return Found(name, kind, False, _with_doc(_visibility_call(node)), None)
