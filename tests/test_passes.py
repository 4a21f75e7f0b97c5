"""The optimization passes: each one, and each named simplification rule alone, fires where it
should and not where it must not; on random programs every pass keeps `evaluate`'s numbers,
optimize is idempotent and the generated module is the same byte for byte."""

from __future__ import annotations

import copy
import math
import os
import re
import subprocess
import sys
import textwrap
import types
import warnings
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import graphc
from graphc import gradcheck
from graphc.autodiff import gradients
from graphc.ir import Graph, evaluate
from graphc.ops.base import V, const, op
from graphc.passes import LEVELS, PASSES, RULES, cse, dce, fold, optimize, renumber, rewrite_xent, simplify, verify
from graphc.passes.patterns import cross_entropy_args
from graphc.passes.simplify import BY_NAME, table
from graphc.pipeline import check, compile_text

LEAVES = {"input", "param", "const"}

# ---------------------------------------------------------------------------- helpers


def softmax_from_shift(y: V, axis: int = 1, sum_axis: int = 1, keepdims: bool = True, shifted: bool = True) -> V:
    """exp(s - log(sum(exp(s), axis, keepdims))) with s = minus_max(y) (or y itself): the softmax
    as the exp of a log-softmax written out from its parts."""
    s = op("minus_max", y, axis=axis) if shifted else y
    return op("exp", s - op("log", op("sum", op("exp", s), axes=(sum_axis,), keepdims=keepdims)))


def softmax_parts(y: V, axis: int = 1, keepdims: bool = True) -> V:
    """exp(s) / sum(exp(s), axis, keepdims) with s = minus_max(y): the softmax from its parts."""
    e = op("exp", op("minus_max", y, axis=axis))
    return e / op("sum", e, axes=(axis,), keepdims=keepdims)


def program(text: str) -> Graph:
    """Lowered and differentiated, as the pipeline hands a graph to the passes."""
    return gradients(check(textwrap.dedent(text), "model.nn").graph)


def tiny(build: Callable[..., V], **shapes: tuple) -> Graph:
    """A graph of float inputs (name -> shape) whose one output is build(*inputs)."""
    g = Graph()
    vs = {}
    for name, shape in shapes.items():
        n = g.add("input", [], {"name": name, "shape": shape, "dtype": "float"}, name=name)
        g.inputs[name] = n
        vs[name] = V(g, n)
    g.outputs = [("out", build(**vs).node)]
    return g


def lookup(build: Callable[..., V]) -> Graph:
    """x: [4, 3], labels k: int[2], y: [2, 3]; the one output is build(x, k, y)."""
    g = Graph()
    vs = {}
    for name, shape, dtype in (("x", (4, 3), "float"), ("k", (2,), "int"), ("y", (2, 3), "float")):
        g.inputs[name] = g.add("input", [], {"name": name, "shape": shape, "dtype": dtype}, name=name)
        vs[name] = V(g, g.inputs[name])
    g.outputs = [("out", build(**vs).node)]
    return g


def sequences(build: Callable[..., V]) -> Graph:
    """x: [4, 3], labels k: int[2, 3] (two sequences of three), y: [6, 3]; the one output is
    build(x, k, y)."""
    g = Graph()
    vs = {}
    for name, shape, dtype in (("x", (4, 3), "float"), ("k", (2, 3), "int"), ("y", (6, 3), "float")):
        g.inputs[name] = g.add("input", [], {"name": name, "shape": shape, "dtype": dtype}, name=name)
        vs[name] = V(g, g.inputs[name])
    g.outputs = [("out", build(**vs).node)]
    return g


def taking_gradients(graph: Graph) -> Graph:
    """The graph marked as one whose gradients are taken (wrt its float inputs)."""
    graph.wrt = [name for name, n in graph.inputs.items() if graph.node(n)["dtype"] == "float"]
    return graph


def sample(graph: Graph, seed: int = 0, size: int = 3) -> dict[str, np.ndarray]:
    """Random values for every input and param; every dim is `size`; labels fit every use."""
    rng = np.random.default_rng(seed)
    out = {}
    for name, n in {**graph.inputs, **graph.params}.items():
        shape = tuple(d if isinstance(d, int) else size for d in graph.shape(n))
        if graph.node(n)["dtype"] == "int":
            ks = [graph.node(u)["attrs"]["k"] for u in graph.users(n) if graph.op(u) == "one_hot"]
            ks += [graph.shape(graph.args(u)[0])[-1] for u in graph.users(n) if graph.op(u) == "cross_entropy"]
            out[name] = rng.integers(0, min(ks, default=2), size=shape)
        else:
            out[name] = rng.uniform(-1.0, 1.0, size=shape)
    return out


def results(graph: Graph, values) -> dict[str, np.ndarray]:
    """What a compiled model reports: outputs, objective and gradients, by name."""
    named = {f"out {i} {name}": n for i, (name, n) in enumerate(graph.outputs)}
    if graph.objective:
        named["objective"] = graph.objective[1]
    named.update({f"grad {w}": n for w, n in graph.grads.items()})
    with np.errstate(all="ignore"):
        env = evaluate(graph, values, nodes=list(named.values()))
    return {k: np.asarray(env[n], dtype=float) for k, n in named.items()}


def finite(r: dict[str, np.ndarray]) -> bool:
    return all(np.all(np.isfinite(v)) for v in r.values())


def assert_same(before: Graph, after: Graph, values) -> None:
    want, got = results(before, values), results(after, values)
    assert want.keys() == got.keys()
    for k in want:
        assert want[k].shape == got[k].shape, k
        scale = 1.0 + float(np.max(np.abs(want[k]), initial=0.0))
        assert np.allclose(got[k], want[k], rtol=1e-6, atol=1e-9 * scale, equal_nan=True), k


def ops(graph: Graph) -> Counter:
    """The live ops other than leaves."""
    g = dce(graph)
    return Counter(g.op(n) for n in g.order() if g.op(n) not in LEAVES)


def snapshot(graph: Graph) -> tuple:
    nodes = {n: copy.deepcopy(dict(d)) for n, d in graph.nx.nodes(data=True)}
    fields = (graph.inputs, graph.params, graph.outputs, graph.objective, graph.grads, graph.chain)
    return graph.dump(), nodes, copy.deepcopy(fields)


# ---------------------------------------------------------------------------- each rule alone

# rule -> (graph where it must fire, the live ops afterwards); x, y: [2, 3]  v: [3]  s: []
M, VEC, S = (2, 3), (3,), ()
FIRES: dict[str, tuple[Graph, dict[str, int]]] = {
    "mul_one_right": (tiny(lambda x: x * 1.0, x=M), {}),
    "mul_one_left": (tiny(lambda x, y: (1.0 * x) + y, x=M, y=M), {"add": 1}),
    "add_zero_right": (tiny(lambda x: x + 0.0, x=M), {}),
    "add_zero_left": (tiny(lambda x: 0.0 + op("exp", x), x=M), {"exp": 1}),
    "sub_zero": (tiny(lambda x: x - 0.0, x=M), {}),
    "div_one": (tiny(lambda x: x / 1.0, x=M), {}),
    "pow_one": (tiny(lambda x: x**1, x=M), {}),
    "mul_zero": (tiny(lambda s: op("exp", s) * 0.0, s=S), {}),
    "zero_sub": (tiny(lambda x: 0.0 - x, x=M), {"neg": 1}),
    "mul_minus_one": (tiny(lambda x: x * -1.0, x=M), {"neg": 1}),
    "maximum_zero": (tiny(lambda x: op("maximum", 0.0, op("maximum", x, 0.0)), x=M), {"relu": 2}),
    "neg_neg": (tiny(lambda x: op("neg", op("neg", x)), x=M), {}),
    "transpose_transpose": (tiny(lambda x: x.T.T, x=M), {}),
    "transpose_vector": (tiny(lambda v: op("exp", v.T), v=VEC), {"exp": 1}),
    "transpose_of_matmul": (tiny(lambda x, y: (x @ y.T).T, x=M, y=M), {"transpose": 1, "matmul": 1}),
    "log_exp": (tiny(lambda x: op("log", op("exp", x)), x=M), {}),
    "exp_over_itself": (tiny(lambda x: (lambda e: e / e)(op("exp", x)), x=M), {"broadcast_like": 1}),
    "abs_of_nonnegative": (
        tiny(lambda x: op("abs", op("abs", op("exp", x) + op("square", x))) / x, x=M),
        {"exp": 1, "square": 1, "add": 1, "abs": 1, "div": 1},
    ),
    "log_sigmoid": (tiny(lambda x: op("log", op("sigmoid", x)), x=M), {"neg": 2, "softplus": 1}),
    "log_one_minus_sigmoid": (tiny(lambda x: op("log", 1.0 - op("sigmoid", x)), x=M), {"neg": 1, "softplus": 1}),
    "sigmoid_factor_cancels": (
        # log(sigmoid)'s gradient, log(1 - sigmoid)'s negated, their sum over fan-out, and (s * y) / s
        tiny(
            lambda x, y: (
                (lambda s: (y / s) * (s * (1.0 - s)) + (-(y / (1.0 - s))) * ((1.0 - s) * s) + (s * y) / s)(
                    op("sigmoid", x)
                )
                + (lambda s: ((y / s) - (x / (1.0 - s))) * (s * (1.0 - s)))(op("sigmoid", y))
            ),
            x=M,
            y=M,
        ),
        {"sigmoid": 2, "sub": 3, "mul": 4, "neg": 1, "add": 3},
    ),
    "broadcast_noop": (tiny(lambda x, y: op("broadcast_like", x, y), x=M, y=M), {}),
    "broadcast_operand": (tiny(lambda s, x: op("broadcast_like", s, x) * x, s=S, x=M), {"mul": 1}),
    "scalar_into_fill": (
        tiny(lambda v, x, s: op("broadcast_like", v, x) / s, v=VEC, x=M, s=S),
        {"div": 1, "broadcast_like": 1},
    ),
    "reduce_broadcast": (tiny(lambda v, x: op("mean", op("broadcast_like", v, x), axes=(0,)), v=VEC, x=M), {}),
    "merge_const_mul": (tiny(lambda x: (x * 2.0) * 3.0, x=M), {"mul": 1}),
    "neg_into_const": (tiny(lambda x: (-x) * 2.0, x=M), {"mul": 1}),
    "neg_into_sub": (tiny(lambda x, y: x + (-y), x=M, y=M), {"sub": 1}),
    "mul_neg_neg": (tiny(lambda x, y: (-x) * (-y), x=M, y=M), {"mul": 1}),
    "neg_outward": (tiny(lambda x, y: (-x) / y, x=M, y=M), {"div": 1, "neg": 1}),
    "neg_out_of_sum": (
        tiny(lambda x, y: op("sum", -x, axes=(1,)) * op("mean", -y, axes=None), x=M, y=M),
        {"sum": 1, "mean": 1, "neg": 2, "mul": 1},
    ),
    "recip_mul": (tiny(lambda x, s: (1.0 / s) * x, x=M, s=S), {"div": 1}),
    "scalar_divisor": (tiny(lambda x, s: s * ((2.0 * x) / s), x=M, s=S), {"mul": 2, "div": 1}),
    "sum_of_product": (
        tiny(lambda x, y: op("sum", x * y, axes=None) + op("mean", y * x, axes=(0, 1)), x=M, y=M),
        {"inner": 2, "add": 1},
    ),
    "sum_of_square": (
        tiny(lambda x, v: op("sum", op("square", x), axes=None) + op("mean", v**2, axes=None), x=M, v=VEC),
        {"inner": 2, "add": 1},
    ),
    "count_of_factor": (
        tiny(lambda x, y: op("count", op("square", x) * y, axes=(0, 1)) * y, x=M, y=M),
        {"count": 1, "mul": 1},
    ),
    "one_hot_matmul": (lookup(lambda x, k, y: op("one_hot", k, k=4) @ x), {"rows": 1}),
    "one_hot_t_matmul": (lookup(lambda x, k, y: op("one_hot", k, k=4).T @ y), {"scatter_rows": 1}),
    "flat_one_hot_matmul": (
        sequences(lambda x, k, y: op("reshape", op("one_hot", k, k=4), shape=(6, 4)) @ x),
        {"rows": 1, "reshape": 1},
    ),
    "flat_one_hot_t_matmul": (
        sequences(lambda x, k, y: op("reshape", op("one_hot", k, k=4), shape=(6, 4)).T @ y),
        {"reshape": 1, "scatter_rows": 1},
    ),
    "softmax_minus_one_hot": (
        lookup(lambda x, k, y: op("softmax", y, axis=-1) - op("one_hot", k, k=3)),
        {"softmax_minus_one_hot": 1},
    ),
    "cross_entropy_as_pick": (
        # log(sum(exp(s))) - s[k] with s = y - max(y): the shifted logits and their exp stay
        taking_gradients(lookup(lambda x, k, y: op("cross_entropy", y, k))),
        {"minus_max": 1, "exp": 1, "sum": 1, "log": 1, "pick": 1, "sub": 1},
    ),
    "softmax_from_the_loss": (
        # the loss's log-probabilities, and the gradient that reads them again
        lookup(
            lambda x, k, y: (
                op("expand_dims", op("pick", op("log_softmax", y, axis=-1), k), axes=(1,))
                * op("softmax_minus_one_hot", y, k)
            )
        ),
        {"log_softmax": 1, "pick": 1, "expand_dims": 1, "mul": 1, "exp_minus_one_hot": 1},
    ),
    "log_softmax_as_shift": (
        # y - max(y) less the log of its exp's sums, kept as an axis
        taking_gradients(lookup(lambda x, k, y: op("log_softmax", y, axis=-1))),
        {"minus_max": 1, "exp": 1, "sum": 1, "log": 1, "sub": 1},
    ),
    "exp_of_log_softmax": (
        # the exp of the shifted values over their sums, the log and the subtraction no longer read
        lookup(lambda x, k, y: softmax_from_shift(y)),
        {"minus_max": 1, "exp": 1, "sum": 1, "div": 1},
    ),
    "softmax_times_number": (
        # the number over the sums, one per row, then times the exponentials; either order
        lookup(lambda x, k, y: op("sum", x) * softmax_parts(y) + softmax_parts(y) * op("sum", x)),
        {"minus_max": 2, "exp": 2, "sum": 4, "div": 2, "mul": 2, "add": 1},
    ),
    "one_hot_pick": (
        # either order, the last axis by either number, and kept as an axis of 1
        lookup(
            lambda x, k, y: (
                op("sum", op("one_hot", k, k=3) * y, axes=(1,))
                * op("sum", y * op("one_hot", k, k=3), axes=(-1,), keepdims=True)
                * op("mean", op("one_hot", k, k=3) * y, axes=(1,))  # the pick over the K classes
            )
        ),
        {"pick": 3, "expand_dims": 1, "mul": 2, "div": 1},
    ),
    "sum_of_scatter_pick": (
        # a number placed and summed over the classes is that number over the rows (broadcast
        # like the pick at the labels); a column kept as an axis of 1 is the sum itself, and without
        # it is read back at the labels
        lookup(
            lambda x, k, y: (
                op("sum", op("scatter_pick", op("sum", y, axes=None), k, k=3), axes=(1,))
                * op(
                    "sum", op("scatter_pick", op("sum", y, axes=(1,), keepdims=True), k, k=3), axes=(-1,), keepdims=True
                )
                * op("sum", op("scatter_pick", op("sum", y, axes=(1,), keepdims=True), k, k=3), axes=(1,))
            )
        ),
        {"sum": 3, "scatter_pick": 2, "pick": 2, "broadcast_like": 1, "mul": 2},
    ),
    "one_hot_scatter_pick": (
        # a number, a column broadcast to the rows (the gradient of a sum over the classes), and
        # the one-hot negated (-1 * one_hot, as the signs leave it)
        lookup(
            lambda x, k, y: (
                op("one_hot", k, k=3) * op("sum", y, axes=None)
                + op("broadcast_like", op("sum", y, axes=(1,), keepdims=True), y) * op("one_hot", k, k=3)
                + op("neg", op("one_hot", k, k=3))
            )
        ),
        {"sum": 2, "scatter_pick": 3, "add": 2},
    ),
}

# rule -> graphs where it must not fire (a shape would change, a domain would widen, ...)
STAYS: dict[str, list[Graph]] = {
    "mul_one_right": [
        tiny(lambda s, x: s * op("broadcast_like", 1.0, x), s=S, x=M),  # s * ones: a [2, 3] result
        tiny(lambda x: op("greater", x, 0.0) * 1.0, x=M),  # a comparison's value is not a float array
    ],
    "mul_one_left": [tiny(lambda s, x: op("broadcast_like", 1.0, x) * s, s=S, x=M)],
    "add_zero_right": [tiny(lambda s, x: s + op("broadcast_like", 0.0, x), s=S, x=M)],
    "add_zero_left": [tiny(lambda s, x: op("broadcast_like", 0.0, x) + s, s=S, x=M)],
    "sub_zero": [tiny(lambda x: x - 0.5, x=M)],
    "div_one": [tiny(lambda x: x / 2.0, x=M), tiny(lambda x: 1.0 / x, x=M)],
    "pow_one": [tiny(lambda x: x**2, x=M)],
    "mul_zero": [tiny(lambda x: x * 0.0, x=M)],  # the zero is a scalar, the product is [2, 3]
    "zero_sub": [tiny(lambda x: x - 0.0 - x, x=M), tiny(lambda s, x: op("broadcast_like", 0.0, x) - s, s=S, x=M)],
    "mul_minus_one": [tiny(lambda x: x * -2.0, x=M)],
    "maximum_zero": [
        tiny(lambda x: op("maximum", x, 0.5), x=M),
        tiny(lambda s, x: op("maximum", s, op("broadcast_like", 0.0, x)), s=S, x=M),  # a [2, 3] result
    ],
    "neg_neg": [tiny(lambda x: -op("exp", -x), x=M)],
    "transpose_transpose": [tiny(lambda x: op("exp", x.T).T, x=M)],
    "transpose_vector": [tiny(lambda x: x.T, x=M)],
    "transpose_of_matmul": [tiny(lambda x, y: (x @ y).T, x=M, y=(3, 2))],  # no transpose cancels
    "log_exp": [tiny(lambda x: op("exp", op("log", op("square", x))), x=M)],  # exp(log x) needs x > 0
    "abs_of_nonnegative": [
        tiny(lambda x: op("abs", op("sqrt", x)), x=M),  # sqrt(-0.0) is -0.0
        tiny(lambda x: op("abs", -op("exp", x)), x=M),
        tiny(lambda x: op("abs", x), x=M),
    ],
    "exp_over_itself": [
        tiny(lambda x: x / x, x=M),  # x may be 0
        tiny(lambda x, y: op("exp", x) / op("exp", y), x=M, y=M),
    ],
    "log_sigmoid": [
        tiny(lambda x: op("log", op("sigmoid", x) + 1e-8), x=M),
        tiny(lambda x: op("log", op("tanh", x)), x=M),
        tiny(lambda x: op("sigmoid", op("log", x)), x=M),
    ],
    "log_one_minus_sigmoid": [
        tiny(lambda x: op("log", 2.0 - op("sigmoid", x)), x=M),
        tiny(lambda x: op("log", 1.0 - op("tanh", x)), x=M),
        # a [3] sigmoid taken from [2, 3] ones: -softplus(v) would be [3]
        tiny(lambda v, x: op("log", op("broadcast_like", 1.0, x) - op("sigmoid", v)), v=VEC, x=M),
    ],
    "sigmoid_factor_cancels": [
        tiny(lambda x, y: (y / x) * (x * op("sigmoid", y)), x=M, y=M),  # x may be 0
        tiny(lambda x, y: (y / op("tanh", x)) * (op("tanh", x) * y), x=M, y=M),  # tanh may be 0
        tiny(lambda x, y: (lambda s: (y / s + y) * (s * (1.0 - s)))(op("sigmoid", x)), x=M, y=M),  # y does not cancel
        tiny(lambda x, v: (lambda s: (s * v) / s)(op("sigmoid", x)), x=M, v=VEC),  # v is [3], the quotient [2, 3]
        tiny(lambda x, y: (lambda s: (y / s) * (op("sigmoid", y) * (1.0 - s)))(op("sigmoid", x)), x=M, y=M),
    ],
    "broadcast_noop": [tiny(lambda v, x: op("broadcast_like", v, x), v=VEC, x=M)],
    "broadcast_operand": [tiny(lambda v, x, w: op("broadcast_like", v, x) * w, v=VEC, x=M, w=VEC)],
    "scalar_into_fill": [tiny(lambda v, x, w: op("broadcast_like", v, x) / w, v=VEC, x=M, w=VEC)],
    "reduce_broadcast": [
        # [3] broadcast to [3, 3] and summed over axis 1: [3] again, but row sums, not v * 3
        tiny(lambda v, x: op("sum", op("broadcast_like", v, x), axes=(1,)), v=VEC, x=(3, 3)),
        tiny(lambda v, x: op("sum", op("broadcast_like", v, x), axes=(1,)), v=(2, 1), x=M),
        # a sum over a dim, which may be 0: s * 0 is nan for an infinite s, the sum of nothing 0
        tiny(lambda s, x: op("sum", op("broadcast_like", s, x), axes=None), s=S, x=("B", 3)),
        # and a mean over one: the mean of nothing is nan, s is a number
        tiny(lambda s, x: op("mean", op("broadcast_like", s, x), axes=None), s=S, x=("B", 3)),
    ],
    "merge_const_mul": [
        tiny(lambda x, y: (x * y) * 2.0, x=M, y=M),
        tiny(lambda x: 2.0 / (x * 3.0), x=M),
        tiny(lambda x: (x * 1e20) * 1e20, x=M),  # 1e40: inf in a float32 model
        tiny(lambda x: (x / 1e-25) * 1e20, x=M),  # 1e45 likewise
        tiny(lambda x: (x * 1e-25) * 1e-25, x=M),  # 1e-50: 0 in a float32 model
    ],
    "neg_into_const": [tiny(lambda x, y: (-x) * y, x=M, y=M)],
    "neg_into_sub": [tiny(lambda x, y: x - y, x=M, y=M)],
    "mul_neg_neg": [tiny(lambda x, y: (-x) * y, x=M, y=M)],
    "neg_outward": [tiny(lambda x, y: x * y, x=M, y=M)],
    "neg_out_of_sum": [tiny(lambda x: op("sum", op("exp", x), axes=(1,)), x=M)],
    "recip_mul": [tiny(lambda x, s: (2.0 / s) * x, x=M, s=S)],
    "scalar_divisor": [
        tiny(lambda x, y: (2.0 * x) / y, x=M, y=M),  # an array divisor: nothing to combine
        tiny(lambda s, x: (2.0 * s) / x, s=S, x=S),  # numbers alone: already one operation
    ],
    "sum_of_product": [
        tiny(lambda x, v: op("sum", x * v, axes=None), x=M, v=VEC),  # v broadcasts: not one shape
        tiny(lambda x, y: op("sum", x * y, axes=(0,)), x=M, y=M),  # not every axis
        tiny(lambda x, y: op("sum", x * op("greater", x, y), axes=None), x=M, y=M),  # a bool array
        tiny(lambda s: op("mean", s * 0.5, axes=None), s=S),  # a scalar times a number: no array to dot
    ],
    "sum_of_square": [
        tiny(lambda x: op("sum", op("square", x), axes=(1,)), x=M),
        tiny(lambda x: op("mean", x**3, axes=None), x=M),
        tiny(lambda x: op("sum", op("square", x), axes=None, keepdims=True), x=M),  # a [1, 1] result
        tiny(lambda s: op("sum", s**2, axes=None), s=S),  # the sum of a scalar is that scalar
    ],
    "count_of_factor": [
        tiny(lambda x: op("count", op("exp", x), axes=(0,)) * x, x=M),  # not a product or square
        tiny(lambda c, v: op("count", c * v, axes=(0,)) * v, c=(2, 1), v=VEC),  # no factor has the [2, 3] shape
    ],
    "one_hot_matmul": [lookup(lambda x, k, y: y.T @ op("one_hot", k, k=4))],  # one_hot on the right
    "one_hot_t_matmul": [lookup(lambda x, k, y: op("one_hot", k, k=4) @ x)],  # not transposed
    "flat_one_hot_matmul": [
        # the classes' axis cut across rows: no row of x per label
        sequences(lambda x, k, y: op("reshape", op("one_hot", k, k=4), shape=(4, 6)) @ y),
        sequences(lambda x, k, y: op("reshape", op("exp", y), shape=(6, 3)) @ x.T),  # no one-hot
    ],
    "flat_one_hot_t_matmul": [
        sequences(lambda x, k, y: op("reshape", op("one_hot", k, k=4), shape=(6, 4)) @ x),  # not transposed
        sequences(lambda x, k, y: op("reshape", op("one_hot", k, k=4), shape=(4, 6)).T @ x),
    ],
    "one_hot_pick": [
        lookup(lambda x, k, y: op("sum", op("one_hot", k, k=3) * y, axes=(0,))),  # not over the classes
        lookup(lambda x, k, y: op("mean", op("one_hot", k, k=3) * y, axes=(0,))),  # a mean neither
        lookup(lambda x, k, y: op("sum", op("one_hot", k, k=3) * y, axes=None)),  # nor over everything
        # a [3] vector broadcast to the rows: no row of its own at each label
        lookup(lambda x, k, y: op("sum", op("one_hot", k, k=3) * op("sum", x, axes=(0,)), axes=(1,))),
        lookup(lambda x, k, y: op("sum", op("one_hot", k, k=3) * op("greater", y, 0.0), axes=(1,))),  # bools
    ],
    "sum_of_scatter_pick": [
        # not over the classes, nor over everything
        lookup(lambda x, k, y: op("sum", op("scatter_pick", op("sum", y, axes=None), k, k=3), axes=(0,))),
        lookup(lambda x, k, y: op("sum", op("scatter_pick", op("sum", y, axes=None), k, k=3), axes=None)),
    ],
    "one_hot_scatter_pick": [
        lookup(lambda x, k, y: op("one_hot", k, k=3) * y),  # a value per class, not one per row
        lookup(lambda x, k, y: op("neg", op("one_hot", k, k=3) * y)),  # nor a negated one
        lookup(lambda x, k, y: op("broadcast_like", op("sum", x, axes=(0,)), y) * op("one_hot", k, k=3)),
        # a [1, 2, 1] column makes the product [1, 2, 3], not the one-hot's shape
        lookup(
            lambda x, k, y: op("one_hot", k, k=3) * op("expand_dims", op("sum", y, axes=(1,), keepdims=True), axes=(0,))
        ),
    ],
    "cross_entropy_as_pick": [lookup(lambda x, k, y: op("cross_entropy", y, k))],  # no gradient: as it is
    "log_softmax_as_shift": [
        lookup(lambda x, k, y: op("log_softmax", y, axis=-1)),  # no gradient: the helper is as fast
        # along a dim, which may be 0: the log of no sums would warn
        taking_gradients(tiny(lambda y: op("log_softmax", op("transpose", y), axis=-1), y=("B", 3))),
    ],
    "softmax_times_number": [
        lookup(lambda x, k, y: softmax_parts(y) * op("sum", x, axes=(0,), keepdims=True)),  # not a number
        lookup(lambda x, k, y: softmax_parts(y, keepdims=False, axis=0) * op("sum", x)),  # no axis kept
    ],
    "exp_of_log_softmax": [
        lookup(lambda x, k, y: softmax_from_shift(y, shifted=False)),  # not shifted by its max
        lookup(lambda x, k, y: softmax_from_shift(y, sum_axis=0)),  # summed along another axis
        lookup(lambda x, k, y: softmax_from_shift(y, axis=0, sum_axis=0, keepdims=False)),  # no axis kept
    ],
    "softmax_from_the_loss": [
        lookup(lambda x, k, y: op("softmax_minus_one_hot", y, k)),  # no log_softmax to read
        lookup(lambda x, k, y: op("log_softmax", y, axis=0) * op("softmax_minus_one_hot", y, k)),  # another axis
    ],
    "softmax_minus_one_hot": [
        lookup(lambda x, k, y: op("softmax", y, axis=0) - op("one_hot", k, k=3)),  # not over the last axis
        lookup(lambda x, k, y: op("one_hot", k, k=3) - op("softmax", y, axis=-1)),  # the other way round
        # a [1, 3] softmax broadcast against the [2, 3] one-hot: no labels for its rows
        lookup(lambda x, k, y: op("softmax", op("sum", y, axes=(0,), keepdims=True), axis=-1) - op("one_hot", k, k=3)),
    ],
}


def test_every_rule_has_cases_and_a_docstring():
    names = [r.__name__ for r in RULES]
    assert len(set(names)) == len(names)
    assert set(FIRES) == set(names) == set(STAYS)
    assert all(r.__doc__ and "->" in r.__doc__ for r in RULES)


def test_the_rule_table_prints_every_rule_with_its_identity():
    rows = table().splitlines()
    assert [row.split()[0] for row in rows] == [r.__name__ for r in RULES]
    assert all("->" in row for row in rows)


@pytest.mark.parametrize("name", sorted(FIRES))
def test_rule_fires_alone(name):
    graph, after = FIRES[name]
    values = sample(graph)
    before = snapshot(graph)
    out = simplify(graph, [name])
    assert snapshot(graph) == before, "the pass changed its argument"
    verify(out)
    assert ops(out) == Counter(after)
    # -softplus(-x): a negation more than log(sigmoid(x)), exact where it was not; a cross-entropy
    # as six ops, whose shifted logits and exp the gradient then shares (softmax_from_the_loss), and
    # a log-softmax as five (exp_of_log_softmax)
    if name not in ("log_sigmoid", "cross_entropy_as_pick", "log_softmax_as_shift"):
        assert sum(ops(out).values()) <= sum(ops(graph).values())
    assert_same(graph, out, values)


def test_the_gradient_of_a_cross_entropy_reads_the_exp_its_loss_computed():
    """softmax(y) - one_hot(k) where the loss shifted y by its max: the softmax is that exp over
    its row sums, not an exp of log-probabilities (each rounded once more, which cost float32
    gradients 1-2 ulp), and the exp and its sums are the loss's own nodes once shared."""
    graph = taking_gradients(
        lookup(
            lambda x, k, y: op("expand_dims", op("cross_entropy", y, k), axes=(1,)) * op("softmax_minus_one_hot", y, k)
        )
    )
    values = sample(graph)
    out = dce(cse(simplify(graph, ["cross_entropy_as_pick", "softmax_from_the_loss"])))
    verify(out)
    assert ops(out) == Counter(
        {"minus_max": 1, "exp": 1, "sum": 1, "log": 1, "pick": 1, "sub": 1, "expand_dims": 1, "mul": 1}
        | {"normalized_minus_one_hot": 1}
    )
    assert_same(graph, out, values)
    # the loss it makes is still known for a cross-entropy of y and k (by graphc.passes.xent)
    (loss,) = [n for n in out.order() if out.op(n) == "sub"]
    assert cross_entropy_args(out, loss) == (out.inputs["y"], out.inputs["k"])


@pytest.mark.parametrize("name", sorted(STAYS))
def test_rule_does_not_fire(name):
    for graph in STAYS[name]:
        assert simplify(graph, [name]).dump() == renumber(graph).dump()


def test_no_other_rule_rewrites_exp_of_log():
    graph = tiny(lambda x: op("exp", op("log", x)), x=M)
    assert ops(simplify(graph)) == Counter({"exp": 1, "log": 1})


def test_a_sum_negates_its_result_not_its_operand():
    graph, _ = FIRES["neg_out_of_sum"]
    out = dce(simplify(graph, ["neg_out_of_sum"]))
    assert sorted(out.shape(n) for n in out.order() if out.op(n) == "neg") == [(), (2,)]


def test_rules_that_shrink_work_keep_counts_equal_or_lower():
    # scalar_into_fill keeps the op count but divides [3] instead of [2, 3]
    graph, _ = FIRES["scalar_into_fill"]
    out = simplify(graph, ["scalar_into_fill"])
    (div,) = [n for n in out.order() if out.op(n) == "div"]
    assert out.shape(div) == VEC


# ---------------------------------------------------------------------------- each pass


def test_fold_turns_scalar_constant_arithmetic_into_one_const():
    graph = tiny(lambda x: x * (op("exp", const(x.graph, 0.0)) + 2.0 * 3.0), x=M)
    out = fold(graph)
    assert ops(out) == Counter({"mul": 1})
    (c,) = [n for n in dce(out).order() if dce(out).op(n) == "const"]
    assert dce(out).node(c)["attrs"]["value"] == 7.0
    assert_same(graph, out, sample(graph))


def test_fold_folds_static_counts_only():
    static = tiny(lambda x: x / op("count", x, axes=(0, 1)), x=M)
    assert ops(fold(static)) == Counter({"div": 1})
    symbolic = tiny(lambda x: x / op("count", x, axes=(0,)), x=("B", 3))
    assert fold(symbolic).dump() == symbolic.dump()


def test_fold_leaves_non_finite_and_array_results_alone():
    nan = tiny(lambda x: x + op("log", const(x.graph, -1.0)), x=M)
    assert fold(nan).dump() == nan.dump()
    array = tiny(lambda x: op("broadcast_like", const(x.graph, 2.0), x), x=M)
    assert fold(array).dump() == array.dump()


def test_fold_leaves_scalars_float32_cannot_hold_to_the_module():
    graph = tiny(lambda x: x * op("exp", const(x.graph, 100.0)) + op("exp", const(x.graph, -100.0)), x=M)
    assert ops(fold(graph)) == Counter({"mul": 1, "add": 1, "exp": 2})
    held = tiny(lambda x: x * op("exp", const(x.graph, 80.0)) + op("exp", const(x.graph, -1000.0)), x=M)
    assert ops(fold(held)) == Counter({"mul": 1, "add": 1})  # 5.5e34, and 0 in every dtype


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_a_constant_past_float32_is_the_same_at_every_level(dtype):
    """exp(100) is 2.7e43 in float64 and inf in float32. Folded in float64, a float32 model's
    loss was 2.7e43 * w (then inf only when cast, with a warning NumPy words otherwise) at -O1
    and -O2, and exp(float32(100)) * w at -O0; exp(-100) is a subnormal float32 number, whose
    product with 1e30 keeps few of float64's digits."""
    text = "param w : [] = ones\nparam v : [] = ones\nloss = exp(100) * w + exp(-100) * 1e30 * v\nminimize loss\n"
    big, small = np.float64(np.exp(100.0)), np.float64(np.exp(-100.0))
    if dtype == "float32":
        with np.errstate(over="ignore"):
            big = np.exp(np.float32(100.0))  # inf
        small = np.exp(np.float32(-100.0)) * np.float32(1e30)
    else:
        small = small * 1e30
    for opt in (0, 1, 2):
        model = graphc.compile_source(text, dtype=dtype, opt=opt)
        with np.errstate(over="ignore"):
            value, grads = model.loss_and_grad(model.init_params())
        assert value == float(big + small), opt
        assert grads["w"] == big, opt
        assert grads["v"] == small, opt
        assert grads["w"].dtype == grads["v"].dtype == dtype


def test_cse_merges_equal_computations_including_swapped_operands():
    graph = tiny(lambda x, y: (x * y + op("exp", x)) + (y * x + op("exp", x)), x=M, y=M)
    out = cse(graph)
    assert ops(out) == Counter({"mul": 1, "exp": 1, "add": 2})
    assert_same(graph, out, sample(graph))


def test_cse_keeps_different_attrs_and_orders_apart():
    graph = tiny(lambda x: op("sum", x, axes=(0,), keepdims=True) + op("sum", x, axes=(1,), keepdims=True), x=(3, 3))
    assert cse(graph).dump() == graph.dump()
    graph = tiny(lambda x, y: (x - y) * (y - x), x=M, y=M)
    assert ops(cse(graph)) == Counter({"sub": 2, "mul": 1})


def test_cse_merges_counts_of_equal_sizes():
    graph = tiny(lambda x, y: x / op("count", x, axes=(0,)) + y / op("count", y, axes=(0,)), x=("B", 3), y=("B", 3))
    assert ops(cse(graph))["count"] == 1


def test_dce_keeps_what_the_roots_need_and_every_declared_value():
    graph = program(
        """
        input x : [3]
        input unused : [2]
        param w : [3]
        dead = exp(w) * 2
        loss = sum(x * w)
        minimize loss
        """
    )
    out = dce(graph)
    verify(out)
    assert "exp" not in Counter(out.op(n) for n in out.order())
    assert set(out.inputs) == {"x", "unused"} and set(out.params) == {"w"}
    assert_same(graph, out, sample(graph))


MLP = """
    model mlp
    dim B
    input x : [B, 6]
    input labels : int[B]
    param W : [6, 4]
    param b : [4]
    logits = x @ W + b
    loss = mean(cross_entropy(logits, labels))
    output logits
    minimize loss
"""


def test_xent_rewrites_the_mean_cross_entropy_gradient():
    graph = program(MLP)
    out = rewrite_xent(graph)
    verify(out)
    before, after = ops(graph), ops(out)
    assert after["expand_dims"] == 0 and after["broadcast_like"] == 0 and after["mul"] == 0
    assert sum(after.values()) < sum(before.values())
    assert_same(graph, out, sample(graph))


def test_xent_fires_for_a_scaled_sum_too():
    graph = program(MLP.replace("mean(cross_entropy(logits, labels))", "2 * sum(cross_entropy(logits, labels))"))
    out = rewrite_xent(graph)
    assert ops(out)["expand_dims"] == 0
    assert_same(graph, out, sample(graph))


def _xent_pattern(same_logits: bool) -> Graph:
    """expand_dims(fill(1, ce) / count(ce)) * (softmax(w) - one_hot(y)) with ce = cross_entropy(z, y)."""
    g = Graph()
    for name, shape, dtype in (("z", ("B", 4), "float"), ("w", ("B", 4), "float"), ("y", ("B",), "int")):
        g.inputs[name] = g.add("input", [], {"name": name, "shape": shape, "dtype": dtype}, name=name)
    z, w, y = (V(g, g.inputs[k]) for k in "zwy")
    ce = op("cross_entropy", z, y)
    e = op("expand_dims", op("broadcast_like", 1.0, ce) / op("count", ce, axes=(0,)), axes=(1,))
    d = op("softmax", z if same_logits else w, axis=-1) - op("one_hot", y, k=4)
    g.outputs = [("out", (e * d).node)]
    return g


def test_xent_needs_the_logits_of_the_cross_entropy():
    fires, stays = _xent_pattern(True), _xent_pattern(False)
    out = rewrite_xent(fires)
    assert ops(out) == Counter({"softmax": 1, "one_hot": 1, "sub": 1, "count": 1, "div": 1, "cross_entropy": 1})
    assert_same(fires, out, sample(fires))
    assert rewrite_xent(stays).dump() == stays.dump()


def test_xent_leaves_a_graph_without_the_pattern_alone():
    graph = tiny(lambda x: op("softmax", x, axis=-1) * 2.0, x=M)
    assert rewrite_xent(graph).dump() == graph.dump()


# ---------------------------------------------------------------------------- bookkeeping


def test_passes_never_change_their_argument_and_keep_the_invariants():
    graph = program(MLP)
    before = snapshot(graph)
    for name, run in PASSES.items():
        out = run(graph)
        verify(out)
        assert snapshot(graph) == before, name
    for level in LEVELS:
        verify(optimize(graph, level))
        assert snapshot(graph) == before, level


def test_keys_point_back_at_the_unoptimized_graph():
    graph = program(MLP)
    out = optimize(graph, 2)
    keys = [out.node(n)["key"] for n in out.order()]
    assert all(k in graph.nx for k in keys)
    for name, n in out.params.items():
        assert out.node(n)["key"] == graph.params[name]
    # a replacement node carries the key of the node it replaces
    g = tiny(lambda x: (x * 2.0) * 3.0, x=M)
    merged = simplify(g, ["merge_const_mul"])
    assert merged.node(merged.outputs[0][1])["key"] == g.outputs[0][1]


def test_bookkeeping_follows_the_new_ids():
    graph = program(MLP)
    out = optimize(graph, 2)
    assert out.order() == list(range(len(out.order())))
    assert [name for name, _ in out.outputs] == [name for name, _ in graph.outputs]
    assert set(out.grads) == set(graph.grads) and out.wrt == graph.wrt
    for w, n in out.grads.items():
        assert out.node(n)["adjoint_of"] == out.params[w]
        assert out.node(n)["phase"] == "backward"
    assert out.objective[0] == graph.objective[0] and out.node(out.objective[1])["name"] == "loss"


def test_verify_catches_a_broken_graph():
    graph = renumber(program(MLP))
    verify(graph)
    graph.node(graph.objective[1])["shape"] = (2,)
    with pytest.raises(AssertionError):
        verify(graph)
    graph = renumber(program(MLP))
    graph.grads["W"] = 10_000
    with pytest.raises(AssertionError):
        verify(graph)


def test_level_zero_is_a_copy():
    graph = program(MLP)
    assert optimize(graph, 0).dump() == graph.dump()


def test_pipeline_emits_the_optimized_graph_and_maps_lines_to_the_unoptimized_one():
    o0 = compile_text(textwrap.dedent(MLP), "mlp.nn", opt=0)
    o2 = compile_text(textwrap.dedent(MLP), "mlp.nn", opt=2)
    assert o2.graph.dump() == o0.graph.dump()
    assert len(o2.optimized.order()) < len(o2.graph.order())
    o1 = compile_text(textwrap.dedent(MLP), "mlp.nn", opt=1)
    body = lambda c: c.source.split("def loss_and_grad")[1].split("\ndef ")[0]  # noqa: E731 (helpers aside)
    assert len(body(o1)) < len(body(o0))
    # softmax(z) - one_hot(y), fused, from the loss's exp(z - max(z)) and its sums
    assert re.search(r"_normalized_minus_one_hot\(\w+, \w+, labels\) / ", o1.source), o1.source
    assert set(o2.code_lines) <= set(o2.graph.order())
    assert o2.code_lines[o2.graph.grads["W"]]


def test_models_compiled_at_every_level_agree():
    text = textwrap.dedent(MLP)
    values = sample(program(MLP))
    got = {}
    for level in (0, 1, 2):
        compiled = compile_text(text, "mlp.nn", opt=level)
        ns: dict = {}
        exec(compiled.source, ns)
        params = {k: values[k] for k in ("W", "b")}
        got[level] = ns["loss_and_grad"](params, x=values["x"], labels=values["labels"])
    for level in (1, 2):
        assert np.isclose(got[level][0], got[0][0], rtol=1e-12)
        for w in ("W", "b"):
            assert np.allclose(got[level][1][w], got[0][1][w], rtol=1e-10, atol=1e-14)


LIKELIHOOD = """
    dim B
    const K = {k}
    input x : [B, 3]
    input labels : int[B]
    param W : [3, K]
    param b : [K]
    logp = log_softmax(x @ W + b)
    picked = sum({product}, axis={axis}{keep})
    loss = -{total}(picked)
    output picked
    minimize loss
"""
LIKELIHOODS = {
    f"K={k} {product.split('(')[0].split()[0]} first, axis={axis}{keep}, {total}": textwrap.dedent(
        LIKELIHOOD.format(k=k, product=product, axis=axis, keep=keep, total=total)
    )
    for k in (4, 1)
    for product in ("one_hot(labels, K) * logp", "logp * one_hot(labels, K)")
    for axis, keep in ((-1, ""), (1, ", keepdims=true"))
    for total in ("mean", "sum")  # the gradient a number over the batch size, or -1 itself
}


def _modules(text: str) -> dict[int, types.ModuleType]:
    out = {}
    for level in (0, 1, 2):
        out[level] = types.ModuleType(f"likelihood_O{level}")
        exec(compile_text(text, "nll.nn", opt=level).source, out[level].__dict__)
    return out


@pytest.mark.parametrize("name", sorted(LIKELIHOODS))
def test_a_log_likelihood_written_out_picks_and_scatters_at_every_level(name):
    """sum(one_hot(labels, K) * logp, axis=-1) at -O1 and -O2 picks logp at the labels and
    puts the gradient at them: the same loss, output and gradients as -O0's one-hot, for a
    batch of one, labels that repeat and one class, and the gradients are the slopes."""
    text = LIKELIHOODS[name]
    modules = _modules(text)
    rng = np.random.default_rng(len(name))
    k = 1 if name.startswith("K=1") else 4
    params = {"W": rng.normal(size=(3, k)), "b": rng.normal(size=k)}
    for labels in ([0], [k - 1, 0, k - 1, k - 1, 0, k // 2]):  # one example, then labels that repeat
        inputs = {"x": rng.normal(size=(len(labels), 3)), "labels": np.array(labels)}
        want_loss, want_grads = modules[0].loss_and_grad(params, **inputs)
        want_out = modules[0].forward(params, **inputs)
        for level in (1, 2):
            got_loss, got_grads = modules[level].loss_and_grad(params, **inputs)
            assert got_loss == pytest.approx(want_loss, rel=1e-12), level
            for w in ("W", "b"):
                np.testing.assert_allclose(got_grads[w], want_grads[w], rtol=1e-10, atol=1e-14, err_msg=w)
            np.testing.assert_allclose(modules[level].forward(params, **inputs), want_out, rtol=1e-12)
    for level in (1, 2):
        source = compile_text(text, "nll.nn", opt=level).source
        assert "_one_hot(" not in source
        if k > 1:  # (one class: the one-hot times logp is logp itself, placed at label 0)
            assert "_pick(logp, labels)" in source
        assert "_scatter_pick(" in source
    g = compile_text(text, "nll.nn", opt=2).graph
    for batch in (1, 7):
        rows = gradcheck.check(modules[2], g, {"B": batch}, seed=batch)
        assert rows and all(r.ok and not r.blind for r in rows), gradcheck.table(rows)


def test_a_one_hot_of_one_label_summed_whole_is_a_pick_not_an_inner_product():
    graph = program("input z : [5]\ninput y : int[]\nloss = -sum(one_hot(y, 5) * z)\nminimize loss wrt z\n")
    for level in (1, 2):
        out = optimize(graph, level)
        assert ops(out) == Counter({"pick": 1, "neg": 1, "scatter_pick": 1}), level
        assert_same(graph, out, sample(graph))


def test_sgd_step_has_the_helpers_only_its_own_graph_needs():
    """Seeded with 1, the gradient of a one-hot's pick is the one-hot itself; seeded with lr, as
    sgd_step's is, it is lr placed at the label, which needs _scatter_pick, a helper no other
    function calls: sgd_step raised a NameError on it."""
    text = "const K = 4\ninput y : int[]\nparam v : [K]\ng = sum(one_hot(y, K) * v)\nminimize g\n"
    modules = _modules(text)
    y = np.array(2)
    for level in (0, 1, 2):
        params = {"v": np.array([0.5, -1.0, 2.0, 3.0])}
        value, grads = modules[level].loss_and_grad(params, y=y)
        assert value == 2.0
        np.testing.assert_array_equal(grads["v"], [0.0, 0.0, 1.0, 0.0])
        assert modules[level].sgd_step(params, 0.25, y=y) == 2.0
        np.testing.assert_array_equal(params["v"], [0.5, -1.0, 1.75, 3.0])


def test_a_log_likelihood_over_a_sequence_picks_along_the_last_axis():
    """Labels of rank 2 ([B, T]) pick from logits of rank 3, as cross_entropy does."""
    text = textwrap.dedent(
        """
        dim B, T
        const K = 5
        input logits_in : [B, T, K]
        input labels : int[B, T]
        written_out = -sum(one_hot(labels, K) * log_softmax(logits_in), axis=-1)
        loss = mean(written_out)
        output written_out
        minimize loss wrt logits_in
        """
    )
    modules = _modules(text)
    rng = np.random.default_rng(5)
    inputs = {"logits_in": rng.normal(size=(2, 3, 5)), "labels": rng.integers(0, 5, size=(2, 3))}
    ce = modules[0].forward({}, **inputs)
    for level in (1, 2):
        assert "_one_hot(" not in compile_text(text, "seq.nn", opt=level).source
        np.testing.assert_allclose(modules[level].forward({}, **inputs), ce, rtol=1e-12)
        _, want = modules[0].loss_and_grad({}, **inputs)
        _, got = modules[level].loss_and_grad({}, **inputs)
        np.testing.assert_allclose(got["logits_in"], want["logits_in"], rtol=1e-12, atol=1e-15)
    g = compile_text(text, "seq.nn", opt=2).graph
    rows = gradcheck.check(modules[2], g, {"B": 2, "T": 3})
    assert all(r.ok for r in rows), gradcheck.table(rows)


# ---------------------------------------------------------------------------- random programs

UNARY = ["exp", "tanh", "sigmoid", "sin", "cos", "softplus", "relu", "abs", "square"]
IDENTITIES = [
    "{a} * 1",
    "1 * {a}",
    "{a} + 0",
    "0 + {a}",
    "{a} - 0",
    "{a} / 1",
    "-(-{a})",
    "log(exp({a}))",
    "2 * (3 * {a})",
    "({a} * 2) / 4",
    "0 * {a}",
    "{a} ^ 1",
    "(-{a}) * 2",
    "0 - {a}",
    "{a} * -1",
    "-{a} * -{a}",
    "maximum({a}, 0)",
    "maximum(0, {a}) ^ 2",
]


def _broadcasts(a: tuple, b: tuple) -> bool:
    return all(x == y or x == 1 or y == 1 for x, y in zip(reversed(a), reversed(b)))


@st.composite
def programs(draw) -> str:
    """A random model: a few inputs and params, then statements whose shapes fit, a loss."""
    pool: dict[str, tuple] = {"x": ("B", 3), "y": ("B", 4), "W": (3, 4), "b": (4,), "v": (3,), "s": ()}
    lines = [
        "model random_program",
        "dim B",
        "input x : [B, 3]",
        "input y : [B, 4]",
        "input labels : int[B]",
        "param W : [3, 4]",
        "param b : [4]",
        "param v : [3]",
        "param s : []",
    ]
    losses: list[str] = []
    for i in range(draw(st.integers(1, 7))):
        name = f"t{i}"
        a = draw(st.sampled_from(sorted(pool)))
        sa = pool[a]
        kind = draw(st.sampled_from(["unary", "binary", "matmul", "reduce", "shape", "identity", "loss"]))
        expr, shape = f"tanh({a})", sa
        if kind == "unary":
            expr = f"{draw(st.sampled_from(UNARY))}({a})"
        elif kind == "binary":
            b = draw(st.sampled_from(sorted(k for k in pool if _broadcasts(sa, pool[k]))))
            sym = draw(st.sampled_from(["+", "-", "*", "/", "maximum", "minimum"]))
            if sym == "/":
                expr = f"{a} / (1 + square({b}))"
            elif sym in ("maximum", "minimum"):
                expr = f"{sym}({a}, {b})"
            else:
                expr = f"{a} {sym} {b}"
            rank = max(len(sa), len(pool[b]))
            pad = ((1,) * rank + sa)[-rank:], ((1,) * rank + pool[b])[-rank:]
            shape = tuple(p if p != 1 else q for p, q in zip(*pad))
        elif kind == "matmul":
            pairs = sorted(
                (p, q)
                for p in pool
                for q in pool
                if 1 <= len(pool[p]) <= 2 and 1 <= len(pool[q]) <= 2 and pool[p][-1] == pool[q][0]
            )
            if pairs:
                p, q = draw(st.sampled_from(pairs))
                expr, shape = f"{p} @ {q}", pool[p][:-1] + pool[q][1:]
        elif kind == "reduce" and sa:
            fn = draw(st.sampled_from(["sum", "mean", "max", "logsumexp", "softmax", "log_softmax"]))
            if fn in ("softmax", "log_softmax"):
                expr = f"{fn}({a}, axis=-1)"
            else:
                axis = draw(st.integers(-len(sa), len(sa) - 1))
                keep = draw(st.booleans())
                expr = f"{fn}({a}, axis={axis}, keepdims={'true' if keep else 'false'})"
                ax = axis % len(sa)
                shape = tuple(1 if j == ax else d for j, d in enumerate(sa)) if keep else sa[:ax] + sa[ax + 1 :]
        elif kind == "shape":
            choices = [(f"{a}.T", sa[::-1]), (f"{a}.T.T", sa)]
            if len(sa) == 2 and sa[0] == "B":
                choices.append((f"(x @ W).T @ {a}", (4, sa[1])))
            expr, shape = draw(st.sampled_from(choices))
        elif kind == "identity":
            expr = draw(st.sampled_from(IDENTITIES)).format(a=a)
        elif kind == "loss" and len(sa) == 2 and sa[0] == "B" and sa[1] != "B":
            fn = draw(st.sampled_from(["cross_entropy", "one_hot", "pick"]))
            k = sa[1]
            expr, shape = {
                "cross_entropy": (f"cross_entropy({a}, labels)", ("B",)),
                "one_hot": (f"one_hot(labels, {k}) * {a}", sa),
                # a log-likelihood written out: each row's value at its label
                "pick": (f"sum({a} * one_hot(labels, {k}), axis=-1)", ("B",)),
            }[fn]
        lines.append(f"{name} = {expr}")
        pool[name] = shape
        if draw(st.booleans()) or i == 0:
            losses.append(name)
    last = f"t{len(pool) - 7}"
    if last not in losses:
        losses.append(last)
    terms = [f"mean({t})" if pool[t] else t for t in losses]
    lines += ["loss = " + " + ".join(terms) + " + sum(v * v) / 10", f"output {last}", "minimize loss"]
    return "\n".join(lines) + "\n"


RANDOM = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@RANDOM
@given(programs(), st.sampled_from(sorted(PASSES) + ["O1", "O2"]), st.sampled_from(sorted(BY_NAME)))
def test_every_pass_preserves_evaluate_on_random_programs(text, which, rule):
    graph = program(text)
    values = sample(graph, seed=len(text))
    assume(finite(results(graph, values)))
    before = snapshot(graph)
    for out in (
        optimize(graph, int(which[1])) if which.startswith("O") else PASSES[which](graph),
        simplify(graph, [rule]),
    ):
        verify(out)
        assert_same(graph, out, values)
    assert snapshot(graph) == before


@RANDOM
@given(programs())
def test_optimize_is_idempotent_on_random_programs(text):
    graph = program(text)
    for level in (1, 2):
        once = optimize(graph, level)
        assert optimize(once, level).dump() == once.dump()
        # a cross-entropy whose gradient is taken becomes six nodes and a log-softmax five, the
        # shifted logits and their exp kept for the gradient (cross_entropy_as_pick,
        # log_softmax_as_shift): every other rule takes nodes away
        grown = 5 * ops(graph)["cross_entropy"] + 4 * ops(graph)["log_softmax"] if graph.wrt else 0
        assert sum(ops(once).values()) <= sum(ops(graph).values()) + grown


@RANDOM
@given(programs(), st.sampled_from([0, 1, 2]))
def test_emission_is_byte_deterministic_on_random_programs(text, level):
    first = compile_text(text, "random.nn", opt=level)
    second = compile_text(text, "random.nn", opt=level)
    assert first.source == second.source
    assert first.optimized.dump() == second.optimized.dump()


def test_emission_does_not_depend_on_the_hash_seed():
    code = (
        "import sys, textwrap; from graphc.pipeline import compile_text; "
        "sys.stdout.write(compile_text(textwrap.dedent(sys.stdin.read()), 'mlp.nn', opt=2).source)"
    )
    texts = []
    for seed in ("1", "2"):
        env = dict(os.environ, PYTHONHASHSEED=seed)
        p = subprocess.run([sys.executable, "-c", code], input=MLP, capture_output=True, text=True, env=env, check=True)
        texts.append(p.stdout)
    assert texts[0] == texts[1] and "def loss_and_grad" in texts[0]


def _module(text: str, level: int):
    import types

    m = types.ModuleType("generated")
    exec(compile(compile_text(text, "random.nn", opt=level).source, "generated.py", "exec"), m.__dict__)
    return m


def _data(m, batch: int, seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {
        "x": rng.normal(size=(batch, 3)),
        "y": rng.normal(size=(batch, 4)),
        "labels": rng.integers(0, 3, size=batch),
    }


@RANDOM
@given(programs())
def test_planned_code_agrees_with_one_statement_per_op_on_random_programs(text):
    """-O2 computes into reused, in-place buffers: its values, gradients and SGD steps must be
    those of -O0, call after call, with batch sizes changing between calls."""
    plain, planned = _module(text, 0), _module(text, 2)
    params = plain.init_params(seed=len(text))
    params = {k: v + 0.1 * np.arange(v.size).reshape(v.shape) for k, v in params.items()}
    first = None
    with np.errstate(all="ignore"):
        for call, batch in enumerate([3, 5, 3]):
            data = _data(plain, batch, call)
            try:
                want_loss, want_grads = plain.loss_and_grad(params, **data)
            except ValueError as e:  # labels up to 2 for fewer than 3 classes: both must refuse them
                with pytest.raises(ValueError, match="labels must lie in"):
                    planned.sgd_step(params, 0.01, **data)
                assert "labels must lie in" in str(e)
                return
            assume(np.isfinite(want_loss) and all(np.isfinite(g).all() for g in want_grads.values()))
            got_loss, got_grads = planned.loss_and_grad(params, **data)
            np.testing.assert_allclose(got_loss, want_loss, rtol=1e-9, atol=1e-12)
            for k in want_grads:
                np.testing.assert_allclose(got_grads[k], want_grads[k], rtol=1e-9, atol=1e-12)
            np.testing.assert_allclose(
                planned.forward(params, **data), plain.forward(params, **data), rtol=1e-9, atol=1e-12
            )
            if first is None:
                first = (got_grads, {k: np.array(v, copy=True) for k, v in got_grads.items()})
                assert all(np.asarray(v).dtype == np.float64 for v in got_grads.values())
            if call == 1:  # arrays of the caller's own: one subtraction per param
                moved = {k: v.copy() for k, v in params.items()}
            else:  # init_params' views of one array, which -O2 may move with one subtraction
                moved = planned.init_params()
                for k, v in params.items():
                    moved[k][...] = v
            assert planned.sgd_step(moved, 0.01, **data) == pytest.approx(want_loss, rel=1e-9, abs=1e-12)
            for k, v in params.items():
                np.testing.assert_allclose(moved[k], v - 0.01 * want_grads[k], rtol=1e-9, atol=1e-12)
    for k, v in first[0].items():  # later calls never write into arrays handed out earlier
        np.testing.assert_array_equal(v, first[1][k])


@pytest.mark.parametrize("opt", [1, 2])
def test_the_loss_and_its_gradient_come_from_one_simplified_function(opt):
    """log(exp(x * w)) is x * w once simplified; the gradient must follow the loss there, not
    compute exp(x * w) / exp(x * w), which is nan where exp overflows (the loss was 1003 and
    the gradient nan at x = 1000)."""
    text = "input x : [2]\nparam w : [2] = ones\ny = sum(log(exp(x * w))) + sum(sqrt(w^2))\nminimize y\n"
    source = compile_text(text, "m.nn", opt=opt).source
    assert "np.exp(" not in source.split("def loss_and_grad")[1].split("def sgd_step")[0]
    namespace: dict = {}
    exec(compile(source, "m.py", "exec"), namespace)
    params = namespace["init_params"]()
    value, grads = namespace["loss_and_grad"](params, x=np.array([1000.0, 1.0]))
    assert value == 1003.0  # x . w + |w|
    assert np.array_equal(grads["w"], [1001.0, 2.0])  # x + sign(w)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("opt", [1, 2])
def test_the_gradient_of_log_exp_computes_no_exp(opt, dtype):
    """Output elementwise, log(exp(x)) keeps its gradient's shape: d/dx log(e^x) = 1 was
    full_like(exp(x), 1), which computed e^x only for its shape and warned of overflow at
    x = 800, where the output (x itself) and the gradient are finite."""
    text = "dim N\ninput x : [N]\ny = log(exp(x))\nloss = sum(y)\noutput y\nminimize loss wrt x\n"
    model = graphc.compile_source(text, dtype=dtype, opt=opt)
    x = np.array([-1000.0, -0.5, 800.0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        value, grads = model.loss_and_grad({}, x=x)
        out = model.forward({}, x=x)
    assert value == pytest.approx(-200.5)
    np.testing.assert_array_equal(out, x)
    np.testing.assert_array_equal(grads["x"], [1.0, 1.0, 1.0])  # d/dx x


def test_exp_over_itself_cancels_a_scaled_quotient():
    """(s / exp(x)) * exp(x) is s in the shape of x, in either operand order, and an array
    numerator of that shape is itself."""
    for make, after in [
        (lambda s, x, y: (lambda e: (s / e) * e)(op("exp", x)), {"broadcast_like": 1}),
        (lambda s, x, y: (lambda e: e * (y / e))(op("exp", x)), {}),
    ]:
        graph = tiny(make, s=S, x=M, y=M)
        out = simplify(graph, ["exp_over_itself"])
        verify(out)
        assert ops(out) == Counter(after)
        assert_same(graph, out, sample(graph))


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_sgd_step_through_log_exp_moves_by_the_gradient(dtype):
    """sgd_step's own gradient at -O2 is seeded with lr, so log(exp(3 - w)) left
    (lr / exp(3 - w)) * exp(3 - w), which overflows to inf / inf at w = -1000: the step wrote
    nan into w where loss_and_grad's gradient, d/dw (3 - w) = -1, is finite."""
    text = "param w : [3]\ny = log(exp(3 - w))\nloss = sum(y)\nminimize loss\n"
    model = graphc.compile_source(text, dtype=dtype, opt=2)
    w = np.array([-1000.0, 0.5, 80.0], dtype=dtype)
    params = {"w": w.copy()}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        value = model.sgd_step(params, 0.5)
    assert value == pytest.approx(9.0 - w.sum())  # sum(3 - w)
    np.testing.assert_array_equal(params["w"], w + 0.5)  # w - lr * (-1)


# log(sigmoid(x)) and its derivative sigmoid(-x), from the two halves where neither overflows
LOGISTIC_X = [-1000.0, -720.0, -50.0, 0.0, 50.0, 1000.0]


def _log_sigmoid(x: float) -> float:
    return x - math.log1p(math.exp(x)) if x < 0 else -math.log1p(math.exp(-x))


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x)) if x >= 0 else math.exp(x) / (1.0 + math.exp(x))


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("opt", [1, 2])
@pytest.mark.parametrize("one_minus", [False, True])
def test_log_of_a_sigmoid_is_exact_at_any_argument(one_minus, opt, dtype):
    """log(sigmoid(x)) stopped at log(1.5e-308) = -708 (-87 in float32): the sum over x = -1000
    and -720 was -1417.6, not -1720; log(1 - sigmoid(x)) was -inf from x = 37 on, its gradient
    nan. Now they are -softplus(-x) and -softplus(x), their gradients sigmoid(-x) and -sigmoid(x),
    in loss_and_grad and in sgd_step (whose gradient comes times lr)."""
    expr = "log(1 - sigmoid(w * x))" if one_minus else "log(sigmoid(w * x))"
    text = f"input x : [6]\nparam w : [6] = ones\nloss = sum({expr})\nminimize loss\n"
    model = graphc.compile_source(text, dtype=dtype, opt=opt)
    sign = -1.0 if one_minus else 1.0  # log(1 - sigmoid(x)) = log(sigmoid(-x))
    x = np.array(LOGISTIC_X, dtype=dtype)
    want = [_log_sigmoid(sign * v) for v in LOGISTIC_X]
    dw = [sign * v * _sigmoid(-sign * v) for v in LOGISTIC_X]  # d/dw log sigmoid(s w x) at w = 1
    tol = {"float64": (1e-12, 1e-13), "float32": (1e-6, 1e-4)}[dtype]  # rtol; atol, 2 ulp of 1000
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        value, grads = model.loss_and_grad({"w": np.ones(6, dtype=dtype)}, x=x)
        moved = {"w": np.ones(6, dtype=dtype)}
        assert model.sgd_step(moved, 0.5, x=x) == pytest.approx(value, rel=1e-7)
    assert value == pytest.approx(sum(want), rel=tol[0])
    np.testing.assert_allclose(grads["w"], dw, rtol=tol[0], atol=tol[1])
    np.testing.assert_allclose(moved["w"], 1.0 - 0.5 * np.array(dw), rtol=tol[0], atol=tol[1])
    if dtype == "float64":  # central differences, one element at a time
        h = 1e-6
        for i in range(6):
            up, down = np.ones(6), np.ones(6)
            up[i] += h
            down[i] -= h
            fd = (model.loss({"w": up}, x=x) - model.loss({"w": down}, x=x)) / (2 * h)
            assert fd == pytest.approx(dw[i], rel=1e-5, abs=1e-6), LOGISTIC_X[i]


@pytest.mark.parametrize("opt", [1, 2])
def test_the_logistic_loss_as_derived_gives_sigmoid_minus_label(opt):
    """-(y log p + (1 - y) log(1 - p)) with p = sigmoid(z), p also an output: the loss is
    softplus(-z) or softplus(z) per example and d/dz p - y, where log(p) was log(1e-308) and
    log(1 - p) -inf, and the gradient through them nan (0 / 0 past z = 37)."""
    text = textwrap.dedent(
        """\
        dim N
        input x : [N, 2]
        input y : [N]
        param w : [2] = ones
        p = sigmoid(x @ w)
        loss = -sum(y * log(p) + (1 - y) * log(1 - p))
        output p
        minimize loss
        """
    )
    compiled = compile_text(text, "m.nn", opt=opt)
    kinds = Counter(compiled.optimized.op(n) for n in compiled.optimized.order())
    assert kinds["log"] == 0 and kinds["div"] == 0 and kinds["softplus"] == 2 and kinds["sigmoid"] == 1
    model = graphc.compile_source(text, opt=opt)
    z = np.array([1000.0, -1000.0, 720.0, -50.0, 50.0, 0.5])
    x = np.stack([z, np.zeros_like(z)], axis=1)
    y = np.array([0.0, 1.0, 1.0, 0.0, 1.0, 1.0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        value, grads = model.loss_and_grad({"w": np.ones(2)}, x=x, y=y)
        p = model.forward({"w": np.ones(2)}, x=x, y=y)
    want = sum(-_log_sigmoid(v if t else -v) for v, t in zip(z, y))
    assert value == pytest.approx(want, rel=1e-12)
    np.testing.assert_allclose(p, [_sigmoid(v) for v in z], rtol=1e-12, atol=1e-307)  # (1.5e-308 at -1000)
    dz = np.array([_sigmoid(v) for v in z]) - y  # d loss / dz
    np.testing.assert_allclose(grads["w"], [np.dot(z, dz), 0.0], rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("opt", [0, 1, 2])
def test_merged_constants_stay_within_float32(opt):
    """In float32, whose numbers lie between 1.2e-38 and 3.4e38, (x * 1e20) * 1e20 is 0 at
    x = 0 and 1e10 at x = 1e-30; merged as x * 1e40 it was nan and inf there. And
    (x * 1e-25) * 1e-25 is 1e-20 at x = 1e30; merged as x * 1e-50 it was 0."""

    def compiled(expression):
        text = f"dim N\ninput x : [N]\ny = {expression}\nloss = sum(y)\noutput y\nminimize loss wrt x\n"
        return graphc.compile_source(text, dtype="float32", opt=opt)

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        y = compiled("(x * 1e20) * 1e20").forward({}, x=np.array([0.0, 1e-30], dtype=np.float32))
        z = compiled("(x * 1e-25) * 1e-25").forward({}, x=np.array([1e30], dtype=np.float32))
    assert y[0] == 0.0
    assert y[1] == pytest.approx(1e10, rel=1e-6)
    assert z[0] == pytest.approx(1e-20, rel=1e-6)


# ---------------------------------------------------------------------------- corner cases

# programs the random ones above do not reach: size-1 axes, rank 3 and rank 0, several and
# negative reduction axes, reshapes with -1, .T of a vector and of a rank-3 value, constant
# powers, normalizers along each axis, labels of rank 0 and 2, fns and loops reusing params
CORNERS = {
    "size-1 axes": """
        input x : [B, 1]
        param a : [1, 3]
        param b : [1]
        param c : [3, 1]
        h = x * a + b
        loss = mean((tanh(h) @ c)^2) + sum(a * b) + sum(b @ b)
    """,
    "reductions": """
        input x : [B, 3, 4]
        param w : [3, 4]
        h = x * w
        s = sum(h, axis=(0, 2), keepdims=true)
        loss = sum(s^2) + mean(mean(h, axis=-1)^2) + mean(max(h, axis=(-2, -1))) + mean(logsumexp(h, axis=(1, 2), keepdims=true))
    """,
    "reshapes and transposes": """
        input z : [2, B, 3]
        param w : [3]
        param t : [3, 1, 2]
        param s : []
        a = reshape(z * w, [-1, 3])
        loss = mean(a^2) + mean(reshape(z, [B, -1])) + mean(z * exp(w.T)) + mean(z.T * t) * s.T
    """,
    "powers": """
        input x : [4]
        param w : [4]
        p = 1 + square(w)
        loss = sum(p^-4 + p^-2 + p^-1.5 + p^-0.5 + p^0 + p^0.25 + p^1.5 + p^2.5 + p^7 + w^3 + w^2^2) + sum(x * w^1)
    """,
    "normalizers": """
        input x : [B, 3, 4]
        param w : [4]
        param u : [3, 1]
        h = x * w + u
        loss = sum(softmax(h, axis=0) * x) + mean(log_softmax(h, axis=-2) * x) + mean(logsumexp(h, axis=0)^2)
    """,
    "labels": """
        input x : [B, 2, 3]
        input k : int[B, 2]
        input j : int[]
        param W : [3, 4]
        param e : [4]
        z = reshape(reshape(x, [-1, 3]) @ W, [B, 2, 4])
        loss = mean(cross_entropy(z, k)) + cross_entropy(e, j) + sum(one_hot(j, 4) @ W.T) + one_hot(j, 4) @ e
    """,
    "fns and loops": """
        input x : [B, 3]
        param W0 : [3, 3]
        fn layer(a, M) {
            t = a @ M
            return tanh(t) + a * relu(t)
        }
        h = x
        for i in 1..2 {
            param W{i} : [3, 3]
            h = layer(layer(h, W{i}), W0)
        }
        loss = mean(h * h) + 0.5 * sum(abs(W0)) + mean(maximum(h, x) - minimum(h, 0.5))
    """,
}


@pytest.mark.parametrize("name", sorted(CORNERS))
def test_corner_cases_agree_with_finite_differences_at_every_level(name):
    """Loss and gradients of every -O level against central differences of the -O0 loss."""
    text = "dim B\n" + textwrap.dedent(CORNERS[name]) + "minimize loss\n"
    modules = [_module(text, level) for level in (0, 1, 2)]
    rng = np.random.default_rng(0)
    params = {k: np.asarray(v + 0.3 * rng.normal(size=v.shape)) for k, v in modules[0].init_params(seed=1).items()}
    data = {}
    for k, (shape, dtype) in modules[0].INPUTS.items():
        shape = tuple(5 if d == "B" else d for d in shape)
        data[k] = rng.integers(0, 4, size=shape) if dtype == "int64" else rng.normal(size=shape)
    want_loss, want_grads = modules[0].loss_and_grad(params, **data)
    for m in modules[1:]:
        loss, grads = m.loss_and_grad(params, **data)
        assert loss == pytest.approx(want_loss, rel=1e-10)
        for k in want_grads:
            np.testing.assert_allclose(grads[k], want_grads[k], rtol=1e-8, atol=1e-12)
    for k, p in params.items():
        numeric = np.zeros(p.shape)
        for i in np.ndindex(p.shape):
            h = 1e-6 * max(1.0, abs(p[i]))
            up, down = p.copy(), p.copy()
            up[i] += h
            down[i] -= h
            numeric[i] = (modules[0].loss({**params, k: up}, **data) - modules[0].loss({**params, k: down}, **data)) / (
                2 * h
            )
        np.testing.assert_allclose(want_grads[k], numeric, rtol=1e-5, atol=1e-7 * max(1.0, abs(want_loss)), err_msg=k)


@pytest.mark.parametrize("opt", [1, 2])
def test_compiling_leaves_no_graph_in_a_reference_cycle(opt: int) -> None:
    """A compile runs with the cyclic collector paused, so a graph caught in a reference cycle
    lives to the end of the run: every sweep's whole graph was kept that way (a recursive
    closure in the passes, networkx's edge views), and 5,000 statements peaked at 1.2 GB."""
    import gc

    import networkx as nx

    from graphc.util import gc_paused

    examples = sorted((Path(__file__).parent.parent / "examples").glob("*.nn"))
    assert len(examples) >= 5
    gc.collect()
    with gc_paused():
        gc.set_debug(gc.DEBUG_SAVEALL)
        try:
            for path in examples:
                compile_text(path.read_text(), str(path), opt=opt)
            gc.collect()
            caught = sorted({type(o).__name__ for o in gc.garbage if isinstance(o, (Graph, nx.Graph))})
        finally:
            gc.set_debug(0)
            gc.garbage.clear()
    assert caught == []
