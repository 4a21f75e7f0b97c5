"""ir.Graph -> the source of one standalone NumPy module (forward, loss, gradients, SGD).

The array module is a parameter (`xp`): every op's emission is written against
it, so another NumPy-compatible module can be swapped in by name.
"""

from __future__ import annotations

import builtins
import keyword
import math
import re
import textwrap

from graphc.ir import Graph
from graphc.ops import OPS
from graphc.ops.helpers import HELPERS, closure
from graphc.plan import Plan, plan_buffers

INLINE_LIMIT = 72  # longest expression folded into its single user
WIDTH = 100  # the generated code's lines, where the model's names and numbers allow
MAX_NESTING = 100  # deepest brackets of a generated line (Python refuses past 200)
_MARK = "\x00"

_RUNTIME = '''
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
        raise ValueError(f"{{what}} {{name}}: expected integer labels {{declared}}, {{got}}")
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
            raise ValueError(
                f"{{what}} {{name}}: expected shape {{declared}}, got {{a.shape}}: {{want}} is {{size}} here "
                f"but {{dims[want]}} in an earlier input"
            )
    return a


_SEEN = {{}}  # signatures of calls already checked -> the dims they bound


def _arguments(params, inputs, needed):
    """Check the params and the inputs given (the needed ones must be); return them and the dims.

    A call whose arrays have the same names, types, shapes and dtypes as an earlier
    accepted one, with nothing to convert, skips the checks.
    """
    try:
        key = (
            needed,
            tuple(params),
            tuple(inputs),
            tuple([(type(a), a.shape, a.dtype) for a in params.values()]),
            tuple([(type(a), a.shape, a.dtype) for a in inputs.values()]),
        )
    except (AttributeError, TypeError):  # not arrays: the full check converts them
        key = None
    dims = _SEEN.get(key)
    if dims is not None:
        return {{**params, **inputs}}, dims
    checked, dims = _check_arguments(params, inputs, needed)
    unconverted = all(checked[n] is v for n, v in params.items() if n in checked)
    if key is not None and unconverted and all(checked[n] is v for n, v in inputs.items()):
        if len(_SEEN) > 256:  # many batch sizes: start over rather than grow without bound
            _SEEN.clear()
        _SEEN[key] = dims
    return checked, dims


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
    for name, (shape, dtype) in INPUTS.items():
        if name in inputs:
            checked[name] = _array("input", name, inputs[name], shape, dtype, dims)
        elif name in needed:
            raise ValueError(f"missing input {{name}} {{_declared(shape, dtype)}}")
    for dim, *givers in [n for n in needed if type(n) is tuple]:  # (dim, inputs that give its size)
        if dim not in dims:
            shown = " or ".join(f"{{g}} {{_declared(*INPUTS[g])}}" for g in givers)
            which = "one is" if len(givers) > 1 else "it is"
            raise ValueError(f"missing input {{shown}}: {{which}} needed for the size {{dim}}")
    return checked, dims


def _learning_rate(lr):
    """lr as a float, checked: one real number that DTYPE holds, never an array."""
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

VIEW_OR_LEAF = {"input", "param", "const"}
FUNCTIONS = ("forward", "loss", "loss_and_grad", "sgd_step")

_WORKSPACE = """
_LOCAL = threading.local()


def _workspace(make, *sizes):
    \"\"\"The arrays `make` builds for these sizes, once per thread: no two threads share one.\"\"\"
    spaces = _LOCAL.__dict__.setdefault("spaces", {})  # least recently used first
    key = (make, sizes)
    ws = spaces.pop(key, None)
    if ws is None:
        if len(spaces) >= 16:  # many batch sizes: the one unused longest goes, not all
            del spaces[next(iter(spaces))]
        ws = make(*sizes)
    spaces[key] = ws
    return ws
"""

# what the runtime and the workspace cache above define: a model value must not hide them
_RUNTIME_NAMES = set(re.findall(r"^(?:def |)(_\w+)(?:\(| = )", _RUNTIME + _WORKSPACE, re.M))


def _sgd_plain(xp: str) -> list[str]:
    """sgd_step through loss_and_grad: every step is computed before any param moves, so a
    failure leaves the params as they were; a param that cannot be updated in place (a
    list, an int or read-only array) is replaced by a new array of the model's dtype."""
    return [
        "    value, grads = loss_and_grad(params, **inputs)",
        "    # `wrt` may name an input too: it is not moved",
        "    steps = {name: lr * grad for name, grad in grads.items() if name in PARAMS}",
        "    for name, step in steps.items():",
        "        held = params[name]",
        f"        if not (isinstance(held, {xp}.ndarray) and held.dtype.kind == 'f'",
        "                and held.flags.writeable):  # the caller's cannot take the step: replace it",
        f"            params[name] = held = {xp}.array(held, dtype=DTYPE)",
        "        held -= step",
        "    return value",
    ]


def _sgd_fallback(xp: str) -> list[str]:
    return [
        "    not_in_place = [checked[n] is not params[n] or not params[n].flags.writeable for n in PARAMS]",
        "    if 0 in dims.values() or any(not_in_place):",
        "        # an empty batch (sizes divide lr), or params that came as lists, in another dtype or",
        "        # read-only: take the general path, which updates what the caller holds",
        *("    " + line for line in _sgd_plain(xp)),
    ]


def _ident(name: str) -> str:
    name = re.sub(r"\W", "_", name)
    return name if name.isidentifier() and not keyword.iskeyword(name) else f"v_{name}"


class _Namer:
    def __init__(self, reserved):
        self.used = set(reserved)
        self.next: dict[str, int] = {}  # base -> next suffix to try, so naming stays linear

    def fresh(self, base: str) -> str:
        base = _ident(base)
        name, i = base, self.next.get(base, 2)
        while name in self.used:
            name, i = f"{base}_{i}", i + 1
        self.next[base] = i
        self.used.add(name)
        return name


def _docstring_text(text: str) -> str:
    """text as it reads inside a triple-quoted docstring: backslashes and quotes escaped, and
    characters that cannot be written as UTF-8 (a file name's undecodable bytes) as escapes."""
    escaped = text.replace("\\", "\\\\").replace('"', '\\"')
    return escaped.encode("utf-8", "backslashreplace").decode("utf-8")


def _numpy_scalar(e: str) -> str:
    """A Python number's expression (a literal, `(-2.0)`, or lr) as a scalar of the model's dtype."""
    return f"DTYPE({e[1:-1] if e.startswith('(-') else e})"


def _shape_literal(shape) -> str:
    items = [repr(d) for d in shape]
    return "(" + ", ".join(items) + ("," if len(items) == 1 else "") + ")"


class Emitter:
    def __init__(self, graph: Graph, source: str, file: str, dtype: str, opt: int, xp: str = "np"):
        self.g, self.file, self.dtype, self.opt, self.xp = graph, file, dtype, opt, xp
        self.step: Emitter | None = None  # the emitter of sgd_step's own graph, if it has one
        self.lines = source.split("\n")
        self.namers: dict[str, _Namer] = {}  # function -> the names its body took

    # ---------------------------------------------------------------- one function body

    def body(self, name: str, roots: list[int], handed_out: set[int], indent: str = "    "):
        """The statements of function `name` computing the roots; returns
        (lines, node -> expression, inputs needed, plan).

        At -O2 array values are computed into the function's workspace by the
        buffer plan (graphc.plan), except `handed_out`, the roots the caller gets.
        """
        g = self.g
        need = sorted(g.ancestors(roots))
        root_set = set(roots)
        uses = {n: 0 for n in need}
        for n in need:
            args = g.args(n)
            if not args:
                continue
            # an emission may spell an argument twice (mean: sum(x) / x.size); such an
            # argument counts as used twice, so it is computed once into a variable
            probe = OPS[g.op(n)].emit(self.xp, g.node(n)["attrs"], *(f"\x01{i}\x01" for i in range(len(args))))
            for i, a in enumerate(args):
                uses[a] += max(1, probe.count(f"\x01{i}\x01"))
        planned = self.opt >= 2

        def inlined(n: int) -> bool:
            """Planned code spells views and scalars inside their single user; arrays get statements."""
            alone = self.value_name(n) is None and uses[n] == 1 and n not in root_set
            return alone and (self.alias(n) or g.shape(n) == ())

        plan = plan_buffers(g, need, root_set, handed_out, inlined, self.alias) if planned else Plan()
        # a model value may be called `float` or `_array`: it must not hide what the module itself calls
        reserved = set(dir(builtins)) | {self.xp, "DTYPE", "params", "inputs", "dims", "lr", "grads", "checked"}
        reserved |= _RUNTIME_NAMES | {"ws", "value", "threading"} | {f"_workspace_{f}" for f in FUNCTIONS}
        reserved |= set(HELPERS) | {"INPUTS", "PARAMS", "OUTPUTS", "OBJECTIVE", "WRT"}
        namer = self.namers[name] = _Namer(reserved)
        dim_var = {dim: namer.fresh(dim) for dim in g.dims}  # a dim may be called `np` or `class`
        # the workspace's constant arrays, named for what they hold (`zeros = ws[2]`); the model's
        # own names come first: a value called `ones` keeps its name and the constant is `ones_2`
        names = (self.value_name(n) or g.node(n)["attrs"].get("name") for n in need)
        model = {_ident(v) for v in names if isinstance(v, str)} - namer.used
        namer.used |= model
        constant_var = {slot: namer.fresh(_constant_name(plan.fill[slot])) for slot in sorted(plan.fill)}
        namer.used -= model
        expr: dict[int, str] = {}
        out: list[str] = []
        unpack: list[str] = []
        inputs_needed: list = []  # input names, and (dim, inputs giving it) for a size alone
        last_note = None
        dims_used: set[str] = set(_workspace_sizes(plan))
        group: dict[int, list[int]] = {}  # node -> the nodes its expression text computes
        group_var: dict[int, str] = {}
        numbers: set[int] = set()  # nodes whose value is a Python number: literals, lr, sizes
        nesting: dict[int, int] = {}  # node -> how deep its expression text nests brackets, when inlined
        for n in need:
            d = g.node(n)
            opdef = OPS[d["op"]]
            if d["op"] == "arg":
                expr[n] = d["attrs"]["name"]
                numbers.add(n)
                continue
            if d["op"] in ("input", "param"):
                leaf = d["attrs"]["name"]
                expr[n] = namer.fresh(leaf)
                unpack.append(f"{indent}{expr[n]} = checked[{leaf!r}]")
                if d["op"] == "input":
                    inputs_needed.append(leaf)
                continue
            args = [expr[a] for a in g.args(n)]
            if opdef.view:  # a Python number has no .T or .reshape
                args = [_numpy_scalar(e) if a in numbers else e for e, a in zip(args, g.args(n))]
            elif args and all(a in numbers for a in g.args(n)):
                # Python's own arithmetic on numbers alone (unfolded at -O0, or a size of 0 for
                # an empty batch in `2.0 / t.size`) raises where NumPy's gives inf or nan: one
                # NumPy scalar makes it NumPy's, in the model's dtype
                args[0] = _numpy_scalar(args[0])
            attrs, used = _dim_attrs(d["attrs"], dim_var)
            dims_used |= used
            target = plan.inplace.get(n)
            if n in plan.constant:
                attrs = {**attrs, "constant": constant_var[plan.constant[n]]}
            if target is not None:
                text = opdef.into(self.xp, attrs, expr[target], *args)
            elif n in plan.slot:
                text = opdef.into(self.xp, attrs, f"ws[{plan.slot[n]}]", *args)
            else:
                text = opdef.emit(self.xp, attrs, *args)
            text = _unwrap_call_args(text, args)
            if d["op"] == "count":  # `t.size`, `x.shape[0]`
                numbers.add(n)
            if d["op"] == "const":
                expr[n] = text if not text.startswith("-") else f"({text})"
                numbers.add(n)
                continue
            group[n] = [n] + [m for a in g.args(n) if a in group and expr[a] != group_var.get(a) for m in group[a]]
            value_name = self.value_name(n)
            if planned:
                inline = inlined(n)
            else:
                inline = value_name is None and self.opt >= 1 and uses[n] == 1 and n not in root_set
                inline = inline and len(text) <= INLINE_LIMIT
            # each expression folded into its user nests its text about two brackets deeper, and
            # Python refuses a line nested past 200: a deep chain gets a statement every so often
            depth = 2 + max((nesting.get(a, 0) for a in g.args(n)), default=0)
            if inline and depth <= MAX_NESTING:
                nesting[n] = depth
                expr[n] = text if opdef.atomic else f"({text})"
                continue
            note = self.comment(n)
            if note is not None and note != last_note:
                out.append(f"{indent}# {note}")
                last_note = note
            # the marker tells module() which graph nodes this line computes; it is stripped there
            mark = f"{_MARK}{','.join(map(str, sorted(group[n])))}"
            if target is not None and value_name is None and self.value_name(target) is None:
                # computed over a temporary that dies here: it keeps the temporary's name
                out.append(f"{indent}{text}{mark}")
                expr[n] = group_var[n] = expr[target]
                continue
            of = d.get("adjoint_of")
            if value_name and expr.get(of, "").isidentifier():  # d_h_2 is the gradient of h_2
                value_name = "d_" + expr[of]
            var = namer.fresh(value_name or "t")
            if _enclosed(text):  # `loss = (s / n)`: a whole right-hand side needs no brackets
                text = text[1:-1]
            out.append(f"{indent}{var} = {text}{mark}")
            expr[n] = group_var[n] = var
        # labels are checked once, up front, naming the input: a label outside [0, K)
        # would silently pick a wrong class
        checks = []
        for n in need:
            labels, k = g.labels(n)
            if labels is not None and g.op(labels) == "input":
                k = _size_expr(k, dim_var)
                dims_used |= {p for p in _size_names((k,)) if p in dim_var}
                check = f"{indent}_check_labels({expr[labels]}, {k}, {g.node(labels)['attrs']['name']!r})"
                if check not in checks:
                    checks.append(check)
        # a dim read here must be bound by a param or a needed input; if none binds it, any
        # input that declares it is needed too, though only for its size: (dim, *inputs)
        bound = {p for n in [*g.params.values(), *map(g.inputs.get, inputs_needed)] for p in _size_names(g.shape(n))}
        for dim in [d for d in g.dims if d in dims_used and d not in bound]:
            givers = tuple(i for i, n in g.inputs.items() if dim in _size_names(g.shape(n)))
            if givers:
                inputs_needed.append((dim, *givers))
        binds = [f"{indent}{dim_var[d]} = dims[{d!r}]" for d in g.dims if d in dims_used]
        if plan.buffers:
            sizes = "".join(f", {dim_var[p]}" for p in _workspace_sizes(plan))
            binds.append(f"{indent}ws = _workspace(_workspace_{name}{sizes})")
            binds += [f"{indent}{var} = ws[{slot}]" for slot, var in constant_var.items()]
        self.dim_var = dim_var
        return unpack + binds + checks + out, expr, inputs_needed, plan

    def alias(self, n: int) -> bool:
        """n's array may share memory with an argument: a view, or an emission that hands back its input."""
        d = self.g.node(n)
        opdef = OPS[d["op"]]
        if opdef.view:
            return True
        names = [f"_{i}" for i in range(len(opdef.inputs))]
        return bool(names) and opdef.emit(self.xp, d["attrs"], *names) in names

    def value_name(self, n: int) -> str | None:
        d = self.g.node(n)
        if d["phase"] == "forward":
            return d["name"]
        of = d.get("adjoint_of")
        if of is not None:
            fwd = self.g.node(of)
            if fwd["name"]:
                return "d_" + fwd["name"]
        return None

    def anchor(self, n: int) -> dict:
        """The forward node whose source line n's statement belongs to: n itself, or the op
        (or the value, for a sum over uses) its chain-rule step comes from."""
        d = self.g.node(n)
        origin = d.get("origin") if d["phase"] == "backward" else None
        if origin and (origin[0] in ("sum", "seed") or (isinstance(origin[0], int) and len(origin) == 3)):
            return self.g.node(origin[1])
        return d

    def comment(self, n: int) -> str | None:
        """The comment over n's statement, naming the source line it comes from; None if none does."""
        d, here = self.g.node(n), self.anchor(n)
        calls = [f for f in here.get("scope", ()) if f[0] == "fn"]
        span = here.get("span")
        line = calls[0][3] if calls else span.line if span else None  # fn code: the line that called it
        if line is None:
            return None
        text = self.lines[line - 1].strip() if 0 < line <= len(self.lines) else ""
        text = text.split("#")[0].strip()
        if len(text) > 60:
            text = text[:57] + "..."
        passes = [f"{var} = {i}" for kind, var, i, _ in here.get("scope", ()) if kind == "loop"]
        origin = d.get("origin") if d["phase"] == "backward" else None
        if origin and origin[0] == "sum":  # the gradients of a value's several uses add up
            name = self.g.node(origin[1])["name"] or "the value"
            where = ", ".join([f"line {line}", *passes])
            return f"{name} ({where}) is used more than once: its gradient sums those of its uses"
        prefix = "backprop through " if d["phase"] == "backward" else ""
        where = f" ({', '.join(passes)})" if passes else ""  # one loop line runs once per pass
        return f"{prefix}line {line}{where}: {text}"

    # ---------------------------------------------------------------- the module

    def module(self, model: str, inits: dict[str, tuple]) -> str:
        g, xp = self.g, self.xp
        fwd_roots = [n for _, n in g.outputs]
        obj = g.objective[1]
        grad_roots = [obj] + [g.grads[w] for w in g.wrt]
        bodies = {
            "forward": self.body("forward", fwd_roots, set(fwd_roots)),
            "loss": self.body("loss", [obj], set()),
            "loss_and_grad": self.body("loss_and_grad", grad_roots, set(grad_roots[1:])),
        }
        emitters = dict.fromkeys(bodies, self)
        if self.step is not None:
            st = self.step.g
            # an input named by `wrt` is not moved: its gradient is not computed either
            roots = [st.objective[1]] + [st.grads[w] for w in st.wrt if w in st.params]
            lines, expr, needed, plan = self.step.body("sgd_step", roots, set())
            # its nodes are those of another graph: the page maps only the other functions' lines
            bodies["sgd_step"] = [line.split(_MARK)[0] for line in lines], expr, needed, plan
            emitters["sgd_step"] = self.step
        helpers = closure(h for n in g.order() for h in OPS[g.op(n)].helpers)
        self.plans = {name: b[3] for name, b in bodies.items()}
        planned = any(b[3].buffers for b in bodies.values())

        def dtype_name(n):
            return "int64" if g.node(n)["dtype"] == "int" else self.dtype

        def meta(items):
            # the dtype to build arrays with; integer labels may come in any integer dtype
            rows = [f"    {name!r}: ({_shape_literal(g.shape(n))}, {dtype_name(n)!r})," for name, n in items]
            return "{\n" + "\n".join(rows) + "\n}" if rows else "{}"

        def returned(n, e, handed_out):
            # the caller owns what it gets: never a param, an input, a view of one, or an
            # array it already got under another name (CSE merges equal values)
            if g.shape(n) == () and g.node(n)["dtype"] == "float":
                return f"DTYPE({e})"  # a scalar of the model's dtype, never a Python float or a 0-d view
            if g.op(n) not in VIEW_OR_LEAF and not self.alias(n) and n not in handed_out:
                handed_out.add(n)
                return e
            return f"{xp}.array({e})" if g.node(n)["dtype"] == "int" else f"{xp}.array({e}, dtype=DTYPE)"

        def function(name, doc, extra=""):
            lines, expr, needed, plan = bodies[name]
            src = [
                f"def {name}(params{extra}, /, **inputs):",
                *_docstring(doc),
                f"    checked, dims = _arguments(params, inputs, {tuple(needed)!r})",
            ]
            if name == "sgd_step":
                src.insert(2, "    lr = _learning_rate(lr)")
                src += _sgd_fallback(xp)
            return src + lines, expr

        def workspace(name):
            """The module-level function making `name`'s buffers, or nothing."""
            plan = bodies[name][3]
            if not plan.buffers:
                return []
            dim_var = emitters[name].dim_var
            src = [
                "",
                "",
                f"def _workspace_{name}({', '.join(dim_var[p] for p in _workspace_sizes(plan))}):",
                f'    """The arrays {name} computes in; each call of a thread reuses its own."""',
                "    return [",
            ]
            for i, (shape, holders) in enumerate(zip(plan.buffers, plan.holders)):
                # the variables this function computes in the buffer
                made = {bodies[name][1].get(n) for n in holders}
                names = _listing({v for v in made if v and v.isidentifier()})
                items = [_size_expr(d, dim_var) for d in shape]
                literal = "(" + ", ".join(items) + ("," if len(items) == 1 else "") + ")"
                if i in plan.fill:
                    value, called = plan.fill[i], _constant_name(plan.fill[i])  # a number or a module constant
                    made = f"{xp}.{called}({literal}" if value in (0.0, 1.0) else f"{xp}.full({literal}, {value}"
                    src.append(f"        {made}, dtype=DTYPE),  # ws[{i}]: {called}, read only")
                else:
                    line, note = f"        {xp}.empty({literal}, dtype=DTYPE),", f"ws[{i}]: {', '.join(names)}"
                    if len(line) + 4 + len(note) <= WIDTH:
                        src.append(f"{line}  # {note}")
                    else:  # too long beside the buffer: above it
                        src += [f"        # {row}" for row in textwrap.wrap(note, WIDTH - 10)] + [line]
            return src + ["    ]"]

        src: list[str] = [
            f'"""{model}: generated by graphc from {_docstring_text(self.file)}.',
            "",
            "The forward pass, the objective and its gradients, in NumPy only. Do not edit;",
            "recompile instead.",
            '"""',
            "",
            *(["import threading", ""] if planned else []),
            f"import numpy as {xp}",
            "",
            f"DTYPE = {xp}.{self.dtype}",
            f"INPUTS = {meta(g.inputs.items())}",
            f"PARAMS = {meta(g.params.items())}",
            f"OUTPUTS = {meta(g.outputs)}",
            f"OBJECTIVE = {g.objective[0]!r}",
            _wrapped("WRT = ", tuple(g.wrt)),
            "",
            _RUNTIME.format(xp=xp).rstrip(),
        ]
        if planned:
            src += ["", "", _WORKSPACE.strip()]
        for h in helpers:
            src += ["", HELPERS[h].format(xp=xp).rstrip()]
        for name in bodies:
            src += workspace(name)
        src += ["", "", *self.init_params(inits)]
        src += ["", ""]

        lines, expr = function("forward", "The model's outputs: " + ", ".join(n for n, _ in g.outputs) + ".")
        handed_out: set[int] = set()
        outs = [returned(n, expr[n], handed_out) for n in fwd_roots]
        src += lines
        src += [f"    return {outs[0]}" if len(outs) == 1 else f"    return ({', '.join(outs)})"]
        src += ["", ""]
        lines, expr = function("loss", f"The objective {g.objective[0]} as a float.")
        src += lines + [f"    return float({expr[obj]})"]
        src += ["", ""]
        doc = f"The objective {g.objective[0]} and its gradient with respect to each of {', '.join(g.wrt)}."
        lines, expr = function("loss_and_grad", doc)
        handed_out = set()
        src += lines
        src += ["    grads = {"]
        src += [f"        {w!r}: {returned(g.grads[w], expr[g.grads[w]], handed_out)}," for w in g.wrt]
        src += ["    }", f"    return float({expr[obj]}), grads"]
        src += ["", ""]
        doc = "One step of gradient descent on the params, in place; returns the objective before it."
        if "sgd_step" in bodies:
            lines, expr = function("sgd_step", doc, ", lr")
            value = f"    value = float({expr[self.step.g.objective[1]]})"
            src += lines + [value] + self.step.updates(expr, bodies["sgd_step"][3]) + ["    return value"]
        else:
            src += ["def sgd_step(params, lr, /, **inputs):", *_docstring(doc), "    lr = _learning_rate(lr)"]
            src += _sgd_plain(self.xp)
        src += [""]
        return self.strip_marks("\n".join(src))

    def updates(self, expr: dict[int, str], plan: Plan) -> list[str]:
        """p -= step for each param, in place, the steps (lr * gradient) already computed.

        A step that is not an array of the call's own (a view of a param, say) is
        copied before any param moves.
        """
        g, xp = self.g, self.xp
        out = ["    # the update: each param moves against its gradient, in place"]
        moved = [w for w in g.wrt if w in g.params]  # `wrt` may name an input too: it is not moved
        steps: dict[int, str] = {}
        for w in moved:
            n = g.grads[w]
            if n not in plan.owned and n not in steps and g.shape(n) != ():  # a scalar is a value, not a view
                steps[n] = self.namers["sgd_step"].fresh("step")  # never a model name
                out.append(f"    {steps[n]} = {xp}.array({expr[n]}, dtype=DTYPE)")
        for w in moved:
            p = expr.get(g.params[w]) or f"checked[{w!r}]"
            out.append(f"    {xp}.subtract({p}, {steps.get(g.grads[w], expr[g.grads[w]])}, out={p})")
        return out

    def strip_marks(self, text: str) -> str:
        """Remove the line markers, keeping node -> generated line numbers in self.code_lines."""
        self.code_lines: dict[int, list[int]] = {}
        lines = text.split("\n")
        for i, line in enumerate(lines):
            if _MARK in line:
                line, nodes = line.split(_MARK)
                lines[i] = line
                for n in nodes.split(","):
                    self.code_lines.setdefault(int(n), []).append(i + 1)
        return "\n".join(lines)

    def init_params(self, inits: dict[str, tuple]) -> list[str]:
        rows = []
        for name, n in self.g.params.items():
            init, why = self.init_expr(self.g.shape(n), *inits[name])
            rows += [f"        # {why}"] if why else []
            rows.append(f"        {name!r}: {init},")
        drawn = any("rng." in row for row in rows)  # all zeros, ones or consts: no generator
        return [
            "def init_params(seed=0):",
            '    """Freshly initialized params, the same for the same seed."""',
            *([f"    rng = {self.xp}.random.default_rng(seed)"] if drawn else []),
            "    return {",
            *rows,
            "    }",
        ]

    def init_expr(self, shape: tuple, kind: str, args: tuple) -> tuple[str, str | None]:
        """The expression making a param's initial value, and the rule behind its numbers, if any."""
        xp, size = self.xp, _shape_literal(shape)
        fan_in = math.prod(shape[:-1]) if len(shape) >= 2 else (shape[0] if shape else 1)
        fan_out = shape[-1] if shape else 1
        if kind in ("zeros", "ones"):
            return f"{xp}.{kind}({size}, dtype=DTYPE)", None
        if kind == "const":
            return f"{xp}.full({size}, {args[0]!r}, dtype=DTYPE)", None
        if kind == "normal":
            return f"rng.normal({args[0]!r}, {args[1]!r}, size={size}).astype(DTYPE)", None
        if kind == "uniform":
            return f"rng.uniform({args[0]!r}, {args[1]!r}, size={size}).astype(DTYPE)", None
        if kind == "glorot":
            limit = math.sqrt(6 / (fan_in + fan_out))
            rule = f"glorot: uniform in [-a, a), a = sqrt(6 / ({fan_in} + {fan_out}))"
            return f"rng.uniform({-limit!r}, {limit!r}, size={size}).astype(DTYPE)", rule
        if kind == "he":
            rule = f"he: normal, mean 0, deviation sqrt(2 / {fan_in})"
            return f"rng.normal(0.0, {math.sqrt(2 / fan_in)!r}, size={size}).astype(DTYPE)", rule
        raise ValueError(kind)


def _listing(names: set[str]) -> list[str]:
    """Variable names for a comment, temporaries last, numbered ones in order; a long run of
    one name's numbered variables is shown by its ends (`h ... h_31 (16)`)."""
    runs: dict[str, list[tuple[int, str]]] = {}
    for v in names:
        m = re.fullmatch(r"(.*?)(?:_(\d+))?", v)
        runs.setdefault(m.group(1), []).append((int(m.group(2) or 1), v))
    out = []
    for base in sorted(runs, key=lambda b: (b == "t", b)):
        run = [v for _, v in sorted(runs[base])]
        out += run if len(run) <= 3 else [f"{run[0]} ... {run[-1]} ({len(run)})"]
    return out


def _docstring(text: str) -> list[str]:
    """A function's docstring, wrapped to the width of the generated code."""
    lines = textwrap.wrap(f'"""{text}"""', WIDTH - 4, break_long_words=False, break_on_hyphens=False)
    return ["    " + line for line in lines]


def _wrapped(head: str, items: tuple) -> str:
    """`head` then the tuple's literal, one row of items after another where one line is too long."""
    one = f"{head}{items!r}"
    if len(one) <= WIDTH:
        return one
    rows = textwrap.wrap(" ".join(f"{i!r}," for i in items), WIDTH - 4, break_long_words=False)
    return "\n".join([f"{head}(", *("    " + r for r in rows), ")"])


def _enclosed(text: str) -> bool:
    """Whether the first character opens a parenthesis that the last one closes:
    true of `(a + b)`, false of `(a + b).reshape((3,))`."""
    if not text.startswith("("):
        return False
    depth = 0
    for i, c in enumerate(text):
        depth += (c == "(") - (c == ")")
        if depth == 0:
            return i == len(text) - 1
    return False


def _unwrap_call_args(text: str, args: list[str]) -> str:
    """`f((a + b))` -> `f(a + b)`: parentheses around a whole call argument are noise."""
    for a in args:
        if _enclosed(a):
            inner = a[1:-1]
            for left, right in (("(", ")"), ("(", ","), (", ", ")"), (", ", ",")):
                text = text.replace(left + a + right, left + inner + right)
    return text


def _constant_name(value: float | str) -> str:
    """A variable name for a workspace constant: `zeros`, `ones`, or its module constant's (`exp_max`)."""
    return {0.0: "zeros", 1.0: "ones"}.get(value) or str(value).strip("_").lower()


def _workspace_sizes(plan: Plan) -> list[str]:
    """The dims a plan's buffer shapes mention, sorted: the arguments of its workspace maker."""
    return sorted({p for shape in plan.buffers for p in _size_names(shape) if not p.isdigit()})


def _size_names(shape) -> list[str]:
    """The dim names a shape's sizes mention (`4*B` mentions B)."""
    return [p for d in shape if isinstance(d, str) for p in d.split("*")]


def _size_expr(d, dim_var: dict[str, str]) -> str:
    return str(d) if not isinstance(d, str) else "*".join(dim_var.get(p, p) for p in d.split("*"))


def _dim_attrs(attrs: dict, dim_var: dict[str, str]) -> tuple[dict, set[str]]:
    """Sizes that name dims (`B`, `4*B`) rewritten to the local variables holding them."""
    used: set[str] = set()

    def size(item):
        if not isinstance(item, str):
            return item
        parts = item.split("*")
        used.update(p for p in parts if p in dim_var)
        return "*".join(dim_var.get(p, p) for p in parts)

    new = dict(attrs)
    for key in ("shape", "k"):
        v = attrs.get(key)
        if isinstance(v, (tuple, list)):
            new[key] = tuple(size(i) for i in v)
        elif isinstance(v, str):
            new[key] = size(v)
    return (new if used else attrs), used


def emit_numpy(
    graph: Graph,
    model: str,
    source: str,
    file: str,
    inits,
    dtype: str = "float64",
    opt: int = 2,
    step: Graph | None = None,
    xp: str = "np",
) -> tuple[str, dict[int, list[int]], dict[str, Plan]]:
    """The generated module's source text, deterministic byte for byte, the
    generated lines (1-based) that compute each graph node, and each function's
    buffer plan.

    `step` (the model with its gradients scaled by `lr`, see autodiff.gradients)
    gives sgd_step its own body; without it sgd_step calls loss_and_grad. `xp` is
    the name the array module is imported and called as.
    """
    emitter = Emitter(graph, source, file, dtype, opt, xp)
    emitter.step = Emitter(step, source, file, dtype, opt, xp) if step is not None else None
    text = emitter.module(model, inits)
    return text, emitter.code_lines, emitter.plans


__all__ = ["emit_numpy"]
