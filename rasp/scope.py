"""Scopes: where a RASP name is looked up and which names a scope refuses to rebind."""

from __future__ import annotations

from typing import Any

from rasp.errors import RaspNameError

#: Names no scope may rebind: the language's constants and the original's reserved words.
#: (`out` is written only by expression statements.)
RESERVED = frozenset(
    {
        "tokens_str",
        "tokens_int",
        "tokens_float",
        "tokens_bool",
        "tokens_asis",
        "indices",
        "True",
        "False",
        "if",
        "else",
        "not",
        "and",
        "or",
        "out",
        "def",
        "return",
        "range",
        "for",
        "in",
        "zip",
        "len",
        "get",
    }
)


class Environment:
    """A scope: a dictionary of bindings and the enclosing scope (lexical scoping).

    `reserved` names cannot be assigned here; the console scope also reserves the standard
    library's names, which functions and loaded files may still shadow locally."""

    def __init__(self, parent: Environment | None = None, name: str = "", reserved: frozenset[str] = RESERVED):
        self.parent = parent
        self.name = name
        self.reserved = reserved
        self.bindings: dict[str, Any] = {}

    def lookup(self, name: str) -> Any:
        scope: Environment | None = self
        while scope is not None:
            if name in scope.bindings:
                return scope.bindings[name]
            scope = scope.parent
        raise RaspNameError(
            f"Undefined variable: {name}", hint="assign it before use, or load the file that defines it"
        )

    def assign(self, name: str, value: Any) -> None:
        if name in self.reserved:
            raise RaspNameError(f"Cannot set reserved name: {name}")
        self.bindings[name] = value
