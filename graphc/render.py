"""ir.Graph -> DOT text for people, and DOT -> SVG/PNG/PDF through Graphviz's `dot`.

The forward picture shows inputs, params and constants apart, each op with the
user's name, the op and its shape, fn calls and loop iterations as clusters.
The backward picture is the chain rule drawn: one adjoint node per value on a
path to the objective, one factor node per forward edge carrying the local
derivative as a formula, dashed references to the forward values that factor
reads, and the param gradients marked as the results. Node ids are `n<id>`,
stable and in topological order, so the DOT text is deterministic.
"""

from __future__ import annotations

import math
import re
import shutil
import subprocess
from collections import Counter

from graphc.ir import Graph
from graphc.ops import OPS
from graphc.ops.base import show

FONT = "Helvetica"
STYLE = {
    "input": 'shape=ellipse, style=filled, fillcolor="#dbeafe", color="#1d4ed8"',
    "param": 'shape=box, style="filled,bold", fillcolor="#fef3c7", color="#b45309"',
    "const": 'shape=plaintext, fontcolor="#6b7280"',
    "op": 'shape=box, style="rounded,filled", fillcolor="#ffffff", color="#374151"',
    "objective": 'shape=box, style="rounded,filled,bold", fillcolor="#fee2e2", color="#b91c1c", penwidth=2',
    "adjoint": 'shape=box, style="rounded,filled", fillcolor="#ede9fe", color="#6d28d9"',
    "result": 'shape=box, style="rounded,filled,bold", fillcolor="#dcfce7", color="#15803d", penwidth=2',
    "factor": 'shape=box, style="filled", fillcolor="#f9fafb", color="#9ca3af", fontsize=11',
    "ref": 'shape=ellipse, style="dashed", color="#9ca3af", fontcolor="#4b5563", fontsize=11',
}


# characters XML 1.0 does not allow, which a model may hold as blanks (form feed)
_CONTROL = dict.fromkeys([*range(0x00, 0x09), 0x0B, 0x0C, *range(0x0E, 0x20)], " ")


def xml_safe(text: str) -> str:
    """text with the characters an SVG cannot hold as blanks."""
    return text.translate(_CONTROL)


def _q(text: str) -> str:
    """A DOT string literal."""
    text = xml_safe(text)
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


class Labels:
    """How values are called in pictures: the user's name, else the source text."""

    def __init__(self, graph: Graph, source: str):
        self.g = graph
        self.lines = source.split("\n")
        # a name bound to several values (rebound on every pass of a loop, twice in a row, or
        # a fn's local named like an outer value) numbers them in the order they are made: h₁, h₂
        named = [(n, d["name"]) for n, d in sorted(graph.nx.nodes(data=True)) if d["name"]]
        counts = Counter(name for _, name in named)
        seen: Counter = Counter()
        self.numbered: dict[int, str] = {}
        for n, name in named:
            if counts[name] > 1:
                seen[name] += 1
                self.numbered[n] = name + str(seen[name]).translate(_SUBSCRIPT)

    def text_of(self, n: int) -> str | None:
        """The source text of n, in a loop with its iteration's names (`W{i}` -> `W3`), in a
        fn call with the caller's arguments for the fn's params where they fit."""
        d = self.g.node(n)
        span = d.get("span")
        if span is None or span.line != span.end_line or not 0 < span.line <= len(self.lines):
            return None
        text = self.lines[span.line - 1][span.col - 1 : span.end_col - 1].strip()
        frames = d.get("scope", ())
        loops = {var: i for kind, var, i, _ in frames if kind == "loop"}
        if loops and "{" in text:
            text = _BRACED.sub(lambda m: _indexed(m, loops), text)
        if loops and frames[-1][0] == "loop":  # `i * d` on the second pass is `2 * d` (a fn body sees no i)
            pattern = r"(?<![\w.])(" + "|".join(map(re.escape, loops)) + r")\b(?!\s*=)"
            text = re.sub(pattern, lambda m: str(loops[m.group(1)]), text)
        calls = [i for i, frame in enumerate(frames) if frame[0] == "fn"]
        params = self.g.calls.get(frames[: calls[-1] + 1], {}) if calls else {}
        if params:  # the innermost call's: the text is its fn's body
            pattern = r"(?<![\w.])(" + "|".join(map(re.escape, params)) + r")\b(?!\{)(?!\s*=)"
            theirs = re.sub(pattern, lambda m: self.name(params[m.group(1)]), text)
            text, params = (theirs, params) if len(theirs) <= 28 else (text, {})
        if self.numbered:  # `h @ W9` reads the eighth h: `h₈ @ W9`, as the factors beside it say
            text = self._numbered_names(n, text, set(params))
        return text if 0 < len(text) <= 28 else None

    def _numbered_names(self, n: int, text: str, written: set[str]) -> str:
        """text with each name of a value bound several times numbered as the value it reads
        there, as lowering recorded it (Graph.reads). Where a name read a value called
        otherwise (an alias, `g = h`, or a fn's param) or two values, or the record is
        missing, the text stays as written. `written`: a fn's params the text already
        shows in the caller's terms."""
        d, reads = self.g.node(n), self.g.reads
        if reads is None:
            return text
        span, frames = d["span"], d.get("scope", ())
        line = self.lines[span.line - 1]
        renamed: dict[str, str] = {}
        for m in _NAME.finditer(line, span.col - 1, span.end_col - 1):
            a = reads.get((span.line, m.start() + 1, frames))
            if a is None or m.group(1) in written:  # not a value (a fn, a keyword), or written in
                continue
            name, label = m.group(1), self.numbered.get(a)
            if self.g.node(a)["name"] != name or renamed.setdefault(name, label) != label:
                return text
        renamed = {k: v for k, v in renamed.items() if v is not None}
        return re.sub(_NAME, lambda m: renamed.get(m.group(1), m.group(1)), text) if renamed else text

    def name(self, n: int) -> str:
        d = self.g.node(n)
        if d["op"] == "const":
            return f"{d['attrs']['value']:g}"
        if d["name"]:
            return self.numbered.get(n, d["name"])
        text = self.text_of(n)
        if not text:
            return self._abridged(n) or f"{d['op']}(…)"
        return text if _bracketed(text) or _call(text) else f"({text})"

    def _abridged(self, n: int) -> str | None:
        """A binary operation too long to write out, by its operands, the left or else the
        right one as `…`: the partial sums of a long loss are `(… + sum(b^2))`, `(… + sum(c^2))`."""
        symbol, args = _INFIX.get(self.g.op(n)), self.g.args(n)
        if symbol is None or len(args) != 2:
            return None
        known = [self.g.node(a)["name"] or self.g.op(a) == "const" or self.text_of(a) for a in args]
        left, right = (self.name(a) if k else "…" for a, k in zip(args, known))
        for a, b in ((left, right), ("…", right), (left, "…")):  # at most 28 characters, as text_of
            if (a, b) != ("…", "…") and len(a) + len(b) + 3 <= 28:
                return f"({a} {symbol} {b})"
        return None


# a name in a text: not an attribute (.T), a called function, a keyword (axis = 0) or a braced name
_NAME = re.compile(r"(?<![\w.])([A-Za-z_]\w*)\b(?![{(\w])(?!\s*=)")


# the ops a picture may write as `a + b` where their source text is too long to show
_INFIX = {"add": "+", "sub": "-", "mul": "*", "div": "/", "matmul": "@"}
_SUBSCRIPT = str.maketrans("0123456789", "₀₁₂₃₄₅₆₇₈₉")
_BRACED = re.compile(r"(\w+)\{(\w+)([+-]\d+)?\}")


def _indexed(m: re.Match, loops: dict[str, int]) -> str:
    base, var, offset = m.groups()
    return f"{base}{loops[var] + int(offset or 0)}" if var in loops else m.group(0)


def _call(text: str) -> bool:
    """text is one call, `sqrt(v + 1)`: it needs no brackets of its own."""
    head = re.match(r"\w+(?=\()", text)
    return head is not None and _bracketed(text[head.end() :])


def _bracketed(text: str) -> bool:
    """text is one expression in brackets: `(h - y)`, not `(a) * (b)`."""
    depth = 0
    for i, c in enumerate(text):
        depth += (c == "(") - (c == ")")
        if depth == 0 and i < len(text) - 1:
            return False
    return text.startswith("(") and depth == 0


def _scope_key(path: tuple) -> str:
    """A cluster's DOT name, from its whole scope path: two loops over `i`, or one loop
    in two calls of a fn, are different clusters (Graphviz merges subgraphs of one name)."""
    return _q("cluster_" + "__".join(f"{kind}_{name}_{i}_{line}" for kind, name, i, line in path))


def _scope_label(frame) -> str:
    kind, name, i, line = frame
    return f"{name}() call {i}, line {line}" if kind == "fn" else f"for {name} = {i}"


def _emit_clusters(nodes: dict, scopes: dict, indent: str = "  ") -> list[str]:
    """Node lines nested in cluster subgraphs by their scope path (fn calls, loop iterations)."""
    tree: dict = {}
    for n in nodes:
        t = tree
        for frame in scopes.get(n, ()):
            t = t.setdefault(frame, {})
        t.setdefault(None, []).append(n)

    def walk(t, path):
        pad = indent * (len(path) + 1)
        out = [pad + nodes[n] for n in t.get(None, [])]
        for frame in sorted((k for k in t if k is not None), key=lambda f: (f[0], f[1], f[2], f[3])):
            out.append(f"{pad}subgraph {_scope_key((*path, frame))} {{")
            out.append(
                f'{pad}{indent}label={_q(_scope_label(frame))}; style="rounded,dashed"; color="#9ca3af"; fontcolor="#6b7280";'
            )
            out += walk(t[frame], (*path, frame))
            out.append(f"{pad}}}")
        return out

    return walk(tree, ())


def _header(name: str, title: str) -> list[str]:
    return [
        f"digraph {_q(name)} {{",
        f'  graph [rankdir=TB, label={_q(title)}, labelloc=t, fontname="{FONT}", nodesep=0.3, ranksep=0.35];',
        f'  node [fontname="{FONT}", fontsize=12];',
        f'  edge [fontname="{FONT}", fontsize=10, color="#6b7280"];',
    ]


def forward_dot(graph: Graph, source: str, model: str) -> str:
    """The forward graph: what the model computes, in the user's names and dims."""
    labels = Labels(graph, source)
    nodes = sorted(n for n in graph.order() if graph.node(n)["phase"] == "forward")
    objective = graph.objective[1] if graph.objective else None
    outputs: dict[int, list[str]] = {}
    for name, n in graph.outputs:
        outputs.setdefault(n, []).append(name)
    lines, scopes = {}, {}
    for n in nodes:
        d = graph.node(n)
        shape = show(d["shape"], d["dtype"])
        if d["op"] in ("input", "param"):
            kind, label = d["op"], f"{d['name']}\n{d['op']} {shape}"
        elif d["op"] == "const":
            text = labels.text_of(n)  # a named const (`D`) keeps its name beside its value
            kind, label = "const", f"{text} = {labels.name(n)}" if text and text.isidentifier() else labels.name(n)
        else:
            kind = "objective" if n == objective else "op"
            head = f"{labels.numbered.get(n, d['name'])} = " if d["name"] else ""
            label = f"{head}{op_text(d)}\n{shape}"
            if n == objective:  # `minimize loss` of a value first named inside a fn (err) says loss
                label = f"minimize {graph.objective[0]}\n{label}"
        if n in outputs:  # by the name the output line gives, where the value was first named otherwise
            names = [name for name in outputs[n] if name != d["name"]]
            label += "\noutput" + (" " + ", ".join(names) if names else "")
        style = STYLE[kind] + (", peripheries=2" if n in outputs else "")
        lines[n] = f"n{n} [id={_q(f'f{n}')}, label={_q(label)}, {style}];"
        # a param declared in a loop is drawn outside its iteration's box: the boxes then
        # stack in one column instead of a staircase that widens with every iteration
        scopes[n] = () if d["op"] == "param" else d.get("scope", ())
    out = _header(model + "_forward", f"{model}: forward graph")
    out += _emit_clusters(lines, scopes)
    for n in nodes:
        args = graph.args(n)
        for pos, a in enumerate(args):
            role = OPS[graph.op(n)].inputs[pos]
            attrs = [f"label={_q(_SIDES.get(role, role))}"] if len(args) > 1 and graph.op(n) in _ORDERED else []
            if graph.op(a) not in _LEAVES:
                # the chain of computed values is held straight: a value read only at the end
                # (deep_tanh's y) otherwise pulls a long chain over into a diagonal twice as wide
                attrs.insert(0, "weight=10")
            out.append(f"  n{a} -> n{n}" + (f" [{', '.join(attrs)}]" if attrs else "") + ";")
    out.append("}")
    return "\n".join(out) + "\n"


def op_text(d: dict) -> str:
    if d["op"] == "pow":
        return f"(·)^{d['attrs']['p']:g}"
    if d["op"] in ("sum", "mean", "max", "logsumexp") and not d["attrs"]["all"]:
        axes = d["attrs"]["axes"]
        return f"{d['op']} axis={axes[0] if len(axes) == 1 else axes}"
    return d["op"]


# arguments read for their shape alone: not drawn as forward values the chain rule uses
SHAPE_ONLY = {("broadcast_like", 1), ("reshape_like", 1), ("count", 0)}
_ORDERED = {"sub", "div", "matmul", "pow", "cross_entropy", "maximum", "minimum"}
_SIDES = {"a": "left", "b": "right"}  # the arguments of a binary op (a user's `a` is another value)
_LEAVES = {"input", "param", "const"}


def factor_text(graph: Graph, labels: Labels, a: int, n: int, pos: int) -> str:
    """The local derivative d n / d (argument pos), as a formula in the user's names, and
    the sum that brings it back to the argument's shape where the argument was broadcast."""
    d = graph.node(n)
    opdef = OPS[d["op"]]
    args = graph.args(n)
    names = [labels.name(x) for x in args]
    if d["op"] == "pow":
        p = d["attrs"]["p"]
        base = names[0]
        text = (f"· 2{base}" if len(base) == 1 else f"· 2·{base}") if p == 2 else f"· {p:g}·{base}^{p - 1:g}"
    elif d["op"] == "mul":
        text = f"· {names[1 - pos]}"
    elif d["op"] == "matmul":
        ranks = [len(graph.shape(x)) for x in args]
        inner = _untransposed(graph, args[1 - pos])
        if ranks == [1, 1]:  # an inner product: δ is a number
            text = f"· {names[1 - pos]}"
        elif ranks[1 - pos] == 1 and ranks[pos] == 2:  # a matrix times a vector: back to the matrix, an outer product
            text = f"⊗ {names[1]}" if pos == 0 else f"{names[0]} ⊗"
        elif inner is not None:  # (k.T)ᵀ is k
            text = f"@ {labels.name(inner)}" if pos == 0 else f"{labels.name(inner)} @"
        else:
            text = f"@ {names[1]}ᵀ" if pos == 0 else f"{names[0]}ᵀ @"
    elif d["op"] == "div" and pos == 0:
        text = f"· 1/{names[1]}"
    elif d["op"] == "mean":
        count = _count(graph, args[0], d["attrs"])
        text = "· 1 (broadcast)" if count == "1" else f"· 1/{count} (broadcast)"
    else:
        formula = opdef.formula.get(opdef.inputs[pos], "· ∂")
        symbols = {"x": names[0]} if len(args) == 1 else {"a": names[0], "b": names[1]}
        text = _substitute(formula, {**symbols, "y": labels.name(n)})
    shape = graph.shape(n)
    if d["op"] in ("logsumexp", "max") and len(graph.shape(args[0])) > 1:  # softmax(z) and max: of what?
        xs, axes = graph.shape(args[0]), d["attrs"]["axes"]
        text += (
            "\nover all entries" if len(axes) == len(xs) else "\nalong " + ", ".join(_axis_name(xs, i) for i in axes)
        )
    if "axis" in d["attrs"] and "Σ" in text and len(shape) > 1:  # softmax's sum: along its axis, not a broadcast's
        text += f"\nΣ along {_axis_name(shape, d['attrs']['axis'] % len(shape))}"
    if opdef.broadcasts and graph.shape(a) != shape:
        summed = _summed(shape, graph.shape(a))
        text += "\nΣ over " + ("all" if len(summed) == len(shape) > 1 else ", ".join(summed))
    return text


def _untransposed(graph: Graph, x: int) -> int | None:
    """The value x is the transpose of (k for k.T), or None: a matmul's factor names that one."""
    return graph.args(x)[0] if graph.op(x) == "transpose" else None


def _count(graph: Graph, x: int, attrs: dict) -> str:
    """How many entries a mean averages, in dims and sizes: `B`, `64`, `(B·64)`."""
    shape = graph.shape(x)
    sizes = list(shape) if attrs["all"] else [shape[i] for i in attrs["axes"]]
    fixed = math.prod(s for s in sizes if isinstance(s, int))
    factors = [s for s in sizes if isinstance(s, str)] + ([str(fixed)] if fixed != 1 else [])
    if len(factors) <= 1:
        return factors[0] if factors else "1"
    return "(" + "·".join(factors) + ")"


def _summed(result: tuple, arg: tuple) -> list[str]:
    """The axes of the result an argument of shape `arg` was broadcast along (as
    autodiff.unbroadcast sums them), named by their dim or their position."""
    lead = len(result) - len(arg)
    axes = [*range(lead), *(lead + i for i, size in enumerate(arg) if size == 1 and result[lead + i] != 1)]
    return [_axis_name(result, i) for i in axes]


def _axis_name(shape: tuple, i: int) -> str:
    """Axis i of shape by its dim (`B`) where that dim sizes no other axis, else by its
    position: in [T, T], `T` would not say which."""
    return shape[i] if isinstance(shape[i], str) and shape.count(shape[i]) == 1 else f"axis {i}"


def _substitute(formula: str, symbols: dict[str, str]) -> str:
    """Replace one-letter variables in a formula, all in one pass (a user's `b` put in for
    `a` is not replaced again), leaving letters inside words alone; `(x)` with x a
    bracketed text keeps one pair of brackets."""
    out = []
    for i, c in enumerate(formula):
        before = formula[i - 1] if i else " "
        after = formula[i + 1] if i + 1 < len(formula) else " "
        if c in symbols and not before.isalpha() and not after.isalpha():
            value = symbols[c]
            if before == "(" and after == ")" and _bracketed(value):
                value = value[1:-1]
            out.append(value)
        else:
            out.append(c)
    return "".join(out)


def adjoint_text(graph: Graph, labels: Labels, v: int) -> str:
    """∂loss/∂v in the user's names. The objective first named otherwise (`err`, returned
    by the fn that `loss = mse(...)` calls) is both: the chain rule starts at ∂loss/∂loss."""
    obj_name, objective = graph.objective if graph.objective else ("objective", None)
    text = f"∂{obj_name}/∂{labels.name(v)}"
    return f"∂{obj_name}/∂{obj_name} = {text}" if v == objective and labels.name(v) != obj_name else text


def backward_dot(graph: Graph, source: str, model: str) -> str:
    """The chain rule drawn: adjoints, one factor per forward edge, forward values read."""
    labels = Labels(graph, source)
    obj_name = graph.objective[0] if graph.objective else "objective"
    backward = [n for n in graph.order() if graph.node(n)["phase"] == "backward"]
    # the forward edges that carried gradient, and the forward values each one's rule read
    edges: dict[tuple[int, int, int], set[int]] = {e: set() for e in graph.chain}
    for b in backward:
        origin = graph.node(b).get("origin")
        if origin in edges:
            reads = edges[origin]
            for pos, x in enumerate(graph.args(b)):
                fwd = graph.node(x)["phase"] == "forward" and graph.op(x) != "const"
                if fwd and (graph.op(b), pos) not in SHAPE_ONLY:
                    inner = _untransposed(graph, x) if graph.op(origin[1]) == "matmul" else None
                    reads.add(x if inner is None else inner)  # the factor says `@ k` for (k.T)ᵀ: it reads k
    valued = {a for a, _, _ in edges} | {n for _, n, _ in edges}
    results = {graph.params.get(w, graph.inputs.get(w)): w for w in graph.grads}
    fanout = Counter(a for a, _, _ in edges)  # paths into each adjoint (one pass: a loop unrolls to 100,000)
    title = (
        f"{model}: backward graph (chain rule, from ∂{obj_name}/∂{obj_name} = 1)\n"
        f"purple: ∂{obj_name}/∂value · grey: local derivative (δ: the gradient coming in)\n"
        "dashed: a forward value it reads · green: a gradient returned"
    )
    out = _header(model + "_backward", title)
    nodes, scopes = {}, {}
    for v in sorted(valued):
        d = graph.node(v)
        shape = show(d["shape"], d["dtype"])
        kind = "result" if v in results else "adjoint"
        label = f"{adjoint_text(graph, labels, v)}\n{shape}"
        if v in results:
            label = f"gradient d_{results[v]}\n{label}"
        if fanout.get(v, 0) > 1:
            label += f"\nΣ of {fanout[v]} paths"
        nodes[v] = f"a{v} [id={_q(f'a{v}')}, label={_q(label)}, {STYLE[kind]}];"
        # a gradient returned sits outside any loop box, as its param does in the forward
        # picture: the boxes then stack in one column (the 3-layer picture: 1275 -> 778 px)
        scopes[v] = () if v in results else d.get("scope", ())
    objective = graph.objective[1] if graph.objective else None
    for v, w in sorted(results.items()):
        if v not in valued:  # no path carries gradient to it: the objective itself, or unused
            value = "1" if v == objective else f"0 (no path from {w} to {obj_name})"
            label = f"gradient d_{w}\n∂{obj_name}/∂{w} = {value}\n{show(*graph.type(v))}"
            nodes[v] = f"a{v} [id={_q(f'a{v}')}, label={_q(label)}, {STYLE['result']}];"
    refs: set[int] = set()
    links = []
    for (a, n, pos), reads in sorted(edges.items()):
        fid = f"e{a}_{n}_{pos}"
        # the factor sits in the cluster of the op it differentiates, so each layer reads top-down
        nodes[fid] = f"{fid} [id={_q(fid)}, label={_q(factor_text(graph, labels, a, n, pos))}, {STYLE['factor']}];"
        scopes[fid] = graph.node(n).get("scope", ())
        # the chain from the loss down is held straight; a gradient returned hangs off it
        # freely (deep_tanh's picture drifted into a diagonal: 1,884 -> 1,395 pt wide)
        links.append(f"  a{n} -> {fid} [weight=10];")
        links.append(f"  {fid} -> a{a} [weight={0 if a in results else 10}];")
        for r in sorted(reads):
            refs.add(r)
            links.append(f'  r{r} -> {fid} [style=dashed, color="#9ca3af", arrowhead=none];')
    out += _emit_clusters(nodes, scopes)
    out += links
    for r in sorted(refs):
        d = graph.node(r)
        label = f"{labels.name(r)}\n{show(d['shape'], d['dtype'])}"
        out.append(f"  r{r} [id={_q(f'r{r}')}, label={_q(label)}, {STYLE['ref']}];")
    out.append("}")
    return "\n".join(out) + "\n"


DOT_MISSING = (
    "warning: Graphviz's `dot` program was not found, so only the .dot files were written; "
    "install it (Debian/Ubuntu: apt-get install graphviz; macOS: brew install graphviz) to get pictures."
)


def have_dot() -> bool:
    return shutil.which("dot") is not None


# Past this many nodes a picture is unreadable and `dot` takes minutes (5,000 nodes: 25 s,
# 12,000: 40 s, and it grows faster than the graph), so only the .dot file is written.
MAX_DRAWN = 4000


DOT_TIMEOUT = 120  # seconds a drawing may take


class DotTimeout(RuntimeError):
    """dot did not finish in time: a next drawing would most likely hang as long."""


def render(dot_text: str, fmt: str = "svg") -> bytes:
    """Lay out DOT text from this module with Graphviz's `dot`; raises RuntimeError saying
    why it did not (DotTimeout when dot took longer than DOT_TIMEOUT)."""
    count = dot_text.count(' [id="')  # every node line carries an id
    if count > MAX_DRAWN:
        raise RuntimeError(f"it has {count:,} nodes, more than the {MAX_DRAWN:,} a readable picture holds")
    try:
        p = subprocess.run(["dot", f"-T{fmt}"], input=dot_text.encode(), capture_output=True, timeout=DOT_TIMEOUT)
    except subprocess.TimeoutExpired:
        raise DotTimeout(f"dot took longer than {DOT_TIMEOUT:g} s") from None
    except OSError as e:  # found on PATH but cannot run: not executable, a broken interpreter line
        raise RuntimeError(f"dot could not be run: {e.strerror or e}") from None
    if p.returncode != 0:
        said = p.stderr.decode(errors="replace").strip()
        if p.returncode < 0:
            said = said or f"dot was killed by signal {-p.returncode}"
        raise RuntimeError(said or f"dot failed with exit status {p.returncode}")
    if not p.stdout.strip() or (fmt == "svg" and b"<svg" not in p.stdout):  # a `dot` that is not Graphviz's
        raise RuntimeError(f"dot gave no {fmt} picture; is {shutil.which('dot')} Graphviz's dot?")
    if fmt == "pdf":  # the second it was drawn, blanked in place (the offsets of the file's table stay)
        return re.sub(rb"/CreationDate \([^)]*\)", lambda m: b" " * len(m[0]), p.stdout, count=1)
    return p.stdout
