"""Ops that move data around: transpose, reshape, broadcasting, labels."""

from __future__ import annotations

from graphc.ops.base import AFFINE, Facts, OpDef, ShapeError, broadcast, broadcasts_to, op, show
from graphc.ops.reduce import expand, softmax_grad


def _transpose_shape(attrs, t):
    return tuple(reversed(t[0])), t[1]


def _reshape_shape(attrs, t):
    if t[1] != "float":
        raise ShapeError(f"reshape needs float values, but its argument is {show(*t)}")
    return tuple(attrs["shape"]), "float"


def _like_shape(attrs, t, like):
    return like[0], t[1]


def _expand_shape(attrs, t):
    shape = list(t[0])
    for a in attrs["axes"]:
        shape.insert(a, 1)
    return tuple(shape), t[1]


def _broadcast_shape(attrs, t, like):
    return broadcast(t[0], like[0], "broadcast"), t[1]


def _one_hot_shape(attrs, t):
    if t[1] != "int":
        raise ShapeError(f"one_hot needs int labels, but its first argument is {show(*t)}")
    return t[0] + (attrs["k"],), "float"


def _rows_shape(attrs, x, labels):
    # x[labels]: one_hot(labels, K) @ x without the one_hot (graphc.passes.lookups)
    if x[1] != "float" or labels[1] != "int" or len(x[0]) not in (1, 2):
        raise ShapeError(f"rows needs a float vector or matrix and int labels, not {show(*x)} and {show(*labels)}")
    return labels[0] + x[0][1:], "float"


def _scatter_rows_shape(attrs, g, labels):
    # the gradient of x[labels] for an x of k rows: each row of g added into the row its label names
    n = len(labels[0])
    if g[1] != "float" or labels[1] != "int" or g[0][:n] != labels[0]:
        raise ShapeError(f"scatter_rows needs rows for each label, not {show(*g)} for {show(*labels)}")
    return (attrs["k"],) + g[0][n:], "float"


def _pick_shape(attrs, x, labels):
    # x[..., labels]: sum(one_hot(labels, K) * x, axis=-1) without the one_hot (graphc.passes.lookups)
    if x[1] != "float" or labels[1] != "int" or not x[0] or x[0][:-1] != labels[0]:
        raise ShapeError(f"pick needs float rows and one int label per row, not {show(*x)} and {show(*labels)}")
    return labels[0], "float"


def one_per_row(shape: tuple, labels: tuple) -> bool:
    """Whether an array of `shape` is one value per label of the shape `labels`: a column
    beside them (an axis of 1 after theirs), or what broadcasts to one, a number too."""
    column = labels + (1,)
    return broadcasts_to(shape, column, column)


def _scatter_pick_shape(attrs, g, labels):
    # the gradient of x[..., labels] for rows of k values: g, one value per row (kept as an
    # axis of 1, or broadcast to it), at each row's label, zeros elsewhere
    if g[1] != "float" or labels[1] != "int" or not one_per_row(g[0], labels[0]):
        raise ShapeError(f"scatter_pick needs a value for each label, not {show(*g)} for {show(*labels)}")
    return labels[0] + (attrs["k"],), "float"


def _scatter_pick_grad(gg, out, g, labels, k):
    # the value each row placed, read back at its label, as the column g broadcasts to
    return op("expand_dims", op("pick", gg, labels), axes=(len(labels.shape),))


def _softmax_minus_one_hot_shape(attrs, logits, labels):
    # softmax(z) - one_hot(y) over z's last axis: the gradient of cross_entropy(z, y)
    _cross_entropy_shape(attrs, logits, labels)
    return logits


def _softmax_minus_one_hot_grad(g, out, logits, labels):
    # the labels' part is constant: the softmax's own vector-Jacobian product
    return softmax_grad(g, op("softmax", logits, axis=-1), logits, len(logits.shape) - 1)


def _exp_minus_one_hot_grad(g, out, logp, labels):
    # the labels' part is constant, and e^a is its own derivative
    return g * op("exp", logp)


def _classes_last_axis(attrs, logits, labels):
    return 1, logits[0][-1]


def _minus_one_hot(name: str, arg: str, grad, formula: str) -> OpDef:
    """An op f(arg) - one_hot(labels) over the last axis, emitted as its helper `_{name}`."""
    return OpDef(
        name,
        (arg, "labels"),
        _softmax_minus_one_hot_shape,
        lambda xp, attrs, a, labels: f"_{name}({a}, {labels})",
        {arg: grad},
        helpers=(f"_{name}", "_check_labels"),
        formula={arg: formula},
        into=lambda xp, attrs, out, a, labels: f"_{name}({a}, {labels}, out={out})",
        # over its own argument, where that dies here: f reads each row whole before writing it
        # (the softmax takes the max first), and the workspace arrays it may write are C-ordered
        inplace=True,
        classes=_classes_last_axis,
    )


def _normalized_minus_one_hot_shape(attrs, e, sums, labels):
    # e / sums - one_hot(labels) over e's last axis, one sum per row
    _cross_entropy_shape(attrs, e, labels)
    if tuple(sums) != (labels[0], "float"):
        raise ShapeError(f"normalized_minus_one_hot needs one sum per row, not {show(*sums)} for {show(*e)}")
    return e


def _cross_entropy_shape(attrs, logits, labels):
    if logits[1] != "float":
        raise ShapeError(f"cross_entropy needs float logits first, but got {show(*logits)}")
    if labels[1] != "int":
        raise ShapeError(f"cross_entropy needs int labels second, but got {show(*labels)}")
    if not logits[0]:  # cross_entropy(sum(z), y): no classes left to score
        raise ShapeError(
            "cross_entropy needs logits with a score per class on their last axis, but they are [], a scalar"
        )
    if logits[0][:-1] != labels[0]:
        raise ShapeError(
            f"cross_entropy needs labels shaped like the logits without their last axis: "
            f"logits {show(*logits)} and labels {show(*labels)}"
        )
    return labels[0], "float"


def _cross_entropy_grad(g, out, logits, labels):
    # d/dz (logsumexp z - z[y]) = softmax(z) - one_hot(y)
    k = logits.shape[-1]
    return op("expand_dims", g, axes=(len(logits.shape) - 1,)) * (
        op("softmax", logits, axis=-1) - op("one_hot", labels, k=k)
    )


def _shape_tuple(shape) -> str:
    items = [str(d) for d in shape]
    return "(" + ", ".join(items) + ("," if len(items) == 1 else "") + ")"


OPS: tuple[OpDef, ...] = (
    OpDef(
        "transpose",
        ("x",),
        _transpose_shape,
        lambda xp, attrs, x: f"{x}.T",
        {"x": lambda g, out, x: op("transpose", g)},
        Facts(AFFINE, frozenset({"x"})),
        formula={"x": "(·)ᵀ"},
        view=True,
    ),
    OpDef(
        "reshape",
        ("x",),
        _reshape_shape,
        lambda xp, attrs, x: f"{x}.reshape({_shape_tuple(attrs['shape'])})",
        {"x": lambda g, out, x, shape: op("reshape_like", g, x)},
        Facts(AFFINE, frozenset({"x"})),
        formula={"x": "reshaped back"},
        view=True,
    ),
    OpDef(
        "reshape_like",
        ("x", "like"),
        _like_shape,
        lambda xp, attrs, x, like: f"{x}.reshape({like}.shape)",
        {"x": lambda g, out, x, like: op("reshape_like", g, x)},
        view=True,
    ),
    OpDef(
        "expand_dims",
        ("x",),
        _expand_shape,
        lambda xp, attrs, x: f"{xp}.expand_dims({x}, {attrs['axes'] if len(attrs['axes']) > 1 else attrs['axes'][0]})",
        {"x": lambda g, out, x, axes: op("reshape_like", g, x)},
        view=True,
    ),
    OpDef(
        "broadcast_like",
        ("x", "like"),
        _broadcast_shape,
        # full_like, not broadcast_to: a constant gradient seed such as 1.0 takes the model's dtype
        lambda xp, attrs, x, like: f"{xp}.full_like({like}, {x})",
        # the sweep sums the incoming gradient back down to x's shape
        {"x": lambda g, out, x, like: g},
        helpers=("_filled",),
        into=lambda xp, attrs, out, x, like: f"_filled({out}, {x})",
    ),
    OpDef(
        "one_hot",
        ("labels",),
        _one_hot_shape,
        lambda xp, attrs, labels: f"_one_hot({labels}, {attrs['k']}, DTYPE)",
        helpers=("_one_hot", "_check_labels"),
        classes=lambda attrs, labels: (0, attrs["k"]),
    ),
    OpDef(
        "rows",
        ("x", "labels"),
        _rows_shape,
        lambda xp, attrs, x, labels: f"{x}[{labels}]",
        {"x": lambda g, out, x, labels: op("scatter_rows", g, labels, k=x.shape[0])},
        Facts(AFFINE, frozenset({"x"})),
        formula={"x": "rows added back at their labels"},
        into=lambda xp, attrs, out, x, labels: f"{xp}.take({x}, {labels}, axis=0, out={out})",
        helpers=("_check_labels",),
        classes=lambda attrs, x, labels: (1, x[0][0]),  # a negative label would pick from the end
    ),
    OpDef(
        "scatter_rows",
        ("g", "labels"),
        _scatter_rows_shape,
        lambda xp, attrs, g, labels: f"_scatter_rows({g}, {labels}, {attrs['k']})",
        {"g": lambda gg, out, g, labels, k: op("rows", gg, labels)},
        Facts(AFFINE, frozenset({"g"})),
        atomic=True,
        helpers=("_scatter_rows", "_check_labels"),
        formula={"g": "rows picked by the labels"},
        into=lambda xp, attrs, out, g, labels: f"_scatter_rows({g}, {labels}, {attrs['k']}, out={out})",
        classes=lambda attrs, g, labels: (1, attrs["k"]),
    ),
    OpDef(
        "pick",
        ("x", "labels"),
        _pick_shape,
        lambda xp, attrs, x, labels: f"_pick({x}, {labels})",
        {
            "x": lambda g, out, x, labels: op(
                "scatter_pick", op("expand_dims", g, axes=(len(labels.shape),)), labels, k=x.shape[-1]
            )
        },
        Facts(AFFINE, frozenset({"x"})),
        helpers=("_pick", "_check_labels"),
        formula={"x": "placed back at the labels"},
        classes=_classes_last_axis,
    ),
    OpDef(
        "scatter_pick",
        ("g", "labels"),
        _scatter_pick_shape,
        lambda xp, attrs, g, labels: f"_scatter_pick({g}, {labels}, {attrs['k']})",
        {"g": _scatter_pick_grad},
        Facts(AFFINE, frozenset({"g"})),
        helpers=("_scatter_pick", "_check_labels"),
        formula={"g": "read back at the labels"},
        into=lambda xp, attrs, out, g, labels: f"_scatter_pick({g}, {labels}, {attrs['k']}, out={out})",
        classes=lambda attrs, g, labels: (1, attrs["k"]),
    ),
    # softmax(z) - one_hot(y), cross_entropy's gradient, from the logits; and the same from
    # log-probabilities computed anyway, exp(log_softmax(z)) - one_hot(y) (graphc.passes.lookups)
    _minus_one_hot(
        "softmax_minus_one_hot", "logits", _softmax_minus_one_hot_grad, "softmax(a) ⊙ (δ − Σ δ ⊙ softmax(a))"
    ),
    _minus_one_hot("exp_minus_one_hot", "logp", _exp_minus_one_hot_grad, "e^a"),
    # and from e = exp(minus_max(z)) and its row sums, which the loss computed: e / s - one_hot(y)
    OpDef(
        "normalized_minus_one_hot",
        ("e", "sums", "labels"),
        _normalized_minus_one_hot_shape,
        lambda xp, attrs, e, sums, labels: f"_normalized_minus_one_hot({e}, {sums}, {labels})",
        helpers=("_normalized_minus_one_hot", "_check_labels"),
        into=lambda xp, attrs, out, e, sums, labels: f"_normalized_minus_one_hot({e}, {sums}, {labels}, out={out})",
        inplace=True,  # elementwise over e; the sums are one per row, never the result's array
        classes=lambda attrs, e, sums, labels: (2, e[0][-1]),
    ),
    OpDef(
        "cross_entropy",
        ("logits", "labels"),
        _cross_entropy_shape,
        lambda xp, attrs, logits, labels: f"_cross_entropy({logits}, {labels})",
        {"logits": _cross_entropy_grad},
        Facts(None, frozenset(), frozenset()),
        helpers=("_cross_entropy", "_check_labels"),
        formula={"logits": "· (softmax − one_hot)"},
        classes=_classes_last_axis,
    ),
)

__all__ = ["OPS", "expand"]
