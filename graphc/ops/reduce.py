"""Reductions (sum, mean, max, logsumexp) and the normalizers softmax and log_softmax."""

from __future__ import annotations

from graphc.ops.base import AFFINE, CONVEX, Facts, OpDef, ShapeError, V, fmt_axis, mask, norm_axes, op, reduced, show


def _prepare(attrs, t):
    """Canonical attrs: `axes` a sorted tuple of non-negative axes, `keepdims` a bool."""
    shape = t[0]
    axes = norm_axes(attrs["axes"] if "axes" in attrs else attrs.get("axis"), len(shape), shape)
    keepdims = bool(attrs.get("keepdims", False))
    return {
        "axes": axes,
        "keepdims": keepdims,
        "all": axes == tuple(range(len(shape))) and not keepdims,
        "maybe_empty": any(isinstance(shape[a], str) for a in axes),  # a dim may be 0 (an empty batch)
    }


def _shape(name):
    def shape(attrs, t):
        if t[1] != "float":
            raise ShapeError(f"{name} needs float values, but its argument is {show(*t)}")
        return reduced(t[0], attrs["axes"], attrs["keepdims"]), "float"

    return shape


def _axis_args(attrs, rank_of_all: bool, out: str = "", initial: str = "") -> str:
    """The keyword arguments of a reduction method: `axis=0, keepdims=True, out=ws[2]`."""
    args = [] if rank_of_all else [f"axis={fmt_axis(attrs['axes'])}"]
    args += ["keepdims=True"] if attrs["keepdims"] else []
    args += [f"initial={initial}"] if initial else []
    return ", ".join(args + ([f"out={out}"] if out else []))


# the array methods (x.sum(...)), not np.sum: the functions cost a Python-level wrapper
# per call, about 2 us, which is most of the time of a small model's reduction
def _emit(fn):
    def emit(xp, attrs, x):
        return _into(fn)(xp, attrs, "", x) if attrs["axes"] else x

    return emit


def _into(fn):
    def into(xp, attrs, out, x):
        # the max of nothing (an empty batch) is -inf, as a sum of nothing is 0, not an error
        least = f"-{xp}.inf" if fn == "max" and attrs["maybe_empty"] else ""
        return f"{x}.{fn}({_axis_args(attrs, attrs['all'], out, least)})"

    return into


def _sum_into(xp, attrs, out, x):
    """x.sum(...), into `out` unless it is empty; with the ones of a column sum, ones @ x, and
    with those of a row sum, x @ ones."""
    if "constant" in attrs:  # a product with ones: one BLAS call, 1.5-3x faster (2-4x for rows)
        ones, x = (attrs["constant"], x) if attrs["axes"] == (0,) else (x, attrs["constant"])
        # a matrix's sums (axis 0 or 1: see _sum_ones) by np.dot, cheaper per call than
        # matmul (see linalg's matmul); a stack's rows keep matmul, which np.dot would not
        # hand to BLAS
        fn = "dot" if attrs["axes"] in ((0,), (1,)) else "matmul"
        return f"{xp}.{fn}({ones}, {x}" + (f", out={out})" if out else ")")
    return _into("sum")(xp, attrs, out, x) if out else _emit("sum")(xp, attrs, x)


def _sum_emit(xp, attrs, x):
    return _sum_into(xp, attrs, "", x)


def _sum_ones(attrs, t):
    """A matrix summed over its rows (a bias gradient, B x K -> K) is ones(B) @ x; one summed
    along its rows (a softmax's or a norm's, B x K -> B or B x 1), or a stack of them along
    their last axis (B x T x K -> B x T), is x @ ones(K) or ones(K, 1). NumPy's sum along
    rows pays per row ([64, 32, 10]: 52 us against 9). BLAS keeps a row of 10 to 100,000
    float32 values within a few units in the last place of the exact sum (NumPy's pairwise
    sum: within one)."""
    shape = t[0]
    if len(shape) == 2 and attrs["axes"] == (0,) and not attrs["keepdims"]:
        return shape[:1], 1.0
    if _along_rows(attrs, t):
        return ((shape[-1], 1) if attrs["keepdims"] else shape[-1:]), 1.0
    return None


def _along_rows(attrs, t):
    # a reduction over the last axis alone of a matrix or a stack of them
    return len(t[0]) >= 2 and attrs["axes"] == (len(t[0]) - 1,)


def _row_sum_ones(attrs, t):
    """The ones of a row mean, summed as x @ ones (a column mean keeps x.sum)."""
    return _sum_ones(attrs, t) if _along_rows(attrs, t) else None


def _mean_into(xp, attrs, out, x):
    n = " * ".join(f"{x}.shape[{a}]" for a in attrs["axes"])
    return f"{xp}.divide({_sum_into(xp, attrs, out, x)}, {n if ' ' not in n else f'({n})'}, out={out})"


def _mean_emit(xp, attrs, x):
    """sum / n: np.mean costs a Python-level wrapper per call."""
    if not attrs["axes"]:
        return x
    n = f"{x}.size" if attrs["all"] else " * ".join(f"{x}.shape[{a}]" for a in attrs["axes"])
    return f"({_sum_emit(xp, attrs, x)} / {n if ' ' not in n else f'({n})'})"


def expand(g: V, axes: tuple[int, ...], keepdims: bool) -> V:
    """Put back the reduced axes as size 1, so g broadcasts against the input."""
    if keepdims or not axes or axes == tuple(range(len(axes))):
        return g  # leading axes come back by broadcasting alone
    return op("expand_dims", g, axes=axes)


def _sum_grad(g, out, x, axes, keepdims, **_):
    # d/dx_i sum x = 1 for every summed element
    return op("broadcast_like", expand(g, axes, keepdims), x)


def _mean_grad(g, out, x, axes, keepdims, **_):
    return op("broadcast_like", expand(g, axes, keepdims), x) / op("count", x, axes=axes)


def _max_grad(g, out, x, axes, keepdims, **_):
    # the gradient goes to the maxima, split evenly between ties
    at_max = mask(op("equal", x, expand(out, axes, keepdims)), x)
    return expand(g, axes, keepdims) * (at_max / op("sum", at_max, axes=axes, keepdims=True))


def _logsumexp_grad(g, out, x, axes, keepdims, **_):
    # d/dx logsumexp x = softmax x = exp(x - out)
    return expand(g, axes, keepdims) * op("exp", x - expand(out, axes, keepdims))


def _reduction(name, emit, grad, facts, formula, helpers=(), into=None, constant=None) -> OpDef:
    return OpDef(
        name,
        ("x",),
        _shape(name),
        emit,
        {"x": grad},
        facts,
        True,
        helpers,
        {"x": formula},
        prepare=_prepare,
        into=into,
        constant=constant,
    )


def _logsumexp_emit(xp, attrs, x):
    axis = fmt_axis(attrs["axes"])
    return f"_logsumexp({x}, {axis}, {attrs['keepdims']})"


def _norm_prepare(name, attrs, t):
    shape = t[0]
    if not shape:
        raise ShapeError(f"{name} needs at least one axis, but its argument is a scalar")
    axis = attrs.get("axis", -1)
    if not isinstance(axis, int):
        raise ShapeError(f"axis must be a single integer here: {name} normalizes along one axis", keyword="axis")
    return {"axis": norm_axes(axis, len(shape), shape)[0]}


def softmax_grad(g, out, x, axis):
    """The softmax's vector-Jacobian product, from its output s: s * (g - sum(g * s))."""
    return out * (g - op("sum", g * out, axes=(axis,), keepdims=True))


def _norm_shape(name):
    def shape(attrs, t):
        if t[1] != "float":
            raise ShapeError(f"{name} needs float values, but its argument is {show(*t)}")
        return t

    return shape


def _norm(name, helper, grad, formula, facts: Facts | None = None, into=None) -> OpDef:
    return OpDef(
        name,
        ("x",),
        _norm_shape(name),
        lambda xp, attrs, x: f"{helper}({x}, {attrs['axis']})",
        {"x": grad},
        facts or Facts(),
        True,
        (helper,),
        {"x": formula},
        prepare=lambda attrs, t: _norm_prepare(name, attrs, t),
        into=into,
        # each row's max and sum are taken before the row is written: `out` may be x itself
        inplace=into is not None,
    )


def _count_emit(xp, attrs, x):
    """How many values each reduction sums; a product is parenthesized, as `g / (n * m)` needs."""
    if attrs["all"]:
        return f"{x}.size"
    sizes = [f"{x}.shape[{a}]" for a in attrs["axes"]]
    if len(sizes) <= 1:
        return sizes[0] if sizes else "1"
    return "(" + " * ".join(sizes) + ")"


def _count_shape(attrs, t):
    return (), "float"


def _count_prepare(attrs, t):
    axes = attrs["axes"]
    return {"axes": axes, "all": axes == tuple(range(len(t[0])))}


OPS: tuple[OpDef, ...] = (
    _reduction(
        "sum",
        _sum_emit,
        _sum_grad,
        Facts(AFFINE, frozenset({"x"})),
        "· 1 (broadcast)",
        into=_sum_into,
        constant=_sum_ones,
    ),
    _reduction(
        "mean",
        _mean_emit,
        _mean_grad,
        Facts(AFFINE, frozenset({"x"})),
        "· 1/n (broadcast)",
        into=_mean_into,
        constant=_row_sum_ones,
    ),
    _reduction(
        "max", _emit("max"), _max_grad, Facts(CONVEX, frozenset({"x"})), "· [x = max] / Σ[x = max]", into=_into("max")
    ),
    _reduction(
        "logsumexp",
        lambda xp, attrs, x: _logsumexp_emit(xp, attrs, x),
        _logsumexp_grad,
        Facts(CONVEX, frozenset({"x"})),
        "· softmax(x)",
        ("_logsumexp",),
    ),
    _norm(
        "softmax",
        "_softmax",
        softmax_grad,
        "y ⊙ (δ − Σ δ ⊙ y)",
        into=lambda xp, attrs, out, x: f"_softmax({x}, {attrs['axis']}, out={out})",
    ),
    _norm(
        "log_softmax",
        "_log_softmax",
        lambda g, out, x, axis: g - op("exp", out) * op("sum", g, axes=(axis,), keepdims=True),
        "δ − exp(y) ⊙ Σ δ",
        Facts(None),
        into=lambda xp, attrs, out, x: f"_log_softmax({x}, {attrs['axis']}, out={out})",
    ),
    # x minus its max along the axis: the shifted logits a cross-entropy or a log-softmax whose
    # gradient is taken is computed from, kept for that gradient (graphc.passes.lookups); made
    # after differentiation only, so it has no derivative of its own
    OpDef(
        "minus_max",
        ("x",),
        _norm_shape("minus_max"),
        lambda xp, attrs, x: f"_minus_max({x}, {attrs['axis']})",
        helpers=("_minus_max",),
        prepare=lambda attrs, t: _norm_prepare("minus_max", attrs, t),
        into=lambda xp, attrs, out, x: f"_minus_max({x}, {attrs['axis']}, out={out})",
        inplace=True,  # the max is taken before `out` is written
    ),
    OpDef("count", ("x",), _count_shape, _count_emit, prepare=_count_prepare),
)
