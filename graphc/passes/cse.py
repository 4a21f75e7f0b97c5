"""Common-subexpression elimination: one node per distinct computation."""

from __future__ import annotations

from graphc.ir import Graph
from graphc.passes.rewrite import rewrite

COMMUTATIVE = frozenset({"add", "mul", "maximum", "minimum", "equal", "inner"})
LEAVES = frozenset({"input", "param"})  # distinct by declaration, never merged


def signature(graph: Graph, n: int) -> tuple | None:
    """What n computes: its op, its attrs and its arguments (in either order when the op commutes).

    A count reads only sizes, so its signature is the sizes it multiplies.
    """
    d = graph.node(n)
    if d["op"] in LEAVES:
        return None
    args = graph.args(n)
    if d["op"] == "count":
        return "count", repr(tuple(graph.shape(args[0])[a] for a in d["attrs"]["axes"]))
    if d["op"] in COMMUTATIVE:
        args = sorted(args)
    return d["op"], repr(sorted(d["attrs"].items())), tuple(args)


def cse(graph: Graph) -> Graph:
    """Merge nodes with the same op, the same attrs and the same arguments.

    pre:  a well-formed graph.
    post: a new graph computing the same values in which no two nodes share a
          signature; each merged node is replaced by the first of its kind, which
          takes over its name if it had none.
    """
    return rewrite(graph, (), share=signature)
