"""What an op is: its shape rule, its NumPy emission, one gradient rule per input, its facts.

Shapes are tuples of sizes; a size is an int or a dim name (`"B"`), and a type is
`(shape, dtype)` with dtype `"float"` or `"int"`. Gradient rules receive graph
handles (`V`) and build ordinary graph nodes with ordinary operators, so the
backward graph is made of the same ops as the forward one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

Size = int | str
Shape = tuple[Size, ...]
Type = tuple[Shape, str]

CONVEX, CONCAVE, AFFINE = "convex", "concave", "affine"


class Named(int):
    """A fixed size written as a const's name (`[B, HIDDEN]`): an int to every rule and to
    the generated code, which sees the number, and shown by its name to the user."""

    def __new__(cls, value: int, name: str):
        self = super().__new__(cls, value)
        self.name = name
        return self

    def __getnewargs__(self):
        return int(self), self.name


class Written(str):
    """A product of dims written with names (`B*T*D` for reshape's `[B*T*D]`): the canonical
    product (`4*B*T`) to every rule and to the generated code, and shown as written."""

    def __new__(cls, value: str, name: str):
        self = super().__new__(cls, value)
        self.name = name
        return self

    def __getnewargs__(self):
        return str(self), self.name


class ShapeError(Exception):
    """A shape rule's complaint, in the user's terms; the caller adds the span: the call's,
    or that of the value given to `keyword` where the complaint is about it alone."""

    def __init__(self, message: str, keyword: str | None = None):
        super().__init__(message)
        self.keyword = keyword


@dataclass(frozen=True)
class Facts:
    """What the convexity analysis may rely on (curvature, monotonicity per input)."""

    curvature: str | None = None
    increasing: frozenset[str] = frozenset()
    decreasing: frozenset[str] = frozenset()


@dataclass(frozen=True)
class OpDef:
    name: str
    inputs: tuple[str, ...]
    shape: Callable[..., Type]  # shape(attrs, *input_types) -> type; raises ShapeError
    emit: Callable[..., str]  # emit(xp, attrs, *arg_exprs) -> Python expression
    grads: dict[str, Callable[..., Any]] = field(default_factory=dict)  # input -> rule(g, out, *inputs, **attrs)
    facts: Facts = Facts()
    atomic: bool = True  # the emission needs no parentheses inside another expression
    helpers: tuple[str, ...] = ()  # module-level helper functions the emission calls
    # input -> the chain-rule factor, for people: x (a, b) stand for the argument(s), y for
    # the result, δ for the gradient coming in where the rule is more than a product (no
    # letter a model could name a value by)
    formula: dict[str, str] = field(default_factory=dict)
    view: bool = False  # the result may share memory with an input
    prepare: Callable[..., dict] | None = None  # prepare(attrs, *input_types) -> canonical attrs, a new dict
    into: Callable[..., str] | None = None  # into(xp, attrs, out, *arg_exprs) -> the same, written into `out`
    inplace: bool = False  # elementwise: `out` may be an argument of the result's shape
    # elementwise over arguments that broadcast against each other: the chain rule sums
    # each argument's gradient back down to its shape (autodiff.unbroadcast)
    broadcasts: bool = False
    # constant(attrs, *input_types) -> (shape, value) of a constant array that `into` and,
    # given attrs["constant"], `emit` read; made once per workspace; or None.
    # The value is a number or the name of a constant of the generated module.
    constant: Callable[..., tuple | None] | None = None
    # `into` reads {scratch}: a workspace array shaped like the result, its own while it runs
    # (the plain form makes its own, as it makes its result)
    scratch: bool = False
    # classes(attrs, *input_types) -> (position of the argument holding class labels, the
    # number of classes K): the generated code checks those labels lie in [0, K)
    classes: Callable[..., tuple[int, Any]] | None = None
    # In the generated module, emit and into also get attrs["known"] where any argument is a
    # number written out: each argument's value, or None for one that is not; and at -O2 emit
    # gets attrs["fast"], where it may trade the model's spelling for a faster call.

    def __post_init__(self):
        bad = set(self.grads) - set(self.inputs)
        if bad:
            raise ValueError(f"op {self.name}: gradient rules for unknown inputs {sorted(bad)}")


# ------------------------------------------------------------------ shapes


def show(shape: Shape, dtype: str = "float") -> str:
    """A shape as the user wrote it: `[B, 4]`, `int[B]`, `[B, HIDDEN]`."""
    return ("int" if dtype == "int" else "") + "[" + ", ".join(map(size_name, shape)) + "]"


def size_name(d: Size) -> str:
    """One size as a shape shows it: `4`, `B`, `HIDDEN`, `B*T`."""
    return d.name if isinstance(d, (Named, Written)) else str(d)


def product_text(sizes) -> str:
    """Sizes multiplied as the model would write it: `B*T`, `(H + 1)*3`, a sum or a difference
    in brackets."""
    return "*".join(map(_factor, map(size_name, sizes)))


def _factor(text: str) -> str:
    depth = 0
    for i, c in enumerate(text):
        depth += (c == "(") - (c == ")")
        if depth == 0 and i and c in "+-":  # (not a leading minus)
            return f"({text})"
    return text


def size_text(d: Size) -> str:
    """One size in a sentence: `4`, `B`, or a named one with its value, `HIDDEN (256)`."""
    return f"{d.name} ({int(d)})" if isinstance(d, Named) else size_name(d)


def broadcast(a: Shape, b: Shape, verb: str) -> Shape:
    """NumPy broadcasting over symbolic sizes: equal sizes or a 1 combine, nothing else."""
    if a == b or not b:  # the common cases: the same shape, or a scalar (`h * 0.5`)
        return a
    if not a:
        return b
    if len(b) < len(a) and a[-len(b) :] == b:  # the next most common: a bias added to each row, [B, K] + [K]
        return a
    out = []
    for i in range(1, max(len(a), len(b)) + 1):
        x = a[-i] if i <= len(a) else 1
        y = b[-i] if i <= len(b) else 1
        if x == y or y == 1:
            out.append(x)
        elif x == 1:
            out.append(y)
        else:
            raise ShapeError(
                f"cannot {verb} {show(a)} and {show(b)}: sizes {size_text(x)} and {size_text(y)} do not broadcast"
            )
    return tuple(reversed(out))


def broadcasts_to(a: Shape, b: Shape, want: Shape) -> bool:
    """a and b broadcast together to exactly `want`."""
    try:
        return broadcast(a, b, "combine") == want
    except ShapeError:
        return False


def norm_axes(axis, rank: int, shape: Shape) -> tuple[int, ...]:
    """Axis spec (None, int or tuple, negatives allowed) -> sorted tuple of axes."""
    if axis is None:
        return tuple(range(rank))
    if type(axis) is int and -rank <= axis < rank:  # one axis, as nearly every reduction is given
        return (axis % rank,)
    axes = (axis,) if isinstance(axis, int) else tuple(axis)
    out = []
    for a in axes:
        if not -rank <= a < rank:
            raise ShapeError(f"axis {a} is out of range for {show(shape)} (rank {rank})")
        a %= rank
        if a in out:
            raise ShapeError(f"axis {a} is repeated")
        out.append(a)
    return tuple(sorted(out))


def reduced(shape: Shape, axes: tuple[int, ...], keepdims: bool) -> Shape:
    if keepdims:
        return tuple(1 if i in axes else d for i, d in enumerate(shape))
    return tuple(d for i, d in enumerate(shape) if i not in axes)


def fmt_axis(axes: tuple[int, ...] | None) -> str:
    if axes is None:
        return "None"
    return str(axes[0]) if len(axes) == 1 else "(" + ", ".join(map(str, axes)) + ")"


# ------------------------------------------------------------------ graph handles


class V:
    """A handle on a graph node, so gradient rules read like the math they implement."""

    __slots__ = ("graph", "node")

    def __init__(self, graph, node: int):
        self.graph, self.node = graph, node

    @property
    def shape(self) -> Shape:
        return self.graph.shape(self.node)

    def _lift(self, other) -> V:
        return other if isinstance(other, V) else const(self.graph, float(other))

    def __add__(self, o):
        return op("add", self, self._lift(o))

    def __radd__(self, o):
        return op("add", self._lift(o), self)

    def __sub__(self, o):
        return op("sub", self, self._lift(o))

    def __rsub__(self, o):
        return op("sub", self._lift(o), self)

    def __mul__(self, o):
        return op("mul", self, self._lift(o))

    def __rmul__(self, o):
        return op("mul", self._lift(o), self)

    def __truediv__(self, o):
        return op("div", self, self._lift(o))

    def __rtruediv__(self, o):
        return op("div", self._lift(o), self)

    def __matmul__(self, o):
        return op("matmul", self, o)

    def __neg__(self):
        return op("neg", self)

    def __pow__(self, p: float):
        return op("pow", self, p=float(p))

    @property
    def T(self):
        return op("transpose", self)


def op(name: str, *args: V | float, **attrs) -> V:
    """A new node `name(*args)`; plain numbers become constants."""
    g = next(a.graph for a in args if isinstance(a, V))
    vs = [a if isinstance(a, V) else const(g, a) for a in args]
    return V(g, g.add(name, [a.node for a in vs], attrs))


def const(graph, value: float) -> V:
    return V(graph, graph.add("const", [], {"value": float(value)}))


def mask(m: V, of: V, kind: str = "mask") -> V:
    """m, the 0/1 array (or with `kind` "sign", the ±1 array) a derivative multiplies by, marked
    as that of `of`: the generated code calls it after of's variable, `x_mask` or `x_sign`."""
    m.graph.node(m.node)["mask_of"] = (of.node, kind)
    return m


# ------------------------------------------------------------------ builders


def _float_only(name: str, t: Type, what: str = "") -> None:
    if t[1] != "float":
        raise ShapeError(f"{name} needs float values, but {what or 'its argument'} is {show(*t)}")


def unary(
    name: str,
    emit: str,
    grad=None,
    facts: Facts = Facts(),
    formula: str = "",
    helpers=(),
    atomic=True,
    into=None,
    constant=None,
    scratch=False,
) -> OpDef:
    """An elementwise function of one array; `emit` and `into` are templates over {xp}, {x} (and {out}).

    With `constant` (see OpDef), `into` reads it as {constant}, and so does the plain form
    that makes a fresh array: `into` without its `out=` (nor its `scratch=`: that form makes its own).
    """
    emit_constant = into.replace(", out={out}", "").replace(", scratch={scratch}", "") if constant else None

    def shape(attrs, t):
        if t[1] != "float":  # (said by _float_only, called only then: this runs for every node)
            _float_only(name, t)
        return t

    def emission(xp, attrs, x):
        return (emit_constant if "constant" in attrs else emit).format(xp=xp, x=x, **attrs)

    return OpDef(
        name,
        ("x",),
        shape,
        emission,
        {"x": grad} if grad else {},
        facts,
        atomic,
        helpers,
        {"x": formula} if formula else {},
        into=_template(into, ("x",)),
        inplace=True,
        constant=constant,
        scratch=scratch,
    )


def binary(
    name: str, emit: str, verb: str, grads=None, facts: Facts = Facts(), formula=None, atomic=False, into=None
) -> OpDef:
    """An elementwise function of two arrays that broadcast against each other; `into` is over {xp}, {a}, {b}, {out}."""

    def shape(attrs, ta, tb):
        if ta[1] != "float" or tb[1] != "float":
            _float_only(name, ta, "the left side")
            _float_only(name, tb, "the right side")
        return broadcast(ta[0], tb[0], verb), "float"

    return OpDef(
        name,
        ("a", "b"),
        shape,
        lambda xp, attrs, a, b: emit.format(xp=xp, a=a, b=b),
        grads or {},
        facts,
        atomic,
        (),
        formula or {},
        into=_template(into, ("a", "b")),
        inplace=True,
        broadcasts=True,
    )


def _template(into: str | None, names: tuple[str, ...]):
    """A template over {xp}, {out}, the attrs and the argument names -> an `into` function."""
    if into is None:
        return None
    return lambda xp, attrs, out, *args: into.format(xp=xp, out=out, **attrs, **dict(zip(names, args)))


def nondifferentiable(opdef: OpDef) -> OpDef:
    """The same op with no gradient rules: its derivative is zero almost everywhere."""
    return replace(opdef, grads={}, formula={})
