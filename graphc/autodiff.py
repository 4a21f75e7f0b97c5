"""Reverse-mode differentiation by the chain rule, one graph edge at a time.

The sweep adds the backward graph to the same ir.Graph, made of ordinary ops,
so it can be optimized, emitted, rendered and differentiated again.
"""

from __future__ import annotations

from graphc.ir import Graph
from graphc.ops import OPS
from graphc.ops.base import V, const, op


def unbroadcast(g: V, shape: tuple) -> V:
    """Sum g down to `shape`, undoing the broadcasting that made the forward value."""
    if g.shape == shape:
        return g
    lead = len(g.shape) - len(shape)
    if lead:
        g = op("sum", g, axes=tuple(range(lead)), keepdims=False)
    ones = tuple(i for i, (a, b) in enumerate(zip(g.shape, shape)) if b == 1 and a != 1)
    if ones:
        g = op("sum", g, axes=ones, keepdims=True)
    return g


def _needs_grad(graph: Graph, objective: int, wrt_nodes: list[int]) -> set[int]:
    """Nodes on a path from a wrt node to the objective: only these get adjoints."""
    below = graph.ancestors([objective])
    wrt_set = set(wrt_nodes)  # a set: models have thousands of params
    above: set[int] = set()
    for n in graph.order():
        if n in wrt_set or any(a in above for a in graph.args(n)):
            if n in below and graph.node(n)["dtype"] == "float":
                above.add(n)
    return above


def _at(graph: Graph, n: int) -> tuple:
    """Where forward node n is in the source (its span and scope), for the backward nodes its
    chain-rule step makes: their comments name that line even after a pass drops n."""
    d = graph.node(n)
    return d["span"], d.get("scope", ())


def differentiate(graph: Graph, objective: int, wrt_nodes: list[int], seed: int | None = None) -> dict[int, int]:
    """Add the backward graph; return wrt node -> its gradient node (zeros if unreachable).

    The sweep starts from d objective / d objective = 1, or from the scalar node
    `seed`: then every gradient comes out multiplied by it.

    Walks from the objective in reverse topological order; every edge input -> n
    applies that input's rule to n's adjoint, unbroadcasts to the input's shape,
    and the contributions to a value that fans out are summed.
    """
    active = _needs_grad(graph, objective, wrt_nodes)
    saved = dict(graph.context)
    graph.context.update(phase="backward", origin=None, adjoint_of=None)
    graph.context["origin"] = ("seed", objective)
    graph.context["at"] = _at(graph, objective)
    adjoint: dict[int, V] = {objective: const(graph, 1.0) if seed is None else V(graph, seed)}
    graph.node(adjoint[objective].node)["adjoint_of"] = objective
    try:
        for n in sorted(active, reverse=True):
            if n not in adjoint:
                continue
            g = adjoint[n]
            d = graph.node(n)
            opdef = OPS[d["op"]]
            args = graph.args(n)
            for pos, a in enumerate(args):
                rule = opdef.grads.get(opdef.inputs[pos]) if opdef.inputs else None
                if a not in active or rule is None:
                    continue
                graph.context["origin"], graph.context["at"] = (a, n, pos), _at(graph, n)
                graph.chain.append((a, n, pos))
                contribution = rule(g, V(graph, n), *(V(graph, x) for x in args), **d["attrs"])
                contribution = unbroadcast(contribution, graph.shape(a))
                if a in adjoint:  # fan-out: the chain rule sums over every use
                    graph.context["origin"], graph.context["at"] = ("sum", a), _at(graph, a)
                    part = graph.node(adjoint[a].node)
                    if part["adjoint_of"] == a:  # only a part of a's gradient: the sum is all of it
                        part["adjoint_of"] = None
                    contribution = adjoint[a] + contribution
                adjoint[a] = contribution
                made = graph.node(contribution.node)
                held = made["adjoint_of"]
                # passed through unchanged (`a + b`), the one array is the gradient of both: it
                # keeps the first value's name, unless only the new one has a name to give
                if held is None or (graph.node(held)["name"] is None and graph.node(a)["name"] is not None):
                    made["adjoint_of"] = a
    finally:
        graph.context = saved
    grads = {}
    for w in wrt_nodes:
        if w in adjoint:
            grads[w] = adjoint[w].node
        else:  # the objective does not depend on w
            zero = op("broadcast_like", 0.0, V(graph, w)).node  # zeros shaped like w (w * 0 is nan where w is inf)
            graph.node(zero).update(phase="backward", adjoint_of=w)
            grads[w] = zero
    return grads


def gradients(graph: Graph, scale: str | None = None) -> Graph:
    """Differentiate the model's objective with respect to its wrt names, in place.

    With `scale`, the gradients are those times a number the generated function
    takes under that name: sgd_step's steps lr * grad, with no pass of their own.
    """
    assert graph.objective is not None
    nodes = [graph.params.get(w, graph.inputs.get(w)) for w in graph.wrt]
    seed = None if scale is None else graph.add("arg", [], {"name": scale}, phase="backward")
    by_node = differentiate(graph, graph.objective[1], nodes, seed)
    graph.grads = {w: by_node[n] for w, n in zip(graph.wrt, nodes)}
    return graph


def hessian_vector_graph(graph: Graph, grad_node: int, wrt_node: int, v_name: str = "v") -> int:
    """Build H·v for the gradient node of one wrt value: differentiate <grad, v> again.

    Adds a float input `v_name` shaped like the wrt value; returns the node of H·v.
    Evaluating it at v = e_i gives the i-th column of the Hessian.
    """
    shape = graph.shape(wrt_node)
    v = graph.add("input", [], {"name": v_name, "shape": shape, "dtype": "float"}, name=v_name)
    graph.inputs[v_name] = v
    s = op("sum", V(graph, grad_node) * V(graph, v), axes=None)
    return differentiate(graph, s.node, [wrt_node])[wrt_node]
