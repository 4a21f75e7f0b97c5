"""The abstract syntax tree: frozen dataclasses, each carrying its source span.

Expressions also carry `depth`, the height of their subtree, so later stages can
refuse absurdly deep nesting before they recurse into it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from graphc.errors import Span

# ---------------------------------------------------------------- expressions


@dataclass(frozen=True)
class Expr:
    span: Span
    depth: int = field(default=1, kw_only=True, compare=False)


@dataclass(frozen=True)
class Num(Expr):
    value: float
    is_int: bool


@dataclass(frozen=True)
class Bool(Expr):
    value: bool


@dataclass(frozen=True)
class Name(Expr):
    """A name; `W{i}` has base 'W', index 'i' and offset 0 (`W{i+1}`: offset 1;
    `W{i}_in`: suffix '_in')."""

    base: str
    index: str | None = None
    offset: int = 0
    suffix: str = ""

    @property
    def text(self) -> str:
        if self.index is None:
            return self.base
        off = f"{self.offset:+d}" if self.offset else ""
        return f"{self.base}{{{self.index}{off}}}{self.suffix}"


@dataclass(frozen=True)
class Unary(Expr):
    op: str  # '-' or '+'
    operand: Expr


@dataclass(frozen=True)
class Binary(Expr):
    op: str  # + - * / @ ^
    left: Expr
    right: Expr
    op_span: Span


@dataclass(frozen=True)
class Keyword:
    name: str
    value: Expr
    span: Span


@dataclass(frozen=True)
class Call(Expr):
    func: str
    func_span: Span
    args: tuple[Expr, ...]
    kwargs: tuple[Keyword, ...]


@dataclass(frozen=True)
class Attr(Expr):
    """`x.T` (the only attribute the language has)."""

    value: Expr
    attr: str
    attr_span: Span


@dataclass(frozen=True)
class TupleLit(Expr):
    items: tuple[Expr, ...]


@dataclass(frozen=True)
class ListLit(Expr):
    items: tuple[Expr, ...]


# ---------------------------------------------------------------- statements


@dataclass(frozen=True)
class Stmt:
    span: Span


@dataclass(frozen=True)
class ModelDecl(Stmt):
    name: str


@dataclass(frozen=True)
class DimDecl(Stmt):
    names: tuple[Name, ...]


@dataclass(frozen=True)
class ConstDecl(Stmt):
    target: Name
    value: Expr


@dataclass(frozen=True)
class ShapeType:
    dims: tuple[Expr, ...]
    is_int: bool
    span: Span


@dataclass(frozen=True)
class InputDecl(Stmt):
    target: Name
    type: ShapeType


@dataclass(frozen=True)
class ParamDecl(Stmt):
    target: Name
    type: ShapeType
    init: Expr | None  # a Name (`zeros`) or a Call (`normal(0, 1)`)


@dataclass(frozen=True)
class Assign(Stmt):
    target: Name
    value: Expr


@dataclass(frozen=True)
class Return(Stmt):
    value: Expr


@dataclass(frozen=True)
class FnDecl(Stmt):
    name: str
    name_span: Span
    params: tuple[Name, ...]
    body: tuple[Stmt, ...]  # Assigns then one Return; the `= EXPR` form is a lone Return


@dataclass(frozen=True)
class OutputDecl(Stmt):
    names: tuple[Name, ...]


@dataclass(frozen=True)
class Minimize(Stmt):
    target: Name
    wrt: tuple[Name, ...]


@dataclass(frozen=True)
class ForLoop(Stmt):
    var: Name
    start: Expr
    stop: Expr
    body: tuple[Stmt, ...]


@dataclass(frozen=True)
class Program:
    file: str
    stmts: tuple[Stmt, ...]
