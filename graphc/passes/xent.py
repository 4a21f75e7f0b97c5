"""The gradient of a mean (or sum) of cross-entropies, written the way the lecture does.

The sweep differentiates mean(cross_entropy(z, y)) one edge at a time:

    g_ce = broadcast_like(s, ce) / count(ce)       # mean: each example gets s/n
                                                   # (or broadcast_like(s / n, ce), once simplified)
    d_z  = expand_dims(g_ce, -1) * (softmax(z) - one_hot(y))

Every example's factor is the same scalar, so the product is the difference
scaled by that scalar, with no broadcast array built:

    d_z  = (softmax(z) - one_hot(y)) * s / n       # (softmax(z) - one_hot(y)) / n for s = 1

The rule is safe for any s and n: it only uses that every element of
expand_dims(g_ce) equals s / n, and that the difference already has the
result's shape.
"""

from __future__ import annotations

from graphc.ir import Graph
from graphc.passes.patterns import const_value, cross_entropy_args, scalar_source, softmax_minus_one_hot_args
from graphc.passes.rewrite import build, matches, rewrite


def _per_example_factor(g: Graph, e: int) -> tuple[int, int | None, int] | None:
    """For e = expand_dims(fill(s, ce) / c, -1) or expand_dims(fill(s / c, ce), -1): (s, c or None, ce)."""
    if g.op(e) != "expand_dims":
        return None
    (inner,) = g.args(e)
    c = None
    if g.op(inner) == "div" and g.shape(g.args(inner)[1]) == ():
        inner, c = g.args(inner)
    if g.op(inner) != "broadcast_like":
        return None
    s, ce = g.args(inner)
    if g.shape(s) != () or cross_entropy_args(g, ce) is None or g.node(e)["attrs"]["axes"] != (len(g.shape(ce)),):
        return None
    if c is None and g.op(s) == "div":  # the division already moved inside the fill
        s, c = g.args(s)
    return s, c, ce


@matches("mul")
def softmax_xent_grad(g: Graph, n: int) -> int | None:
    """expand_dims(fill(s, ce) / c) * (softmax(z) - one_hot(y)) with ce = cross_entropy(z, y)
    -> (softmax(z) - one_hot(y)) * s / c (the scaling and division dropped when s = 1 or no c)"""
    if g.op(n) != "mul":
        return None
    e, d = g.args(n)
    found = _per_example_factor(g, e)
    if found is None or g.shape(d) != g.shape(n):
        return None
    s, c, ce = found
    if softmax_minus_one_hot_args(g, d) != cross_entropy_args(g, ce):
        return None
    out = d if const_value(g, scalar_source(g, s)) == 1.0 else build(g, n, "mul", [d, s])
    return out if c is None else build(g, n, "div", [out, c])


RULES = (softmax_xent_grad,)


def rewrite_xent(graph: Graph) -> Graph:
    """Rewrite the backward pattern of a mean or sum over cross_entropy (see the module text).

    pre:  a well-formed graph, typically fresh from autodiff.
    post: a new graph computing the same values in which no mul matches the
          pattern; the broadcast it no longer needs stays until dce.
    """
    return rewrite(graph, RULES)
