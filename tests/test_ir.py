"""ir.Graph writes networkx's storage directly when it adds a node: the result must be
the graph networkx's own add_node/add_edge would have built."""

from __future__ import annotations

from pathlib import Path

import networkx as nx
import pytest

import graphc
from graphc.ir import Graph
from graphc.pipeline import compile_text

EXAMPLES = sorted((Path(__file__).parent.parent / "examples").glob("*.nn"))


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_added_nodes_and_edges_are_what_networkx_would_build(path: Path) -> None:
    g = compile_text(path.read_text(), path.name).graph.nx
    rebuilt = nx.MultiDiGraph()  # node by node in creation order, each with its arguments by position
    for n in sorted(g):
        rebuilt.add_node(n, **g.nodes[n])
        for a, _, key, data in sorted(g.in_edges(n, keys=True, data=True), key=lambda e: e[2]):
            rebuilt.add_edge(a, n, key=key, **data)
    assert nx.utils.graphs_equal(g, rebuilt)
    for n in g:  # the same order too: passes and the sweep iterate these
        assert list(g.in_edges(n, keys=True)) == list(rebuilt.in_edges(n, keys=True))
        assert list(g.out_edges(n, keys=True)) == list(rebuilt.out_edges(n, keys=True))


def test_a_cached_conversion_is_dropped_when_a_node_is_added() -> None:
    g = Graph()
    a = g.add("param", [], {"name": "w", "shape": (2,)})
    g.nx.__networkx_cache__["converted"] = "stale"
    g.add("neg", [a])
    assert not g.nx.__networkx_cache__


def _small(g: Graph) -> Graph:
    """x * x, -x, x + (x * x) and x - w: an argument twice, once, and two different ones."""
    x = g.add("param", [], {"name": "x", "shape": (2,)})
    w = g.add("param", [], {"name": "w", "shape": (2,)})
    sq = g.add("mul", [x, x])
    g.add("neg", [x])
    g.add("add", [x, sq])
    g.add("sub", [x, w])
    return g


@pytest.mark.parametrize("read", ["users", "subgraph", "copy"])
def test_edges_held_back_while_lowering_are_there_for_each_reader_of_them(read: str) -> None:
    """Lowering adds a node's edges only once the model lowered (Graph.unlinked): each Graph
    method that reads the networkx edges adds them first, as they would have been made."""
    made, waiting = _small(Graph()), _small(Graph(unlinked=0))
    assert not waiting.nx._succ  # (no edges yet, nor adjacency of any node)
    if read == "users":
        assert waiting.users(0) == made.users(0) == [2, 3, 4, 5]
        got = waiting.nx
    elif read == "subgraph":
        got = waiting.subgraph("forward")
        assert nx.utils.graphs_equal(got, made.subgraph("forward"))
        got = waiting.nx
    else:
        got = waiting.copy().nx
    assert nx.utils.graphs_equal(got, made.nx)
    for n in made.nx:
        assert list(got.in_edges(n, keys=True)) == list(made.nx.in_edges(n, keys=True))
        assert list(got.out_edges(n, keys=True)) == list(made.nx.out_edges(n, keys=True))


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_the_graphs_handed_out_say_a_nodes_arguments_by_their_edges_alone(path: Path) -> None:
    """forward_graph and backward_graph are networkx graphs cut out of the whole one: the backward
    part keeps the forward values it reads but not their own arguments. A node's arguments are
    its in-edges by position there; node data listing them too would name nodes the graph lacks."""
    model = graphc.compile_source(path.read_text(), file=path.name)
    for g in (model.forward_graph, model.backward_graph):
        for n, d in g.nodes(data=True):
            by_edges = [a for a, _, _ in sorted(g.in_edges(n, keys=True), key=lambda e: e[2])]
            assert list(d.get("args", by_edges)) == by_edges, (n, d["op"], d["args"], by_edges)
