"""The code every generated module carries, as text formatted with the array module's name (`xp`).

The argument checks, the learning rate's check, the per-thread workspace cache,
and sgd_step's general path through loss_and_grad.
"""

from __future__ import annotations

import re

FUNCTIONS = ("forward", "loss", "loss_and_grad", "sgd_step")  # the functions of every module

# the module-level helpers: argument checks and the learning rate's check
RUNTIME = '''
def _show(shape):
    return "[" + ", ".join(str(d) for d in shape) + "]"


def _declared(shape, dtype):
    return ("int" if dtype == "int64" else "") + _show(shape)


def _array(what, name, value, shape, dtype, dims):
    """Check one argument against its declared shape, binding dims; return it as an array."""
    labels = dtype == "int64"  # integer labels: any integer dtype is taken as it is
    declared = _declared(shape, dtype)
    try:
        a = {xp}.asarray(value)
    except (ValueError, TypeError) as e:  # nested lists of uneven lengths
        got = f"got a {{type(value).__name__}} that is no array"
        raise ValueError(f"{{what}} {{name}}: expected {{declared}}, {{got}}: {{e}}") from None
    got = f"got dtype {{a.dtype}} with shape {{a.shape}}"
    if labels and a.dtype.kind not in "iu":
        # an empty list holds no float, though NumPy makes it a float array: no labels
        if a.size or isinstance(value, {xp}.ndarray):
            raise ValueError(f"{{what}} {{name}}: expected integer labels {{declared}}, {{got}}")
        a = a.astype({xp}.int64)
    if not labels:
        if a.dtype.kind not in "fiu":
            raise ValueError(f"{{what}} {{name}}: expected a float array {{declared}}, {{got}}")
        a = a.astype(DTYPE, copy=False)
    if a.ndim != len(shape):
        raise ValueError(
            f"{{what}} {{name}}: expected shape {{declared}} (rank {{len(shape)}}), "
            f"got shape {{a.shape}} (rank {{a.ndim}})"
        )
    for axis, (want, size) in enumerate(zip(shape, a.shape)):
        if isinstance(want, int) and want != size:
            raise ValueError(
                f"{{what}} {{name}}: expected shape {{declared}}, got {{a.shape}}: "
                f"axis {{axis}} has size {{size}}, not {{want}}"
            )
        if isinstance(want, str) and dims.setdefault(want, size) != size:
            first = shape.index(want)  # an earlier axis of this array may have the dim too ([N, N])
            if first < axis:
                where = f"on axis {{axis}} but {{dims[want]}} on axis {{first}}"
            else:
                where = f"here but {{dims[want]}} in an earlier input"
            raise ValueError(
                f"{{what}} {{name}}: expected shape {{declared}}, got {{a.shape}}: {{want}} is {{size}} {{where}}"
            )
    return a


_SEEN = {{}}  # signatures of calls already checked -> the dims they bound


def _arguments(params, inputs, needed, in_place=False):
    """Check the params and the inputs given (the needed ones must be); return them as arrays
    (the caller's own dicts where nothing was converted) and the dims. With in_place (sgd_step),
    the caller's params dict comes back only where its arrays can be updated in place: of DTYPE,
    writeable, and no dim is 0; else a new one, and sgd_step takes its general path.

    A call whose arrays have the same names, types, shapes and dtypes (and, in place, the
    same writeable flags) as an earlier accepted one, with nothing to convert, skips the
    checks and gets its own dicts back.
    """
    try:
        # one flat tuple: the names (how many are params: a param passed as an input is no
        # call seen before), then each array's type, shape and dtype
        key = [needed, in_place, len(params), *params, *inputs]
        for a in params.values():
            if in_place:  # sgd_step: whether each param is writeable too
                key += type(a), a.shape, a.dtype, a.flags.writeable
            else:
                key += type(a), a.shape, a.dtype
        for a in inputs.values():
            key += type(a), a.shape, a.dtype
        key = tuple(key)
        dims = _SEEN.get(key)
    except (AttributeError, TypeError):  # not arrays (an array-like whose shape is a list cannot
        key = dims = None  # be a key): the full check converts them
    if dims is not None:
        return params, inputs, dims
    checked, given, dims = _check_arguments(params, inputs, needed)
    params_kept = all(checked[n] is v for n, v in params.items())  # the caller's arrays, as given
    inputs_kept = all(given[n] is v for n, v in inputs.items())
    # in place, only the caller's own writeable arrays at a batch that is not empty (sizes
    # divide lr); else new dicts, and sgd_step takes its general path
    if in_place and (
        0 in dims.values() or not (params_kept and all(a.flags.writeable for a in checked.values()))
    ):
        return checked, given, dims
    if key is not None and params_kept and inputs_kept:
        if len(_SEEN) > 256:  # many batch sizes: start over rather than grow without bound
            _SEEN.clear()
        _SEEN[key] = dims
    return params if params_kept else checked, inputs if inputs_kept else given, dims


def _check_arguments(params, inputs, needed):
    if not hasattr(params, "items"):
        raise TypeError(
            f"params must be a dict from param names to arrays, got {{type(params).__name__}}"
        )
    dims = {{}}
    for name in inputs:
        if name not in INPUTS:
            known = ", ".join(INPUTS) or "none"
            raise ValueError(f"unknown input {{name!r}}; the model's inputs are {{known}}")
    for name in params:
        if name not in PARAMS:
            raise ValueError(f"unknown param {{name!r}}; the model's params are {{', '.join(PARAMS)}}")
    checked = {{}}
    for name, (shape, dtype) in PARAMS.items():
        if name not in params:
            raise ValueError(f"missing param {{name}} {{_show(shape)}}")
        checked[name] = _array("param", name, params[name], shape, dtype, dims)
    given = {{}}
    for name, (shape, dtype) in INPUTS.items():
        if name in inputs:
            given[name] = _array("input", name, inputs[name], shape, dtype, dims)
        elif name in needed:
            raise ValueError(f"missing input {{name}} {{_declared(shape, dtype)}}")
    for dim, *givers in [n for n in needed if type(n) is tuple]:  # (dim, inputs that give its size)
        if dim not in dims:
            shown = " or ".join(f"{{g}} {{_declared(*INPUTS[g])}}" for g in givers)
            which = "one is" if len(givers) > 1 else "it is"
            raise ValueError(f"missing input {{shown}}: {{which}} needed for the size {{dim}}")
    return checked, given, dims


def _learning_rate(lr, inputs):
    """lr as a float, checked: one real number that DTYPE holds (a 0-d array is one), never an
    array with axes. It comes after the params, or as lr=... where no input is called lr."""
    if lr is None:
        if "lr" not in inputs or "lr" in INPUTS:
            raise TypeError("sgd_step takes lr after the params: sgd_step(params, 0.1, **inputs)")
        lr = inputs.pop("lr")
    elif "lr" in inputs and "lr" not in INPUTS:
        raise TypeError("sgd_step got lr twice: after the params and as lr=...")
    if type(lr) is not float:
        try:
            a = {xp}.asarray(lr)
            # kind O: a Fraction or Decimal; b and c: booleans and complex numbers
            if isinstance(lr, (str, bytes, bool)) or a.ndim or a.dtype.kind not in "fiuO":
                raise TypeError
            lr = float(lr)
        except (TypeError, ValueError):
            raise TypeError(f"lr must be a real number, got {{_brief(lr)}}") from None
        except OverflowError:  # an int past any float
            raise ValueError(f"lr must be finite in {{DTYPE.__name__}}, got {{_brief(lr)}}") from None
    if not abs(lr) <= _FLOAT_LIMIT:  # nan, inf, or beyond DTYPE (1e300 in float32)
        raise ValueError(f"lr must be finite in {{DTYPE.__name__}}, got {{lr}}")
    return lr


def _brief(value):
    try:
        shown = f"an array of shape {{{xp}.shape(value)}}" if {xp}.ndim(value) else repr(value)
    except ValueError:  # nested lists of uneven lengths
        shown = repr(value)
    return shown if len(shown) <= 40 else shown[:37] + "..."


_FLOAT_LIMIT = float({xp}.finfo(DTYPE).max)
'''

# init_params' params laid out in one array, in a module that has params; formatted like RUNTIME
PACK = '''
# id of an array init_params made -> (a weak reference to it, to each param's view of it)
_PACKS = {{}}


def _pack(params):
    """The params as views of one new array, each in turn, which sgd_step can move all at once."""
    flat = {xp}.empty(sum(a.size for a in params.values()), dtype=DTYPE)
    views, start = {{}}, 0
    for name, a in params.items():
        views[name] = flat[start:start + a.size].reshape(a.shape)
        views[name][...] = a
        start += a.size
    _PACKS[id(flat)] = (weakref.ref(flat), tuple(map(weakref.ref, views.values())))
    weakref.finalize(flat, _PACKS.pop, id(flat), None)
    return views
'''

# the test that sgd_step's params are those views, where -O2 lays out its gradients as they are
PACKED = '''
def _packed(arrays):
    """The array of which `arrays`, the params in turn, are the views _pack made; else None."""
    flat = arrays[0].base
    pack = _PACKS.get(id(flat))
    if pack is None or pack[0]() is not flat:
        return None
    for view, a in zip(pack[1], arrays):
        if view() is not a:
            return None
    return flat
'''

# the cache of per-thread buffers, in a module whose functions compute in planned buffers,
# as text formatted like RUNTIME

WORKSPACE = """
_LOCAL = threading.local()
_WORKSPACE_BYTES = 256 * 1024 * 1024  # the most a thread keeps besides the workspace it used last


def _workspace(make, used, *sizes):
    \"\"\"The arrays `make` lists for these sizes, those at the indices `used` made: once per
    thread, no two threads share one. A thread keeps the workspace it used last, whatever its
    size, and of the others the 15 used last while they hold _WORKSPACE_BYTES at most,
    dropping the one unused longest first.\"\"\"
    local = _LOCAL.__dict__
    key = (make, sizes)
    last = local.get("last")  # (key, kept, used) of the last call: `spaces` ends with its workspace
    # the same function again passes a `used` (a range or a tuple) equal to the last call's
    if last is not None and last[0] == key and (last[2] == used or used in last[1][1]):
        return last[1][0]
    local["last"] = None  # until this call's workspace is ready, should making it fail
    spaces = local.setdefault("spaces", {{}})  # least recently used first
    kept = spaces.pop(key, None)  # [the arrays, the `used` all made in them, their bytes]
    # trim the others before making any array, so that a large workspace the last call used
    # is freed before this one's arrays are made beside it
    while spaces and (len(spaces) >= 16 or sum(k[2] for k in spaces.values()) > _WORKSPACE_BYTES):
        del spaces[next(iter(spaces))]
    if kept is None or used not in kept[1]:
        wanted = make(*sizes)
        kept = kept or [[None] * len(wanted), set(), 0]
        ws = kept[0]
        for i in used:
            if ws[i] is None:
                shape, fill = wanted[i]
                if fill is None:
                    ws[i] = {xp}.empty(shape, dtype=DTYPE)
                elif isinstance(fill, tuple):  # ("part", j, start, stop): a view of ws[j] (j < i)
                    ws[i] = ws[fill[1]][fill[2]:fill[3]].reshape(shape)
                    continue  # its memory is ws[j]'s
                elif fill == 0:  # its memory is taken only where written, and it never is
                    ws[i] = {xp}.zeros(shape, dtype=DTYPE)
                else:
                    ws[i] = {xp}.full(shape, fill, dtype=DTYPE)
                kept[2] += ws[i].nbytes
        kept[1].add(used)
    spaces[key] = kept
    local["last"] = (key, kept, used)
    return kept[0]


def release_workspaces():
    \"\"\"Drop the calling thread's workspaces: the next call makes the arrays it needs anew.\"\"\"
    _LOCAL.__dict__.pop("spaces", None)
    _LOCAL.__dict__.pop("last", None)
"""

# a module that computes in no workspace has the function too, for the same callers
NO_WORKSPACE = """
def release_workspaces():
    \"\"\"Nothing to drop: this module keeps no arrays between calls.\"\"\"
"""

# what the runtime and the workspace cache above define: a model value must not hide them
RUNTIME_NAMES = set(re.findall(r"^(?:def |)(_\w+)(?:\(| = )", RUNTIME + WORKSPACE + PACK + PACKED, re.M))


def sgd_plain(xp: str) -> list[str]:
    """sgd_step through loss_and_grad: every step is computed before any param moves, so a
    failure leaves the params as they were; a param that cannot be updated in place (a
    list, an int or read-only array) is first replaced by a new array of the model's dtype,
    so that a mapping refusing the new array fails before any param has moved."""
    return [
        "    value, grads = loss_and_grad(params, **inputs)",
        "    # `wrt` may name an input too: it is not moved",
        "    steps = {name: lr * grad for name, grad in grads.items() if name in PARAMS}",
        "    # what cannot take the step in place (a list, an int or read-only array) is replaced",
        "    # first, by a copy: a mapping that refuses the new array fails before any param moves",
        "    for name in steps:",
        "        held = params[name]",
        f"        if not (isinstance(held, {xp}.ndarray) and held.dtype.kind == 'f'",
        "                and held.flags.writeable):",
        f"            params[name] = {xp}.array(held, dtype=DTYPE)",
        "    for name, step in steps.items():",
        "        held = params[name]",
        "        held -= step",
        "    return value",
    ]


def sgd_fallback(xp: str) -> list[str]:
    """The test that sends sgd_step with planned buffers down the general path, and that path."""
    return [
        "    if checked is not params:",
        "        # an empty batch (sizes divide lr), or params that came as lists, in another dtype or",
        "        # read-only: take the general path, which updates what the caller holds",
        *("    " + line for line in sgd_plain(xp)),
    ]
