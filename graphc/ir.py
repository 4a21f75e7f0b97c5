"""The computation graph: a thin wrapper over networkx.MultiDiGraph.

Nodes are integers handed out in creation order; every node is created after
its arguments, so increasing ids are a topological order. A node carries its op,
attrs, shape, dtype, the user's name (if any), its source span, its scope (the
fn calls and loop iterations it was made in) and its phase (forward/backward).
An edge u -> v with key k says u is argument k of v (`x * x` has two edges).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from operator import itemgetter
from typing import Any

import networkx as nx
import numpy as np

from graphc.ops import OPS, ShapeError, show
from graphc.ops.helpers import HELPERS, closure

# an edge's data, {"pos": argument position}: never changed once made, so edges at the
# same position share one dict (a graph of millions of edges would hold millions of copies)
_POSITION = tuple({"pos": pos} for pos in range(8))
# networkx keeps, for each pair of nodes a -> n, a dict of the edges between them by key
# ({0: {"pos": 0}} for a first argument). A node's edges are all made with it and none is
# ever removed or re-keyed alone (a pass removes whole nodes, or builds a new graph), so an
# argument that appears once shares its pair's dict too: a dict per edge was a fifth of the
# memory of lowering a large model
_AT = tuple({pos: _POSITION[pos]} for pos in range(len(_POSITION)))
_TYPE = itemgetter("shape", "dtype")
# the attrs of every node made without any (add, mul, tanh: most of a model): one dict for all,
# as no node's attrs are changed in place (Graph.copy shares them too), where a dict of its
# own was 64 bytes a node to make, hold and free
_NO_ATTRS: dict = {}
READS_KEPT = 50_000  # names read that a graph records; a model reading more is not drawn anyway


def store(g: nx.MultiDiGraph, nid: int, data: dict, args: list[int]) -> None:
    """Node nid of g, computed from `args`, with attributes `data`: written into networkx's own
    storage as add_node and add_edge would, less their checks and copies (a third of lowering a
    large model). The node's attribute dict is `data` itself, and edge a -> nid with key pos
    carries {"pos": pos}, the same dict for every edge at that position (see _AT). The arguments
    are kept in order in the node's dict too, as "args": Graph.args reads them there, where
    sorting the edges by position took a fifth of compiling a large model."""
    data["args"] = args = tuple(args)
    g._node[nid] = data
    _link(g._succ, g._pred, nid, args)
    if getattr(g, "__networkx_cache__", None):  # what networkx's own methods clear
        g.__networkx_cache__.clear()


def _link(succ: dict, pred: dict, nid: int, args: tuple[int, ...]) -> None:
    """Node nid's adjacency in networkx's storage, and its edges from `args`."""
    into = {}
    succ[nid], pred[nid] = {}, into
    if len(args) == 1:  # most nodes: one argument, or two different ones
        a = args[0]
        into[a] = succ[a][nid] = _AT[0]
    elif len(args) == 2 and args[0] != args[1]:
        a, b = args
        into[a] = succ[a][nid] = _AT[0]
        into[b] = succ[b][nid] = _AT[1]
    else:
        for pos, a in enumerate(args):
            edge = _POSITION[pos] if pos < len(_POSITION) else {"pos": pos}
            keys = into.get(a)
            if keys is None:  # the first edge a -> nid: a shared dict (see _AT)
                into[a] = succ[a][nid] = _AT[pos] if pos < len(_AT) else {pos: edge}
            else:  # a again (x * x): a dict of the pair's own, holding both
                into[a] = succ[a][nid] = {**keys, pos: edge}


@dataclass
class Graph:
    nx: nx.MultiDiGraph = field(default_factory=nx.MultiDiGraph)
    inputs: dict[str, int] = field(default_factory=dict)  # declaration order
    params: dict[str, int] = field(default_factory=dict)
    dims: list[str] = field(default_factory=list)
    outputs: list[tuple[str, int]] = field(default_factory=list)
    objective: tuple[str, int] | None = None
    wrt: list[str] = field(default_factory=list)
    grads: dict[str, int] = field(default_factory=dict)  # wrt name -> gradient node
    chain: list[tuple[int, int, int]] = field(default_factory=list)  # forward edges (a, n, pos) the sweep used
    context: dict[str, Any] = field(default_factory=dict)  # attrs stamped on new nodes
    # a fn call's frame -> the argument node of each param it never rebinds, so a picture
    # can name the body's values in the caller's terms
    calls: dict[tuple, dict[str, int]] = field(default_factory=dict)
    # (line, column, frames) of each name a statement reads -> the value it read there, so a
    # picture can number a rebound name as that value; None past READS_KEPT (too large to draw)
    reads: dict[tuple, int] | None = field(default_factory=dict)
    # the first node whose edges are not in `nx` yet, or None: lowering adds a node's edges only
    # once the whole model lowered without a mistake (link), so a model with one never makes
    # them (two dicts per node, a third of the memory of checking a large model)
    unlinked: int | None = None
    _next: int = 0

    # ------------------------------------------------------------ building

    def add(self, op: str, args: list[int], attrs: dict | None = None, span=None, scope=(), **node_attrs) -> int:
        """Add `op(*args)`; its shape rule runs now and may raise ShapeError. `span` and `scope`
        are those of node_attrs that nearly every node is given (named, they cost no dict)."""
        opdef = OPS[op]
        nodes = self.nx._node
        # (shape, dtype) of each argument, read from the attribute dicts themselves: NodeView
        # lookups cost a call each
        # (one or two arguments, most nodes, without a comprehension's frame)
        n = len(args)
        if n == 1:
            types = (_TYPE(nodes[args[0]]),)
        elif n == 2:
            types = (_TYPE(nodes[args[0]]), _TYPE(nodes[args[1]]))
        else:
            types = [_TYPE(nodes[a]) for a in args]
        if opdef.prepare:  # (it makes a new dict: no copy of the caller's first)
            attrs = opdef.prepare(attrs or _NO_ATTRS, *types)
        else:
            attrs = dict(attrs) if attrs else _NO_ATTRS
        shape, dtype = opdef.shape(attrs, *types)
        nid = self._next
        self._next = nid + 1
        data = {
            "op": op,
            "attrs": attrs,
            "shape": tuple(shape),
            "dtype": dtype,
            "name": None,
            "span": span,
            "scope": scope,
            "phase": "forward",
            "key": nid,  # the id in the unoptimized graph
        }
        # (lowering stamps nothing: only autodiff and the passes pay for these)
        if self.context:
            data.update(self.context)
        if node_attrs:
            data.update(node_attrs)
        if self.unlinked is None:
            store(self.nx, nid, data, args)
        else:  # (its edges wait for link; store's first two lines inline: a call per node is 3% of checking)
            data["args"] = tuple(args)
            nodes[nid] = data
        return nid

    def link(self) -> None:
        """Add the edges of the nodes added while they waited (see `unlinked`); from here on a
        node's edges are added with it."""
        if self.unlinked is None:
            return
        g, nodes = self.nx, self.nx._node
        succ, pred = g._succ, g._pred
        for nid in range(self.unlinked, self._next):
            _link(succ, pred, nid, nodes[nid]["args"])
        self.unlinked = None
        if getattr(g, "__networkx_cache__", None):
            g.__networkx_cache__.clear()

    def copy(self) -> Graph:
        """An independent copy: the node dicts are new; their attrs, spans and scopes are never
        changed in place, so they are shared."""
        self.link()
        return replace(
            self,
            nx=self.nx.copy(),
            inputs=dict(self.inputs),
            params=dict(self.params),
            dims=list(self.dims),
            outputs=list(self.outputs),
            wrt=list(self.wrt),
            grads=dict(self.grads),
            chain=list(self.chain),
            calls=dict(self.calls),
            reads=None if self.reads is None else dict(self.reads),
            context=dict(self.context),
        )

    # ------------------------------------------------------------ reading

    # the node dicts are read straight from networkx's storage: `nx.nodes[n]` builds a view per call
    def node(self, n: int) -> dict:
        return self.nx._node[n]

    def op(self, n: int) -> str:
        return self.nx._node[n]["op"]

    def shape(self, n: int) -> tuple:
        return self.nx._node[n]["shape"]

    def type(self, n: int) -> tuple:
        d = self.nx._node[n]
        return d["shape"], d["dtype"]

    def args(self, n: int) -> list[int]:
        """The arguments of n in position order (kept by `store`, with the edges)."""
        return list(self.nx._node[n]["args"])

    def labels(self, n: int) -> tuple[int | None, object]:
        """The class labels node n reads and how many classes there are (a size), or (None, None)."""
        classes = OPS[self.op(n)].classes
        if classes is None:
            return None, None
        pos, k = classes(self.node(n)["attrs"], *map(self.type, self.args(n)))
        return self.args(n)[pos], k

    def users(self, n: int) -> list[int]:
        self.link()
        # the adjacency dict itself: networkx's out_edges view keeps a reference to its graph,
        # and the cycle it makes outlives the graph while the collector is paused (a compile)
        return sorted(self.nx._succ[n])

    def order(self) -> list[int]:
        """All nodes in topological order (ids are created in one)."""
        return sorted(self.nx.nodes)

    def ancestors(self, roots) -> set[int]:
        """The roots and every node they depend on."""
        seen, stack = set(), list(roots)
        while stack:
            n = stack.pop()
            if n not in seen:
                seen.add(n)
                stack.extend(self.args(n))
        return seen

    def subgraph(self, phase: str) -> nx.MultiDiGraph:
        """The forward or backward part, with the forward values the backward part reads."""
        self.link()  # (networkx's subgraph reads the edges)
        keep = {n for n, d in self.nx.nodes(data=True) if d["phase"] == phase}
        if phase == "backward":
            keep |= {u for n in keep for u in self.args(n)}
        part = self.nx.subgraph(keep).copy()  # (new node dicts: the graph's own stay as they are)
        for d in part._node.values():
            # the argument list `store` keeps for Graph.args: a forward value the backward part
            # reads comes without its own arguments, and the edges say what each node reads here
            del d["args"]
        return part

    def describe(self, n: int) -> str:
        d = self.node(n)
        return f"{d['name'] or '%' + str(n)}: {show(d['shape'], d['dtype'])} = {d['op']}"

    def dump(self) -> str:
        """A printable listing, one node a line, for tests and debugging."""
        lines = []
        for n in self.order():
            d = self.node(n)
            args = ", ".join(f"%{a}" for a in self.args(n))
            attrs = "".join(f" {k}={v!r}" for k, v in sorted(d["attrs"].items()))
            name = f"  # {d['name']}" if d["name"] else ""
            lines.append(f"%{n} = {d['op']}({args}){attrs} : {show(d['shape'], d['dtype'])}{name}")
        return "\n".join(lines)


def place(graph: Graph, n: int) -> tuple:
    """Where n comes from in the source, (span, scope): for a backward node the chain-rule step
    autodiff stamped on it as `at` (kept when a pass drops that op), for a forward one its own.
    A node a rewrite made of several keeps the places of the others in `also`."""
    d = graph.node(n)
    at = d.get("at") if d["phase"] == "backward" else None
    return at if at is not None else (d["span"], d.get("scope", ()))


def dims_of(graph: Graph, values: dict[str, Any]) -> dict[str, int]:
    """Bind each dim from the inputs' shapes."""
    dims: dict[str, int] = {}
    for name, n in graph.inputs.items():
        if name in values:
            for want, got in zip(graph.shape(n), np.shape(values[name])):
                if isinstance(want, str) and want.isidentifier():
                    dims.setdefault(want, got)
    return dims


def evaluate(graph: Graph, values: dict[str, Any], nodes=None, dtype=np.float64) -> dict[int, Any]:
    """Interpret the graph with NumPy: each node's own emission, evaluated in turn.

    values maps input and param names to arrays. Returns node -> value for the
    nodes asked for (default: all nodes).
    """
    env: dict[str, Any] = {"np": np, "DTYPE": dtype}
    for h in closure(h for n in graph.order() for h in OPS[graph.op(n)].helpers):
        exec(HELPERS[h].format(xp="np"), env)
    env.update(dims_of(graph, values))
    need = graph.ancestors(nodes) if nodes is not None else set(graph.order())
    out: dict[int, Any] = {}
    for n in graph.order():
        if n not in need:
            continue
        d = graph.node(n)
        if d["op"] in ("input", "param"):
            v = np.asarray(values[d["attrs"]["name"]])
            out[n] = v.astype(dtype) if d["dtype"] == "float" else v
            continue
        args = graph.args(n)
        local = {f"_a{i}": out[a] for i, a in enumerate(args)}
        expr = OPS[d["op"]].emit("np", d["attrs"], *(f"_a{i}" for i in range(len(args))))
        try:
            out[n] = eval(expr, env, local)
            if d["op"] == "const":  # a NumPy scalar of the dtype, as the module's arrays are
                out[n] = dtype(out[n])
        except Exception as e:  # pragma: no cover - a bug in an emission, not a user error
            raise RuntimeError(f"evaluating {graph.describe(n)} as {expr!r}: {e}") from e
    return out


__all__ = ["Graph", "ShapeError", "evaluate", "dims_of", "place"]
