"""Constant folding: compute at compile time what does not depend on the inputs."""

from __future__ import annotations

import functools
import math

import numpy as np

from graphc.ir import Graph
from graphc.ops import OPS
from graphc.ops.helpers import HELPERS, closure
from graphc.passes.patterns import held_by_every_dtype
from graphc.passes.rewrite import build, matches, rewrite


@functools.cache
def _env() -> dict:
    """NumPy and the helper functions, for evaluating an emission (built on first use)."""
    env: dict = {"np": np, "DTYPE": np.float64}
    for h in closure(HELPERS):
        exec(HELPERS[h].format(xp="np"), env)
    return env


def fold_scalar(g: Graph, n: int) -> int | None:
    """An op whose arguments are all consts and whose result is a scalar -> a const.

    The value is computed with the op's own emission, as the generated code
    would, but in float64 whatever the model's dtype: a result that float32
    cannot hold as a normal number is left for the module to compute, so that a
    float32 model's exp(100) is inf at every -O level (folded, it was 2.7e43 at
    -O1 and inf at -O0) and its exp(-100) the subnormal float32 computes. A
    result that is not a finite number is left alone too (the emitted literal
    would not be valid Python).
    """
    args = g.args(n)
    if g.op(n) == "const" or not args or g.shape(n) != () or any(g.op(a) != "const" for a in args):
        return None
    values = {f"_a{i}": np.float64(g.node(a)["attrs"]["value"]) for i, a in enumerate(args)}
    expr = OPS[g.op(n)].emit("np", g.node(n)["attrs"], *values)
    try:
        with np.errstate(all="ignore"):
            value = float(eval(expr, _env(), values))
    except (ArithmeticError, AttributeError, TypeError, ValueError):
        return None
    if not held_by_every_dtype(value):
        return None
    return build(g, n, "const", [], {"value": value})


@matches("count")
def fold_count(g: Graph, n: int) -> int | None:
    """count(x) over axes whose sizes are all numbers (not dims) -> a const."""
    if g.op(n) != "count":
        return None
    (x,) = g.args(n)
    sizes = [g.shape(x)[a] for a in g.node(n)["attrs"]["axes"]]
    if not all(isinstance(s, int) for s in sizes):
        return None
    return build(g, n, "const", [], {"value": float(math.prod(sizes))})


RULES = (fold_scalar, fold_count)


def fold(graph: Graph) -> Graph:
    """Replace every scalar computed from consts alone (and every static count) by a const.

    pre:  a well-formed graph.
    post: a new graph computing the same values, no op other than const has only
          const arguments and a scalar result that is 0 or a normal float32
          number, no count is over static sizes;
          the folded nodes' arguments stay (dce removes them).
    """
    return rewrite(graph, RULES)
