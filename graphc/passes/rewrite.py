"""What every pass shares: copy a graph node by node into a fresh one, rewriting on the way.

A pass never edits its argument. It walks the old graph in topological order and
adds each node to a new Graph (so the new ids are again a topological order),
possibly replacing it by another node. `Rebuild` keeps the map old id -> new id
and, at the end, points the bookkeeping (inputs, params, outputs, objective,
grads, chain, and the node attrs origin, adjoint_of and mask_of) at the new ids.

Every node carries `key`, its id in the unoptimized graph; a node a rewrite
builds gets the key of the node it replaces, so generated code can be traced
back to the pictures of the unoptimized graph.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import networkx as nx

from graphc.ir import Graph, place, store
from graphc.ops import OPS

CORE = ("op", "attrs", "shape", "dtype", "args")  # what a node is; everything else is bookkeeping

# A rule looks at node n of the graph being built (its args are final) and returns
# a node computing the same value with the same shape and dtype, or None. It may
# add nodes (with `build`), but only when it returns one.
Rule = Callable[[Graph, int], "int | None"]


def matches(*ops: str) -> Callable[[Rule], Rule]:
    """Mark a rule with the ops it can fire on, so a sweep tries it on those nodes only."""

    def mark(rule: Rule) -> Rule:
        rule.ops = frozenset(ops)  # type: ignore[attr-defined]
        return rule

    return mark


def _by_op(rules: Sequence[Rule]) -> Callable[[str], tuple[Rule, ...]]:
    """op -> the rules that may fire on it, in list order (unmarked rules fire on any op)."""
    cache: dict[str, tuple[Rule, ...]] = {}

    def lookup(op: str) -> tuple[Rule, ...]:
        if op not in cache:
            cache[op] = tuple(r for r in rules if op in getattr(r, "ops", (op,)))
        return cache[op]

    return lookup


def meta(graph: Graph, n: int) -> dict:
    """The node attrs of n other than its op, attrs, shape and dtype."""
    out = {k: v for k, v in graph.node(n).items() if k not in CORE}
    out.setdefault("key", n)
    return out


def build(graph: Graph, like: int, op: str, args: list[int], attrs: dict | None = None) -> int:
    """A helper node for a rewrite of `like`: its key, phase, span and scope, but no name."""
    m = meta(graph, like)
    m.update(name=None, adjoint_of=None, mask_of=None)
    return graph.add(op, args, attrs, **m)


class Rebuild:
    """Copies `old` into a fresh Graph; `map` says where each old node went."""

    def __init__(self, old: Graph):
        self.old = old
        self.new = Graph(dims=list(old.dims), wrt=list(old.wrt))
        self.map: dict[int, int] = {}

    def copy(self, n: int) -> int:
        """n's op on the new args, with n's node attrs (references still old ids).

        The args it gets stand for n's old args with the same types, so n's
        type stands and its shape rule need not run again.
        """
        new, nid = self.new, self.new._next
        new._next += 1
        data = dict(self.old.node(n))
        data["attrs"] = dict(data["attrs"])
        data.setdefault("key", n)
        store(new.nx, nid, data, [self.map[a] for a in self.old.args(n)])
        return nid

    def finish(self) -> Graph:
        """The new graph with its bookkeeping on new ids, renumbered if ids have gaps."""
        old, new, m = self.old, self.new, self.map
        nodes = new.order()
        if nodes != list(range(len(nodes))):  # compact: ids keep their order
            dense = dict(zip(nodes, range(len(nodes))))
            compact = nx.MultiDiGraph()
            for n in nodes:  # each node's data dict moves over: the old storage is dropped
                store(compact, dense[n], new.node(n), [dense[a] for a in new.args(n)])
            new.nx = compact
            new._next = len(nodes)
            m = {a: dense[b] for a, b in m.items()}
        new.inputs = {name: m[n] for name, n in old.inputs.items()}
        new.params = {name: m[n] for name, n in old.params.items()}
        new.outputs = [(name, m[n]) for name, n in old.outputs]
        new.objective = (old.objective[0], m[old.objective[1]]) if old.objective else None
        new.grads = {w: m[n] for w, n in old.grads.items()}
        new.chain = _remap_chain(old.chain, m)
        for _, d in new.nx.nodes(data=True):
            d["adjoint_of"] = m.get(d.get("adjoint_of"))
            d["origin"] = _remap_origin(d.get("origin"), m)
            of = d.get("mask_of")
            d["mask_of"] = (m[of[0]], of[1]) if of is not None and of[0] in m else None
        new.context = dict(old.context)
        return new


def _remap_origin(origin, m: dict[int, int]):
    if origin is None:
        return None
    out = []
    for i, x in enumerate(origin):
        if isinstance(x, int) and not (len(origin) == 3 and i == 2):  # (a, n, pos): pos is no node
            if x not in m:
                return None
            x = m[x]
        out.append(x)
    return tuple(out)


def _remap_chain(chain, m: dict[int, int]) -> list[tuple[int, int, int]]:
    out: dict[tuple[int, int, int], None] = {}  # ordered, without repeats
    for a, n, pos in chain:
        if a in m and n in m:
            out[(m[a], m[n], pos)] = None
    return list(out)


def renumber(graph: Graph) -> Graph:
    """A copy of the graph with ids 0..N-1, in the same (topological) order."""
    rb = Rebuild(graph)
    for n in graph.order():
        rb.map[n] = rb.copy(n)
    return rb.finish()


Signature = Callable[[Graph, int], "tuple | None"]


def rewrite(graph: Graph, rules: Sequence[Rule], share: Signature | None = None) -> Graph:
    """One sweep: copy every node, replacing it while some rule fires on it.

    A rule that returns an existing node ends the node's rewriting (that node
    was rewritten already); a new node is offered to the rules again. With
    `share`, a node whose signature an earlier node has is replaced by that
    node (common-subexpression elimination).
    """
    return sweep(graph, rules, share)[0]


def sweep(graph: Graph, rules: Sequence[Rule], share: Signature | None = None, limit: int = 32) -> tuple[Graph, bool]:
    """rewrite, and whether any rule fired or any node was shared."""
    rb = Rebuild(graph)
    new = rb.new
    seen: dict[tuple, int] = {}
    rules_for = _by_op(rules)
    changed = False
    for n in graph.order():
        start = new._next
        cur = rb.copy(n)
        for _ in range(limit):
            r = _first(new, cur, rules_for(new.op(cur)))
            if r is None:
                break
            changed = True
            fresh = r > cur
            if fresh:  # the replacement stands for cur: same key, name, adjoint
                new.node(r).update(meta(new, cur), **_credit(new, cur, r))
            assert not new.users(cur), "a rule used the node it replaces"
            new.nx.remove_node(cur)
            cur = r
            if not fresh:
                break
        sig = share(new, cur) if share else None
        if sig is not None and seen.setdefault(sig, cur) != cur and cur >= start:  # only a node made just now
            cur = _merge(new, seen[sig], cur)
            changed = True
        rb.map[n] = cur
    return rb.finish(), changed


def _credit(graph: Graph, cur: int, r: int, depth: int = 4) -> dict:
    """`also` for r, cur's fresh replacement: the source places of cur's own and of the nodes
    between cur and the operands r reuses, which r computes in one node now ((2 * g) * 2 as
    4.0 * g holds both factors, each from its own line). Nodes r drops (x in x * 0), those it
    keeps, and those that stay for other users or belong to the other pass (a forward softmax
    a gradient's was shared with) are no part of it; a rule looks a few levels down, so the
    search stops at `depth`."""
    reused, stack = set(), [r]
    while stack:  # the operands r's new nodes read that were there before
        m = stack.pop()
        if m > cur:
            stack.extend(graph.args(m))
        elif m != cur:
            reused.add(m)
    if not reused:
        return {}
    phase = graph.node(cur)["phase"]
    folded = set(_between(graph, cur, reused, min(reused), depth) or ())
    merged = [m for m in folded if graph.node(m)["phase"] == phase and set(graph.users(m)) <= folded]
    places = dict.fromkeys(p for m in [cur, *sorted(merged)] for p in (place(graph, m), *graph.node(m).get("also", ())))
    places.pop(place(graph, cur))
    return {"also": tuple(places)} if places else {}


def _between(graph: Graph, m: int, reused: set[int], lowest: int, depth: int) -> list[int] | None:
    """The nodes below m down to a node of `reused` (m included), `depth` levels at most, or None
    if none is reached. (A function of its own: a nested one calling itself is a reference cycle,
    which would keep the graph alive while the collector is paused.)"""
    if m in reused:
        return []
    if depth == 0 or m < lowest:
        return None
    found = [b for a in graph.args(m) if (b := _between(graph, a, reused, lowest, depth - 1)) is not None]
    return [m, *(x for part in found for x in part)] if found else None


def _merge(graph: Graph, kept: int, dup: int) -> int:
    """Drop dup in favour of kept, which takes dup's name if it has none."""
    a, b = graph.node(kept), graph.node(dup)
    if a["name"] is None and b["name"] is not None and a["phase"] == b["phase"]:
        a.update(name=b["name"], span=b["span"])
    graph.nx.remove_node(dup)
    return kept


def _first(graph: Graph, n: int, rules: Sequence[Rule]) -> int | None:
    for rule in rules:
        before = graph._next
        r = rule(graph, n)
        if r is None:
            assert graph._next == before, f"rule {rule.__name__} added nodes but did not fire"
            continue
        if r == n:
            continue
        if graph.type(r) != graph.type(n):
            raise AssertionError(
                f"rule {rule.__name__} replaced {graph.describe(n)} by {graph.describe(r)}: the type changed"
            )
        return r
    return None


def fixed_point(graph: Graph, step: Callable[[Graph], tuple[Graph, bool]], limit: int = 50) -> Graph:
    """Apply step (graph -> (graph, whether it changed anything)) until it changes nothing."""
    for _ in range(limit):
        graph, changed = step(graph)
        if not changed:
            break
    return graph


def verify(graph: Graph) -> None:
    """Raise AssertionError unless the graph's invariants hold.

    Ids are 0..N-1 and a topological order; edges carry positions 0..k-1; every
    shape rule reproduces the stored type; every node has a key; inputs, params,
    outputs, objective, grads and the origin/adjoint_of/mask_of attrs name existing nodes.
    """
    nodes = graph.order()
    assert nodes == list(range(len(nodes))), "ids are not 0..N-1"
    for n in nodes:
        d = graph.node(n)
        args = graph.args(n)
        edges = sorted((k, u) for u, _, k in graph.nx.in_edges(n, keys=True))
        assert [k for k, _ in edges] == list(range(len(args))), f"%{n}: argument positions {edges}"
        assert [u for _, u in edges] == args, f"%{n}: its args {args} are not its edges {edges}"
        assert all(a < n for a in args), f"%{n} uses a later node"
        assert "key" in d, f"%{n} has no key"
        opdef = OPS[d["op"]]
        types = [graph.type(a) for a in args]
        attrs = opdef.prepare(dict(d["attrs"]), *types) if opdef.prepare else d["attrs"]
        shape, dtype = opdef.shape(attrs, *types)
        assert (tuple(shape), dtype) == graph.type(n), f"%{n}: stored type differs from the shape rule"
        if d.get("adjoint_of") is not None:
            assert d["adjoint_of"] in graph.nx, f"%{n}: adjoint_of names no node"
        if d.get("mask_of") is not None:
            assert d["mask_of"][0] in graph.nx, f"%{n}: mask_of names no node"
        origin = d.get("origin")
        if origin is not None:
            named = origin[:2] if len(origin) == 3 else origin[1:]
            assert all(x in graph.nx for x in named if isinstance(x, int)), f"%{n}: origin names no node"
    roots = list(graph.inputs.values()) + list(graph.params.values()) + [n for _, n in graph.outputs]
    roots += list(graph.grads.values()) + ([graph.objective[1]] if graph.objective else [])
    assert all(r in graph.nx for r in roots), "the bookkeeping names a missing node"
    assert all(a in graph.nx and n in graph.nx for a, n, _ in graph.chain), "chain names a missing node"
