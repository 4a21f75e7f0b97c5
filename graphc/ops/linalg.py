"""Matrix multiplication, following numpy.matmul for 1-D and 2-D operands, and the
inner product of two arrays of one shape (what a sum of a product becomes)."""

from __future__ import annotations

from graphc.ops.base import Facts, OpDef, ShapeError, op, show, size_text


def _matmul_shape(attrs, ta, tb):
    a, b = ta[0], tb[0]
    for t, side in ((ta, "left"), (tb, "right")):
        if t[1] != "float":
            raise ShapeError(f"@ needs float values, but the {side} side is {show(*t)}")
        if len(t[0]) not in (1, 2):
            raise ShapeError(f"@ takes 1-D and 2-D operands, but the {side} side is {show(*t)} (rank {len(t[0])})")
    if a[-1] != b[0]:
        raise ShapeError(
            f"cannot multiply {show(a)} @ {show(b)}: inner sizes {size_text(a[-1])} and {size_text(b[0])} differ"
        )
    return a[:-1] + b[1:], "float"


def _grad_a(g, out, a, b):
    ra, rb = len(a.shape), len(b.shape)
    if ra == 2 and rb == 2:
        return g @ b.T  # d(AB)/dA: G Bᵀ
    if ra == 1 and rb == 1:
        return g * b
    if ra == 2:  # [m, n] @ [n] -> [m]: the outer product g vᵀ
        return op("expand_dims", g, axes=(1,)) * b
    return b @ g  # [n] @ [n, k] -> [k]


def _grad_b(g, out, a, b):
    ra, rb = len(a.shape), len(b.shape)
    if ra == 2 and rb == 2:
        return a.T @ g  # d(AB)/dB: Aᵀ G
    if ra == 1 and rb == 1:
        return g * a
    if ra == 2:
        return a.T @ g
    return op("expand_dims", a, axes=(1,)) * g


def _inner_shape(attrs, ta, tb):
    for t, side in ((ta, "left"), (tb, "right")):
        if t[1] != "float":
            raise ShapeError(f"inner needs float values, but the {side} side is {show(*t)}")
    if ta[0] != tb[0]:
        raise ShapeError(f"inner needs arrays of one shape, but got {show(*ta)} and {show(*tb)}")
    return (), "float"


def _inner_emit(xp, attrs, a, b):
    # BLAS dots over the flattened arrays, 2-4x faster than a product summed (see _inner)
    dot = f"_inner({a}, {b})"
    return f"({dot} / {a}.size)" if attrs["mean"] else dot


def _per_element(d, a, mean: bool):
    """d, or d / n for the mean over a's n elements."""
    return d / op("count", a, axes=tuple(range(len(a.shape)))) if mean else d


def _inner_grad_a(g, out, a, b, mean):
    return _per_element(g * b, a, mean)  # d/da sum(a * b) = b


def _inner_grad_b(g, out, a, b, mean):
    return _per_element(g * a, a, mean)


OPS: tuple[OpDef, ...] = (
    OpDef(
        "matmul",
        ("a", "b"),
        _matmul_shape,
        # `a @ b` as the model wrote it, at -O2 np.dot (the same product, cheaper per call: see into)
        lambda xp, attrs, a, b: f"{xp}.dot({a}, {b})" if attrs.get("fast") else f"{a} @ {b}",
        {"a": _grad_a, "b": _grad_b},
        Facts(None, frozenset(), frozenset()),
        atomic=False,
        formula={"a": "@ Bᵀ", "b": "Aᵀ @"},
        # written into a workspace array: np.dot, which for these 1-D and 2-D operands computes
        # what matmul does with the same BLAS call and the same result, bit for bit, but
        # costs 0.35 us less a call (0.47 against 0.81 us for a [32, 4] @ [4, 8]): a gufunc's
        # dispatch. Its out= must be a C-contiguous array of the result's dtype, as every
        # workspace array is; a scalar result (1-D @ 1-D) is never computed into one
        into=lambda xp, attrs, out, a, b: f"{xp}.dot({a}, {b}, out={out})",
    ),
    # sum(a * b) (mean=False) or mean(a * b) (mean=True) over every element: made by the
    # simplify rules sum_of_product and sum_of_square, not written in the language
    OpDef(
        "inner",
        ("a", "b"),
        _inner_shape,
        _inner_emit,
        {"a": _inner_grad_a, "b": _inner_grad_b},
        Facts(None, frozenset(), frozenset()),
        atomic=False,
        formula={"a": "· b", "b": "· a"},
        prepare=lambda attrs, ta, tb: {"mean": bool(attrs.get("mean", False))},
        helpers=("_inner",),
    ),
)
