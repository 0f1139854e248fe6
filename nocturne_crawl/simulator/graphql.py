"""Just enough GraphQL to answer a query the way a real server does.

Meetup's gql2 takes the full query text (persisted queries are gone) and returns only
the fields the query selects. This module parses operations, fragments, arguments and
variables, and projects a full response object onto the query's selection set, so a
spider gets exactly what it asked for: a field it forgot is not there. Unknown fields
come back as null rather than as validation errors (the simulator is for crawling, not
for schema checks).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

_TOKEN = re.compile(
    r'\s+|,|#[^\n]*|(?P<str>"(?:\\.|[^"\\])*")|(?P<num>-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)'
    r"|(?P<name>[_A-Za-z][_0-9A-Za-z]*)|(?P<spread>\.\.\.)|(?P<punct>[{}():!$=\[\]@])"
)


class GraphQLSyntaxError(ValueError):
    pass


@dataclass
class Selection:
    name: str  # field name; "..." for an inline fragment; fragment name for a spread
    alias: str | None = None
    arguments: dict[str, Any] = field(default_factory=dict)
    children: list[Selection] | None = None
    spread: bool = False
    inline: bool = False

    @property
    def key(self) -> str:
        return self.alias or self.name


@dataclass
class Document:
    operations: list[list[Selection]]
    fragments: dict[str, list[Selection]]


@dataclass(frozen=True)
class Variable:
    name: str


def _tokens(text: str) -> list[tuple[str, str]]:
    out = []
    pos = 0
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if not match:
            raise GraphQLSyntaxError(f"Invalid Syntax : offending token '{text[pos]}' at {pos}")
        pos = match.end()
        kind = match.lastgroup
        if kind:
            out.append((kind, match.group(kind)))
    return out


class _Parser:
    def __init__(self, text: str):
        self.toks = _tokens(text)
        self.i = 0

    def peek(self) -> tuple[str, str] | None:
        return self.toks[self.i] if self.i < len(self.toks) else None

    def take(self, value: str | None = None) -> tuple[str, str]:
        tok = self.peek()
        if tok is None or (value is not None and tok[1] != value):
            raise GraphQLSyntaxError(f"Invalid Syntax : expected {value or 'token'}, got {tok}")
        self.i += 1
        return tok

    def document(self) -> Document:
        doc = Document(operations=[], fragments={})
        while self.peek() is not None:
            tok = self.peek()
            if tok == ("punct", "{"):
                doc.operations.append(self.selection_set())
            elif tok[1] in ("query", "mutation", "subscription"):
                self.take()
                if self.peek() and self.peek()[0] == "name":
                    self.take()
                if self.peek() == ("punct", "("):
                    self.skip_balanced("(", ")")
                self.directives()
                doc.operations.append(self.selection_set())
            elif tok[1] == "fragment":
                self.take()
                name = self.take()[1]
                self.take("on")
                self.take()
                self.directives()
                doc.fragments[name] = self.selection_set()
            else:
                raise GraphQLSyntaxError(f"Invalid Syntax : unexpected {tok[1]!r}")
        if not doc.operations:
            raise GraphQLSyntaxError("Invalid Syntax : no operation")
        return doc

    def skip_balanced(self, open_: str, close: str) -> None:
        depth = 0
        while True:
            tok = self.take()
            if tok == ("punct", open_):
                depth += 1
            elif tok == ("punct", close):
                depth -= 1
                if depth == 0:
                    return

    def directives(self) -> None:
        while self.peek() == ("punct", "@"):
            self.take()
            self.take()
            if self.peek() == ("punct", "("):
                self.skip_balanced("(", ")")

    def selection_set(self) -> list[Selection]:
        self.take("{")
        out: list[Selection] = []
        while self.peek() != ("punct", "}"):
            if self.peek() is None:
                raise GraphQLSyntaxError("Invalid Syntax : unclosed selection set")
            out.append(self.selection())
        self.take("}")
        return out

    def selection(self) -> Selection:
        if self.peek() == ("spread", "..."):
            self.take()
            if self.peek() and self.peek()[1] == "on":
                self.take()
                self.take()
                self.directives()
                return Selection(name="...", inline=True, children=self.selection_set())
            if self.peek() == ("punct", "{"):
                return Selection(name="...", inline=True, children=self.selection_set())
            name = self.take()[1]
            self.directives()
            return Selection(name=name, spread=True)
        name = self.take()[1]
        alias = None
        if self.peek() == ("punct", ":"):
            self.take()
            alias, name = name, self.take()[1]
        args: dict[str, Any] = {}
        if self.peek() == ("punct", "("):
            self.take()
            while self.peek() != ("punct", ")"):
                arg = self.take()[1]
                self.take(":")
                args[arg] = self.value()
            self.take(")")
        self.directives()
        children = self.selection_set() if self.peek() == ("punct", "{") else None
        return Selection(name=name, alias=alias, arguments=args, children=children)

    def value(self) -> Any:
        kind, text = self.take()
        if (kind, text) == ("punct", "$"):
            return Variable(self.take()[1])
        if kind == "str":
            import json

            return json.loads(text)
        if kind == "num":
            return float(text) if any(c in text for c in ".eE") else int(text)
        if (kind, text) == ("punct", "["):
            items = []
            while self.peek() != ("punct", "]"):
                items.append(self.value())
            self.take("]")
            return items
        if (kind, text) == ("punct", "{"):
            obj = {}
            while self.peek() != ("punct", "}"):
                key = self.take()[1]
                self.take(":")
                obj[key] = self.value()
            self.take("}")
            return obj
        if kind == "name":
            return {"true": True, "false": False, "null": None}.get(text, text)
        raise GraphQLSyntaxError(f"Invalid Syntax : unexpected {text!r} in a value")


def parse(text: str) -> Document:
    return _Parser(text).document()


def resolve_arguments(arguments: dict[str, Any], variables: dict[str, Any]) -> dict[str, Any]:
    """Arguments with `$variables` substituted (recursively)."""

    def sub(value: Any) -> Any:
        if isinstance(value, Variable):
            return variables.get(value.name)
        if isinstance(value, list):
            return [sub(v) for v in value]
        if isinstance(value, dict):
            return {k: sub(v) for k, v in value.items()}
        return value

    return {k: sub(v) for k, v in arguments.items()}


def project(value: Any, selections: list[Selection], fragments: dict[str, list[Selection]]) -> Any:
    """`value` reduced to the fields `selections` ask for, aliases applied."""
    if value is None:
        return None
    if isinstance(value, list):
        return [project(v, selections, fragments) for v in value]
    out: dict[str, Any] = {}
    for sel in selections:
        if sel.spread:
            out.update(project(value, fragments.get(sel.name, []), fragments))
        elif sel.inline:
            out.update(project(value, sel.children or [], fragments))
        else:
            child = value.get(sel.name) if isinstance(value, dict) else None
            out[sel.key] = project(child, sel.children, fragments) if sel.children else child
    return out
