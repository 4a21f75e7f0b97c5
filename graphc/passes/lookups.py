"""one_hot(labels, K) never made: a product with it picks or scatters rows, so it needs no
[B, K] array and no matrix product (an embedding `one_hot(tok, V) @ E` is `E[tok]`); an
elementwise product summed over the classes picks each row's value at its label (a
log-likelihood written out, `sum(one_hot(y, K) * log_softmax(z), axis=-1)`), and that pick's
gradient puts each row's value at its label; taken from a softmax it is a 1 off each row's
label, and where a cross-entropy's gradient is taken, the softmax is read off the exponentials
its loss summed."""

from __future__ import annotations

from graphc.ir import Graph
from graphc.ops.structural import one_per_row
from graphc.passes.patterns import BOOLEAN, softmax_minus_one_hot_args
from graphc.passes.rewrite import build, matches


def _one_hot_labels(g: Graph, a: int) -> int | None:
    """The labels of a = one_hot(labels, K) for labels of rank 0 or 1, else None."""
    if g.op(a) == "one_hot" and len(g.shape(a)) <= 2:
        return g.args(a)[0]
    return None


def _flat_one_hot_labels(g: Graph, a: int) -> int | None:
    """The labels of a = reshape(one_hot(labels, K), [N, K]) (a batch of sequences laid end to
    end: the rows of K stay whole, as the last axis keeps its size), else None."""
    if g.op(a) != "reshape" or len(g.shape(a)) != 2:
        return None
    (h,) = g.args(a)
    if g.op(h) != "one_hot" or g.shape(h)[-1] != g.shape(a)[-1]:
        return None
    return g.args(h)[0]


def _picked_rows(g: Graph, n: int, labels: int | None, x: int) -> int | None:
    """n = a @ x with a the one-hot of `labels` (None: a is none) -> the rows of x they pick,
    reshaped to n's shape where the one-hot was reshaped"""
    if labels is None or len(g.shape(x)) not in (1, 2):
        return None
    rows = build(g, n, "rows", [x, labels])
    return rows if g.shape(rows) == g.shape(n) else build(g, n, "reshape", [rows], {"shape": g.shape(n)})


def _rows_added_back(g: Graph, n: int, labels: int | None, y: int) -> int | None:
    """n = a.T @ y with a the one-hot of `labels` (None: a is none) -> y's rows added into K rows
    of zeros at the labels, y laid out by the labels' axes first where the one-hot was reshaped"""
    if labels is None or len(g.shape(y)) not in (1, 2):
        return None
    shape = g.shape(labels) + g.shape(y)[1:]
    rows = y if shape == g.shape(y) else build(g, n, "reshape", [y], {"shape": shape})
    return build(g, n, "scatter_rows", [rows, labels], {"k": g.shape(g.args(n)[0])[0]})


@matches("matmul")
def one_hot_matmul(g: Graph, n: int) -> int | None:
    """one_hot(l, K) @ x -> x[l]: the rows of x the labels pick"""
    a, x = g.args(n)
    return _picked_rows(g, n, _one_hot_labels(g, a), x)


@matches("matmul")
def one_hot_t_matmul(g: Graph, n: int) -> int | None:
    """one_hot(l, K).T @ y -> y's rows added into K rows of zeros at l (the gradient of x[l])"""
    t, y = g.args(n)
    if g.op(t) != "transpose":
        return None
    labels = _one_hot_labels(g, g.args(t)[0])
    if labels is not None and len(g.shape(labels)) != 1:
        return None
    return _rows_added_back(g, n, labels, y)


@matches("matmul")
def flat_one_hot_matmul(g: Graph, n: int) -> int | None:
    """reshape(one_hot(l, K), [N, K]) @ x -> reshape(x[l], [N, ...]): the rows of x the labels
    pick, laid end to end (an embedding of a batch of sequences)"""
    a, x = g.args(n)
    return _picked_rows(g, n, _flat_one_hot_labels(g, a), x)


@matches("matmul")
def flat_one_hot_t_matmul(g: Graph, n: int) -> int | None:
    """reshape(one_hot(l, K), [N, K]).T @ y -> y's rows added into K rows of zeros at l (the
    gradient of reshape(x[l], [N, ...]))"""
    t, y = g.args(n)
    if g.op(t) != "transpose":
        return None
    return _rows_added_back(g, n, _flat_one_hot_labels(g, g.args(t)[0]), y)


@matches("sub")
def softmax_minus_one_hot(g: Graph, n: int) -> int | None:
    """softmax(z, axis=-1) - one_hot(y, K) -> the softmax with 1 taken off each row at its label"""
    found = softmax_minus_one_hot_args(g, n)
    return None if found is None else build(g, n, "softmax_minus_one_hot", list(found))


@matches("cross_entropy")
def cross_entropy_as_pick(g: Graph, n: int) -> int | None:
    """cross_entropy(z, y) where gradients are taken -> log(sum(e, axis=-1)) - s[..., y] with
    s = z - max(z) and e = exp(s): the shifted logits and their exp stay for the gradient, which is
    e over its row sums with 1 off at the label; where log_softmax(z) is computed and no gradient
    taken -> -log_softmax(z)[..., y], the log-probabilities shared"""
    z, y = g.args(n)
    if g.wrt:
        shifted, e, sums = _shifted_exp(g, n, z)
        return build(g, n, "sub", [build(g, n, "log", [sums]), build(g, n, "pick", [shifted, y])])
    logp = _log_softmax_of(g, z)
    if logp is None:  # the loss alone is cheaper
        return None
    return build(g, n, "neg", [build(g, n, "pick", [logp, y])])


def _shifted_exp(g: Graph, n: int, z: int, axis: int = -1, keepdims: bool = False) -> tuple[int, int, int]:
    """(s, e, sums): s = z - max(z), e = exp(s) and e's sums along the axis (z's last unless
    told), built for n (the same nodes for the loss and its gradient, which sharing then makes one)"""
    axis = axis % len(g.shape(z))
    shifted = build(g, n, "minus_max", [z], {"axis": axis})
    e = build(g, n, "exp", [shifted])
    return shifted, e, build(g, n, "sum", [e], {"axes": (axis,), "keepdims": keepdims})


@matches("log_softmax")
def log_softmax_as_shift(g: Graph, n: int) -> int | None:
    """log_softmax(z) where gradients are taken, along an axis of a fixed size -> s - log(sum(exp(s)))
    with s = z - max(z), the sums kept as an axis: its gradient reads the softmax as exp(s) over
    those sums (exp_of_log_softmax), not as the exp of the rounded log-probabilities"""
    (z,) = g.args(n)
    axis = g.node(n)["attrs"]["axis"]
    # without a gradient the helper alone is as fast, and nothing reads its parts; along a dim,
    # which may be 0, the log of the empty sums would warn where the helper normalizes nothing
    if not g.wrt or isinstance(g.shape(z)[axis], str):
        return None
    shifted, _, sums = _shifted_exp(g, n, z, axis, keepdims=True)
    return build(g, n, "sub", [shifted, build(g, n, "log", [sums])])


@matches("mul")
def softmax_times_number(g: Graph, n: int) -> int | None:
    """(exp(s) / sums) * c, either order, for a number c and the sums of exp(s) kept as an axis
    -> exp(s) * (c / sums): the number meets the sums, one per row, not every value (the sums
    are at least 1, the row's max contributing e^0, so c / sums is no larger than c)"""
    a, b = g.args(n)
    for c, d in ((a, b), (b, a)):
        if g.shape(c) != () or g.op(d) != "div" or g.shape(d) != g.shape(n):
            continue
        e, sums = g.args(d)
        if _softmax_parts(g, e, sums):
            return build(g, n, "mul", [e, build(g, n, "div", [c, sums])])
    return None


def _softmax_parts(g: Graph, e: int, sums: int) -> bool:
    """Whether e = exp(minus_max(z)) and sums = sum(e) along the same axis, kept as an axis."""
    if g.op(e) != "exp" or g.op(sums) != "sum" or g.args(sums) != [e] or not g.node(sums)["attrs"]["keepdims"]:
        return False
    (shifted,) = g.args(e)
    return g.op(shifted) == "minus_max" and g.node(sums)["attrs"]["axes"] == (g.node(shifted)["attrs"]["axis"],)


@matches("exp")
def exp_of_log_softmax(g: Graph, n: int) -> int | None:
    """exp(s - log(sum(exp(s), keepdims))) with s = z - max(z) -> exp(s) / sum(exp(s)): the
    softmax from the exponentials its log-softmax summed, each of its values rounded once
    fewer (as exact as -O0's softmax, where the exp of log-probabilities is 1-2 ulp further)"""
    (d,) = g.args(n)
    if g.op(d) != "sub":
        return None
    shifted, log = g.args(d)
    if g.op(log) != "log" or g.op(sums := g.args(log)[0]) != "sum":
        return None
    e = g.args(sums)[0]
    if not _softmax_parts(g, e, sums) or g.args(e) != [shifted]:
        return None
    return build(g, n, "div", [e, sums])


@matches("softmax_minus_one_hot")
def softmax_from_the_loss(g: Graph, n: int) -> int | None:
    """softmax(z) - one_hot(y) where the loss computed exp(z - max(z)) -> that exp over its row
    sums with 1 off each label, the softmax as exact as from z itself; where log_softmax(z) is
    computed instead -> exp(log_softmax(z)) - one_hot(y): the log-probabilities read again, not
    the softmax from z anew"""
    z, y = g.args(n)
    if _shifted_of(g, z) is not None:
        _, e, sums = _shifted_exp(g, n, z)
        return build(g, n, "normalized_minus_one_hot", [e, sums, y])
    logp = _log_softmax_of(g, z)
    return None if logp is None else build(g, n, "exp_minus_one_hot", [logp, y])


def _log_softmax_of(g: Graph, z: int) -> int | None:
    """A node computing log_softmax(z) over z's last axis, if the graph has one."""
    return _user_over_last_axis(g, z, "log_softmax")


def _shifted_of(g: Graph, z: int) -> int | None:
    """A node computing z - max(z) over z's last axis, if the graph has one."""
    return _user_over_last_axis(g, z, "minus_max")


def _user_over_last_axis(g: Graph, z: int, op: str) -> int | None:
    last = len(g.shape(z)) - 1
    for u in g.users(z):
        if g.op(u) == op and g.node(u)["attrs"]["axis"] == last:
            return u
    return None


def _times_one_hot(g: Graph, p: int) -> tuple[int, int] | None:
    """(x, labels) for p = one_hot(labels, K) * x or x * one_hot(labels, K), else None."""
    if g.op(p) != "mul":
        return None
    for h, x in (g.args(p), reversed(g.args(p))):
        if g.op(h) == "one_hot" and g.shape(h) == g.shape(p) and g.op(x) not in BOOLEAN:
            return x, g.args(h)[0]
    return None


@matches("sum", "mean")
def one_hot_pick(g: Graph, n: int) -> int | None:
    """sum(one_hot(l, K) * x, axis=-1) -> x[..., l]: each row's value at its label (either order,
    keepdims too), and mean(...) -> x[..., l] / K"""
    (p,) = g.args(n)
    found = _times_one_hot(g, p)
    last = len(g.shape(p)) - 1
    if found is None or g.node(n)["attrs"]["axes"] != (last,) or g.shape(found[0]) != g.shape(p):
        return None
    picked = build(g, n, "pick", list(found))
    if g.op(n) == "mean":
        classes = build(g, n, "const", [], {"value": float(g.shape(p)[-1])})
        picked = build(g, n, "div", [picked, classes])
    return build(g, n, "expand_dims", [picked], {"axes": (last,)}) if g.node(n)["attrs"]["keepdims"] else picked


@matches("mul", "neg")
def one_hot_scatter_pick(g: Graph, n: int) -> int | None:
    """u * one_hot(l, K) with u one value per row (either order), or -one_hot(l, K) -> u (or -1)
    placed at each row's label, zeros elsewhere (the gradient of x[..., l])"""
    if g.op(n) == "neg":  # what the signs make of -1 * one_hot, the gradient of -sum(x[..., l])
        (h,) = g.args(n)
        if g.op(h) != "one_hot":
            return None
        minus_one = build(g, n, "const", [], {"value": -1.0})
        return build(g, n, "scatter_pick", [minus_one, g.args(h)[0]], {"k": g.shape(n)[-1]})
    found = _times_one_hot(g, n)
    if found is None:
        return None
    u, labels = found
    while not one_per_row(g.shape(u), g.shape(labels)):  # look through a broadcast of a column
        if g.op(u) != "broadcast_like":
            return None
        u = g.args(u)[0]
    return build(g, n, "scatter_pick", [u, labels], {"k": g.shape(n)[-1]})


@matches("sum")
def sum_of_scatter_pick(g: Graph, n: int) -> int | None:
    """sum(scatter_pick(u, l, K), axis=-1) -> u as one value per row, read back at the labels
    (keepdims too): each row holds u at its label and zeros elsewhere, so no [.., K] sum"""
    (s,) = g.args(n)
    last = len(g.shape(s)) - 1
    if g.op(s) != "scatter_pick" or g.node(n)["attrs"]["axes"] != (last,):
        return None
    u, labels = g.args(s)
    if g.shape(u) == g.shape(n):  # already a value per row in the sum's layout
        return u
    picked = build(g, n, "pick", [s, labels])
    if g.node(n)["attrs"]["keepdims"]:
        picked = build(g, n, "expand_dims", [picked], {"axes": (last,)})
    elif g.shape(u) != ():  # a column lines up with the labels' axes only with the axis of 1 kept
        return picked
    # the value itself, spread over the rows: an elementwise use takes u alone and the pick goes
    return build(g, n, "broadcast_like", [u, picked])
