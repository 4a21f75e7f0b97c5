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
    code_lines: dict[int, list[int]]  # node of `graph` -> generated lines computing it
    optimized: Graph | None = None  # what the generated module computes
    step: Graph | None = None  # what sgd_step computes at -O2: the gradients times lr
    pool: Pool = field(default_factory=Pool)  # the workspaces and each function's buffer plan


def check(text: str, file: str) -> Lowered:
    """Parse and shape-check; raises GraphcError with every mistake found."""
    return lower(parse(text, file))


def compile_text(text: str, file: str, dtype: str = "float64", opt: int = 2) -> Compiled:
    with gc_paused():
        lowered = lower(parse(text, file), dtype)
        forward = lowered.graph.copy() if opt >= 2 else None
        graph = gradients(lowered.graph)
        optimized = optimize(graph, opt)
        step = optimize(gradients(forward, scale="lr"), opt) if forward is not None else None
        source, lines, pool = emit_numpy(optimized, lowered.name, text, file, lowered.inits, dtype, opt, step)
        return Compiled(lowered.name, graph, lowered, source, by_key(optimized, lines), optimized, step, pool)


def by_key(optimized: Graph, code_lines: dict[int, list[int]]) -> dict[int, list[int]]:
    """Generated lines per node of the unoptimized graph: each optimized node's lines go to its key."""
    out: dict[int, list[int]] = {}
    for n, lines in sorted(code_lines.items()):
        key = optimized.node(n)["key"]
        out[key] = sorted(set(out.get(key, []) + lines))
    return out
