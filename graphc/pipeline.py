"""The whole compiler, top to bottom: parse -> lower -> differentiate -> optimize -> emit."""

from __future__ import annotations

from dataclasses import dataclass, field

from graphc.autodiff import gradients
from graphc.codegen import emit_numpy
from graphc.ir import Graph
from graphc.lower import Lowered, lower
from graphc.parser import parse
from graphc.passes import optimize
from graphc.plan import Pool
from graphc.util import gc_paused


@dataclass
class Compiled:
    name: str
    graph: Graph  # forward and backward nodes together, unoptimized (the pictures, the API)
    lowered: Lowered
    source: str  # the generated module
    code_lines: dict[int, list[int]]  # node of `graph` -> generated lines computing it (not sgd_step's)
    optimized: Graph | None = None  # what the generated module computes
    step: Graph | None = None  # what sgd_step computes at -O2: the gradients times lr
    pool: Pool = field(default_factory=Pool)  # the workspaces and each function's buffer plan
    plain: Graph | None = None  # what forward and loss compute at -O1 and -O2: no gradient taken


def check(text: str, file: str) -> Lowered:
    """Parse and shape-check; raises GraphcError with every mistake found."""
    with gc_paused():  # (as compile_text: see there)
        return lower(parse(text, file))


def compile_text(text: str, file: str, dtype: str = "float64", opt: int = 2) -> Compiled:
    # one pause over all the stages: each pauses the collector itself, but in between it would
    # wake to the millions of objects the last one made (the tree of a 200,000-line model: a
    # second), and again as they age into older generations
    with gc_paused():
        lowered = lower(parse(text, file), dtype)
        # the model before its gradients, twice over: sgd_step's (its gradients times lr) and, as it
        # is, forward's and loss's, which some rules would slow (a cross-entropy whose gradient is taken)
        step = optimize(gradients(lowered.graph.copy(), scale="lr"), opt) if opt >= 2 else None
        plain = optimize(_no_gradients(lowered.graph.copy()), opt) if opt >= 1 else None
        graph = gradients(lowered.graph)
        optimized = optimize(graph, opt)
        source, lines, pool = emit_numpy(optimized, lowered.name, text, file, lowered.inits, dtype, opt, step, plain)
        return Compiled(lowered.name, graph, lowered, source, lines, optimized, step, pool, plain)


def _no_gradients(graph: Graph) -> Graph:
    """The model as forward and loss compute it: nothing is differentiated."""
    graph.wrt = []
    return graph
