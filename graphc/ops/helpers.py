"""Small functions the generated module defines when an op's emission calls them.

Each is a template over `{xp}` (the array module) and is written for numerical
stability: nothing overflows for inputs as large as 1e4 in float64.
"""

import re

# numbers as DTYPE arrays of no axes, read only: a ufunc converts a Python number on every
# call, which costs more than the whole operation on a small array (0.5 us against 0.25 for
# 1 - h on [32, 8]); -O2 code passes these to ufuncs (see NUMBERS)
NUMBERS = {"0.0": "_ZERO", "1.0": "_ONE", "2.0": "_TWO", "0.5": "_HALF"}

HELPERS: dict[str, str] = {
    "_sigmoid": """
def _sigmoid(x, out=None, cap=None):
    # 1 / (1 + e^-x), with -x clipped where e^-x would overflow: there sigmoid is
    # below the dtype's smallest normal number anyway, and no warning is raised.
    # Elsewhere this keeps its relative accuracy (sigmoid(-50) is 1.9e-22, not 0).
    # `cap`: _EXP_MAX, or an array of it shaped like x (a faster minimum).
    if out is None:
        out = {xp}.empty({xp}.shape(x), dtype=DTYPE)
    {xp}.negative(x, out=out)
    {xp}.minimum(out, _EXP_MAX if cap is None else cap, out=out)
    {xp}.exp(out, out=out)
    {xp}.add(out, _ONE, out=out)
    return {xp}.divide(_ONE, out, out=out)


_EXP_MAX = float({xp}.log({xp}.finfo(DTYPE).max)) - 1  # e^x is finite below this
""",
    "_filled": """
def _filled(out, x):
    # x, a number or an array that broadcasts to out's shape, written over all of `out`: a
    # gradient that is one value everywhere (that of sum(x @ W), say) kept in the workspace,
    # not made anew on every call
    {xp}.copyto(out, x)
    return out
""",
    "_inner": """
def _inner(a, b):
    # the sum of a * b over every element, as BLAS dot products. BLAS adds a float32 dot
    # up in float32, with an error that grows with the length: with OpenBLAS, the mean of
    # the squares of 10^7 values came out 640 to 720 ulp off for uniform ones and 750 to
    # 1,600 for normal ones (against a float64 sum); added per block, under 1 ulp. Past
    # _BLOCK elements, the dot is taken per block (all at once, as a batch of matrix
    # products) and the blocks are added in float64
    if a.size <= _BLOCK:
        return {xp}.vdot(a, b)
    a, b = a.reshape(-1), b.reshape(-1)
    k = a.size - a.size % _BLOCK
    blocks = {xp}.matmul(a[:k].reshape(-1, 1, _BLOCK), b[:k].reshape(-1, _BLOCK, 1))
    return a.dtype.type(blocks.sum(dtype={xp}.float64) + {xp}.vdot(a[k:], b[k:]))


# a float32 dot of this many is within 1 ulp for most values, and 16 for the worst seen (all
# equal: each addition rounds the same way); blocks of 2^16 let that reach 190
_BLOCK = 2**14
""",
    "_softplus": """
def _softplus(x, out=None, scratch=None, zeros=None):
    # log(1 + e^x) as max(x, 0) + log1p(e^-|x|): e^-|x| <= 1 cannot overflow, and log1p
    # keeps the relative accuracy of a small e^x (softplus(-50) is 1.9e-22, not 0).
    # NumPy's logaddexp(0, x) gives the same about twice as slowly. `scratch`: an array
    # shaped like x for the second term (made here if not given); `zeros`: an array of
    # zeros shaped like x (a faster maximum).
    if out is None:
        out = {xp}.empty({xp}.shape(x), dtype=DTYPE)
    small = {xp}.abs(x, out={xp}.empty_like(out) if scratch is None else scratch)
    {xp}.negative(small, out=small)
    {xp}.exp(small, out=small)
    {xp}.log1p(small, out=small)
    {xp}.maximum(x, 0 if zeros is None else zeros, out=out)  # after |x| is taken: out may be x itself
    return {xp}.add(out, small, out=out)
""",
    "_logsumexp": """
def _logsumexp(x, axis, keepdims):
    m, rest = _logsumexp_parts(x, axis)
    out = rest + m
    return out if keepdims else {xp}.squeeze(out, axis=axis)
""",
    "_logsumexp_parts": """
def _logsumexp_parts(x, axis, shifted=None):
    # log sum e^x = m + log sum e^(x - m) with m the max, so no term overflows; m is
    # clipped to the finite range, so rows of -inf give -inf and rows with +inf give +inf.
    # The two parts come apart so callers subtract m before adding the rest: for large x,
    # m + rest would round away the digits of rest (both keep the reduced axis).
    # `shifted`, if given, keeps x - m, and e^(x - m) goes to an array of its own
    m = {xp}.clip(_max_kept(x, axis), -_FLOAT_MAX, _FLOAT_MAX)
    e = {xp}.subtract(x, m, out=shifted)
    # e^(x - m) in the array of x - m, unless it is kept (a scalar has none: x of no axes)
    e = {xp}.exp(e, out=e if e.ndim and shifted is None else None)
    return m, {xp}.log(_sum_kept(e, axis))
""",
    "_FLOAT_MAX": """
_FLOAT_MAX = float({xp}.finfo(DTYPE).max)
""",
    "_minus_max": """
def _minus_max(x, axis, out=None):
    # x - m with m the max along axis, clipped to the finite range as in _logsumexp_parts,
    # written into `out` if given: m is taken before out is written, so it may be x itself
    m = {xp}.clip(_max_kept(x, axis), -_FLOAT_MAX, _FLOAT_MAX)
    return {xp}.subtract(x, m, out=out)
""",
    "_max_kept": """
def _max_kept(x, axis):
    # the max over axis, kept as an axis of 1 (-inf for an empty row). NumPy reduces the
    # last axis one row at a time at a cost per row, which rows of a few classes never
    # earn back: for rows shorter than _SHORT_ROW the max runs across the rows of a
    # transposed copy instead ([128, 10]: 2.2 us against 10; [4096, 10]: 38 against 314)
    if not _short_rows(x, axis) or x.ndim < 2 or not x.size:
        return x.max(axis=axis, keepdims=True, initial=-{xp}.inf)
    k = x.shape[-1]
    columns = {xp}.ascontiguousarray(x.reshape(-1, k).T)
    return columns.max(axis=0, initial=-{xp}.inf).reshape(x.shape[:-1] + (1,))


def _short_rows(x, axis):
    # whether axis is x's last and holds fewer than _SHORT_ROW values
    return (axis == -1 or axis == x.ndim - 1) and x.shape[-1] < _SHORT_ROW


_SHORT_ROW = 32
""",
    "_sum_kept": """
def _sum_kept(x, axis):
    # the sum over axis, kept as an axis of 1; over rows shorter than _SHORT_ROW a product
    # with a vector of ones, 3-8x faster than NumPy's row-at-a-time sum
    if not _short_rows(x, axis):
        return x.sum(axis=axis, keepdims=True)
    return {xp}.matmul(x, {xp}.ones(x.shape[-1], dtype=x.dtype))[..., None]
""",
    "_log_softmax": """
def _log_softmax(x, axis, out=None):
    # (x - m) - log sum e^(x - m) with m the max (see _logsumexp_parts), written into `out`
    # if given: m is taken before x - m is written there, so it may be x itself
    if not x.size:  # nothing to normalize, and the log of an empty sum would warn of log(0)
        return {xp}.empty_like(x) if out is None else out
    if out is None:
        out = {xp}.empty(x.shape, dtype=DTYPE)
    _, rest = _logsumexp_parts(x, axis, shifted=out)
    return {xp}.subtract(out, rest, out=out)
""",
    "_softmax": """
def _softmax(x, axis, out=None):
    # e^(x - m) / sum e^(x - m) with m the max, so no term overflows (an empty row's max is
    # -inf, not an error: see _max_kept)
    e = {xp}.subtract(x, _max_kept(x, axis), out=out)
    {xp}.exp(e, out=e)
    e /= _sum_kept(e, axis)
    return e
""",
    "_check_labels": """
def _check_labels(labels, k, name):
    # a label outside [0, k) would silently pick a wrong class (-1 is the last one)
    if labels.size and (labels.min() < 0 or labels.max() >= k):
        bad = labels[(labels < 0) | (labels >= k)].flat[0]
        raise ValueError(f"input {{name}}: labels must lie in [0, {{k}}), but one is {{bad}}")
""",
    "_one_hot": """
def _one_hot(labels, k, dtype):
    # zeros, then a 1 in each row: a comparison with arange(k) would make k booleans per
    # label and copy them (4 to 7 times slower for hundreds of classes)
    out = {xp}.zeros(labels.shape + (k,), dtype=dtype)
    if labels.size:  # (no positions to step through when there are none)
        out.reshape(-1)[_pick_positions(labels, k)] = 1
    return out
""",
    "_scatter_rows": """
def _scatter_rows(g, labels, k, out=None):
    # the gradient of x[labels] for an x of k rows: each row of g added into the row its
    # label names, zeros elsewhere; the rows are sorted by label and summed by runs
    # (np.add.at is slower)
    rest = g.shape[labels.ndim:]
    if out is None:
        out = {xp}.zeros((k,) + rest, dtype=DTYPE)
    else:
        out.fill(0)
    labels = labels.reshape(-1)
    if labels.size:
        order = {xp}.argsort(labels, kind="stable")
        picked = labels[order]
        starts = {xp}.flatnonzero({xp}.concatenate(([True], picked[1:] != picked[:-1])))
        out[picked[starts]] = {xp}.add.reduceat(g.reshape((-1,) + rest)[order], starts, axis=0)
    return out
""",
    "_softmax_minus_one_hot": """
def _softmax_minus_one_hot(logits, labels, out=None):
    # softmax(logits) - one_hot(labels) over the last axis: the softmax, then 1 off each
    # example's label, with no one-hot array made (a new `out` is C-ordered: see _one_off)
    if out is None:
        out = {xp}.empty(logits.shape, dtype=DTYPE)
    return _one_off(_softmax(logits, -1, out), labels)
""",
    "_one_off": """
def _one_off(out, labels):
    # 1 taken off each row of `out` at its label, in place: through a flat view where `out`
    # is C-ordered (as the arrays the module makes are), else by row and label, since the
    # reshape of another layout would be a copy, and the 1 would be taken off the copy
    if not labels.size:
        return out
    if out.flags.c_contiguous:
        out.reshape(-1)[_pick_positions(labels, out.shape[-1])] -= 1
    else:
        rows = {xp}.indices(labels.shape, sparse=True)
        out[(*rows, labels.astype({xp}.intp, copy=False))] -= 1
    return out
""",
    "_exp_minus_one_hot": """
def _exp_minus_one_hot(logp, labels, out=None):
    # e^logp - one_hot(labels) over the last axis: the softmax from its log, which the loss
    # computed already, then 1 off each example's label (a new `out` is C-ordered: see _one_off)
    if out is None:
        out = {xp}.empty(logp.shape, dtype=DTYPE)
    return _one_off({xp}.exp(logp, out=out), labels)
""",
    "_normalized_minus_one_hot": """
def _normalized_minus_one_hot(e, s, labels, out=None):
    # e / s - one_hot(labels) over the last axis, s one sum per row: the softmax from the
    # e^(z - max) and row sums its cross-entropy computed, then 1 off each example's label
    # (a new `out` is C-ordered: see _one_off). As exact as the softmax from the logits
    return _one_off({xp}.divide(e, s[..., None], out=out), labels)
""",
    "_pick": """
def _pick(x, labels):
    # x[..., labels]: each row's value at its label, sum(one_hot(labels, k) * x, axis=-1)
    # with no one-hot array made. Taken at flat positions (row * k + label): three times
    # faster than indexing by rows and labels ([4096, 5]: 4 us against 12)
    if not labels.size:  # (and no positions to step through when k is 0)
        return {xp}.empty(labels.shape, dtype=x.dtype)
    if not x.flags.c_contiguous:  # (its values laid end to end would be a copy of them all)
        return {xp}.take_along_axis(x, labels[..., None], axis=-1)[..., 0]
    return x.take(_pick_positions(labels, x.shape[-1])).reshape(labels.shape)
""",
    "_pick_positions": """
def _pick_positions(labels, k):
    # where each row's label lies in its rows of k values laid end to end (as intp: uint64
    # labels plus int64 positions would be floats, which cannot index)
    return {xp}.arange(0, labels.size * k, k) + labels.reshape(-1).astype({xp}.intp, copy=False)
""",
    "_scatter_pick": """
def _scatter_pick(g, labels, k, out=None):
    # the gradient of x[..., labels] for rows of k values: each row's value of g (a column,
    # or a number) at its label, zeros elsewhere, with no one-hot array made
    if out is None:
        out = {xp}.zeros(labels.shape + (k,), dtype=DTYPE)
    else:
        out.fill(0)
    if labels.size:  # (out is C-ordered, new or a workspace's: its reshape is a view)
        values = {xp}.asarray(g)
        if values.size != 1:  # one value per row: a number needs no array of them
            values = {xp}.broadcast_to(values, labels.shape + (1,))
        out.reshape(-1)[_pick_positions(labels, k)] = values.reshape(-1)
    return out
""",
    "_cross_entropy": """
def _cross_entropy(logits, labels):
    # -log softmax(logits)[label] = logsumexp(logits) - logits[label], per example, as
    # (max - logits[label]) + log sum e^(logits - max): exact where the label is the max
    m, rest = _logsumexp_parts(logits, -1)
    return (m[..., 0] - _pick(logits, labels)) + rest[..., 0]
""",
}

HELPERS.update(
    (
        name,
        f"""
{name} = {{xp}}.asarray({text}, dtype=DTYPE)  # a ufunc reads it as it is, but converts {text} on each call
{name}.flags.writeable = False
""",
    )
    for text, name in NUMBERS.items()
)

# every module-level name the helpers define, the constants (_EXP_MAX, _BLOCK) and inner
# helpers (_short_rows) too: a model's name never takes one, as a dim called _EXP_MAX would be
# the workspace maker's argument and hide the constant its fills read
HELPER_NAMES = frozenset(re.findall(r"^(?:def )?(_\w+)(?:\(| = )", "".join(HELPERS.values()), re.M))

# helpers that call other helpers
REQUIRES = {
    "_sigmoid": ("_ONE",),
    "_logsumexp": ("_logsumexp_parts",),
    "_log_softmax": ("_logsumexp_parts",),
    "_cross_entropy": ("_logsumexp_parts", "_pick"),
    "_pick": ("_pick_positions",),
    "_scatter_pick": ("_pick_positions",),
    "_softmax_minus_one_hot": ("_softmax", "_one_off"),
    "_exp_minus_one_hot": ("_one_off",),
    "_normalized_minus_one_hot": ("_one_off",),
    "_minus_max": ("_max_kept", "_FLOAT_MAX"),
    "_one_off": ("_pick_positions",),
    "_one_hot": ("_pick_positions",),
    "_softmax": ("_max_kept", "_sum_kept"),
    "_logsumexp_parts": ("_max_kept", "_sum_kept", "_FLOAT_MAX"),
    "_sum_kept": ("_max_kept",),  # for _short_rows
}


def closure(names) -> list[str]:
    """The helpers named and those they call, in a fixed order."""
    want, todo = set(), list(names)
    while todo:  # (a helper's helpers may call more)
        n = todo.pop()
        if n not in want:
            want.add(n)
            todo.extend(REQUIRES.get(n, ()))
    return [n for n in HELPERS if n in want]
