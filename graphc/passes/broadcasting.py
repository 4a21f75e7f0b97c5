"""Broadcasting rules: the fills that the gradients of sum, mean and the loss seed leave behind.

Each rule returns a node equal to n, or None; see simplify.py for the list.
"""

from __future__ import annotations

from graphc.ir import Graph
from graphc.ops.base import broadcasts_to
from graphc.passes.patterns import ELEMENTWISE_BINARY, scalar_source, stands_for
from graphc.passes.rewrite import build, matches

# ------------------------------------------------------------------ broadcasting


@matches("broadcast_like", "reshape_like")
def broadcast_noop(g: Graph, n: int) -> int | None:
    """broadcast_like(x, like) -> x and reshape_like(x, like) -> x when x has the result's shape"""
    if g.op(n) in ("broadcast_like", "reshape_like"):
        x = g.args(n)[0]
        return x if stands_for(g, x, n) else None
    return None


def _unbroadcast_operand(g: Graph, a: int) -> int | None:
    """What a broadcast operand copies: x for broadcast_like(x, like), the scalar of a filled scalar."""
    if g.op(a) == "broadcast_like":
        return g.args(a)[0]
    s = scalar_source(g, a)
    return s if s is not None and s != a else None


@matches(*ELEMENTWISE_BINARY)
def broadcast_operand(g: Graph, n: int) -> int | None:
    """op(broadcast_like(x, like), y) -> op(x, y) for an elementwise op, when x and y alone
    broadcast to the result's shape; the same for a scalar broadcast and reshaped (a * fill(s) -> a * s)."""
    if g.op(n) not in ELEMENTWISE_BINARY:
        return None
    a, b = g.args(n)
    for side in (0, 1):
        x = _unbroadcast_operand(g, (a, b)[side])
        if x is None:
            continue
        new = [x, b] if side == 0 else [a, x]
        if broadcasts_to(g.shape(new[0]), g.shape(new[1]), g.shape(n)):
            return build(g, n, g.op(n), new)
    return None


@matches("add", "sub", "mul", "div")
def scalar_into_fill(g: Graph, n: int) -> int | None:
    """broadcast_like(x, like) op t -> broadcast_like(x op t, like) for a scalar t and op one of
    + - * /: the arithmetic runs on the small x (`fill / n` in the gradient of a mean)."""
    if g.op(n) not in ("add", "sub", "mul", "div"):
        return None
    a, b = g.args(n)
    for side in (0, 1):
        fill, t = (a, b) if side == 0 else (b, a)
        if g.op(fill) != "broadcast_like" or g.shape(t) != () or g.shape(fill) != g.shape(n):
            continue
        x, like = g.args(fill)
        inner = build(g, n, g.op(n), [x, t] if side == 0 else [t, x])
        return build(g, n, "broadcast_like", [inner, like])
    return None


@matches("sum", "mean")
def reduce_broadcast(g: Graph, n: int) -> int | None:
    """sum(broadcast_like(x, like)) -> x * count and mean(broadcast_like(x, like)) -> x, over
    exactly the axes the broadcast added (the result has x's shape). A reduction over a dim
    stays: that dim may be 0, and the sum of nothing is 0 where x * 0 is nan for an infinite x
    (the `1 / count` a mean's gradient fills with over an empty batch), and the mean of nothing
    is nan where x is a number."""
    if g.op(n) not in ("sum", "mean") or g.op(g.args(n)[0]) != "broadcast_like":
        return None
    b = g.args(n)[0]
    x, like = g.args(b)
    attrs = g.node(n)["attrs"]
    axes, xs, bs = attrs["axes"], g.shape(x), g.shape(b)
    if not stands_for(g, x, n) or not axes:
        return None
    if attrs["maybe_empty"]:
        return None
    if attrs["keepdims"]:
        ok = len(xs) == len(bs) and all(xs[i] == 1 for i in axes)
    else:
        ok = axes == tuple(range(len(axes))) and len(xs) == len(bs) - len(axes)
    if not ok:
        return None
    if g.op(n) == "mean":
        return x
    ls = g.shape(like)
    witness = like if len(ls) == len(bs) and all(ls[i] == bs[i] for i in axes) else b
    count = build(g, n, "count", [witness], {"axes": axes})
    return build(g, n, "mul", [x, count])
