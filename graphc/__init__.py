"""graphc: compile .nn models to standalone NumPy modules with symbolic gradients.

import graphc
model = graphc.compile_file("examples/regression.nn")
params = model.init_params(seed=0)
loss, grads = model.loss_and_grad(params, x=x, y=y)
model.forward_graph, model.backward_graph   # networkx.MultiDiGraph
model.backward_picture                      # graphviz.Source: drawn inline in a notebook
"""

from __future__ import annotations

import types
import warnings
from numbers import Integral
from typing import TYPE_CHECKING

from graphc.errors import GraphcError, ModelFileError

if TYPE_CHECKING:  # importing graphc stays light: the command line loads the stages it needs
    import graphviz
    import networkx as nx

    from graphc.pipeline import Compiled

__all__ = ["CompiledModel", "GraphcError", "GraphcWarning", "ModelFileError", "compile_file", "compile_source"]
__version__ = "0.1.0"


class GraphcWarning(UserWarning):
    """A likely slip in a model that compiles (such as [B, 1] - [B] making [B, B]), as
    `graphc check` shows it."""


TABLES = ("DTYPE", "INPUTS", "PARAMS", "OUTPUTS", "OBJECTIVE", "WRT")


class CompiledModel:
    """A compiled model: the generated module's functions, its source, and both graphs."""

    def __init__(self, compiled: Compiled, text: str = ""):
        self.compiled = compiled
        self.text = text  # the model's own text, which the pictures quote
        self.name = compiled.name
        self.source = compiled.source
        self.module = types.ModuleType(compiled.name)
        exec(compile(compiled.source, f"<graphc {compiled.name}>", "exec"), self.module.__dict__)
        for fn in ("init_params", "forward", "loss", "loss_and_grad", "sgd_step", "release_workspaces"):
            setattr(self, fn, getattr(self.module, fn))
        for table in TABLES:  # what the module says of its arguments, as `model.PARAMS`
            setattr(self, table, getattr(self.module, table))

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

    @property
    def forward_picture(self) -> graphviz.Source:
        """The forward graph as `graphc compile` draws it (its .dot text is `.source`); a
        notebook shows it inline, and `.pipe(format="svg")` lays it out with Graphviz."""
        return self._picture("forward")

    @property
    def backward_picture(self) -> graphviz.Source:
        """The chain rule drawn, as `graphc compile` draws it; see forward_picture."""
        return self._picture("backward")

    def _picture(self, kind: str) -> graphviz.Source:
        import graphviz

        from graphc import render

        draw = render.forward_dot if kind == "forward" else render.backward_dot
        return graphviz.Source(draw(self.compiled.graph, self.text, self.name), filename=f"{self.name}.{kind}.dot")

    def __repr__(self) -> str:
        return f"<graphc model {self.name}>"


def compile_source(text: str, file: str = "<model>", dtype: str = "float64", opt: int = 2) -> CompiledModel:
    """Compile model text; raises GraphcError, whose str() lists every mistake as `graphc
    check` does, and warns (GraphcWarning) of likely slips it compiles. `file` names the
    model in messages; `dtype` is "float64" or "float32" (or that NumPy type), `opt` 0, 1 or 2."""
    if not isinstance(text, str):
        raise TypeError(f"compile_source takes the model's text as a str, not {type(text).__name__}")
    return _compile(text, file, dtype, opt)


def compile_file(path: str, dtype: str = "float64", opt: int = 2) -> CompiledModel:
    """Compile the model file at `path`; raises ModelFileError when the file cannot be read as
    text, and GraphcError for mistakes in the model (its str() lists them)."""
    from graphc.files import read_model

    return _compile(read_model(path), path, dtype, opt)


def _compile(text: str, file: str, dtype, opt) -> CompiledModel:
    """compile_source and compile_file, called by the user's code (whose line a warning names)."""
    # np.float32 and np.dtype("float32") are called "float32" too; Python's float is float64
    name = "float64" if dtype is float else getattr(dtype, "__name__", str(dtype))
    if name not in ("float64", "float32"):
        raise ValueError(f"dtype must be 'float64' or 'float32', got {dtype!r}")
    level = opt if isinstance(opt, Integral) and not isinstance(opt, bool) else None  # np.int64(2) too
    if level not in (0, 1, 2):
        raise ValueError(f"opt must be 0, 1 or 2, got {opt!r}")
    from graphc.pipeline import compile_text

    try:
        compiled = compile_text(text, file, dtype=name, opt=int(level))
    except GraphcError as e:
        e.sources = {file: text}
        raise
    if compiled.lowered.warnings:
        warnings.warn(GraphcError(compiled.lowered.warnings).format({file: text}), GraphcWarning, stacklevel=3)
    return CompiledModel(compiled, text)
