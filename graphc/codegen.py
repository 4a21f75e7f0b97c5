"""ir.Graph -> the source of one standalone NumPy module (forward, loss, gradients, SGD).

statements.py writes each function's statements; this module assembles the
module around them: its header and tables, the runtime (runtime.py), the
workspace makers, init_params, and the functions' heads and returns. The array module is a parameter (`xp`): every op's emission is written against
it, so another NumPy-compatible module can be swapped in by name.
"""

from __future__ import annotations

import math
import os
import re
import textwrap

from graphc.ir import Graph
from graphc.ops import OPS
from graphc.ops.helpers import HELPERS, closure
from graphc.plan import Pool
from graphc.runtime import NO_WORKSPACE, PACK, PACKED, RUNTIME, WORKSPACE, sgd_fallback, sgd_plain
from graphc.statements import MARK, WIDTH, Emitter, constant_name, size_expr, wrapped

VIEW_OR_LEAF = {"input", "param", "const"}


def _docstring_text(text: str) -> str:
    """text as it reads inside a triple-quoted docstring: backslashes and quotes escaped, and
    characters that cannot be written as UTF-8 (a file name's undecodable bytes) as escapes."""
    escaped = text.replace("\\", "\\\\").replace('"', '\\"')
    return escaped.encode("utf-8", "backslashreplace").decode("utf-8")


def _shape_literal(shape) -> str:
    items = [repr(d) for d in shape]
    return "(" + ", ".join(items) + ("," if len(items) == 1 else "") + ")"


def _module(
    em: Emitter, step: Emitter | None, plain: Emitter, model: str, inits: dict[str, tuple], file: str, dtype: str
):
    """The module's text, each generated line computing a node, and the workspaces (see emit_numpy)."""
    g, xp = em.g, em.xp
    pool = Pool()
    fwd_roots = [n for _, n in plain.g.outputs]
    obj = g.objective[1]
    grad_roots = [obj] + [g.grads[w] for w in g.wrt]
    bodies = {
        "forward": plain.body("forward", fwd_roots, set(fwd_roots), pool),
        "loss": plain.body("loss", [plain.g.objective[1]], set(), pool),
        "loss_and_grad": em.body("loss_and_grad", grad_roots, set(grad_roots[1:]), pool),
    }
    emitters = {"forward": plain, "loss": plain, "loss_and_grad": em}
    if step is not None:
        st = step.g
        # an input named by `wrt` is not moved: its gradient is not computed either
        roots = [st.objective[1]] + [st.grads[w] for w in st.wrt if w in st.params]
        # where every param moves, their steps may be laid out in one array, as init_params lays out the params
        packed = [st.grads[w] for w in st.params] if set(st.params) <= set(st.wrt) else None
        lines, expr, needed, plan = step.body("sgd_step", roots, set(), pool, packed=packed)
        # its nodes are those of another graph: the page maps only the other functions' lines
        bodies["sgd_step"] = [line.split(MARK)[0] for line in lines], expr, needed, plan
        emitters["sgd_step"] = step
    # (at -O0 forward's graph is loss_and_grad's); sgd_step's may need a helper of its own: times
    # lr, the gradient of a one_hot's pick is a value placed at the labels, where times 1 it is the one_hot
    graphs = ((g,) if plain is em else (g, plain.g)) + ((step.g,) if step is not None else ())
    used = [h for graph in graphs for n in graph.order() for h in OPS[graph.op(n)].helpers]
    helpers = closure([*used, *set().union(*(e.numbers for e in emitters.values()))])  # and the numbers read
    planned = bool(pool.arrays)

    def dtype_name(n):
        return "int64" if g.node(n)["dtype"] == "int" else dtype

    def meta(items):
        # the dtype to build arrays with; integer labels may come in any integer dtype
        rows = [f"    {name!r}: ({_shape_literal(g.shape(n))}, {dtype_name(n)!r})," for name, n in items]
        return "{\n" + "\n".join(rows) + "\n}" if rows else "{}"

    def returned(by, n, e, handed_out, gradient=False):
        # the caller owns what it gets: never a param, an input, a view of one, or an
        # array it already got under another name (CSE merges equal values); n is a node of by.g
        d = by.g.node(n)
        if d["shape"] == () and d["dtype"] == "float":
            if gradient:  # shaped like its param, as init_params makes it: a new 0-d array
                return f"{xp}.array({e}, dtype=DTYPE)"
            return f"DTYPE({e})"  # a scalar of the model's dtype, never a Python float or a 0-d view
        if d["op"] not in VIEW_OR_LEAF and not by.alias(n) and n not in handed_out:
            handed_out.add(n)
            return e
        # labels come in any integer dtype, but go out as int64, as OUTPUTS says
        return f"{xp}.array({e}, dtype={xp}.int64)" if d["dtype"] == "int" else f"{xp}.array({e}, dtype=DTYPE)"

    def function(name, doc, extra=""):
        lines, expr, needed, plan = bodies[name]
        src = [
            f"def {name}(params{extra}, /, **inputs):",
            *_docstring(doc),
            f"    params, inputs, dims = _arguments(params, inputs, {tuple(needed)!r})",
        ]
        if name == "sgd_step":  # the caller's params dict stays at hand for the general path
            src[-1] = f"    checked, inputs, dims = _arguments(params, inputs, {tuple(needed)!r}, in_place=True)"
            src.insert(2, "    lr = _learning_rate(lr, inputs)")
            src += sgd_fallback(xp)
        return src + lines, expr

    def workspace(sizes):
        """The module-level function making the workspace its functions compute in for these dims."""
        users = pool.users(sizes)
        dim_var = emitters[users[0]].dim_var
        # array -> function -> the variables computed in it, each buffer's values in the order
        # its statements run (node order)
        held: dict[int, dict[str, dict[str, None]]] = {}
        for f in users:
            plan, expr = pool.plans[f], bodies[f][1]
            written = [(n, expr.get(n), i) for i, holders in enumerate(plan.holders) for n in holders]
            # where a helper works besides its result
            written += [(n, f"{expr[n]}'s scratch", i) for n, i in plan.scratch.items()]
            for _, v, i in sorted(written, key=lambda w: w[0]):
                if v and (v.isidentifier() or v.endswith("'s scratch")):
                    held.setdefault(pool.index[f][i], {}).setdefault(f, {})[v] = None
        who = users[0] if len(users) == 1 else ", ".join(users[:-1]) + " and " + users[-1]
        src = [
            "",
            "",
            f"def {pool.maker(sizes)}({', '.join(dim_var[p] for p in sizes)}):",
            *_docstring(
                f"The arrays {who} compute{'s' * (len(users) == 1)} in, each as its shape and fill"
                " (None: left unset); a thread makes its own, each array when a call first needs it."
            ),
            "    return [",
        ]
        # the arrays that hold sgd_step's gradients in turn, as views of them
        packs = {pool.index[f][pool.plans[f].flat] for f in users if pool.plans[f].flat is not None}
        for i, (shape, fill) in enumerate(pool.arrays[sizes]):
            items = [size_expr(d, dim_var) for d in shape]
            literal = "(" + ", ".join(items) + ("," if len(items) == 1 else "") + ")"
            if fill is not None and not isinstance(fill, tuple):  # a number or a module constant
                src.append(f"        ({literal}, {fill}),  # ws[{i}]: {constant_name(fill)}, read only")
            else:
                notes = [_held(held[i], users)] if i in held else []
                if i in packs:
                    notes.append("the params' gradients in turn, as init_params lays out the params")
                if fill is not None:
                    notes.append(f"a view of ws[{fill[1]}]")
                line, note = f"        ({literal}, {fill!r}),", f"ws[{i}]: {'; '.join(notes)}"
                if len(line) + 4 + len(note) <= WIDTH:
                    src.append(f"{line}  # {note}")
                else:  # too long beside the buffer: above it
                    src += [f"        # {row}" for row in textwrap.wrap(note, WIDTH - 10)] + [line]
        return src + ["    ]"]

    src: list[str] = [
        # the file's name alone: the module is the same wherever, and from whichever folder, it was compiled
        f'"""{model}: generated by graphc from {_docstring_text(os.path.basename(file))}.',
        "",
        f"The forward pass, the objective and its gradients, in NumPy only, compiled at -O{em.opt}",
        f"in {dtype}. Do not edit; recompile instead.",
        '"""',
        "",
        *(["import threading"] if planned else []),
        *(["import weakref"] if g.params else []),
        *([""] if planned or g.params else []),
        f"import numpy as {xp}",
        "",
        f"DTYPE = {xp}.{dtype}",
        f"INPUTS = {meta(g.inputs.items())}",
        f"PARAMS = {meta(g.params.items())}",
        f"OUTPUTS = {meta(g.outputs)}",
        f"OBJECTIVE = {g.objective[0]!r}",
        wrapped("WRT = ", [repr(w) for w in g.wrt]),
        "",
        RUNTIME.format(xp=xp).rstrip(),
    ]
    src += ["", "", (WORKSPACE.format(xp=xp) if planned else NO_WORKSPACE).strip()]
    if g.params:  # init_params lays them out in one array; -O2's sgd_step may move them at once
        src += ["", "", PACK.format(xp=xp).strip()]
        if "sgd_step" in bodies and bodies["sgd_step"][3].flat is not None:
            src += ["", "", PACKED.strip()]
    for h in helpers:
        src += ["", HELPERS[h].format(xp=xp).rstrip()]
    for sizes in pool.arrays:
        src += workspace(sizes)
    src += ["", "", *_init_params(g, inits, xp)]
    src += ["", ""]

    lines, expr = function("forward", "The model's outputs: " + ", ".join(n for n, _ in g.outputs) + ".")
    handed_out: set[int] = set()
    outs = [returned(plain, n, expr[n], handed_out) for n in fwd_roots]
    src += lines
    src += [f"    return {outs[0]}" if len(outs) == 1 else f"    return ({', '.join(outs)})"]
    src += ["", ""]
    lines, expr = function("loss", f"The objective {g.objective[0]} as a float.")
    src += lines + [f"    return float({expr[plain.g.objective[1]]})"]
    src += ["", ""]
    wrt = f"each of {', '.join(g.wrt)}" if len(g.wrt) > 1 else g.wrt[0]
    doc = f"The objective {g.objective[0]} and its gradient with respect to {wrt}."
    lines, expr = function("loss_and_grad", doc)
    handed_out = set()
    src += lines
    src += ["    grads = {"]
    src += [f"        {w!r}: {returned(em, g.grads[w], expr[g.grads[w]], handed_out, True)}," for w in g.wrt]
    src += ["    }", f"    return float({expr[obj]}), grads"]
    src += ["", ""]
    doc = "One step of gradient descent on the params, in place; returns the objective before it."
    if "sgd_step" in bodies:
        lines, expr = function("sgd_step", doc, ", lr=None")
        value = f"    value = float({expr[step.g.objective[1]]})"
        plan = bodies["sgd_step"][3]
        gradients = f"ws[{pool.index['sgd_step'][plan.flat]}]" if plan.flat is not None else None
        src += lines + [value] + step.updates(expr, plan, gradients) + ["    return value"]
    else:
        src += ["def sgd_step(params, lr=None, /, **inputs):", *_docstring(doc), "    lr = _learning_rate(lr, inputs)"]
        src += sgd_plain(xp)
    src += [""]
    text, code_lines = _strip_marks("\n".join(src))
    return text, code_lines, pool


def _strip_marks(text: str) -> tuple[str, dict[int, list[int]]]:
    """The text without its line markers, and key -> the generated lines (1-based) computing it."""
    code_lines: dict[int, list[int]] = {}
    lines = text.split("\n")
    for i, line in enumerate(lines):
        if MARK in line:
            line, nodes = line.split(MARK)
            lines[i] = line
            for n in dict.fromkeys(nodes.split(",")):  # (two nodes of one key: the line once)
                code_lines.setdefault(int(n), []).append(i + 1)
    return "\n".join(lines), code_lines


def _init_params(g: Graph, inits: dict[str, tuple], xp: str) -> list[str]:
    """init_params: each param's initializer, with the rule behind its numbers as a comment."""
    rows = []
    for name, n in g.params.items():
        init, why = _init_expr(g.shape(n), *inits[name], xp)
        rows += [f"        # {why}"] if why else []
        rows.append(f"        {name!r}: {init},")
    drawn = any("rng." in row for row in rows)  # all zeros, ones or consts: no generator
    if not rows:  # no params: nothing to lay out
        return [
            "def init_params(seed=0):",
            '    """Freshly initialized params, the same for the same seed."""',
            "    return {",
            "    }",
        ]
    return [
        "def init_params(seed=0):",
        '    """Freshly initialized params, the same for the same seed: views of one new array, in',
        '    turn, which sgd_step moves with one subtraction."""',
        *([f"    rng = {xp}.random.default_rng(seed)"] if drawn else []),
        "    return _pack({",
        *rows,
        "    })",
    ]


def _init_expr(shape: tuple, kind: str, args: tuple, xp: str) -> tuple[str, str | None]:
    """The expression making a param's initial value, and the rule behind its numbers, if any."""
    size = _shape_literal(shape)
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


def _held(by_function: dict[str, dict[str, None]], users: list[str]) -> str:
    """The variables an array holds, for its comment. The functions name their values each in
    their own graph, so where they differ each list says whose it is: `forward, loss: t_2, h2;
    loss_and_grad, sgd_step: h1`; so does the one list of an array that some of the workspace's
    `users` never write."""
    groups: dict[tuple[str, ...], list[str]] = {}
    for f, names in by_function.items():
        groups.setdefault(tuple(_listing(names)), []).append(f)
    if len(groups) == 1 and list(by_function) == users:
        return ", ".join(next(iter(groups)))
    return "; ".join(f"{', '.join(fs)}: {', '.join(names)}" for names, fs in groups.items())


def _listing(names) -> list[str]:
    """Variable names for a comment, in the order given (that in which they are first written);
    where one name has more than 3 numbered variables, they are shown together by their ends
    where the first of them is (`h ... h_31 (16 names)`)."""
    runs: dict[str, list[tuple[int, str]]] = {}  # base -> its numbered variables, the first first
    base = {}
    for v in names:
        m = re.fullmatch(r"(.*?)(?:_(\d+))?", v)
        base[v] = m.group(1)
        runs.setdefault(base[v], []).append((int(m.group(2) or 1), v))
    out = []
    for v in names:
        numbered = runs[base[v]]
        if len(numbered) <= 3:
            out.append(v)
        elif v == numbered[0][1]:  # the run's first: the whole run
            run = [w for _, w in sorted(numbered)]
            out.append(f"{run[0]} ... {run[-1]} ({len(run)} names)")
    return out


def _docstring(text: str) -> list[str]:
    """A function's docstring, wrapped to the width of the generated code."""
    lines = textwrap.wrap(f'"""{text}"""', WIDTH - 4, break_long_words=False, break_on_hyphens=False)
    return ["    " + line for line in lines]


def emit_numpy(
    graph: Graph,
    model: str,
    source: str,
    file: str,
    inits,
    dtype: str = "float64",
    opt: int = 2,
    step: Graph | None = None,
    plain: Graph | None = None,
    xp: str = "np",
) -> tuple[str, dict[int, list[int]], Pool]:
    """The generated module's source text, deterministic byte for byte, the generated
    lines (1-based) that compute each node of the unoptimized graph (by the `key` the
    passes keep; sgd_step's lines aside), and the workspaces (each function's buffer
    plan, and where its buffers live in the shared ones).

    `step` (the model with its gradients scaled by `lr`, see autodiff.gradients)
    gives sgd_step its own body; without it sgd_step calls loss_and_grad. `plain`
    (the model optimized with no gradient taken) gives forward and loss theirs;
    without it they are computed from `graph`. `xp` is the name the array module
    is imported and called as.
    """
    emitter = Emitter(graph, source, opt, xp)
    step_emitter = Emitter(step, source, opt, xp) if step is not None else None
    plain_emitter = Emitter(plain, source, opt, xp) if plain is not None else emitter
    return _module(emitter, step_emitter, plain_emitter, model, inits, file, dtype)


__all__ = ["emit_numpy"]
