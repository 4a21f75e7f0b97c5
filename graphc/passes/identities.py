"""Algebraic identities: units and zeros (x * 1, x + 0, ...), inverse pairs (--x, x.T.T, log(exp x))
and |x| of an x never below 0.

Each rule returns a node equal to n, or None; see simplify.py for the list.
"""

from __future__ import annotations

from graphc.ir import Graph
from graphc.passes.patterns import binary_args, fill_value, stands_for
from graphc.passes.rewrite import build, matches

# ------------------------------------------------------------------ identities


def _identity(g: Graph, n: int, op: str, unit: float, side: int) -> int | None:
    """op(x, unit) -> x (side 1) or op(unit, x) -> x (side 0)."""
    args = binary_args(g, n, op)
    if args is None:
        return None
    x = args[1 - side]
    return x if fill_value(g, args[side]) == unit and stands_for(g, x, n) else None


@matches("mul")
def mul_one_right(g: Graph, n: int) -> int | None:
    """x * 1 -> x"""
    return _identity(g, n, "mul", 1.0, 1)


@matches("mul")
def mul_one_left(g: Graph, n: int) -> int | None:
    """1 * x -> x"""
    return _identity(g, n, "mul", 1.0, 0)


@matches("add")
def add_zero_right(g: Graph, n: int) -> int | None:
    """x + 0 -> x"""
    return _identity(g, n, "add", 0.0, 1)


@matches("add")
def add_zero_left(g: Graph, n: int) -> int | None:
    """0 + x -> x"""
    return _identity(g, n, "add", 0.0, 0)


@matches("sub")
def sub_zero(g: Graph, n: int) -> int | None:
    """x - 0 -> x"""
    return _identity(g, n, "sub", 0.0, 1)


@matches("div")
def div_one(g: Graph, n: int) -> int | None:
    """x / 1 -> x"""
    return _identity(g, n, "div", 1.0, 1)


@matches("pow")
def pow_one(g: Graph, n: int) -> int | None:
    """x ^ 1 -> x"""
    if g.op(n) == "pow" and g.node(n)["attrs"]["p"] == 1:
        (x,) = g.args(n)
        return x if stands_for(g, x, n) else None
    return None


@matches("mul")
def mul_zero(g: Graph, n: int) -> int | None:
    """x * 0 -> 0 and 0 * x -> 0, only when that zero already has the result's shape."""
    args = binary_args(g, n, "mul")
    if args is None:
        return None
    for z in args:
        if fill_value(g, z) == 0.0 and stands_for(g, z, n):
            return z
    return None


@matches("sub")
def zero_sub(g: Graph, n: int) -> int | None:
    """0 - x -> -x"""
    args = binary_args(g, n, "sub")
    if args is None or fill_value(g, args[0]) != 0.0 or not stands_for(g, args[1], n):
        return None
    return build(g, n, "neg", [args[1]])


def _unary_of(g: Graph, n: int, op: str, value: float, unary: str) -> int | None:
    """op(x, value) or op(value, x) -> unary(x), when x has the result's shape."""
    args = binary_args(g, n, op)
    if args is None:
        return None
    for side in (1, 0):
        x = args[1 - side]
        if fill_value(g, args[side]) == value and stands_for(g, x, n):
            return build(g, n, unary, [x])
    return None


@matches("mul")
def mul_minus_one(g: Graph, n: int) -> int | None:
    """x * -1 -> -x and -1 * x -> -x"""
    return _unary_of(g, n, "mul", -1.0, "neg")


@matches("maximum")
def maximum_zero(g: Graph, n: int) -> int | None:
    """maximum(x, 0) -> relu(x) and maximum(0, x) -> relu(x)"""
    # the same values (a NaN stays NaN), and relu's -O2 emission is the faster one; the
    # backward graph is already built, so the gradient keeps maximum's rule at a tie
    return _unary_of(g, n, "maximum", 0.0, "relu")


# ------------------------------------------------------------------ inverse pairs


@matches("neg")
def neg_neg(g: Graph, n: int) -> int | None:
    """-(-x) -> x"""
    if g.op(n) == "neg" and g.op(g.args(n)[0]) == "neg":
        x = g.args(g.args(n)[0])[0]
        return x if stands_for(g, x, n) else None
    return None


@matches("transpose")
def transpose_transpose(g: Graph, n: int) -> int | None:
    """(x.T).T -> x"""
    if g.op(n) == "transpose" and g.op(g.args(n)[0]) == "transpose":
        x = g.args(g.args(n)[0])[0]
        return x if stands_for(g, x, n) else None
    return None


@matches("transpose")
def transpose_vector(g: Graph, n: int) -> int | None:
    """x.T -> x when x has at most one axis"""
    if g.op(n) == "transpose" and len(g.shape(n)) <= 1:
        (x,) = g.args(n)
        return x if stands_for(g, x, n) else None
    return None


@matches("transpose")
def transpose_of_matmul(g: Graph, n: int) -> int | None:
    """(a @ b).T -> b.T @ a.T for matrices, when a or b is itself a transpose (it cancels)"""
    if g.op(n) != "transpose" or g.op(g.args(n)[0]) != "matmul":
        return None
    a, b = g.args(g.args(n)[0])
    if len(g.shape(a)) != 2 or len(g.shape(b)) != 2 or "transpose" not in (g.op(a), g.op(b)):
        return None

    def t(x: int) -> int:
        return g.args(x)[0] if g.op(x) == "transpose" else build(g, n, "transpose", [x])

    return build(g, n, "matmul", [t(b), t(a)])


# ops whose values are never below 0 and never -0.0
_NONNEGATIVE = frozenset({"exp", "sigmoid", "softplus", "square", "abs"})


@matches("abs")
def abs_of_nonnegative(g: Graph, n: int) -> int | None:
    """|x| -> x where x is exp, sigmoid, softplus, square or abs of something, or 1 - sigmoid.
    log's derivative is g / |x| (+inf at -0.0 as at 0.0), and through log(exp u), log(sigmoid u)
    or log(1 - sigmoid u) that |x| must go for the factor to cancel (see exp_over_itself and
    sigmoid_factor_cancels)"""
    if g.op(n) != "abs":
        return None
    (x,) = g.args(n)
    nonnegative = g.op(x) in _NONNEGATIVE
    if g.op(x) == "sub":  # 1 - sigmoid(u): sigmoid is at most 1, and 1 - 1 is +0.0
        one, s = g.args(x)
        nonnegative = fill_value(g, one) == 1.0 and g.op(s) == "sigmoid"
    return x if nonnegative and stands_for(g, x, n) else None


@matches("log")
def log_exp(g: Graph, n: int) -> int | None:
    """log(exp(x)) -> x (the reverse, exp(log x), needs x > 0 and is not a rule)"""
    if g.op(n) == "log" and g.op(g.args(n)[0]) == "exp":
        x = g.args(g.args(n)[0])[0]
        return x if stands_for(g, x, n) else None
    return None


@matches("div", "mul")
def exp_over_itself(g: Graph, n: int) -> int | None:
    """exp(x) / exp(x) -> 1 and (s / exp(x)) * exp(x) -> s, as arrays of their shape: exp is
    never 0. The chain rule through log(exp(x)) makes these (the second where the gradient's
    seed is not 1, as sgd_step's lr), so they go where log_exp removed its forward: the loss
    and its gradient then both compute x, and neither overflows where the other does not.
    The result takes its shape from x, not exp(x), which would still be computed (and warn
    of overflow past x = 709) only to be shaped like."""
    if g.op(n) == "mul":
        for q, e in (g.args(n), g.args(n)[::-1]):
            if g.op(q) != "div" or g.args(q)[1] != e or g.op(e) != "exp":
                continue
            s = g.args(q)[0]
            if stands_for(g, s, n):
                return s
            if g.shape(s) == () and g.shape(e) == g.shape(n):
                return build(g, n, "broadcast_like", [s, g.args(e)[0]])
        return None
    if g.op(n) != "div":
        return None
    a, b = g.args(n)
    if a != b or g.op(a) != "exp":
        return None
    one = build(g, n, "const", [], {"value": 1.0})
    return one if g.shape(n) == () else build(g, n, "broadcast_like", [one, g.args(a)[0]])
