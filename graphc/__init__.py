"""graphc: compile .nn models to standalone NumPy modules with symbolic gradients.

import graphc
model = graphc.compile_file("examples/regression.nn")
params = model.init_params(seed=0)
loss, grads = model.loss_and_grad(params, x=x, y=y)
model.forward_graph, model.backward_graph   # networkx.MultiDiGraph
"""

from __future__ import annotations

import types
from typing import TYPE_CHECKING

from graphc.errors import GraphcError, ModelFileError

if TYPE_CHECKING:  # importing graphc stays light: the command line loads the stages it needs
    import networkx as nx

    from graphc.pipeline import Compiled

__all__ = ["CompiledModel", "GraphcError", "ModelFileError", "compile_file", "compile_source"]
__version__ = "0.1.0"


class CompiledModel:
    """A compiled model: the generated module's functions, its source, and both graphs."""

    def __init__(self, compiled: Compiled):
        self.compiled = compiled
        self.name = compiled.name
        self.source = compiled.source
        self.module = types.ModuleType(compiled.name)
        exec(compile(compiled.source, f"<graphc {compiled.name}>", "exec"), self.module.__dict__)
        for fn in ("init_params", "forward", "loss", "loss_and_grad", "sgd_step"):
            setattr(self, fn, getattr(self.module, fn))

    @property
    def graph(self):
        """The ir.Graph holding forward and backward nodes together."""
        return self.compiled.graph

    @property
    def forward_graph(self) -> nx.MultiDiGraph:
        return self.compiled.graph.subgraph("forward")

    @property
    def backward_graph(self) -> nx.MultiDiGraph:
        """The backward nodes, with the forward values they read."""
        return self.compiled.graph.subgraph("backward")

    def __repr__(self) -> str:
        return f"<graphc model {self.name}>"


def compile_source(text: str, file: str = "<model>", dtype: str = "float64", opt: int = 2) -> CompiledModel:
    """Compile model text; raises GraphcError (str(e) or e.format() explains it)."""
    from graphc.pipeline import compile_text

    return CompiledModel(compile_text(text, file, dtype=dtype, opt=opt))


def compile_file(path: str, dtype: str = "float64", opt: int = 2) -> CompiledModel:
    """Compile the model file at `path`; raises ModelFileError when the file cannot be read as
    text, and GraphcError for mistakes in the model (e.format() explains them)."""
    from graphc.cli import read_model

    return compile_source(read_model(path), path, dtype=dtype, opt=opt)
