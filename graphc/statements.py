"""One generated function's statements: the graph's nodes in order as NumPy statements,
folded into their users, fused in place and computed into the planned buffers."""

from __future__ import annotations

import builtins
import keyword
import re
import textwrap

from graphc.ir import Graph, place
from graphc.ops import OPS, shared_argument
from graphc.ops.helpers import HELPER_NAMES, NUMBERS
from graphc.plan import Plan, Pool, maker_name, pack_gradients, plan_buffers
from graphc.runtime import FUNCTIONS, RUNTIME_NAMES

WIDTH = 100  # the generated code's lines, where the model's names and numbers allow
INLINE_LIMIT = 72  # longest expression folded into its single user
MAX_NESTING = 100  # deepest brackets of a generated line (Python refuses past 200)
# ends a statement's line, followed by the graph nodes it computes; codegen strips it
MARK = "\x00"


def _ident(name: str) -> str:
    name = re.sub(r"\W", "_", name)
    return name if name.isidentifier() and not keyword.iskeyword(name) else f"v_{name}"


class _Namer:
    def __init__(self, reserved):
        self.used = set(reserved)
        self.next: dict[str, int] = {}  # base -> next suffix to try, so naming stays linear

    def fresh(self, base: str, avoid: set[str] = frozenset()) -> str:
        """An unused name from base: base itself, or base_2, base_3 ..., never one in `avoid`."""
        base = _ident(base)
        name, i = base, self.next.get(base, 2)
        while name in self.used or name in avoid:
            name, i = f"{base}_{i}", i + 1
        self.next[base] = i
        self.used.add(name)
        return name


def _numpy_scalar(e: str) -> str:
    """A Python number's expression (a literal, `(-2.0)`, or lr) as a scalar of the model's dtype."""
    return f"DTYPE({e[1:-1] if e.startswith('(-') else e})"


class Emitter:
    """The statements of the functions computing one graph's values; `source` is the
    model's text, quoted in the comments over them."""

    def __init__(self, graph: Graph, source: str, opt: int, xp: str = "np"):
        self.g, self.opt, self.xp = graph, opt, xp
        self.first, self.text = _statements(source.split("\n"))
        self.namers: dict[str, _Namer] = {}  # function -> the names its body took
        self.dim_var: dict[str, str] = {}  # dim -> the variable holding its size in the last body
        self.numbers: set[str] = set()  # the module's number arrays (_ONE, ...) the bodies read

    def body(self, name: str, roots: list[int], handed_out: set[int], pool: Pool, indent: str = "    ", packed=None):
        """The statements of function `name` computing the roots; returns
        (lines, node -> expression, inputs needed, plan).

        At -O2 array values are computed into workspace arrays by the buffer plan
        (graphc.plan), placed in the module's workspaces (`pool`), except
        `handed_out`, the roots the caller gets. `packed`: every param's gradient, in the
        order of the params (sgd_step's), laid out in one array where they can be.
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
        # values whose gradient has a statement of its own (it is read more than once, or
        # returned): they keep a variable at -O1 too, so that gradient is named after it
        paired = {g.node(a)["adjoint_of"] for a in need if uses[a] > 1 or a in root_set} - {None}

        def inlined(n: int) -> bool:
            """Planned code spells views and scalars inside their single user; arrays get statements."""
            alone = self.value_name(n) is None and uses[n] == 1 and n not in root_set
            return alone and (self.alias(n) or g.shape(n) == ())

        plan = plan_buffers(g, need, root_set, handed_out, inlined, self.alias) if planned else Plan()
        if planned and packed:
            pack_gradients(plan, packed)
        sizes = tuple(workspace_sizes(plan))
        placed = pool.place(name, plan, sizes) if plan.buffers else []  # buffer -> the workspace array it is
        pool.plans[name] = plan  # the report reads what every function makes, buffers or not
        # a model value may be called `float` or `_array`: it must not hide what the module itself calls
        reserved = set(dir(builtins)) | {self.xp, "DTYPE", "params", "inputs", "dims", "lr", "grads", "checked"}
        reserved |= RUNTIME_NAMES | {"ws", "value", "threading"}
        # the one module function a function calls: sgd_step's general path, loss_and_grad
        reserved.add("loss_and_grad")
        reserved |= {maker_name(k) for k in range(1, len(FUNCTIONS) + 1)}  # a workspace per function at most
        reserved |= HELPER_NAMES | {"INPUTS", "PARAMS", "OUTPUTS", "OBJECTIVE", "WRT"}
        namer = self.namers[name] = _Namer(reserved)
        dim_var = {dim: namer.fresh(dim) for dim in g.dims}  # a dim may be called `np` or `class`
        # the workspace's constant arrays, named for what they hold (`zeros = ws[2]`); the model's
        # own names come first: a value called `ones` keeps its name and the constant is `ones_2`
        names = (self.value_name(n) or g.node(n)["attrs"].get("name") for n in need)
        model = {_ident(v) for v in names if isinstance(v, str)} - namer.used
        namer.used |= model
        constant_var = {slot: namer.fresh(constant_name(plan.fill[slot])) for slot in sorted(plan.fill)}
        namer.used -= model
        # the names the model itself gives its values: a rebound one's versions skip them (h, then
        # h_3 where the model has an h_2 of its own), a gradient or a mask never takes one, and
        # where the model calls a value t, the temporaries are _t, _t_2, ... (t_2 would read as
        # the second t)
        own = {_ident(d["name"]) for d in map(g.node, need) if d["phase"] == "forward" and d["name"]}
        own |= {_ident(g.node(n)["attrs"]["name"]) for n in need if g.op(n) in ("input", "param")}
        temporary = "t"
        while temporary in own:
            temporary = "_" + temporary
        expr: dict[int, str] = {}
        out: list[str] = []
        unpack: list[str] = []
        inputs_needed: list = []  # input names, and (dim, inputs giving it) for a size alone
        last_note = None
        dims_used: set[str] = set(workspace_sizes(plan))
        group: dict[int, list[int]] = {}  # node -> the nodes its expression text computes
        spelled: dict[int, tuple] = {}  # inlined node -> (its new array's type or None, those of its arguments)
        group_var: dict[int, str] = {}
        temporaries: set[str] = set()  # the variables named t, t_2, ...: they say nothing of their value
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
                unpack.append(f"{indent}{expr[n]} = {d['op']}s[{leaf!r}]")  # params[...] or inputs[...]
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
            if opdef.inplace and (target is not None or n in plan.slot):
                # a number written out, passed to an elementwise ufunc writing into an array
                # (1 - h, t > 0), is the module's array of it, which NumPy takes as it is
                args = [self.number(a, e) for e, a in zip(args, g.args(n))]
            if n in plan.constant:
                attrs = {**attrs, "constant": constant_var[plan.constant[n]]}
            if n in plan.scratch:
                attrs = {**attrs, "scratch": f"ws[{placed[plan.scratch[n]]}]"}
            known = tuple(g.node(a)["attrs"]["value"] if g.op(a) == "const" else None for a in g.args(n))
            if any(v is not None for v in known):  # a number written out (consts are not folded at -O0)
                attrs = {**attrs, "known": known}
            if target is not None:
                text = opdef.into(self.xp, attrs, expr[target], *args)
            elif n in plan.slot:
                text = opdef.into(self.xp, attrs, f"ws[{placed[plan.slot[n]]}]", *args)
            else:  # a fresh array, or a scalar; at -O2 in its fastest form, not the model's own spelling
                text = opdef.emit(self.xp, {**attrs, "fast": True} if planned else attrs, *args)
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
                inline = value_name is None and self.opt >= 1 and uses[n] == 1 and n not in root_set | paired
                inline = inline and len(text) <= INLINE_LIMIT
            # each expression folded into its user nests its text about two brackets deeper, and
            # Python refuses a line nested past 200: a deep chain gets a statement every so often
            depth = 2 + max((nesting.get(a, 0) for a in g.args(n)), default=0)
            if inline and depth <= MAX_NESTING:
                nesting[n] = depth
                new_array = g.shape(n) != () and not self.alias(n)
                spelled[n] = (g.type(n) if new_array else None, [spelled[a] for a in g.args(n) if a in spelled])
                expr[n] = text if opdef.atomic or _bracketed(text) else f"({text})"
                continue
            note = self.comment(group[n])
            if note and note != last_note:
                out += [f"{indent}# {row}" for row in note]
                last_note = note
            # the marker tells codegen which nodes this line computes, by the key each has in the
            # unoptimized graph (which every function's graph maps back to); it is stripped there
            mark = f"{MARK}{','.join(str(g.node(m)['key']) for m in sorted(group[n]))}"
            # a gradient is d_ and its value's variable (d_h_2 is the gradient of h_2), a mask x_mask
            # or x_sign after x's: never numbered, so d_h_2 never means a second d_h. A value with
            # a variable of its own, named in the model or not (t_2), has its gradient named after
            # it, so each backward line pairs with its forward one. Where the name is taken (the
            # values an array held in turn at -O2 share one variable; a second mask of one x; a
            # value the model itself calls d_h), the value is a temporary
            of, mask_of = d.get("adjoint_of"), d.get("mask_of")
            derived = None
            if of is not None and expr.get(of, "").isidentifier() and (value_name or of in group_var):
                derived = "d_" + expr[of]
            elif mask_of is not None and expr.get(mask_of[0], "").isidentifier():
                derived = f"{expr[mask_of[0]]}_{mask_of[1]}"
            elif value_name and d["phase"] == "backward":  # the gradient of a value spelled inside its user
                derived = _ident(value_name)
            if derived is not None and (derived in namer.used or derived in own):
                derived = None
            named = derived is not None or (d["phase"] == "forward" and value_name is not None)
            if target is not None and not named and expr[target] in temporaries:
                # computed over a temporary that dies here: it keeps the temporary's name (never
                # a name that says what the array held, d_t_2 or t_2_mask: this is neither)
                out.append(f"{indent}{text}{mark}")
                expr[n] = group_var[n] = expr[target]
                continue
            if derived is not None:
                var = namer.fresh(derived)
            elif named:  # the model's name, or where it is rebound, its next version: h_2, h_3, ...
                var = namer.fresh(value_name, own - {_ident(value_name)})
            else:  # a temporary never takes a name of the model's: a value called `t` is `t` in the code
                var = namer.fresh(temporary, model)
                temporaries.add(var)
            if _enclosed(text):  # `loss = (s / n)`: a whole right-hand side needs no brackets
                text = text[1:-1]
            out.append(f"{indent}{var} = {text}{mark}")
            new_array = g.shape(n) != () and n not in plan.slot and n not in plan.inplace and not self.alias(n)
            inner = [spelled[a] for a in g.args(n) if a in spelled]  # arrays spelled inside it (-O1)
            if inner:
                plan.temporaries.append((len(plan.made), (g.type(n) if new_array else None, inner)))
            if new_array:
                plan.made.append(g.type(n))  # held by its variable until the function returns
            expr[n] = group_var[n] = var
        # labels are checked once, up front, naming the input: a label outside [0, K)
        # would silently pick a wrong class
        checks = []
        for n in need:
            labels, k = g.labels(n)
            if labels is not None and g.op(labels) == "input":
                k = size_expr(k, dim_var)
                dims_used |= {p for p in size_names((k,)) if p in dim_var}
                check = f"{indent}_check_labels({expr[labels]}, {k}, {g.node(labels)['attrs']['name']!r})"
                if check not in checks:
                    checks.append(check)
        # a dim read here must be bound by a param or a needed input; if none binds it, any
        # input that declares it is needed too, though only for its size: (dim, *inputs)
        bound = {p for n in [*g.params.values(), *map(g.inputs.get, inputs_needed)] for p in size_names(g.shape(n))}
        for dim in [d for d in g.dims if d in dims_used and d not in bound]:
            givers = tuple(i for i, n in g.inputs.items() if dim in size_names(g.shape(n)))
            if givers:
                inputs_needed.append((dim, *givers))
        binds = [f"{indent}{dim_var[d]} = dims[{d!r}]" for d in g.dims if d in dims_used]
        if plan.buffers:
            given = "".join(f", {dim_var[p]}" for p in sizes)
            binds.append(_workspace_call(indent, pool.maker(sizes), tuple(sorted(set(placed))), given))
            binds += [f"{indent}{var} = ws[{placed[slot]}]" for slot, var in constant_var.items()]
        self.dim_var = dim_var
        return unpack + binds + checks + out, expr, inputs_needed, plan

    def number(self, n: int, e: str) -> str:
        """The expression `e` of argument `n`, or the name of the module's array of the number it is."""
        name = NUMBERS.get(e) if self.g.op(n) == "const" else None
        if name is None:
            return e
        self.numbers.add(name)
        return name

    def alias(self, n: int) -> bool:
        """n's array may share memory with an argument: a view, or an emission that hands back its input."""
        d = self.g.node(n)
        return shared_argument(d["op"], d["attrs"], self.xp) is not None

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

    def places(self, n: int) -> list[tuple[int, tuple[str, ...]]]:
        """The source lines n comes from, each with its loop passes (`i = 2`): its own first, then
        those of the ops a rewrite merged into it. fn code names the line that called it, a
        statement broken over lines the line it begins on."""
        d = self.g.node(n)
        out = []
        for span, scope in (place(self.g, n), *d.get("also", ())):
            calls = [f for f in scope if f[0] == "fn"]
            line = calls[0][3] if calls else span.line if span else None
            if line is not None:
                line = self.first[line - 1] if 0 < line <= len(self.first) else line
                out.append((line, tuple(f"{var} = {i}" for kind, var, i, _ in scope if kind == "loop")))
        return list(dict.fromkeys(out))

    def quote(self, line: int) -> str:
        """The statement at `line`, on one line, cut short past 60 characters."""
        text = self.text.get(line, "")
        return text if len(text) <= 60 else text[:57] + "..."

    def comment(self, nodes: list[int]) -> list[str]:
        """The comment over the statement computing `nodes` (its own node first): the source
        line it comes from, then every other line whose ops are folded into it."""
        n = nodes[0]
        d, own = self.g.node(n), self.places(n)
        if not own:
            return []
        line, passes = own[0]
        origin = d.get("origin") if d["phase"] == "backward" else None
        if origin and origin[0] == "sum":  # the gradients of a value's several uses add up
            name = self.g.node(origin[1])["name"] or "the value"
            where = ", ".join([f"line {line}", *passes])
            notes = [f"{name} ({where}) is used more than once: its gradient sums those of its uses"]
        else:
            prefix = "backprop through " if d["phase"] == "backward" else ""
            where = f" ({', '.join(passes)})" if passes else ""  # one loop line runs once per pass
            notes = [f"{prefix}line {line}{where}: {self.quote(line)}"]
        # those merged into it, then those folded in, in the order their ops run: source order
        # forward, the reverse backward
        others = dict.fromkeys([*own, *(p for m in sorted(nodes[1:]) for p in self.places(m))])
        others.pop(own[0])
        for line, passes in others:
            where = f" ({', '.join(passes)})" if passes else ""
            notes.append(f"and line {line}{where}: {self.quote(line)}")
        return notes

    def updates(self, expr: dict[int, str], plan: Plan, gradients: str | None = None) -> list[str]:
        """p -= step for each param, in place, the steps (lr * gradient) already computed.

        A step that is not an array of the call's own (a view of a param, say) is
        copied before any param moves; a view of one of its own arrays (a param reshaped
        in the model gets its gradient reshaped back) is one of its own. Where the
        steps are views of one array (`gradients`, see pack_gradients) and the params
        those init_params made, one subtraction moves them all.
        """
        g, xp = self.g, self.xp

        def own(n: int) -> bool:
            while n not in plan.owned:
                if not OPS[g.op(n)].view:
                    return False
                n = g.args(n)[0]  # a transpose's or reshape's array
            return True

        # the statements above differentiate lr * the objective: what they call d_W is lr times W's gradient
        note = (
            "the update: each param moves by lr times its gradient, in place; the backward pass"
            f" above differentiated lr * {g.objective[0]}, so its gradients hold the lr already"
        )
        out = [f"    # {row}" for row in textwrap.wrap(note, WIDTH - 6, break_long_words=False)]
        moved = [w for w in g.wrt if w in g.params]  # `wrt` may name an input too: it is not moved
        steps: dict[int, str] = {}
        for w in moved:
            n = g.grads[w]
            if not own(n) and n not in steps and g.shape(n) != ():  # a scalar is a value, not a view
                steps[n] = self.namers["sgd_step"].fresh("step")  # never a model name
                out.append(f"    {steps[n]} = {xp}.array({expr[n]}, dtype=DTYPE)")
                plan.made.append(g.type(n))
        var = {w: expr.get(n) or f"params[{w!r}]" for w, n in g.params.items()}
        each = [f"    {xp}.subtract({var[w]}, {steps.get(g.grads[w], expr[g.grads[w]])}, out={var[w]})" for w in moved]
        if gradients is None:
            return out + each
        flat = self.namers["sgd_step"].fresh("packed")
        note = (
            f"the params as init_params made them, views of one array laid out as their steps are in"
            f" {gradients}: one subtraction moves them all"
        )
        return [
            *out,
            # in the order init_params lays them out (`moved` is wrt's, which holds every param here)
            wrapped(f"{flat} = _packed(", list(var.values()), ")", "    "),
            f"    if {flat} is not None:",
            *(f"        # {row}" for row in textwrap.wrap(note, WIDTH - 10, break_long_words=False)),
            f"        {xp}.subtract({flat}, {gradients}, out={flat})",
            "    else:",
            *("    " + line for line in each),
        ]


def wrapped(head: str, items: list[str], tail: str = "", indent: str = "") -> str:
    """`head`, a tuple of the items as written, then `tail`: on one line, or the items in rows
    between the brackets where that is too long."""
    one = f"{indent}{head}({', '.join(items)}{',' * (len(items) == 1)}){tail}"
    if len(one) <= WIDTH:
        return one
    rows = textwrap.wrap(" ".join(f"{i}," for i in items), WIDTH - len(indent) - 4, break_long_words=False)
    return "\n".join([f"{indent}{head}(", *(f"{indent}    {r}" for r in rows), f"{indent}){tail}"])


def _statements(lines: list[str]) -> tuple[list[int], dict[int, str]]:
    """The line each source line's statement begins on, and each statement's text on one line,
    its comments dropped: newlines inside ( ) and [ ] do not end a statement."""
    first: list[int] = []
    text: dict[int, str] = {}
    depth = start = 0
    for i, line in enumerate(lines, 1):
        # a carriage return inside a line is a blank to the model, but would end the generated
        # comment quoting it, and start a line of code
        code = line.split("#")[0].replace("\r", " ").strip()
        if depth <= 0:
            start, depth = i, 0
            text[i] = code
        elif code:  # `mean(` then `(p - y)^2` then `)`: `mean((p - y)^2)`
            joined = text[start].endswith(("(", "[")) or code.startswith((")", "]"))
            text[start] += code if joined else " " + code
        first.append(start)
        depth += code.count("(") + code.count("[") - code.count(")") - code.count("]")
    return first, text


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


def _bracketed(text: str) -> bool:
    """Whether text needs no brackets of its own inside another expression: it is one call
    (`_inner(a, b)`, `t.sum()`) or already in brackets (`(s / n)`)."""
    call = re.match(r"[A-Za-z_][\w.]*\(", text)
    return _enclosed(text[call.end() - 1 :] if call else text)


def _unwrap_call_args(text: str, args: list[str]) -> str:
    """`f((a + b))` -> `f(a + b)`: parentheses around a whole call argument are noise."""
    for a in args:
        if _enclosed(a):
            inner = a[1:-1]
            for left, right in (("(", ")"), ("(", ","), (", ", ")"), (", ", ",")):
                text = text.replace(left + a + right, left + inner + right)
    return text


def _workspace_call(indent: str, maker: str, used: tuple[int, ...], given: str) -> str:
    """The statement binding `ws`: the workspace with the arrays at `used` made, a run of them
    as a range (`range(98)`, not 98 numbers), other indices' rows wrapped where one line is too
    long."""
    line = f"{indent}ws = _workspace({maker}, {_indices(used)}{given})"
    if len(line) <= WIDTH:
        return line
    rows = textwrap.wrap(" ".join(f"{i}," for i in used), WIDTH - len(indent) - 8)
    inner = indent + "    "
    return "\n".join(
        [f"{indent}ws = _workspace(", f"{inner}{maker},", f"{inner}(", *(f"{inner}    {r}" for r in rows)]
        + [f"{inner}){given},", f"{indent})"]
    )


def _indices(used: tuple[int, ...]) -> str:
    """The workspace indices as a call writes them: a run of two or more as a range (the runtime
    compares one in constant time, where a tuple's hash reads every index), others as a tuple."""
    if len(used) < 2 or used != tuple(range(used[0], used[-1] + 1)):
        return repr(used)
    return f"range({used[-1] + 1})" if used[0] == 0 else f"range({used[0]}, {used[-1] + 1})"


def constant_name(value: float | str) -> str:
    """A variable name for a workspace constant: `zeros`, `ones`, or its module constant's (`exp_max`)."""
    return {0.0: "zeros", 1.0: "ones"}.get(value) or str(value).strip("_").lower()


def workspace_sizes(plan: Plan) -> list[str]:
    """The dims a plan's buffer shapes mention, sorted: the arguments of its workspace maker."""
    return sorted({p for shape in plan.buffers for p in size_names(shape) if not p.isdigit()})


def size_names(shape) -> list[str]:
    """The dim names a shape's sizes mention (`4*B` mentions B)."""
    return [p for d in shape if isinstance(d, str) for p in d.split("*")]


def size_expr(d, dim_var: dict[str, str]) -> str:
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
