"""Constants merged and signs moved to where they cost nothing.

Each rule returns a node equal to n, or None; see simplify.py for the list.
"""

from __future__ import annotations

from graphc.ir import Graph
from graphc.passes.patterns import binary_args, const_value, held_by_every_dtype
from graphc.passes.rewrite import build, matches

# ------------------------------------------------------------------ constants and signs


def _const_and_other(g: Graph, n: int, op: str) -> tuple[float, int, int] | None:
    """For op(c, x) or op(x, c) with a const scalar c: (c, x, side of c)."""
    args = binary_args(g, n, op)
    if args is None:
        return None
    for side in (0, 1):
        c = const_value(g, args[side])
        if c is not None:
            return c, args[1 - side], side
    return None


def _held(k: float, c1: float, c2: float) -> bool:
    """k, the product of c1 and c2 (or of their inverses), is what the two steps compute in
    any model dtype: 0 only where a factor is, else a normal float32 number. Two constants a
    float32 model holds can make one it does not: (x * 1e20) * 1e20 as x * 1e40 is inf
    there (nan at x = 0), and (x * 1e-25) * 1e-25 as x * 1e-50 is 0 where x is 1e30."""
    if k == 0.0:
        return 0.0 in (c1, c2)
    return held_by_every_dtype(k)


@matches("mul", "div")
def merge_const_mul(g: Graph, n: int) -> int | None:
    """(x * c1) * c2 -> (c1 * c2) * x, in any operand order, and the same with x / c1 or / c2"""
    for outer in ("mul", "div"):
        found = _const_and_other(g, n, outer)
        if found is None or (outer == "div" and found[2] == 0):
            continue
        c2, inner, _ = found
        for op in ("mul", "div"):
            got = _const_and_other(g, inner, op)
            if got is None or (op == "div" and got[2] == 0):
                continue
            c1, x, _ = got
            if 0.0 in ((c1,) if op == "div" else ()) + ((c2,) if outer == "div" else ()):
                continue
            k = (c1 if op == "mul" else 1 / c1) * (c2 if outer == "mul" else 1 / c2)
            if g.shape(x) != g.shape(n) or not _held(k, c1, c2):
                continue
            c = build(g, n, "const", [], {"value": k})
            return build(g, n, "mul", [c, x])
    return None


@matches("neg", "mul", "div")
def neg_into_const(g: Graph, n: int) -> int | None:
    """-(c * x), (-x) * c and (-x) / c -> (-c) * x or x / (-c): the constant takes the sign"""
    if g.op(n) == "neg":
        inner = g.args(n)[0]
        for op in ("mul", "div"):
            got = _const_and_other(g, inner, op)
            if got is not None and not (op == "div" and got[2] == 0) and g.shape(got[1]) == g.shape(n):
                c = build(g, n, "const", [], {"value": -got[0]})
                return build(g, n, op, [c, got[1]] if op == "mul" else [got[1], c])
        return None
    for op in ("mul", "div"):
        got = _const_and_other(g, n, op)
        if got is None or g.op(got[1]) != "neg" or (op == "div" and got[2] == 0):
            continue
        x = g.args(got[1])[0]
        if g.shape(x) != g.shape(n):
            continue
        c = build(g, n, "const", [], {"value": -got[0]})
        return build(g, n, op, [c, x] if op == "mul" else [x, c])
    return None


@matches("neg", "add", "sub")
def neg_into_sub(g: Graph, n: int) -> int | None:
    """a - (-b) -> a + b, a + (-b) -> a - b, (-a) + b -> b - a, -(a - b) -> b - a"""
    op = g.op(n)
    if op == "neg" and g.op(g.args(n)[0]) == "sub":
        a, b = g.args(g.args(n)[0])
        return build(g, n, "sub", [b, a])
    if op not in ("add", "sub"):
        return None
    a, b = g.args(n)
    if g.op(b) == "neg":
        return build(g, n, "sub" if op == "add" else "add", [a, g.args(b)[0]])
    if op == "add" and g.op(a) == "neg":
        return build(g, n, "sub", [b, g.args(a)[0]])
    return None


@matches("mul", "div")
def mul_neg_neg(g: Graph, n: int) -> int | None:
    """(-a) * (-b) -> a * b and (-a) / (-b) -> a / b"""
    if g.op(n) in ("mul", "div"):
        a, b = g.args(n)
        if g.op(a) == "neg" and g.op(b) == "neg":
            return build(g, n, g.op(n), [g.args(a)[0], g.args(b)[0]])
    return None


@matches("mul", "div")
def neg_outward(g: Graph, n: int) -> int | None:
    """(-a) * b, a * (-b), (-a) / b, a / (-b) -> -(a * b) or -(a / b): the sign moves toward a
    sub or a constant that can take it (neg_into_sub, neg_into_const)"""
    if g.op(n) not in ("mul", "div"):
        return None
    a, b = g.args(n)
    for side, v in ((0, a), (1, b)):
        if g.op(v) == "neg":
            x = g.args(v)[0]
            inner = build(g, n, g.op(n), [x, b] if side == 0 else [a, x])
            return build(g, n, "neg", [inner])
    return None


@matches("sum", "mean")
def neg_out_of_sum(g: Graph, n: int) -> int | None:
    """sum(-x) -> -sum(x), and mean(-x) -> -mean(x): the sign taken once the values are
    added up, on fewer of them"""
    (x,) = g.args(n)
    if g.op(x) != "neg":
        return None
    return build(g, n, "neg", [build(g, n, g.op(n), g.args(x), g.node(n)["attrs"])])


@matches("mul")
def recip_mul(g: Graph, n: int) -> int | None:
    """(1 / d) * y -> y / d and y * (1 / d) -> y / d"""
    args = binary_args(g, n, "mul")
    if args is None:
        return None
    for side in (0, 1):
        r, y = args[side], args[1 - side]
        if g.op(r) == "div" and const_value(g, g.args(r)[0]) == 1.0:
            return build(g, n, "div", [y, g.args(r)[1]])
    return None


def _scalar_and_array(g: Graph, n: int) -> tuple[int, int] | None:
    """For a * x or x * a with a a scalar (rank 0) and x an array of n's shape: (a, x)."""
    args = binary_args(g, n, "mul")
    if args is None:
        return None
    for side in (0, 1):
        a, x = args[side], args[1 - side]
        if g.shape(a) == () and g.shape(x) == g.shape(n) != ():
            return a, x
    return None


@matches("mul", "div")
def scalar_divisor(g: Graph, n: int) -> int | None:
    """(a * x) / s -> x * (a / s) and s * (a * x) -> x * (a * s), for an array x and scalars
    a and s not both constants: the numbers combine before the array is touched, one pass
    over it instead of two"""
    if g.op(n) not in ("mul", "div"):
        return None
    left, right = g.args(n)
    sides = ((left, right),) if g.op(n) == "div" else ((left, right), (right, left))
    for top, s in sides:
        got = _scalar_and_array(g, top)
        if got is None or g.shape(s) != ():
            continue
        a, x = got
        if (g.op(a) == "const" and g.op(s) == "const") or const_value(g, a) == 1.0:
            continue
        return build(g, n, "mul", [x, build(g, n, g.op(n), [a, s])])
    return None
