"""The whole compiler, top to bottom: parse -> lower -> differentiate -> emit."""

from __future__ import annotations

from dataclasses import dataclass

from graphc.autodiff import gradients
from graphc.codegen import emit_numpy
from graphc.ir import Graph
from graphc.lower import Lowered, lower
from graphc.parser import parse


@dataclass
class Compiled:
    name: str
    graph: Graph  # forward and backward nodes together
    lowered: Lowered
    source: str  # the generated module
    code_lines: dict[int, list[int]]  # graph node -> generated lines computing it


def check(text: str, file: str) -> Lowered:
    """Parse and shape-check; raises GraphcError with every mistake found."""
    return lower(parse(text, file))


def compile_text(text: str, file: str, dtype: str = "float64", opt: int = 2) -> Compiled:
    lowered = check(text, file)
    graph = gradients(lowered.graph)
    source, code_lines = emit_numpy(graph, lowered.name, text, file, lowered.inits, dtype=dtype, opt=opt)
    return Compiled(lowered.name, graph, lowered, source, code_lines)
