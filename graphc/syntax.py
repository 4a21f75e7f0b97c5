"""The abstract syntax tree: dataclasses, each carrying its source span.

Nothing changes a node once the parser made it. They are not frozen only
because a frozen dataclass sets each field through object.__setattr__, which
made building them a third of parsing a 200,000-line file; slots and a field
hash keep them small and usable as keys.

Expressions also carry `depth`, the height of their subtree, so later stages can
refuse absurdly deep nesting before they recurse into it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from graphc.errors import Span

# ---------------------------------------------------------------- expressions


@dataclass(slots=True, unsafe_hash=True)
class Expr:
    span: Span
    depth: int = field(default=1, kw_only=True, compare=False)


@dataclass(slots=True, unsafe_hash=True)
class Num(Expr):
    value: float
    is_int: bool
    text: str = field(default="", compare=False)  # as written (`1e-3`, `1000000`), for messages to quote


@dataclass(slots=True, unsafe_hash=True)
class Bool(Expr):
    value: bool


@dataclass(slots=True, unsafe_hash=True)
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


@dataclass(slots=True, unsafe_hash=True)
class Unary(Expr):
    op: str  # '-' or '+'
    operand: Expr


@dataclass(slots=True, unsafe_hash=True)
class Binary(Expr):
    op: str  # + - * / @ ^
    left: Expr
    right: Expr
    op_span: Span


@dataclass(slots=True, unsafe_hash=True)
class Keyword:
    name: str
    value: Expr
    span: Span

    @property
    def none_axis(self) -> bool:
        """`axis=None`, as NumPy writes 'every axis' (the language has no None)."""
        return self.name == "axis" and isinstance(self.value, Name) and self.value.text == "None"


@dataclass(slots=True, unsafe_hash=True)
class Call(Expr):
    func: str
    func_span: Span
    args: tuple[Expr, ...]
    kwargs: tuple[Keyword, ...]


@dataclass(slots=True, unsafe_hash=True)
class Attr(Expr):
    """`x.T` (the only attribute the language has)."""

    value: Expr
    attr: str
    attr_span: Span


@dataclass(slots=True, unsafe_hash=True)
class TupleLit(Expr):
    items: tuple[Expr, ...]


@dataclass(slots=True, unsafe_hash=True)
class ListLit(Expr):
    items: tuple[Expr, ...]


def parts(e: Expr) -> tuple[Expr, ...]:
    """The subexpressions of anything but a call (whose arguments and keywords are its own)."""
    if isinstance(e, Unary):
        return (e.operand,)
    if isinstance(e, Binary):
        return (e.left, e.right)
    if isinstance(e, Attr):
        return (e.value,)
    if isinstance(e, (TupleLit, ListLit)):
        return e.items
    return ()


_BINDS = {"+": 1, "-": 1, "*": 2, "/": 2, "^": 4}  # how tightly each operator binds, as the grammar says


SHOWN = 30  # the longest arithmetic a message or a shape shows as written


def arithmetic_text(e: Expr) -> str | None:
    """Arithmetic on numbers and plain names as a shape shows it (`2*H`, `H + 1`, `(H + 1)*2`),
    with the brackets its grouping needs; None for anything else (a call, `W{i}`) and for
    text longer than SHOWN."""
    text = _arithmetic(e)
    return text if text is not None and len(text) <= SHOWN else None


def _arithmetic(e: Expr) -> str | None:
    if isinstance(e, Num):
        return e.text
    if isinstance(e, Name):
        return e.base if e.index is None else None
    if isinstance(e, Unary):
        inner = _arithmetic(e.operand)
        if inner is None:
            return None
        return e.op + (f"({inner})" if isinstance(e.operand, Binary) and e.operand.op != "^" else inner)
    if isinstance(e, Binary) and e.op in _BINDS:
        left, right = _arithmetic(e.left), _arithmetic(e.right)
        if left is None or right is None:
            return None
        mine = _BINDS[e.op]
        # a looser operand takes brackets; so does a right one as loose as `-` or `/` (a - (b - c)),
        # and a left one of `^`, which groups to the right
        if isinstance(e.left, Binary) and (_BINDS[e.left.op] < mine or (e.op == "^" and e.left.op == "^")):
            left = f"({left})"
        if isinstance(e.left, Unary) and e.op == "^":
            left = f"({left})"
        if isinstance(e.right, Binary) and (
            _BINDS[e.right.op] < mine or (_BINDS[e.right.op] == mine and e.op in "-*/")
        ):
            right = f"({right})"
        op = f" {e.op} " if mine == 1 else e.op
        return left + op + right
    return None


# the names other languages import their arrays and maths as (`np.exp(x)`, `math.pi`, PyTorch's `F.relu(x)`)
LIBRARIES = frozenset({"np", "numpy", "jnp", "jax", "torch", "nn", "F", "math", "tf", "scipy"})


def library(e: Attr) -> str | None:
    """`np.pi`, `np.linalg.norm`: the library an attribute is read from, as written
    (`np`, `np.linalg`), where its root is such a name; else None."""
    root, names = e.value, []
    while isinstance(root, Attr):
        names.append(root.attr)
        root = root.value
    if not isinstance(root, Name) or root.index is not None or root.base not in LIBRARIES:
        return None
    return ".".join([root.base, *reversed(names)])


# ---------------------------------------------------------------- statements


@dataclass(slots=True, unsafe_hash=True)
class Stmt:
    span: Span


@dataclass(slots=True, unsafe_hash=True)
class ModelDecl(Stmt):
    name: str


@dataclass(slots=True, unsafe_hash=True)
class DimDecl(Stmt):
    names: tuple[Name, ...]


@dataclass(slots=True, unsafe_hash=True)
class ConstDecl(Stmt):
    target: Name
    value: Expr


@dataclass(slots=True, unsafe_hash=True)
class ShapeType:
    dims: tuple[Expr, ...]
    is_int: bool
    span: Span


@dataclass(slots=True, unsafe_hash=True)
class InputDecl(Stmt):
    target: Name
    type: ShapeType


@dataclass(slots=True, unsafe_hash=True)
class ParamDecl(Stmt):
    target: Name
    type: ShapeType
    init: Expr | None  # a Name (`zeros`) or a Call (`normal(0, 1)`)


@dataclass(slots=True, unsafe_hash=True)
class Assign(Stmt):
    target: Name
    value: Expr


@dataclass(slots=True, unsafe_hash=True)
class Return(Stmt):
    value: Expr


@dataclass(slots=True, unsafe_hash=True)
class FnDecl(Stmt):
    name: str
    name_span: Span
    params: tuple[Name, ...]
    body: tuple[Stmt, ...]  # Assigns then one Return; the `= EXPR` form is a lone Return


@dataclass(slots=True, unsafe_hash=True)
class OutputDecl(Stmt):
    names: tuple[Name, ...]


@dataclass(slots=True, unsafe_hash=True)
class Minimize(Stmt):
    target: Name
    wrt: tuple[Name, ...]


@dataclass(slots=True, unsafe_hash=True)
class ForLoop(Stmt):
    var: Name
    start: Expr
    stop: Expr
    body: tuple[Stmt, ...]


@dataclass(slots=True, unsafe_hash=True)
class Program:
    file: str
    stmts: tuple[Stmt, ...]
    text: str = field(default="", compare=False, repr=False)  # the file's text, for messages to quote
