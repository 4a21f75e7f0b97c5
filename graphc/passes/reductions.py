"""Reductions that consume their producer: a sum (or mean) over every element of a
product or a square is one inner product, BLAS dots with no array in between.

Each rule returns a node equal to n, or None; see simplify.py for the list.
"""

from __future__ import annotations

from graphc.ir import Graph
from graphc.passes.patterns import BOOLEAN
from graphc.passes.rewrite import build, matches


def _whole(g: Graph, n: int) -> bool:
    """n is a sum or mean over every axis of an array, to a scalar.

    Not of a scalar: that sum is its argument already, and a product of scalars may
    be of constants, Python numbers in the generated code, which have no size for
    _inner to read.
    """
    return g.op(n) in ("sum", "mean") and g.node(n)["attrs"]["all"] and g.shape(g.args(n)[0]) != ()


def _inner(g: Graph, n: int, a: int, b: int) -> int:
    return build(g, n, "inner", [a, b], {"mean": g.op(n) == "mean"})


@matches("sum", "mean")
def sum_of_product(g: Graph, n: int) -> int | None:
    """sum(a * b) -> inner(a, b) and mean(a * b) -> inner(a, b) / n, for a and b of one shape"""
    if not _whole(g, n):
        return None
    (p,) = g.args(n)
    if g.op(p) != "mul":
        return None
    a, b = g.args(p)
    # a comparison's NumPy value is a bool array, and a dot of bools is a bool
    if g.type(a) != g.type(p) or g.type(b) != g.type(p) or {g.op(a), g.op(b)} & BOOLEAN:
        return None
    return _inner(g, n, a, b)


@matches("sum", "mean")
def sum_of_square(g: Graph, n: int) -> int | None:
    """sum(square(x)) -> inner(x, x) and mean(square(x)) -> inner(x, x) / n; x^2 is a square too"""
    if not _whole(g, n):
        return None
    (p,) = g.args(n)
    if not (g.op(p) == "square" or g.op(p) == "pow" and g.node(p)["attrs"]["p"] == 2):
        return None
    (x,) = g.args(p)
    return _inner(g, n, x, x)


@matches("count")
def count_of_factor(g: Graph, n: int) -> int | None:
    """count(x^2) -> count(x), count(-x) -> count(x) and count(x * y) -> count(x) when x has the
    product's shape"""
    # a count reads only the shape: the square that a mean's gradient counts may then die,
    # once the mean itself is an inner product, and so may the negated picks of a
    # cross-entropy once the sign is taken after the sum (only these producers, so a count does not
    # climb the chain and keep earlier arrays alive)
    if g.op(n) != "count":
        return None
    (p,) = g.args(n)
    if g.op(p) not in ("square", "pow", "mul", "neg"):
        return None
    same = [a for a in g.args(p) if g.shape(a) == g.shape(p)]
    return build(g, n, "count", same[:1], g.node(n)["attrs"]) if same else None
