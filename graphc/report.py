"""`graphc compile --report`: what the compiled step costs and what the passes did.

Sizes with dims are polynomials in them (`2·B·784·256`), kept exact: a
polynomial maps a sorted tuple of dim names to an integer coefficient. Each is
also shown at the dim values given with `--dims B=128` (1 for any dim not given).
"""

from __future__ import annotations

from collections import Counter

from graphc.ir import Graph
from graphc.ops import OPS, shared_argument
from graphc.passes import LEVELS, PASSES
from graphc.plan import Pool
from graphc.render import SHAPE_ONLY, Labels
from graphc.util import plural

Poly = dict[tuple[str, ...], int]
LEAVES = ("input", "param", "const")


def _size(shape) -> Poly:
    coef, names = 1, []
    for d in shape:
        for part in str(d).split("*"):
            if part.isdigit():
                coef *= int(part)
            else:
                names.append(part)
    return {tuple(sorted(names)): coef}


def _add(a: Poly, b: Poly, times: int = 1) -> Poly:
    out = dict(a)
    for k, v in b.items():
        out[k] = out.get(k, 0) + v * times
    return {k: v for k, v in out.items() if v}


def _value(p: Poly, dims: dict[str, int]) -> int:
    total = 0
    for names, coef in p.items():
        term = coef
        for n in names:
            term *= dims.get(n, 1)
        total += term
    return total


def show_poly(p: Poly) -> str:
    if not p:
        return "0"
    terms = sorted(p.items(), key=lambda kv: (-len(kv[0]), kv[0]))
    # a coefficient of 1 is left out before names (B·N, not 1·B·N), and a dim that comes
    # more than once is written with its power (8·T², not 8·T·T)
    return " + ".join("·".join(([f"{c:,}"] if c != 1 or not names else []) + _powers(names)) for names, c in terms)


_SUPERSCRIPT = str.maketrans("0123456789", "⁰¹²³⁴⁵⁶⁷⁸⁹")


def _powers(names: tuple[str, ...]) -> list[str]:
    """Sorted dim names as factors, each once with its power: (B, T, T) is B, T²."""
    return [n + (str(k).translate(_SUPERSCRIPT) if k > 1 else "") for n, k in Counter(names).items()]


def flops(graph: Graph, n: int) -> Poly:
    """Floating-point operations of one node: 2mnk for a matmul, 2n for an inner product of
    n elements (a multiply and an add each), one per element of its largest array otherwise."""
    op = graph.op(n)
    if op in LEAVES or OPS[op].view or op in ("broadcast_like", "count", "rows", "pick", "scatter_pick"):
        return {}  # data moved, looked up or put in place, no arithmetic
    if op == "scatter_rows":  # one add per element of the rows added in
        return _size(graph.shape(graph.args(n)[0]))
    if op == "matmul":
        a, b = (graph.shape(x) for x in graph.args(n))
        inner = a[-1]
        return {k: 2 * v for k, v in _size(graph.shape(n) + (inner,)).items()}
    if op == "inner":
        return {k: 2 * v for k, v in _size(graph.shape(graph.args(n)[0])).items()}
    # the largest array involved: the result where arguments broadcast ([B, 1] * [B, 64]
    # is 64·B), the argument where a reduction shrinks it
    shapes = [graph.shape(n)] + [graph.shape(a) for a in graph.args(n)]
    return _size(max(shapes, key=_weight))


def _weight(shape) -> tuple[int, int]:
    """How many dims and how large a constant factor an array's size has: within one op
    the largest array has the most of both."""
    ((names, coef),) = _size(shape).items()
    return len(names), coef


def phase_flops(graph: Graph) -> dict[str, Poly]:
    out: dict[str, Poly] = {"forward": {}, "backward": {}}
    for n in graph.order():
        out[graph.node(n)["phase"]] = _add(out[graph.node(n)["phase"]], flops(graph, n))
    return out


def _owner(graph: Graph, n: int) -> int:
    """The value whose array n's result is: n itself, or, through views (`h.T`, a reshape)
    and ops handing back their argument, the value they look into."""
    while (pos := shared_argument(graph.op(n), graph.node(n)["attrs"])) is not None:
        n = graph.args(n)[pos]
    return n


def saved_for_backward(graph: Graph, labels: Labels | None = None) -> dict[str, Poly]:
    """Forward values the backward pass reads (bytes per element not included), by the
    names the pictures give them (`labels`, of the unoptimized graph), else by op and line.
    A view read there keeps the value it looks into, counted once, and nothing where that
    is a param or an input (`reshape(x, ...)`), which the caller holds anyway."""
    saved: dict[str, Poly] = {}
    named: dict[int, str] = {}
    for n in graph.order():
        if graph.node(n)["phase"] != "backward":
            continue
        for pos, a in enumerate(graph.args(n)):
            if (graph.op(n), pos) in SHAPE_ONLY:  # only its shape is read, not its values
                continue
            if graph.node(a)["phase"] != "forward":
                continue
            a = _owner(graph, a)
            d = graph.node(a)
            if d["op"] not in LEAVES:
                if a not in named:
                    where = f" (line {d['span'].line})" if d["span"] is not None else ""
                    # the pictures' name, for a value the passes kept as it was: same op, same arguments
                    key = d["key"]
                    kept = (
                        labels is not None
                        and key in labels.g.nx
                        and labels.g.op(key) == d["op"]
                        and [graph.node(x)["key"] for x in graph.args(a)] == labels.g.args(key)
                    )
                    drawn = labels.name(key) if kept else None
                    base = label = drawn if drawn and "…" not in drawn else d["name"] or f"{d['op']}{where}"
                    k = 2
                    while label in saved:  # two alike on one line: number them
                        label, k = f"{base} #{k}", k + 1
                    named[a] = label
                saved[named[a]] = _size(d["shape"])
    return saved


def _bytes(types, itemsize: int) -> Poly:
    """The bytes of arrays of these (shape, dtype) types: floats of itemsize, ints of 8."""
    total: Poly = {}
    for shape, dtype in types:
        total = _add(total, _size(shape), itemsize if dtype == "float" else 8)
    return total


def call_memory(pool: Pool, graph: Graph, dims: dict[str, int], itemsize: int) -> dict[str, Poly]:
    """Bytes one call of each generated function holds at most, beside the params and inputs:
    the workspace arrays it computes in and every new array its statements make, as a
    generated function frees nothing before it returns; at -O1 a statement also holds the
    arrays spelled inside it while it runs (`np.tanh(x @ W + b)` two). The temporaries
    inside the module's helpers (a softmax's exp) are not counted. Where which moment holds
    the most depends on the dims, it is found at `dims`.

    Without a plan of its own (-O0, -O1), sgd_step calls loss_and_grad, then makes
    lr * gradient for each param beside the gradients: the larger of the two."""

    def nbytes(types) -> Poly:
        return _bytes(types, itemsize)

    def larger(*polys: Poly) -> Poly:
        return max(polys, key=lambda p: _value(p, dims), default={})

    def running(tree) -> Poly:
        """The most an expression holds while Python evaluates it: each argument's peak beside
        the arguments before it, then all of them beside its own result."""
        kind, args = tree
        done: Poly = {}
        moments = []
        for arg in args:
            moments.append(_add(done, running(arg)))
            done = _add(done, nbytes([arg[0]] if arg[0] else []))
        return larger(*moments, _add(done, nbytes([kind] if kind else [])))

    out = {}
    for name, plan in pool.plans.items():
        # the most held at once: after the last statement, or while one with arrays inside it runs
        held = [nbytes(plan.made)] + [_add(nbytes(plan.made[:k]), running(tree)) for k, tree in plan.temporaries]
        out[name] = _add(nbytes([(s, "float") for s in plan.allocated]), larger(*held))
    if "sgd_step" not in out and "loss_and_grad" in out:
        steps = nbytes([graph.type(graph.grads[w]) for w in graph.wrt if w in graph.params])
        out["sgd_step"] = larger(out["loss_and_grad"], _add(steps, steps))
    return out


def pass_effects(graph: Graph, level: int, optimized: Graph) -> list[tuple[str, int, Poly, Counter, Counter]]:
    """Each pass of the level applied once in turn, then (where that is not yet the
    `optimized` graph) the optimizer's further rounds as one row, so the last row is the
    graph the module computes: nodes left, FLOPs of the nodes left (forward and backward;
    dead ones count until dce), ops removed, ops added."""
    rows, g = [], graph

    def row(name: str, before: Graph, after: Graph) -> None:
        was, now = Counter(before.op(n) for n in before.order()), Counter(after.op(n) for n in after.order())
        f = phase_flops(after)
        rows.append((name, len(after.nx), _add(f["forward"], f["backward"]), was - now, now - was))

    for name in LEVELS[level]:
        before, g = g, PASSES[name](g)
        row(name, before, g)
    if level and _fingerprint(g) != _fingerprint(optimized):
        row("later rounds", g, optimized)
    return rows


def _fingerprint(g: Graph) -> list[tuple]:
    """The graph's nodes as op, attrs, type and arguments: the passes number nodes in
    topological order, so two graphs computing alike give the same list."""
    return [(g.op(n), repr(g.node(n)["attrs"]), g.type(n), g.args(n)) for n in g.order()]


def buffer_lines(pool: Pool, dims: dict[str, int], itemsize: int) -> list[str]:
    """Per generated function, the buffers it computes in and the values computed in place;
    then each workspace, which its functions share."""

    def nbytes(shapes) -> str:
        total = _bytes([(shape, "float") for shape in shapes], itemsize)
        return f"{show_poly(total)} bytes ({_value(total, dims):,})"

    lines = []
    for name, plan in pool.plans.items():
        if plan.buffers:
            lines.append(
                f"    {name:<14} {plural(len(plan.allocated), 'buffer')}, {nbytes(plan.allocated)}; "
                f"{plural(len(plan.inplace), 'value')} computed in place, over an argument no longer needed"
            )
    for sizes, arrays in pool.arrays.items():
        users = ", ".join(pool.users(sizes))
        arrays = [shape for shape, fill in arrays if not isinstance(fill, tuple)]  # not the views
        lines.append(f"    {pool.maker(sizes)} ({users}): {plural(len(arrays), 'array')}, {nbytes(arrays)}")
    return lines


def report(
    graph: Graph,
    optimized: Graph,
    level: int,
    dims: dict[str, int],
    itemsize: int,
    pool: Pool | None = None,
    source: str = "",
    plain: Graph | None = None,
) -> str:
    """The report's text; `source` (the model's text) names unnamed values as the pictures do.
    `plain` is the graph forward and loss compute, optimized with no gradient taken."""
    # every dim's value, in the model's order: one not given counts as 1, and the header says so
    given, dims = dims, {d: dims.get(d, 1) for d in graph.dims}
    used = ", ".join(f"{d}={v}" for d, v in dims.items())
    missing = [d for d in dims if d not in given]
    if missing:
        used += f"; {', '.join(missing)} not given, counted as 1"
    # the bytes below are of this float type; integer labels are 8 bytes each whatever it is
    width = f"float{8 * itemsize}, {itemsize} bytes a value"
    lines = [f"report ({width}; dims for numbers: {used})" if dims else f"report ({width}; the model has no dims)"]

    def at_dims(p: Poly, unit: str = "") -> str:  # the polynomial, and its value where it has dims
        return show_poly(p) + unit + (f" ({_value(p, dims):,})" if any(p) else "")

    # sgd_step's update of the params it moves: p - lr * g, two FLOPs a value; at -O2 its own
    # graph has the gradients times lr already, leaving the subtraction
    moved: Poly = {}
    for name in graph.wrt:
        if name in graph.params:
            moved = _add(moved, _size(graph.shape(graph.params[name])))
    for title, g, per_value in (("before passes", graph, 2), (f"after -O{level}", optimized, 1 if level >= 2 else 2)):
        f = phase_flops(g)
        lines.append(
            f"  {title}: {len(g.nx)} nodes; FLOPs forward {at_dims(f['forward'])}; backward {at_dims(f['backward'])}"
            + (f"; update {at_dims(_add({}, moved, per_value))}" if moved else "")
        )
    if plain is not None:  # made at -O1 and -O2
        f = phase_flops(plain)
        lines.append(f"  forward and loss, no gradient taken: {len(plain.nx)} nodes; FLOPs {at_dims(f['forward'])}")
    lines.append(
        "  passes, each applied once in turn, then the optimizer's later rounds (all rules together) to a fixed point:"
        if level
        else "  passes: none at -O0"
    )
    effects = pass_effects(graph, level, optimized)
    width = max([len(name) for name, *_ in effects] + [9])
    for name, nodes, flops_left, removed, added in effects:
        gone = ", ".join(f"{c} {op}" for op, c in sorted(removed.items())) or "nothing"
        new = ", ".join(f"{c} {op}" for op, c in sorted(added.items()))
        lines.append(
            f"    {name:<{width}} -> {nodes} nodes, {at_dims(flops_left)} FLOPs; removed {gone}"
            + (f"; added {new}" if new else "")
        )
    pool = pool or Pool()  # (none given: no buffers planned)
    memory = call_memory(pool, optimized, dims, itemsize)
    if memory:
        lines.append(
            "  memory of one call, beside params and inputs (its workspace and the arrays it makes,"
            " all kept until it returns; not the temporaries inside helpers such as _softmax):"
        )
        for name, p in memory.items():
            plan = pool.plans.get(name)
            kept = _bytes([(shape, "float") for shape in plan.allocated], itemsize) if plan else {}
            # a later call finds its workspace made: it holds the rest
            later = f"; a later call at these dims {at_dims(_add(p, kept, -1), ' bytes')}" if kept else ""
            lines.append(f"    {name:<14} {at_dims(p, ' bytes')}{later}")
    saved = saved_for_backward(optimized, Labels(graph, source) if source else None)
    total = {}
    for p in saved.values():
        total = _add(total, p)
    lines.append(f"  saved for the backward pass: {at_dims({k: v * itemsize for k, v in total.items()}, ' bytes')}")
    width = max([len(name) for name in saved] + [14])
    for name, p in saved.items():
        lines.append(f"    {name:<{width}} {at_dims({k: v * itemsize for k, v in p.items()}, ' bytes')}")
    planned = buffer_lines(pool, dims, itemsize)
    if planned:
        lines.append("  workspaces (made once per thread and dim sizes, reused by every call):")
        lines += planned
    return "\n".join(lines)
