"""Xero's ``where`` and ``order`` query syntax (a small C#/LINQ-like expression language).

Supported: ``== != > < >= <=``, ``&&``/``AND``, ``||``/``OR``, ``!``/``NOT``, parentheses,
``.Contains("x")``, ``.StartsWith("x")``, ``.EndsWith("x")``, ``DateTime(y,m,d[,h,mi,s])``,
``Guid("...")``, strings, numbers, ``true``/``false``/``null`` and dotted fields such as
``BankAccount.AccountID``. String comparisons ignore case, as Xero documents for its optimised Name
filter. Unknown fields and syntax errors raise :class:`QueryError`, which Xero reports as a 400
QueryParseException.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any


class QueryError(ValueError):
    pass


@dataclass(frozen=True)
class _Token:
    kind: str  # name, string, number, op, lparen, rparen, comma, dot, end
    text: str
    position: int


_TOKEN_RE = re.compile(
    r"""
    (?P<space>\s+)
  | (?P<string>"(?:[^"\\]|\\.)*")
  | (?P<number>-?\d+(?:\.\d+)?)
  | (?P<op>==|!=|>=|<=|&&|\|\||>|<|!)
  | (?P<lparen>\()
  | (?P<rparen>\))
  | (?P<comma>,)
  | (?P<dot>\.)
  | (?P<name>[A-Za-z_][A-Za-z0-9_]*)
    """,
    re.VERBOSE,
)


def _tokenize(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    position = 0
    while position < len(text):
        found = _TOKEN_RE.match(text, position)
        if not found:
            raise QueryError(f"Syntax error '{text[position]}' at position {position}")
        kind = found.lastgroup or ""
        if kind != "space":
            tokens.append(_Token(kind, found.group(), position))
        position = found.end()
    tokens.append(_Token("end", "", len(text)))
    return tokens


Row = Mapping[str, Any]
Expression = Callable[[Row], Any]

_KEYWORDS = {"AND": "&&", "OR": "||", "NOT": "!"}


class _Parser:
    def __init__(self, text: str, fields: frozenset[str], entity: str) -> None:
        self.tokens = _tokenize(text)
        self.index = 0
        self.fields = fields
        self.entity = entity

    def peek(self) -> _Token:
        return self.tokens[self.index]

    def take(self) -> _Token:
        token = self.tokens[self.index]
        self.index += 1
        return token

    def expect(self, kind: str) -> _Token:
        token = self.take()
        if token.kind != kind:
            raise QueryError(f"Syntax error: expected {kind} at position {token.position}")
        return token

    def operator(self) -> str | None:
        token = self.peek()
        if token.kind == "op":
            return token.text
        if token.kind == "name" and token.text.upper() in _KEYWORDS:
            return _KEYWORDS[token.text.upper()]
        return None

    def parse(self) -> Expression:
        expression = self.parse_or()
        if self.peek().kind != "end":
            raise QueryError(f"Syntax error at position {self.peek().position}")
        return expression

    def parse_or(self) -> Expression:
        left = self.parse_and()
        while self.operator() == "||":
            self.take()
            right = self.parse_and()
            left = (lambda a, b: lambda row: bool(a(row)) or bool(b(row)))(left, right)
        return left

    def parse_and(self) -> Expression:
        left = self.parse_not()
        while self.operator() == "&&":
            self.take()
            right = self.parse_not()
            left = (lambda a, b: lambda row: bool(a(row)) and bool(b(row)))(left, right)
        return left

    def parse_not(self) -> Expression:
        if self.operator() == "!":
            self.take()
            inner = self.parse_not()
            return lambda row: not inner(row)
        return self.parse_comparison()

    def parse_comparison(self) -> Expression:
        left = self.parse_primary()
        operator = self.operator()
        if operator in {"==", "!=", ">", "<", ">=", "<="}:
            self.take()
            right = self.parse_primary()
            return (lambda a, b, op: lambda row: _compare(op, a(row), b(row)))(left, right, operator)
        return left

    def parse_primary(self) -> Expression:
        token = self.take()
        if token.kind == "lparen":
            inner = self.parse_or()
            self.expect("rparen")
            return self.parse_methods(inner)
        if token.kind == "string":
            value = _unquote(token.text)
            return self.parse_methods(lambda row: value)
        if token.kind == "number":
            number = Decimal(token.text)
            return lambda row: number
        if token.kind != "name":
            raise QueryError(f"Syntax error at position {token.position}")
        word = token.text
        lowered = word.lower()
        if lowered in {"true", "false"}:
            flag = lowered == "true"
            return lambda row: flag
        if lowered == "null":
            return lambda row: None
        if word == "DateTime" and self.peek().kind == "lparen":
            return self.parse_datetime()
        if word == "Guid" and self.peek().kind == "lparen":
            self.take()
            literal = _unquote(self.expect("string").text).lower()
            self.expect("rparen")
            return lambda row: literal
        path = [word]
        while self.peek().kind == "dot" and self.tokens[self.index + 1].kind == "name":
            following = self.tokens[self.index + 2] if self.index + 2 < len(self.tokens) else None
            if following is not None and following.kind == "lparen":
                break  # a method call, not a nested field
            self.take()
            path.append(self.take().text)
        field_name = ".".join(path)
        canonical = self._canonical_field(field_name)
        return self.parse_methods(lambda row: row.get(canonical))

    def _canonical_field(self, name: str) -> str:
        for known in self.fields:
            if known.lower() == name.lower():
                return known
        raise QueryError(f"No property or field '{name}' exists in type '{self.entity}'")

    def parse_methods(self, target: Expression) -> Expression:
        while self.peek().kind == "dot":
            self.take()
            method = self.expect("name").text
            self.expect("lparen")
            arguments: list[Expression] = []
            if self.peek().kind != "rparen":
                arguments.append(self.parse_or())
                while self.peek().kind == "comma":
                    self.take()
                    arguments.append(self.parse_or())
            self.expect("rparen")
            target = self._method(method, target, arguments)
        return target

    def _method(self, method: str, target: Expression, arguments: list[Expression]) -> Expression:
        lowered = method.lower()
        if lowered in {"contains", "startswith", "endswith"} and len(arguments) == 1:
            argument = arguments[0]

            def text_test(row: Row) -> bool:
                value, wanted = target(row), argument(row)
                if value is None or wanted is None:
                    return False
                haystack, needle = str(value).lower(), str(wanted).lower()
                if lowered == "contains":
                    return needle in haystack
                if lowered == "startswith":
                    return haystack.startswith(needle)
                return haystack.endswith(needle)

            return text_test
        if lowered in {"tolower", "toupper", "trim"} and not arguments:
            transforms: dict[str, Callable[[str], str]] = {
                "tolower": str.lower,
                "toupper": str.upper,
                "trim": str.strip,
            }
            transform = transforms[lowered]
            return lambda row: None if target(row) is None else transform(str(target(row)))
        raise QueryError(f"No applicable method '{method}' exists")

    def parse_datetime(self) -> Expression:
        self.expect("lparen")
        parts: list[int] = []
        while True:
            token = self.take()
            if token.kind != "number" or "." in token.text:
                raise QueryError(f"Syntax error in DateTime at position {token.position}")
            parts.append(int(token.text))
            if self.peek().kind == "comma":
                self.take()
                continue
            self.expect("rparen")
            break
        if len(parts) not in {3, 6}:
            raise QueryError("DateTime needs (year, month, day) or (year, month, day, hour, minute, second)")
        year, month, day, hour, minute, second = (*parts, 0, 0, 0)[:6]
        try:
            moment = datetime(year, month, day, hour, minute, second, tzinfo=UTC)
        except ValueError as error:
            raise QueryError(str(error)) from error
        return lambda row: moment


def _unquote(text: str) -> str:
    return re.sub(r"\\(.)", r"\1", text[1:-1])


def _comparable(value: Any) -> Any:
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    if isinstance(value, int | float):
        return Decimal(str(value))
    if isinstance(value, str):
        return value.lower()
    return value


def _compare(operator: str, left: Any, right: Any) -> bool:
    a, b = _comparable(left), _comparable(right)
    if operator == "==":
        return bool(a == b)
    if operator == "!=":
        return bool(a != b)
    if a is None or b is None:
        return False
    try:
        if operator == ">":
            return bool(a > b)
        if operator == "<":
            return bool(a < b)
        if operator == ">=":
            return bool(a >= b)
        return bool(a <= b)
    except TypeError as error:
        raise QueryError(f"Operator '{operator}' incompatible with operand types") from error


def compile_where(text: str, fields: frozenset[str], entity: str) -> Callable[[Row], bool]:
    """A predicate over rows (field name -> native value) for a ``where`` parameter."""
    expression = _Parser(text, fields, entity).parse()
    return lambda row: bool(expression(row))


def parse_order(text: str, fields: frozenset[str], entity: str) -> list[tuple[str, bool]]:
    """``"Date DESC, Reference"`` -> ``[("Date", True), ("Reference", False)]`` (field, descending)."""
    keys: list[tuple[str, bool]] = []
    for part in text.split(","):
        words = part.split()
        if not words:
            continue
        if len(words) > 2 or (len(words) == 2 and words[1].upper() not in {"ASC", "DESC"}):
            raise QueryError(f"Syntax error in order '{part.strip()}'")
        name = next((f for f in fields if f.lower() == words[0].lower()), None)
        if name is None:
            raise QueryError(f"No property or field '{words[0]}' exists in type '{entity}'")
        keys.append((name, len(words) == 2 and words[1].upper() == "DESC"))
    return keys


def sort_rows(rows: list[Any], keys: list[tuple[str, bool]], row_of: Callable[[Any], Row]) -> list[Any]:
    """Stable multi-key sort; None sorts first as in SQL Server."""
    ordered = list(rows)
    for name, descending in reversed(keys):

        def sort_key(item: Any, field_name: str = name) -> tuple[int, Any]:
            value = _comparable(row_of(item).get(field_name))
            return (0, "") if value is None else (1, value)

        ordered.sort(key=sort_key, reverse=descending)
    return ordered
