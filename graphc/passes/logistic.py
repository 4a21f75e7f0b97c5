"""The logarithm of a sigmoid as a softplus, and the sigmoid factors its gradient cancels.

A logistic loss is often written as it is derived, log(sigmoid(z)) and
log(1 - sigmoid(z)). Computed so, the first is wrong far left of 0 (the sigmoid
stops at the dtype's smallest normal number: log(sigmoid(-1000)) was -708, not
-1000) and the second is -inf from z = 37 on, where 1 - sigmoid(z) rounds to 0.
The chain rule through them divides by the same sigmoid and multiplies by
sigmoid' = s (1 - s), a quotient of 0 by 0 from z = 37 on; each s or 1 - s it divides
by cancels, as it never is 0 in exact arithmetic.

Each rule returns a node equal to n, or None; see simplify.py for the list.
"""

from __future__ import annotations

from graphc.ir import Graph
from graphc.ops.base import broadcasts_to
from graphc.passes.patterns import fill_value
from graphc.passes.rewrite import build, matches


def _one_minus_sigmoid(g: Graph, n: int) -> int | None:
    """The sigmoid s of n = 1 - s (n shaped like s), else None."""
    if g.op(n) != "sub":
        return None
    one, s = g.args(n)
    return s if g.op(s) == "sigmoid" and fill_value(g, one) == 1.0 and g.shape(s) == g.shape(n) else None


@matches("log")
def log_sigmoid(g: Graph, n: int) -> int | None:
    """log(sigmoid(x)) -> -softplus(-x), exact where the sigmoid is below the smallest normal number"""
    if g.op(n) != "log" or g.op(g.args(n)[0]) != "sigmoid":
        return None
    (x,) = g.args(g.args(n)[0])
    return build(g, n, "neg", [build(g, n, "softplus", [build(g, n, "neg", [x])])])


@matches("log")
def log_one_minus_sigmoid(g: Graph, n: int) -> int | None:
    """log(1 - sigmoid(x)) -> -softplus(x), finite where 1 - sigmoid(x) rounds to 0"""
    s = _one_minus_sigmoid(g, g.args(n)[0]) if g.op(n) == "log" else None
    if s is None:
        return None
    (x,) = g.args(s)
    return build(g, n, "neg", [build(g, n, "softplus", [x])])


def _factor(g: Graph, z: int) -> tuple[str, int] | None:
    """What z is when it is sigmoid(x) or 1 - sigmoid(x), never 0 in exact arithmetic: the
    same pair for two nodes computing the same one (before cse has merged them)."""
    if g.op(z) == "sigmoid":
        return "s", g.args(z)[0]
    s = _one_minus_sigmoid(g, z)
    return None if s is None else ("1-s", g.args(s)[0])


def _other(g: Graph, z: int, p: int, q: int) -> int | None:
    """Of the factors p and q, the one left when z cancels the other (z a sigmoid or 1 - sigmoid)."""
    key = _factor(g, z)
    if key is None:
        return None
    return q if key == _factor(g, p) else p if key == _factor(g, q) else None


_DEPTH = 8  # the sums of quotients followed: a chain-rule sum has one term per use


def _cancelled(g: Graph, t: int, p: int, q: int, shape: tuple, depth: int = 0) -> tuple | None:
    """t * (p * q) with each quotient of t by p or q cancelled, as a plan for _build: t is a
    quotient a / p (or a / q), or a sum, difference or negation of such; every term must
    cancel and come out shaped `shape`. None where one does not."""
    op = g.op(t)
    if depth > _DEPTH:
        return None
    if op == "div":
        a, z = g.args(t)
        other = _other(g, z, p, q)
        if other is None or not broadcasts_to(g.shape(a), g.shape(other), shape):
            return None
        return ("mul", a, other)
    if op == "neg":
        inner = _cancelled(g, g.args(t)[0], p, q, shape, depth + 1)
        return None if inner is None else ("neg", inner)
    if op in ("add", "sub"):
        parts = [_cancelled(g, a, p, q, shape, depth + 1) for a in g.args(t)]
        return None if None in parts else (op, *parts)
    return None


def _build(g: Graph, n: int, plan) -> int:
    if isinstance(plan, int):
        return plan
    op, *args = plan
    return build(g, n, op, [_build(g, n, a) for a in args])


@matches("mul", "div")
def sigmoid_factor_cancels(g: Graph, n: int) -> int | None:
    """(a / z) * (z * b) -> a * b, the same through sums and negations of such quotients, and
    (z * b) / z -> b, for z = sigmoid(x) or 1 - sigmoid(x): never 0 in exact arithmetic, but
    1 - sigmoid(x) is 0 from x = 37 on, where the quotient was nan. The chain rule through
    log(sigmoid(x)) and log(1 - sigmoid(x)) makes these: their gradients are then 1 - sigmoid(x)
    and -sigmoid(x), the logistic loss's sigmoid(x) - y."""
    if g.op(n) == "div":
        m, z = g.args(n)
        if g.op(m) != "mul":
            return None
        other = _other(g, z, *g.args(m))
        return other if other is not None and g.type(other) == g.type(n) else None
    if g.op(n) != "mul":
        return None
    for t, m in (g.args(n), g.args(n)[::-1]):
        if g.op(m) != "mul":
            continue
        p, q = g.args(m)
        if _factor(g, p) is None and _factor(g, q) is None:
            continue
        plan = _cancelled(g, t, p, q, g.shape(n))
        if plan is not None:
            return _build(g, n, plan)
    return None
