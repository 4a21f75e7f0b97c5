"""Dead-code elimination: keep what the outputs, the objective and the gradients need."""

from __future__ import annotations

from graphc.ir import Graph
from graphc.passes.rewrite import Rebuild


def roots(graph: Graph) -> list[int]:
    """The nodes a compiled model reads: outputs, objective, gradients, and every input and
    param (the generated module describes them all, used or not)."""
    out = [n for _, n in graph.outputs] + list(graph.grads.values())
    out += [graph.objective[1]] if graph.objective else []
    return out + list(graph.inputs.values()) + list(graph.params.values())


def dce(graph: Graph) -> Graph:
    """Drop every node no root depends on.

    pre:  a well-formed graph.
    post: a new graph with the same roots, each node an ancestor of a root;
          origin/adjoint_of attrs naming a dropped node become None, chain
          entries through a dropped node are removed.
    """
    live = graph.ancestors(roots(graph))
    rb = Rebuild(graph)
    for n in graph.order():
        if n in live:
            rb.map[n] = rb.copy(n)
    return rb.finish()


def sweep_dead(graph: Graph) -> tuple[Graph, bool]:
    """dce, and whether it dropped anything (when not, the graph itself comes back, uncopied)."""
    live = graph.ancestors(roots(graph))
    if len(live) == graph.nx.number_of_nodes():
        return graph, False
    return dce(graph), True
