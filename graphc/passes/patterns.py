"""Small questions the rewrite rules ask about a node: is it a constant, a broadcast scalar, ...?"""

from __future__ import annotations

import numpy as np

from graphc.ir import Graph

ELEMENTWISE_BINARY = frozenset({"add", "sub", "mul", "div", "maximum", "minimum", "greater", "equal"})
BOOLEAN = frozenset({"greater", "equal"})  # their NumPy values are bool arrays, not floats
LAYOUT = frozenset({"broadcast_like", "expand_dims", "reshape_like"})  # first argument's values, new layout


_FLOAT32 = np.finfo(np.float32)
_LEAST, _MOST = float(_FLOAT32.tiny), float(_FLOAT32.max)


def held_by_every_dtype(value: float) -> bool:
    """True when value is 0 or a normal float32 number: what every model dtype holds as the
    number itself (a constant past that would be inf, a subnormal or 0 in a float32 model)."""
    return value == 0.0 or _LEAST <= abs(value) <= _MOST  # (False for inf and nan)


def const_value(g: Graph, n: int) -> float | None:
    return g.node(n)["attrs"]["value"] if g.op(n) == "const" else None


def scalar_source(g: Graph, n: int) -> int | None:
    """The scalar node that n is a broadcast or reshaped copy of (n itself if scalar)."""
    while g.shape(n) != () and g.op(n) in LAYOUT:
        n = g.args(n)[0]
    return n if g.shape(n) == () else None


def fill_value(g: Graph, n: int) -> float | None:
    """The number every element of n equals, when n is a const or a broadcast of one."""
    s = scalar_source(g, n)
    return None if s is None else const_value(g, s)


def stands_for(g: Graph, x: int, n: int) -> bool:
    """x may replace n: the same shape and dtype, and x's NumPy value is not a bool array."""
    return g.type(x) == g.type(n) and g.op(x) not in BOOLEAN


def binary_args(g: Graph, n: int, op: str) -> tuple[int, int] | None:
    if g.op(n) != op:
        return None
    a, b = g.args(n)
    return a, b


def cross_entropy_args(g: Graph, ce: int) -> tuple[int, int] | None:
    """(z, y) for ce = cross_entropy(z, y), or for log(sum(exp(s), axis=-1)) - s[..., y] with
    s = z - max(z) over z's last axis (what graphc.passes.lookups makes of it where its gradient
    is taken), else None."""
    if g.op(ce) == "cross_entropy":
        z, y = g.args(ce)
        return z, y
    if g.op(ce) != "sub":
        return None
    log, p = g.args(ce)
    if g.op(log) != "log" or g.op(p) != "pick" or g.op(sums := g.args(log)[0]) != "sum":
        return None
    s, y = g.args(p)
    e = g.args(sums)[0]
    if g.op(s) != "minus_max" or g.op(e) != "exp" or g.args(e) != [s]:
        return None
    last = len(g.shape(s)) - 1
    if g.node(s)["attrs"]["axis"] != last or g.node(sums)["attrs"]["axes"] != (last,):
        return None
    return g.args(s)[0], y


def softmax_minus_one_hot_args(g: Graph, d: int) -> tuple[int, int] | None:
    """(z, y) for d = softmax(z) - one_hot(y) with the softmax over z's last axis
    (cross_entropy's gradient), else None."""
    if g.op(d) != "sub":
        return None
    s, h = g.args(d)
    if g.op(s) != "softmax" or g.op(h) != "one_hot" or g.shape(s) != g.shape(h):  # no broadcasting
        return None
    (z,) = g.args(s)
    if g.node(s)["attrs"]["axis"] != len(g.shape(z)) - 1:  # prepare made it non-negative
        return None
    return z, g.args(h)[0]
