"""one_hot(labels, K) never made: a product with it picks or scatters rows, so it needs no
[B, K] array and no matrix product (an embedding `one_hot(tok, V) @ E` is `E[tok]`), and
taken from a softmax it is a 1 off each row's label."""

from __future__ import annotations

from graphc.ir import Graph
from graphc.passes.patterns import softmax_minus_one_hot_args
from graphc.passes.rewrite import build, matches


def _one_hot_labels(g: Graph, a: int) -> int | None:
    """The labels of a = one_hot(labels, K) for labels of rank 0 or 1, else None."""
    if g.op(a) == "one_hot" and len(g.shape(a)) <= 2:
        return g.args(a)[0]
    return None


@matches("matmul")
def one_hot_matmul(g: Graph, n: int) -> int | None:
    """one_hot(l, K) @ x -> x[l]: the rows of x the labels pick"""
    a, x = g.args(n)
    labels = _one_hot_labels(g, a)
    if labels is None or len(g.shape(x)) not in (1, 2):
        return None
    return build(g, n, "rows", [x, labels])


@matches("matmul")
def one_hot_t_matmul(g: Graph, n: int) -> int | None:
    """one_hot(l, K).T @ y -> y's rows added into K rows of zeros at l (the gradient of x[l])"""
    t, y = g.args(n)
    if g.op(t) != "transpose":
        return None
    labels = _one_hot_labels(g, g.args(t)[0])
    if labels is None or len(g.shape(labels)) != 1 or len(g.shape(y)) not in (1, 2):
        return None
    return build(g, n, "scatter_rows", [y, labels], {"k": g.shape(t)[0]})


@matches("sub")
def softmax_minus_one_hot(g: Graph, n: int) -> int | None:
    """softmax(z, axis=-1) - one_hot(y, K) -> the softmax with 1 taken off each row at its label"""
    found = softmax_minus_one_hot_args(g, n)
    return None if found is None else build(g, n, "softmax_minus_one_hot", list(found))
