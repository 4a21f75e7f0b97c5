"""Every op of the table, one at a time, against independent oracles.

* the emission (evaluated by `ir.evaluate`) against a plain NumPy reference,
* the shape rule against the shape NumPy produces (and its refusals against NumPy's),
* each gradient rule by the dot-product test <v, J u> = <J^T v, u>, where J u comes
  from central differences in float64 and J^T v from the backward graph,
* each gradient rule differentiated once more (the rules build graphs, so Hessians work),
* the stability claims of the spec and its conventions at kinks.
"""

from __future__ import annotations

import warnings
import zlib
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import graphc
from graphc.autodiff import differentiate
from graphc.ir import Graph, evaluate
from graphc.ops import OPS
from graphc.ops.base import AFFINE, CONVEX, ShapeError, V, broadcast, op
from graphc.ops.helpers import HELPERS, closure

LEAVES = {"input", "param", "const", "arg"}
H = 1e-5  # central-difference step: error O(H^2) against rounding O(eps / H)


# ---------------------------------------------------------------------------- cases


@dataclass(frozen=True)
class Case:
    """One application of an op: argument shapes, attrs as the front end passes them, input domains."""

    op: str
    shapes: tuple[tuple[int, ...], ...]
    attrs: tuple[tuple[str, Any], ...] = ()
    domain: tuple[str, ...] = ()  # per argument: any, pos, away (from 0), lo/hi (interleaved), int:K

    @property
    def kw(self) -> dict[str, Any]:
        return dict(self.attrs)

    def dom(self, i: int) -> str:
        return self.domain[i] if i < len(self.domain) else "any"

    @property
    def id(self) -> str:
        shapes = ",".join("[" + ",".join(map(str, s)) + "]" for s in self.shapes)
        attrs = ",".join(f"{k}={v}" for k, v in self.attrs)
        return f"{self.op}({shapes}{';' + attrs if attrs else ''})"


def sample(case: Case, rng: np.random.Generator) -> list[np.ndarray]:
    """Arguments inside each op's domain and away from its kinks and ties."""
    out = []
    for i, shape in enumerate(case.shapes):
        d = case.dom(i)
        if d.startswith("int:"):
            out.append(rng.integers(0, int(d[4:]), size=shape))
        elif d == "pos":
            out.append(rng.uniform(0.5, 2.0, size=shape))
        elif d == "away":  # |x| >= 0.2, so a step of H never crosses 0
            out.append(rng.choice([-1.0, 1.0], size=shape) * rng.uniform(0.2, 1.5, size=shape))
        elif d in ("lo", "hi"):  # lo values sit at k + 0.25, hi values at k + 0.75: never within 0.3
            base = rng.integers(-2, 3, size=shape) + (0.25 if d == "lo" else 0.75)
            out.append(base + rng.uniform(-0.1, 0.1, size=shape))
        else:
            out.append(rng.normal(size=shape))
    return out


UNARY = ["neg", "exp", "expm1", "log", "sqrt", "abs", "square", "relu", "sigmoid", "tanh", "softplus", "sin", "cos"]
KINKED = {"abs", "relu", "maximum", "minimum", "max"}
POSITIVE = {"log", "sqrt"}
BROADCAST_PAIRS = [
    ((3, 1), (4,)),
    ((2, 3), ()),
    ((), (2, 3)),
    ((5,), (2, 5)),
    ((2, 3), (2, 3)),
    ((), ()),
    ((4, 1, 3), (2, 1)),
    ((1,), (3,)),
    ((2, 1), (1, 3)),
]
AXES = [None, 0, 1, 2, -1, -3, (0, 1), (0, 2), (1, 2), (-1, 0), (0, 1, 2)]


def _cases() -> list[Case]:
    cases: list[Case] = []
    for name in UNARY:
        dom = "pos" if name in POSITIVE else "away" if name in KINKED else "any"
        for shape in [(), (3,), (2, 3)]:
            cases.append(Case(name, (shape,), (), (dom,)))
    for p in [2.0, 3.0, 4.0, 1.0, 0.0, 0.5, -1.0, -2.0, -3.0, -4.0, 1.5, -0.5, -1.5, 2.5]:
        dom = "any" if p == int(p) and p >= 0 else "pos"
        cases.append(Case("pow", ((2, 3),), (("p", p),), (dom,)))
    for name in ["add", "sub", "mul", "div", "maximum", "minimum"]:
        for sa, sb in BROADCAST_PAIRS:
            dom = {"div": ("any", "away"), "maximum": ("lo", "hi"), "minimum": ("hi", "lo")}.get(name, ())
            cases.append(Case(name, (sa, sb), (), dom))
    for sa, sb in [((2, 3), (3, 4)), ((3,), (3, 4)), ((2, 3), (3,)), ((3,), (3,))]:
        cases.append(Case("matmul", (sa, sb)))
    for shape in [(), (5,), (2, 3), (2, 3, 4)]:
        for mean in (False, True):
            cases.append(Case("inner", (shape, shape), (("mean", mean),)))
    for name in ["sum", "mean", "max", "logsumexp"]:
        for axis in AXES:
            for keepdims in (False, True):
                cases.append(Case(name, ((2, 3, 4),), (("axis", axis), ("keepdims", keepdims))))
        cases.append(Case(name, ((),), (("axis", None), ("keepdims", False))))
        cases.append(Case(name, ((5,),), (("axis", -1), ("keepdims", True))))
    for name in ["softmax", "log_softmax"]:
        for shape, axis in [
            ((2, 3, 4), 0),
            ((2, 3, 4), 1),
            ((2, 3, 4), 2),
            ((2, 3, 4), -1),
            ((2, 3, 4), -2),
            ((5,), -1),
        ]:
            cases.append(Case(name, (shape,), (("axis", axis),)))
    for shape in [(), (3,), (2, 3), (2, 3, 4)]:
        cases.append(Case("transpose", (shape,)))
    for shape, target in [((2, 3), (3, 2)), ((2, 3), (6,)), ((2, 3), (1, 6, 1)), ((2, 3, 4), (4, 6)), ((5,), (5, 1))]:
        cases.append(Case("reshape", (shape,), (("shape", target),)))
    for shape, like in [((2, 3), (6,)), ((6,), (3, 2)), ((1, 4), (4,))]:
        cases.append(Case("reshape_like", (shape, like)))
    for shape, axes in [
        ((2, 3), (0,)),
        ((2, 3), (1,)),
        ((2, 3), (2,)),
        ((2, 3), (0, 2)),
        ((2, 3), (0, 1, 3)),
        ((), (0,)),
    ]:
        cases.append(Case("expand_dims", (shape,), (("axes", axes),)))
    for shape, like in [((3, 1), (2, 3, 4)), ((), (2, 3)), ((1, 4), (3, 4)), ((4,), (4,))]:
        cases.append(Case("broadcast_like", (shape, like)))
    for logits, k in [((5, 4), 4), ((4,), 4), ((2, 3, 4), 4)]:
        cases.append(Case("cross_entropy", (logits, logits[:-1]), (), ("any", f"int:{k}")))
    for logits, k in [((5, 4), 4), ((4,), 4), ((2, 3, 4), 4)]:
        cases.append(Case("softmax_minus_one_hot", (logits, logits[:-1]), (), ("any", f"int:{k}")))
        cases.append(Case("exp_minus_one_hot", (logits, logits[:-1]), (), ("any", f"int:{k}")))
    for x, labels in [((4, 3), (6,)), ((4,), (6,)), ((4, 3), ())]:  # six labels of four: some repeat
        cases.append(Case("rows", (x, labels), (), ("any", "int:4")))
    for g, labels in [((6, 3), (6,)), ((6,), (6,)), ((3,), ())]:
        cases.append(Case("scatter_rows", (g, labels), (("k", 4),), ("any", "int:4")))
    for x, labels in [((6, 4), (6,)), ((4,), ()), ((2, 3, 4), (2, 3)), ((6, 1), (6,))]:  # six labels of four repeat
        cases.append(Case("pick", (x, labels), (), ("any", "int:" + str(x[-1]))))
    for g, labels in [((6, 1), (6,)), ((), (6,)), ((1,), ()), ((2, 3, 1), (2, 3)), ((1, 1), (6,))]:
        cases.append(Case("scatter_pick", (g, labels), (("k", 4),), ("any", "int:4")))
    return cases


CASES = _cases()
# ops with no gradient rules: checked for their values only
VALUE_CASES = [
    Case("greater", ((3, 1), (4,)), (), ("lo", "hi")),
    Case("greater", ((2, 3), ()), (), ("hi", "lo")),
    Case("equal", ((4,), (4,)), (), ("int:3", "int:3")),
    Case("sign", ((2, 3),), (), ("away",)),
    Case("one_hot", ((5,),), (("k", 4),), ("int:4",)),
    Case("one_hot", ((2, 3),), (("k", 3),), ("int:3",)),
    Case("count", ((2, 3, 4),), (("axes", (0, 1)),)),
    Case("count", ((2, 3, 4),), (("axes", (2,)),)),
    Case("count", ((2, 3, 4),), (("axes", (0, 1, 2)),)),
    Case("count", ((2, 3, 4),), (("axes", ()),)),
    Case("minus_max", ((2, 3, 4),), (("axis", 2),)),
    Case("minus_max", ((2, 3, 4),), (("axis", 0),)),
    Case("minus_max", ((5,),), (("axis", -1),)),
    Case("normalized_minus_one_hot", ((5, 4), (5,), (5,)), (), ("pos", "pos", "int:4")),
    Case("normalized_minus_one_hot", ((2, 3, 4), (2, 3), (2, 3)), (), ("pos", "pos", "int:4")),
    Case("normalized_minus_one_hot", ((4,), (), ()), (), ("pos", "pos", "int:4")),
]


def build(case: Case, seed_extra: str = "") -> tuple[Graph, int, dict[str, np.ndarray]]:
    """A graph `out = op(a0, a1, ...)` over fresh inputs, and values for them."""
    rng = np.random.default_rng(zlib.crc32((case.id + seed_extra).encode()))
    values = sample(case, rng)
    g = Graph()
    args, named = [], {}
    for i, (shape, v) in enumerate(zip(case.shapes, values)):
        dtype = "int" if case.dom(i).startswith("int:") else "float"
        if case.op in ("equal",):  # compare floats that happen to be small integers
            dtype, v = "float", v.astype(float)
        name = f"a{i}"
        args.append(g.add("input", [], {"name": name, "shape": shape, "dtype": dtype}))
        named[name] = v
    return g, g.add(case.op, args, case.kw), named


def ids(cases: list[Case]) -> list[str]:
    return [c.id for c in cases]


# ---------------------------------------------------------------------------- NumPy references


def _axis(kw: dict) -> Any:
    return kw.get("axis")


def _softmax(x, axis):
    e = np.exp(x)
    return e / np.sum(e, axis=axis, keepdims=True)


def _cross_entropy(logits, labels):
    # -log of the softmax probability of the true class
    p = _softmax(logits, -1)
    return -np.log(np.take_along_axis(p, labels[..., None], axis=-1)[..., 0])


def _scatter_rows(k, g, labels):
    # the definition: one_hot(labels, k).T @ g, over the labels flattened
    rest = g.shape[labels.ndim :]
    picks = np.eye(k)[labels.reshape(-1)]
    return (picks.T @ g.reshape(labels.size, -1)).reshape((k, *rest))


REFERENCE = {
    "add": lambda kw, a, b: a + b,
    "sub": lambda kw, a, b: a - b,
    "mul": lambda kw, a, b: a * b,
    "div": lambda kw, a, b: a / b,
    "maximum": lambda kw, a, b: np.maximum(a, b),
    "minimum": lambda kw, a, b: np.minimum(a, b),
    "greater": lambda kw, a, b: a > b,
    "equal": lambda kw, a, b: a == b,
    "neg": lambda kw, x: -x,
    "exp": lambda kw, x: np.exp(x),
    "expm1": lambda kw, x: np.exp(x) - 1,
    "log": lambda kw, x: np.log(x),
    "sqrt": lambda kw, x: np.sqrt(x),
    "abs": lambda kw, x: np.abs(x),
    "square": lambda kw, x: x * x,
    "relu": lambda kw, x: np.where(x > 0, x, 0.0),
    "sigmoid": lambda kw, x: 1 / (1 + np.exp(-x)),
    "tanh": lambda kw, x: np.tanh(x),
    "softplus": lambda kw, x: np.log1p(np.exp(x)),
    "sin": lambda kw, x: np.sin(x),
    "cos": lambda kw, x: np.cos(x),
    "sign": lambda kw, x: np.sign(x),
    "pow": lambda kw, x: np.power(x, kw["p"]),
    "sum": lambda kw, x: np.sum(x, axis=_axis(kw), keepdims=kw["keepdims"]),
    "mean": lambda kw, x: np.mean(x, axis=_axis(kw), keepdims=kw["keepdims"]),
    "max": lambda kw, x: np.max(x, axis=_axis(kw), keepdims=kw["keepdims"]),
    "logsumexp": lambda kw, x: np.log(np.sum(np.exp(x), axis=_axis(kw), keepdims=kw["keepdims"])),
    "softmax": lambda kw, x: _softmax(x, kw["axis"]),
    "log_softmax": lambda kw, x: np.log(_softmax(x, kw["axis"])),
    "count": lambda kw, x: np.prod([x.shape[a] for a in kw["axes"]]),
    "matmul": lambda kw, a, b: np.matmul(a, b),
    "inner": lambda kw, a, b: np.sum(a * b) / (a.size if kw["mean"] else 1),
    "transpose": lambda kw, x: np.transpose(x),
    "reshape": lambda kw, x: np.reshape(x, kw["shape"]),
    "reshape_like": lambda kw, x, like: np.reshape(x, like.shape),
    "expand_dims": lambda kw, x: np.expand_dims(x, kw["axes"]),
    "broadcast_like": lambda kw, x, like: np.broadcast_to(x, like.shape),
    "one_hot": lambda kw, labels: np.eye(kw["k"])[labels],
    "cross_entropy": lambda kw, logits, labels: _cross_entropy(logits, labels),
    "softmax_minus_one_hot": lambda kw, z, labels: _softmax(z, -1) - np.eye(z.shape[-1])[labels],
    "exp_minus_one_hot": lambda kw, a, labels: np.exp(a) - np.eye(a.shape[-1])[labels],
    "normalized_minus_one_hot": lambda kw, e, s, labels: e / s[..., None] - np.eye(e.shape[-1])[labels],
    "minus_max": lambda kw, x: x - np.max(x, axis=kw["axis"], keepdims=True),
    "rows": lambda kw, x, labels: np.eye(x.shape[0])[labels] @ x,
    "scatter_rows": lambda kw, g, labels: _scatter_rows(kw["k"], g, labels),
    # the definitions: a sum of a product with the one-hot, and the one-hot scaled per row
    "pick": lambda kw, x, labels: np.sum(np.eye(x.shape[-1])[labels] * x, axis=-1),
    "scatter_pick": lambda kw, g, labels: np.eye(kw["k"])[labels] * g,
}


def test_every_op_has_a_reference_and_cases():
    assert set(OPS) - LEAVES == set(REFERENCE)
    with_grads = {name for name, d in OPS.items() if d.grads}
    assert with_grads == {c.op for c in CASES}, "every differentiable op has gradient cases"
    assert set(REFERENCE) == {c.op for c in CASES + VALUE_CASES}


@pytest.mark.parametrize("case", CASES + VALUE_CASES, ids=ids(CASES + VALUE_CASES))
def test_emission_and_shape_match_numpy(case: Case):
    g, node, values = build(case)
    want = np.asarray(REFERENCE[case.op](case.kw, *values.values()))
    got = np.asarray(evaluate(g, values)[node])
    assert g.shape(node) == want.shape, "the shape rule agrees with NumPy"
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("case", CASES + VALUE_CASES, ids=ids(CASES + VALUE_CASES))
def test_emission_keeps_its_meaning_inside_other_expressions(case: Case):
    """The code generator inlines an emission as is when the op says it is atomic, in
    parentheses otherwise; either way it must keep its value under tighter operators."""
    g, node, values = build(case)
    opdef = OPS[case.op]
    env: dict[str, Any] = {"np": np, "DTYPE": np.float64}
    for h in closure(opdef.helpers):
        exec(HELPERS[h].format(xp="np"), env)
    local = {f"_a{i}": v for i, v in enumerate(values.values())}
    text = opdef.emit("np", g.node(node)["attrs"], *local)
    text = text if opdef.atomic else f"({text})"
    plain = np.asarray(eval(text, env, local))
    for context in ["1.5 - {e}", "{e} ** 2", "-{e}", "{e}[...]", "{e}.T"]:
        try:
            want = eval(context.format(e="_v"), env, {"_v": plain if plain.ndim else plain.item()})
        except (TypeError, AttributeError):  # a Python int has no [...] or .T: nothing to compare
            continue
        got = eval(context.format(e=text), env, local)
        np.testing.assert_allclose(got, want, rtol=1e-12, err_msg=context.format(e=text))


def _buffered(case: Case) -> bool:
    """Whether the code generator may write the case's value into a buffer: a float array
    of an op with an `into` form."""
    g, node, _ = build(case)
    return OPS[case.op].into is not None and g.shape(node) != () and g.node(node)["dtype"] == "float"


INTO_CASES = [c for c in CASES if _buffered(c)]


@pytest.mark.parametrize("case", INTO_CASES, ids=ids(INTO_CASES))
def test_the_form_into_a_buffer_computes_the_plain_form(case: Case):
    """`into` writes the op's value into a preallocated array: a free buffer, or, for an
    op planned in place, the argument it overwrites."""
    g, node, values = build(case)
    opdef, attrs = OPS[case.op], g.node(node)["attrs"]
    env: dict[str, Any] = {"np": np, "DTYPE": np.float64}
    for h in closure(opdef.helpers):
        exec(HELPERS[h].format(xp="np"), env)
    args = list(values.values())
    local = {f"_a{i}": np.array(v, dtype=v.dtype if v.dtype.kind == "i" else float) for i, v in enumerate(args)}
    want = np.asarray(eval(opdef.emit("np", attrs, *local), env, dict(local)))
    wanted = opdef.constant and opdef.constant(attrs, *map(g.type, g.args(node)))
    if wanted:  # the workspace's constant array the form reads (relu's zeros, sigmoid's cap)
        shape, value = wanted
        env["_constant"] = np.full(shape, env[value] if isinstance(value, str) else value)
        attrs = {**attrs, "constant": "_constant"}
    if opdef.scratch:  # the workspace array it works in besides (softplus's second term), left unset
        attrs = {**attrs, "scratch": "_scratch"}
    outs = ["_out"] + [a for a, v in local.items() if opdef.inplace and np.shape(v) == want.shape]
    for out in outs:
        here = {k: v.copy() for k, v in local.items()} | {"_out": np.full(want.shape, np.nan)}
        here["_scratch"] = np.full(want.shape, np.nan)
        eval(opdef.into("np", attrs, out, *local), env, here)
        np.testing.assert_allclose(here[out], want, rtol=1e-12, atol=1e-12, err_msg=f"into {out}")


# ---------------------------------------------------------------------------- gradients


def dot_test(g: Graph, scalar: int, values: dict[str, np.ndarray], seed: int, rtol: float = 1e-6) -> None:
    """<grad_a, u> == d/dt scalar(a + t u) by central differences, for each float input a."""
    inputs = {g.node(n)["attrs"]["name"]: n for n in g.order() if g.op(n) == "input"}
    floats = {k: n for k, n in inputs.items() if g.node(n)["dtype"] == "float"}
    grads = differentiate(g, scalar, list(floats.values()))
    at = evaluate(g, values)
    rng = np.random.default_rng(seed)
    for name, n in floats.items():
        grad = np.asarray(at[grads[n]])
        assert grad.shape == np.shape(values[name]), f"gradient of {name} has the input's shape"
        u = rng.normal(size=np.shape(values[name]))

        def f(t: float, name: str = name, u: np.ndarray = u) -> float:
            moved = dict(values, **{name: values[name] + t * u})
            return float(evaluate(g, moved, nodes=[scalar])[scalar])

        fd = (f(H) - f(-H)) / (2 * H)
        assert np.sum(grad * u) == pytest.approx(fd, rel=rtol, abs=1e-8), name


def weighted_sum(g: Graph, node: int, values: dict[str, np.ndarray], rng: np.random.Generator) -> int:
    """s = sum(out * w) for a fixed random w: its gradient is J^T w."""
    w = g.add("input", [], {"name": "w", "shape": g.shape(node), "dtype": "float"})
    values["w"] = rng.normal(size=g.shape(node))
    return op("sum", V(g, node) * V(g, w), axes=None).node


@pytest.mark.parametrize("case", CASES, ids=ids(CASES))
def test_gradient_by_the_dot_product_test(case: Case):
    g, node, values = build(case)
    rng = np.random.default_rng(zlib.crc32(case.id.encode()) + 1)
    s = weighted_sum(g, node, values, rng)
    dot_test(g, s, values, seed=2)


@pytest.mark.parametrize("case", CASES, ids=ids(CASES))
def test_second_derivative_by_the_dot_product_test(case: Case):
    """Differentiate T = <grad_a s, z> again: the gradient rules' own graphs must be right."""
    g, node, values = build(case, "second")
    rng = np.random.default_rng(zlib.crc32(case.id.encode()) + 3)
    s = weighted_sum(g, node, values, rng)
    floats = [n for n in g.order() if g.op(n) == "input" and g.node(n)["dtype"] == "float"]
    floats = [n for n in floats if g.node(n)["attrs"]["name"] != "w"]
    grads = differentiate(g, s, floats)
    for i, n in enumerate(floats):
        z = g.add("input", [], {"name": f"z{i}", "shape": g.shape(n), "dtype": "float"})
        values[f"z{i}"] = rng.normal(size=g.shape(n))
        t = op("sum", V(g, grads[n]) * V(g, z), axes=None).node
        dot_test(g, t, values, seed=4 + i, rtol=1e-5)


# ---------------------------------------------------------------------------- shape rules


BAD = [
    ("add", ((3,), (4,)), {}),
    ("mul", ((2, 3), (3, 2)), {}),
    ("maximum", ((2,), (3,)), {}),
    ("matmul", ((2, 3), (4, 2)), {}),
    ("matmul", ((3,), (2,)), {}),
    ("sum", ((2, 3),), {"axis": 2}),
    ("sum", ((2, 3),), {"axis": -3}),
    ("mean", ((2, 3),), {"axis": (0, 0)}),
    ("max", ((2, 3),), {"axis": (1, -1)}),
    ("softmax", ((2, 3),), {"axis": 2}),
    ("log_softmax", ((2, 3),), {"axis": -3}),
]
NUMPY_OF = {"add": np.add, "mul": np.multiply, "maximum": np.maximum, "matmul": np.matmul}


@pytest.mark.parametrize("name,shapes,attrs", BAD, ids=[f"{b[0]}{b[1]}{b[2]}" for b in BAD])
def test_shape_rule_refuses_what_numpy_refuses(name, shapes, attrs):
    arrays = [np.ones(s) for s in shapes]
    with pytest.raises((ValueError, np.exceptions.AxisError)):
        if name in NUMPY_OF:
            NUMPY_OF[name](*arrays)
        elif name in ("softmax", "log_softmax"):
            np.sum(arrays[0], axis=attrs.get("axis", -1))
        else:
            np.sum(arrays[0], axis=attrs["axis"])
    g = Graph()
    args = [g.add("input", [], {"name": f"a{i}", "shape": s, "dtype": "float"}) for i, s in enumerate(shapes)]
    with pytest.raises(ShapeError):
        g.add(name, args, attrs)


@pytest.mark.parametrize("name", ["add", "exp", "sum", "softmax", "matmul", "maximum", "reshape"])
def test_int_labels_are_refused_by_float_ops(name):
    g = Graph()
    x = g.add("input", [], {"name": "x", "shape": (3, 3), "dtype": "int"})
    attrs = {"shape": (9,)} if name == "reshape" else {}
    with pytest.raises(ShapeError, match="int"):
        g.add(name, [x, x] if OPS[name].inputs == ("a", "b") else [x], attrs)


shapes_st = st.lists(st.integers(1, 3), min_size=0, max_size=4).map(tuple)


@given(shapes_st, shapes_st)
def test_broadcast_agrees_with_numpy(a, b):
    try:
        want = np.broadcast_shapes(a, b)
    except ValueError:
        with pytest.raises(ShapeError):
            broadcast(a, b, "add")
    else:
        assert broadcast(a, b, "add") == want


def test_broadcast_keeps_dim_names():
    assert broadcast(("B", 1), (4,), "add") == ("B", 4)
    assert broadcast(("B",), ("B",), "add") == ("B",)
    with pytest.raises(ShapeError, match=r"\[B, 4\] and \[3\]"):
        broadcast(("B", 4), (3,), "add")


# ---------------------------------------------------------------------------- facts


FACT_CASES = [c for c in CASES if c.op in UNARY + ["add", "sub", "maximum", "minimum", "sum", "mean", "max"]]


@pytest.mark.parametrize("case", FACT_CASES, ids=ids(FACT_CASES))
def test_declared_facts_hold_on_samples(case: Case):
    """Curvature on midpoints and monotonicity along positive steps, as each op declares."""
    facts = OPS[case.op].facts
    g, node, values = build(case, "facts")
    xs = list(values.values())

    def f(args: list[np.ndarray]) -> np.ndarray:
        return np.asarray(evaluate(g, dict(zip(values, args)), nodes=[node])[node])

    rng = np.random.default_rng(zlib.crc32(case.id.encode()))
    for _ in range(5):
        ys = sample(case, rng)
        if facts.curvature is not None:
            # convex: f((x + y) / 2) <= (f(x) + f(y)) / 2; concave: >=; affine: =
            mid, avg = f([(a + b) / 2 for a, b in zip(xs, ys)]), (f(xs) + f(ys)) / 2
            if facts.curvature == AFFINE:
                np.testing.assert_allclose(mid, avg, rtol=1e-12, atol=1e-12)
            else:
                sign = 1.0 if facts.curvature == CONVEX else -1.0
                assert np.all(sign * (mid - avg) <= 1e-12), f"{case.op} is {facts.curvature}"
        for i, name in enumerate(OPS[case.op].inputs):
            moved = list(xs)
            moved[i] = xs[i] + np.abs(rng.normal(size=np.shape(xs[i])))
            if name in facts.increasing:
                assert np.all(f(moved) >= f(xs) - 1e-12), f"{case.op} is increasing in {name}"
            if name in facts.decreasing:
                assert np.all(f(moved) <= f(xs) + 1e-12), f"{case.op} is decreasing in {name}"
    assert not facts.increasing & facts.decreasing


# ---------------------------------------------------------------------------- stability and kinks


BIG = np.array([-1e4, -800.0, -50.0, -1.0, 0.0, 1.0, 50.0, 800.0, 1e4])


def _value_and_grad(name: str, x: np.ndarray, attrs: dict, labels: np.ndarray | None = None):
    g = Graph()
    xn = g.add("input", [], {"name": "x", "shape": x.shape, "dtype": "float"})
    args = [xn]
    values: dict[str, np.ndarray] = {"x": x}
    if labels is not None:
        args.append(g.add("input", [], {"name": "y", "shape": labels.shape, "dtype": "int"}))
        values["y"] = labels
    out = g.add(name, args, attrs)
    s = op("sum", V(g, out), axes=None).node
    grad = differentiate(g, s, [xn])[xn]
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        at = evaluate(g, values)
    return np.asarray(at[out]), np.asarray(at[grad])


def test_softplus_and_sigmoid_are_stable_for_huge_inputs():
    sp, dsp = _value_and_grad("softplus", BIG, {})
    sg, dsg = _value_and_grad("sigmoid", BIG, {})
    for a in (sp, dsp, sg, dsg):
        assert np.all(np.isfinite(a))
    # softplus x = x + log(1 + e^-x) -> x for large x, -> 0 for very negative x
    np.testing.assert_allclose(sp[[0, -1]], [0.0, 1e4], atol=1e-12)
    np.testing.assert_allclose(dsp, 1 / (1 + np.exp(-np.clip(BIG, -700, 700))), atol=1e-300)
    np.testing.assert_allclose(sg, dsp, rtol=1e-12, atol=1e-300)
    np.testing.assert_allclose(dsg, sg * (1 - sg), rtol=1e-12, atol=1e-300)
    assert sg[4] == 0.5 and dsg[4] == 0.25


def test_the_derivative_of_softplus_is_its_limit_at_the_infinities():
    """d/dx softplus(x) = sigmoid(x): 1 at x = +inf, where it was e^(x - softplus x) = e^(inf - inf),
    nan with NumPy's warning; 0 at -inf; and still 1.9e-22 at -50, not 0."""
    x = np.array([np.inf, -np.inf, -50.0, 0.0, 50.0])
    value, grad = _value_and_grad("softplus", x, {})  # (any warning raises)
    assert value[0] == np.inf and value[1] == 0.0
    want = [1.0, 0.0, 1 / (1 + np.exp(50.0)), 0.5, 1 / (1 + np.exp(-50.0))]
    np.testing.assert_allclose(grad, want, rtol=1e-15, atol=0)


@pytest.mark.parametrize("opt", [0, 2])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_the_derivative_of_softplus_keeps_its_relative_accuracy(dtype, opt):
    """The generated module's sigmoid(x), computed from softplus(x) alone, is within a few units
    in the last place of a wider reference wherever it is a normal number of the dtype."""
    x = np.array([-700, -100, -80, -50, -20, -1, -1e-8, 0, 1e-8, 0.5, 1, 20, 50, 100, 1e4, np.inf], dtype=dtype)
    text = f"input x : [{x.size}]\nloss = sum(softplus(x))\nminimize loss wrt x\n"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _, grads = graphc.compile_source(text, dtype=dtype, opt=opt).loss_and_grad({}, x=x)
    assert grads["x"].dtype == dtype
    wide = np.longdouble if dtype == "float64" else np.float64  # (longdouble is float64 on some machines)
    with np.errstate(over="ignore"):
        ref = 1 / (1 + np.exp(-x.astype(wide)))
    normal = ref >= np.finfo(dtype).tiny
    assert normal.sum() >= 13
    rel = np.abs(grads["x"].astype(wide) - ref)[normal] / ref[normal]
    assert np.all(rel <= 4 * np.finfo(dtype).eps), dict(zip(x[normal], rel))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_softplus_keeps_its_relative_accuracy_everywhere(dtype):
    """softplus(-50) is 1.9e-22, not 0: wherever the value is a normal number of the dtype it
    is within a few units in the last place of a wider reference, into a buffer or not."""
    env = {"np": np, "DTYPE": dtype}
    exec(HELPERS["_softplus"].format(xp="np"), env)
    softplus = env["_softplus"]
    x = np.array([-700, -100, -80, -50, -20, -1, -1e-8, 0, 1e-8, 0.5, 1, 20, 50, 100, 1e4], dtype=dtype)
    wide = np.longdouble if dtype == np.float64 else np.float64  # (longdouble is float64 on some machines)
    ref = np.logaddexp(0, x.astype(wide))
    normal = ref >= np.finfo(dtype).tiny
    assert normal.sum() >= 12
    got = softplus(x)
    assert got.dtype == dtype
    rel = np.abs(got.astype(wide) - ref)[normal] / ref[normal]
    assert np.all(rel <= 4 * np.finfo(dtype).eps), dict(zip(x[normal], rel))
    y = x.copy()
    assert softplus(y, out=y) is y  # over its own argument, as the planned code calls it
    np.testing.assert_array_equal(y, got)
    assert softplus(x[3]).shape == () and softplus(x[3]) == got[3]  # rank 0


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(
    "shape", [(6, 1), (6, 10), (2, 3, 10), (6, 31), (6, 32), (6, 100), (0, 10), (6, 0), (10,), (0,)]
)
def test_softmax_and_logsumexp_helpers_agree_with_a_wide_reference(shape, dtype):
    """Short rows take another path (a transposed copy for the max, a product with ones for
    the sum): every path gives the reference's values, shapes and dtype, along the last axis
    and others, for C-ordered and transposed arrays, with rows holding -inf, +inf and nan."""
    env = {"np": np, "DTYPE": dtype}
    for h in closure(["_softmax", "_logsumexp_parts"]):
        exec(HELPERS[h].format(xp="np"), env)
    x = np.random.default_rng(len(shape)).standard_normal(shape).astype(dtype) * 5
    if x.ndim == 2 and x.shape[0] >= 4 and x.shape[1] >= 2:
        x[0] = -np.inf  # a row of -inf: logsumexp -inf, softmax nan as 0/0
        x[1, 0] = np.inf  # logsumexp +inf, softmax nan
        x[2, 1] = np.nan
        x[3, :] = 1e30  # overflows e^x unless the max is subtracted
    wide = x.astype(np.longdouble)
    for arr, ref_arr in [(x, wide), (np.swapaxes(x, 0, -1), np.swapaxes(wide, 0, -1))]:
        for axis in sorted({-1, arr.ndim - 1, 0}):
            with np.errstate(all="ignore"):
                top = np.max(ref_arr, axis=axis, keepdims=True, initial=-np.inf)
                m = np.clip(top, -np.finfo(dtype).max, np.finfo(dtype).max)  # logsumexp's
                s = np.exp(ref_arr - m).sum(axis=axis, keepdims=True)
                e = np.exp(ref_arr - top)  # the softmax's (a row with +inf is nan)
                rest, soft = np.log(s), e / e.sum(axis=axis, keepdims=True)
                got_m, got_rest = env["_logsumexp_parts"](arr, axis)
                got_soft = env["_softmax"](arr, axis)
            assert got_m.dtype == got_rest.dtype == got_soft.dtype == dtype
            assert got_m.shape == m.shape and got_soft.shape == arr.shape
            tol = 8 * np.finfo(dtype).eps
            np.testing.assert_array_equal(got_m, m.astype(dtype))
            np.testing.assert_allclose(got_rest, rest, rtol=tol, atol=tol)
            np.testing.assert_allclose(got_soft, soft, rtol=tol, atol=tol)


@pytest.mark.parametrize("helper", ["_softmax_minus_one_hot", "_exp_minus_one_hot"])
def test_minus_one_hot_helpers_work_in_place_over_any_layout(helper):
    """softmax(z) - one_hot(y) and e^logp - one_hot(y) may be computed over their own argument:
    the 1 is taken off that array itself, C-ordered or not, and labels of any integer dtype."""
    env = {"np": np, "DTYPE": np.float64}
    for h in closure([helper]):
        exec(HELPERS[h].format(xp="np"), env)
    rng = np.random.default_rng(7)
    for shape in [(5, 4), (2, 3, 4)]:
        labels = rng.integers(0, 4, shape[:-1]).astype(np.uint64)
        z = rng.standard_normal(shape)
        first = np.exp(z) / np.exp(z).sum(-1, keepdims=True) if helper == "_softmax_minus_one_hot" else np.exp(z)
        want = first - np.eye(4)[labels.astype(np.intp)]
        for layout in (z.copy(), np.asfortranarray(z), np.swapaxes(np.swapaxes(z, 0, -1).copy(), 0, -1)):
            assert np.array_equal(layout, z)
            got = env[helper](layout, labels, out=layout)
            assert got is layout
            np.testing.assert_allclose(layout, want, rtol=1e-14, atol=1e-15)
        np.testing.assert_allclose(env[helper](z, labels), want, rtol=1e-14, atol=1e-15)  # a new array


def test_normalized_minus_one_hot_works_in_place_over_any_layout():
    """e / s - one_hot(y), the cross-entropy's gradient from its exponentials and their row sums,
    may be computed over e itself, C-ordered or not."""
    env = {"np": np, "DTYPE": np.float64}
    for h in closure(["_normalized_minus_one_hot"]):
        exec(HELPERS[h].format(xp="np"), env)
    helper = env["_normalized_minus_one_hot"]
    rng = np.random.default_rng(8)
    for shape in [(5, 4), (2, 3, 4)]:
        labels = rng.integers(0, 4, shape[:-1]).astype(np.uint64)
        e = np.exp(rng.standard_normal(shape))
        sums = e.sum(-1)
        want = e / sums[..., None] - np.eye(4)[labels.astype(np.intp)]
        for layout in (e.copy(), np.asfortranarray(e), np.swapaxes(np.swapaxes(e, 0, -1).copy(), 0, -1)):
            got = helper(layout, sums, labels, out=layout)
            assert got is layout
            np.testing.assert_allclose(layout, want, rtol=1e-14, atol=1e-15)
        np.testing.assert_allclose(helper(e, sums, labels), want, rtol=1e-14, atol=1e-15)  # a new array


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sigmoid_keeps_its_relative_accuracy_and_dtype(dtype):
    """The helper's 1 is an array of the dtype, not a Python number: the values stay in the
    dtype, within a few units in the last place of a wider reference where they are normal."""
    env = {"np": np, "DTYPE": dtype}
    for name in closure(["_sigmoid"]):  # with the _ONE it reads
        exec(HELPERS[name].format(xp="np"), env)
    x = np.array([-1e4, -100, -80, -50, -20, -1, -1e-8, 0, 1e-8, 0.5, 1, 20, 50, 1e4], dtype=dtype)
    wide = np.longdouble if dtype == np.float64 else np.float64
    with np.errstate(over="ignore"):  # e^1e4 is inf in the reference: sigmoid(-1e4) is 0
        ref = 1 / (1 + np.exp(-x.astype(wide)))
    got = env["_sigmoid"](x)
    assert got.dtype == dtype
    normal = ref >= np.finfo(dtype).tiny
    rel = np.abs(got.astype(wide) - ref)[normal] / ref[normal]
    assert normal.sum() >= 10 and np.all(rel <= 4 * np.finfo(dtype).eps), dict(zip(x[normal], rel))
    assert env["_ONE"] == 1 and not env["_ONE"].flags.writeable


@pytest.mark.parametrize("shift", [1e4, -1e4, 0.0])
def test_logsumexp_log_softmax_cross_entropy_are_stable(shift: float):
    x = np.array([[0.0, 1.0, 2.0], [-3.0, 0.5, 3.0]])
    big = x + shift
    spread = np.array([[-1e4, 0.0, 1e4], [1e4, 1e4, -1e4]])
    labels = np.array([2, 0])
    # logsumexp(x + c) = logsumexp(x) + c; log_softmax and cross_entropy do not move
    lse, dlse = _value_and_grad("logsumexp", big, {"axis": 1})
    lse0, dlse0 = _value_and_grad("logsumexp", x, {"axis": 1})
    np.testing.assert_allclose(lse, lse0 + shift, rtol=1e-12)
    np.testing.assert_allclose(dlse, dlse0, rtol=1e-9)
    ls, dls = _value_and_grad("log_softmax", big, {"axis": -1})
    ls0, dls0 = _value_and_grad("log_softmax", x, {"axis": -1})
    np.testing.assert_allclose(ls, ls0, atol=1e-9)
    np.testing.assert_allclose(dls, dls0, atol=1e-9)
    ce, dce = _value_and_grad("cross_entropy", big, {}, labels)
    ce0, dce0 = _value_and_grad("cross_entropy", x, {}, labels)
    np.testing.assert_allclose(ce, ce0, atol=1e-9)
    np.testing.assert_allclose(dce, dce0, atol=1e-9)
    for name, attrs, lab in [
        ("logsumexp", {"axis": 1}, None),
        ("log_softmax", {}, None),
        ("cross_entropy", {}, labels),
    ]:
        v, d = _value_and_grad(name, spread + shift, attrs, lab)
        assert np.all(np.isfinite(v)) and np.all(np.isfinite(d)), name
    # d/dz = softmax(z) - one_hot(y); with entries 1e4 apart the softmax is exact 0s, 1s and halves
    _, d = _value_and_grad("cross_entropy", spread, {}, labels)
    np.testing.assert_allclose(d, np.array([[0, 0, 1], [0.5, 0.5, 0]]) - np.array([[0, 0, 1], [1, 0, 0]]), atol=1e-12)


def test_log_softmax_and_cross_entropy_keep_their_digits_at_large_logits():
    """The max is subtracted before log sum e^(x - max) is: m + rest, rounded at m's scale,
    would lose rest's digits (at 1e4 a float64 keeps 12 of them; at 30 a loss of 1e-13 none)."""
    pair = np.array([[1e4, 1e4 - 1.0]])
    ls, _ = _value_and_grad("log_softmax", pair, {"axis": -1})
    np.testing.assert_allclose(ls, [[-np.log1p(np.exp(-1.0)), -1.0 - np.log1p(np.exp(-1.0))]], rtol=1e-15)
    ce, _ = _value_and_grad("cross_entropy", pair, {}, np.array([1]))
    np.testing.assert_allclose(ce, [1.0 + np.log1p(np.exp(-1.0))], rtol=1e-15)
    sure, _ = _value_and_grad("cross_entropy", np.array([[30.0, 0.0]]), {}, np.array([0]))
    np.testing.assert_allclose(sure, [np.log1p(np.exp(-30.0))], rtol=2e-3)  # 1 + e^-30 keeps 3 digits of e^-30


def test_relu_and_abs_have_zero_slope_at_zero():
    x = np.array([-1.0, 0.0, 2.0])
    _, drelu = _value_and_grad("relu", x, {})
    _, dabs = _value_and_grad("abs", x, {})
    np.testing.assert_array_equal(drelu, [0.0, 0.0, 1.0])
    np.testing.assert_array_equal(dabs, [-1.0, 0.0, 1.0])


def test_max_splits_ties_evenly():
    x = np.array([[1.0, 3.0, 3.0], [2.0, 2.0, 2.0]])
    _, d = _value_and_grad("max", x, {"axis": 1})
    np.testing.assert_allclose(d, [[0, 0.5, 0.5], [1 / 3, 1 / 3, 1 / 3]])
    _, d = _value_and_grad("max", x, {"axis": None})
    np.testing.assert_allclose(d, [[0, 0.5, 0.5], [0, 0, 0]])


@pytest.mark.parametrize("name", ["maximum", "minimum"])
def test_maximum_and_minimum_split_ties_evenly(name: str):
    g = Graph()
    a = g.add("input", [], {"name": "a", "shape": (3,), "dtype": "float"})
    b = g.add("input", [], {"name": "b", "shape": (), "dtype": "float"})
    s = op("sum", V(g, g.add(name, [a, b])), axes=None).node
    grads = differentiate(g, s, [a, b])
    at = evaluate(g, {"a": np.array([1.0, 2.0, 3.0]), "b": np.array(2.0)})
    wins = [0.0, 0.5, 1.0] if name == "maximum" else [1.0, 0.5, 0.0]
    np.testing.assert_allclose(at[grads[a]], wins)
    np.testing.assert_allclose(at[grads[b]], sum(1 - w for w in wins))


# ---------------------------------------------------------------------------- float32


@pytest.mark.parametrize("case", CASES, ids=ids(CASES))
def test_float32_stays_float32_through_the_backward_graph(case: Case):
    """No op and no gradient rule promotes a float32 model to float64."""
    g, node, values = build(case, "f32")
    s = op("sum", V(g, node), axes=None).node
    floats = [n for n in g.order() if g.op(n) == "input" and g.node(n)["dtype"] == "float"]
    grads = differentiate(g, s, floats)
    at = evaluate(g, values, dtype=np.float32)
    for n in [node, s, *grads.values()]:
        assert np.asarray(at[n]).dtype == np.float32, g.describe(n)


@pytest.mark.parametrize("p", [2.0, 3.0, 4.0, 0.5, 1.5, -1.0, -2.0, -3.0, -4.0, -0.5, -1.5, 2.5])
def test_powers_agree_with_np_power_at_zeros_of_either_sign_infinities_and_nan(p: float):
    x = np.array([-0.0, 0.0, np.inf, 4.0, -4.0, 1e-300, 1e300, np.nan, 0.3])
    if p == int(p):  # fractional powers of -inf are nan, as of every negative number (pow says inf or 0)
        x = np.append(x, -np.inf)
    opdef = OPS["pow"]
    with np.errstate(all="ignore"):
        want = np.power(x, p)
        plain = eval(opdef.emit("np", {"p": p}, "x"), {"np": np}, {"x": x})
        out = np.full_like(x, 7.0)
        eval(opdef.into("np", {"p": p}, "out", "x"), {"np": np}, {"x": x, "out": out})
    for got in (plain, out):
        np.testing.assert_allclose(got, want, rtol=1e-14, atol=1e-300)
        zeros = want == 0
        assert (np.signbit(got[zeros]) == np.signbit(want[zeros])).all() and (np.isinf(got) == np.isinf(want)).all()
        assert (np.sign(got[np.isinf(want)]) == np.sign(want[np.isinf(want)])).all()


# ---------------------------------------------------------------------------- the float range's edges
# Each test stands for a claim of docs/language.md, "Numerical stability", run through the
# generated module as a user runs it.


def _run(
    text: str, dtype: str = "float64", same_nans: bool = True, also: frozenset = frozenset(), **inputs
) -> tuple[Any, dict, set[str]]:
    """The forward pass and the gradient wrt x of the model at -O2 (-O0 gives the same), and
    the messages of the warnings NumPy gave; -O2 warns as -O0 does, or of the messages in `also`
    too. With same_nans=False the gradients' rows need only hold a nan in the same rows (and
    agree where both are numbers), and -O2 warns of no more than -O0 and `also`."""
    results = []
    for opt in (0, 2):
        module = graphc.compile_source(text, dtype=dtype, opt=opt)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            value, (_, grads) = module.forward({}, **inputs), module.loss_and_grad({}, **inputs)
        results.append((value, grads["x"], {str(w.message) for w in caught}))
    (v0, g0, w0), (v2, g2, w2) = results
    np.testing.assert_array_equal(v0, v2)
    if same_nans:
        np.testing.assert_array_equal(g0, g2)
        assert w2 - (also - w0) == w0
        return v2, g2, w2
    rows = lambda g: np.isnan(g).reshape(len(g), -1).any(axis=1)  # noqa: E731
    np.testing.assert_array_equal(rows(g0), rows(g2))
    both = ~np.isnan(g0) & ~np.isnan(g2)
    np.testing.assert_array_equal(g0[both], g2[both])
    assert w2 <= w0 | also
    return v2, g2, w2


def _normalizer(call: str) -> str:
    """A model computing call over x : [3, 3], its output v; the loss weighs v by c."""
    return f"input x : [3, 3]\ninput c : [3, 3]\nv = {call}\nloss = sum(v * c)\noutput v\nminimize loss wrt x\n"


ROWS = np.array([[np.inf, 0.0, 1.0], [-np.inf, 0.0, 1.0], [-np.inf, -np.inf, -np.inf]])
C = np.array([[1.0, 2.0, 3.0], [1.0, 2.0, 3.0], [1.0, 2.0, 3.0]])


def _finite_row(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """softmax and logsumexp of a row whose only infinities are -inf, by hand."""
    e = np.exp(x - x[np.isfinite(x)].max())
    return e / e.sum(), np.log(e.sum()) + x[np.isfinite(x)].max()


def test_a_row_holding_plus_inf_is_nan_or_inf_and_minus_inf_masks():
    soft, lse = _finite_row(ROWS[1])
    invalid = "invalid value encountered in subtract"
    v, g, said = _run(_normalizer("softmax(x)"), x=ROWS, c=C)
    assert np.isnan(v[0]).all() and np.isnan(v[2]).all() and np.isnan(g[0]).all() and np.isnan(g[2]).all()
    np.testing.assert_allclose(v[1], soft, rtol=1e-15)
    assert v[1, 0] == 0 and g[1, 0] == 0 and np.isfinite(g[1]).all()  # the -inf is masked out
    np.testing.assert_allclose(g[1], soft * (C[1] - soft @ C[1]), rtol=1e-12, atol=1e-15)
    assert invalid in said

    v, g, said = _run(
        "input x : [3, 3]\nv = logsumexp(x, axis=-1)\nloss = sum(v)\noutput v\nminimize loss wrt x\n", x=ROWS
    )
    assert v[0] == np.inf and v[1] == pytest.approx(lse, rel=1e-15) and v[2] == -np.inf
    assert np.isnan(g[0, 0]) and (g[0, 1:] == 0).all() and np.isnan(g[2]).all()  # nan at the +inf only
    assert g[1, 0] == 0 and np.allclose(g[1], soft, rtol=1e-15)
    assert invalid in said

    # from -O1 on its gradient reads the softmax as exp(x - max(x)) over its sums, not as the exp
    # of log_softmax(x): nan at the +inf as inf / inf, and along a row of -inf as 0 / 0
    divide = frozenset({"invalid value encountered in divide"})
    v, g, said = _run(_normalizer("log_softmax(x)"), x=ROWS, c=C, also=divide)
    assert np.isnan(v[0, 0]) and (v[0, 1:] == -np.inf).all() and np.isnan(v[2]).all()
    assert np.isnan(g[0, 0]) and np.isfinite(g[0, 1:]).all() and np.isnan(g[2]).all()
    np.testing.assert_allclose(v[1], ROWS[1] - lse, rtol=1e-15)
    assert invalid in said

    text = "input x : [3, 3]\ninput y : int[3]\nv = cross_entropy(x, y)\nloss = sum(v)\noutput v\nminimize loss wrt x\n"
    # -O2 takes the gradient as e / sum(e) - one_hot(y) from the loss's e = exp(x - max(x)), the
    # max clipped to the finite range: nan only at the +inf of a row (inf / inf), where -O0's
    # softmax is nan all along it (inf - inf): either way the row's gradient holds a nan, which
    # -O2 comes to in a division (and a row of -inf in 0 / 0)
    v, g, said = _run(text, x=ROWS, y=np.array([0, 2, 1]), same_nans=False, also=divide)  # the label at the +inf
    assert np.isnan(v[0]) and np.isnan(v[2]) and np.isnan(g[0, 0]) and np.isnan(g[2]).all()
    assert v[1] == pytest.approx(lse - ROWS[1, 2], rel=1e-15)
    np.testing.assert_allclose(g[1], soft - [0, 0, 1], rtol=1e-12, atol=1e-15)
    assert g[1, 0] == 0
    v, g, said = _run(text, x=ROWS, y=np.array([1, 0, 1]), same_nans=False, also=divide)  # elsewhere: -log 0
    assert v[0] == np.inf and np.isnan(g[0, 0])
    assert v[1] == np.inf and np.isfinite(g[1]).all()  # the label at the -inf: -log 0 too
    assert invalid in said
    # a param that every row reads sums the rows' gradients, the nan among them
    text = "dim B\ninput x : [B, 3]\ninput c : [B, 3]\nparam w : [3]\nloss = sum(softmax(x + w) * c)\nminimize loss\n"
    module = graphc.compile_source(text)
    for rows, poisoned in ((ROWS[:2], True), (ROWS[1:2], False)):
        with np.errstate(invalid="ignore"):
            _, grads = module.loss_and_grad({"w": np.zeros(3)}, x=rows, c=C[: len(rows)])
        assert np.isnan(grads["w"]).all() if poisoned else np.isfinite(grads["w"]).all(), grads


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_a_row_spread_past_the_largest_number_is_normalized_with_numpys_overflow_warning(dtype):
    big = float(np.finfo(dtype).max) * 0.9
    x = np.array([[-big, big, 0.0]] * 3, dtype=dtype)
    c = C.astype(dtype)
    overflow = "overflow encountered in subtract"
    v, g, said = _run(_normalizer("softmax(x)"), dtype, x=x, c=c)
    np.testing.assert_array_equal(v, [[0, 1, 0]] * 3)
    np.testing.assert_array_equal(g, np.zeros((3, 3)))
    assert overflow in said
    text = "input x : [3, 3]\nv = logsumexp(x, axis=-1)\nloss = sum(v)\noutput v\nminimize loss wrt x\n"
    v, g, said = _run(text, dtype, x=x)
    np.testing.assert_array_equal(v, x[:, 1])
    np.testing.assert_array_equal(g, [[0, 1, 0]] * 3)
    assert overflow in said
    text = "input x : [3, 3]\ninput y : int[3]\nv = cross_entropy(x, y)\nloss = sum(v)\noutput v\nminimize loss wrt x\n"
    v, g, said = _run(text, dtype, x=x, y=np.array([1, 2, 0]))
    assert v[0] == 0 and v[1] == x[1, 1] and v[2] == np.inf  # 2 * 0.9 * max is past the float range
    np.testing.assert_array_equal(g, [[0, 0, 0], [0, 1, -1], [-1, 1, 0]])
    assert overflow in said


@pytest.mark.parametrize("power", ["sqrt(x)", "x^0.5"])
def test_the_derivative_of_sqrt_is_plus_inf_at_zero_of_either_sign(power):
    x = np.array([0.0, -0.0, 4.0])
    text = f"input x : [3]\ninput c : [3]\nv = {power}\nloss = sum(v * c)\noutput v\nminimize loss wrt x\n"
    v, g, said = _run(text, x=x, c=np.ones(3))
    np.testing.assert_array_equal(g, [np.inf, np.inf, 0.25])
    assert said == {"divide by zero encountered in divide"}
    _, g, _ = _run(text, x=x, c=np.array([0.0, 0.0, 1.0]))  # a gradient of 0 arriving: 0 * inf
    assert np.isnan(g[:2]).all() and g[2] == 0.25


def test_the_derivative_of_log_is_plus_inf_at_zero_of_either_sign():
    # it was 1 / x, -inf at -0.0, where log is -inf as at 0.0 and sqrt's derivative is +inf
    x = np.array([0.0, -0.0, 4.0])
    text = "input x : [3]\ninput c : [3]\nv = log(x)\nloss = sum(v * c)\noutput v\nminimize loss wrt x\n"
    v, g, said = _run(text, x=x, c=np.ones(3))
    np.testing.assert_array_equal(v, [-np.inf, -np.inf, np.log(4.0)])
    np.testing.assert_array_equal(g, [np.inf, np.inf, 0.25])
    assert said == {"divide by zero encountered in log", "divide by zero encountered in divide"}


@pytest.mark.parametrize("dtype, sigmoid_flat, tanh_flat", [("float64", 36.74, 19.0), ("float32", 16.64, 10.0)])
def test_the_derivatives_of_sigmoid_and_tanh_are_zero_once_their_output_rounds_to_one(dtype, sigmoid_flat, tanh_flat):
    for name, flat in (("sigmoid", sigmoid_flat), ("tanh", tanh_flat)):
        text = f"input x : [4]\nv = {name}(x)\nloss = sum(v)\noutput v\nminimize loss wrt x\n"
        x = np.array([flat - 1, flat, flat + 1, 1e4], dtype=dtype)
        v, g, said = _run(text, dtype, x=x)
        assert (v[1:] == 1).all() and v[0] < 1 and not said
        assert g[0] > 0 and (g[1:] == 0).all(), g
        if name == "tanh":  # and on the negative side
            np.testing.assert_array_equal(_run(text, dtype, x=-x)[1], g)
        true = 4 * np.exp(-2 * flat) if name == "tanh" else np.exp(-flat)  # about, there
        assert true < np.finfo(dtype).eps
    # far on the negative side sigmoid stops at about e / max (under the smallest normal number),
    # and its derivative y (1 - y) with it, instead of going on to 0
    text = "input x : [2]\nv = sigmoid(x)\nloss = sum(v)\noutput v\nminimize loss wrt x\n"
    v, g, said = _run(text, dtype, x=np.array([-1e3, -1e4], dtype=dtype))
    floor = np.e / float(np.finfo(dtype).max)
    assert v[0] == v[1] == g[0] == g[1] and v[0] == pytest.approx(floor, rel=1e-5) and not said
    assert 0 < v[0] < np.finfo(dtype).tiny


@pytest.mark.parametrize("p", [-2, -3, -4, -1.5])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_negative_powers_past_the_float_range_are_zero_with_numpys_overflow_warning(dtype, p):
    top = float(np.finfo(dtype).max) ** (1 / -p)  # where x^-p passes the largest number
    text = f"input x : [3]\nv = x^{p}\nloss = sum(v)\noutput v\nminimize loss wrt x\n"
    assert p != -2 or f"{top:.1e}" in ("1.8e+19", "1.3e+154")  # as the docs put it
    x = np.array([top / 4, top * 1.01, top * 2], dtype=dtype)
    v, g, said = _run(text, dtype, x=x)
    assert v[0] == pytest.approx(float(x[0]) ** p, rel=1e-5)  # still a normal number
    assert (v[1:] == 0).all() and any(w.startswith("overflow encountered in") for w in said)
    assert 0 < float(x[1]) ** p < np.finfo(dtype).tiny  # the true value: one below the smallest normal
    if p == -2:
        # its derivative, -2 x^-3, is 0 from the cube root of the largest number on
        top = float(np.finfo(dtype).max) ** (1 / 3)
        x = np.array([top / 4, top * 1.01, -top * 1.01], dtype=dtype)
        v, g, said = _run(text, dtype, x=x)
        assert g[0] == pytest.approx(-2 * float(x[0]) ** -3, rel=1e-5)
        assert (g[1:] == 0).all() and "overflow encountered in multiply" in said
        assert dtype == "float64" or 6.9e12 < top < 7e12  # as the docs put it


def test_rewritten_forms_keep_numbers_that_the_written_ones_overflow_on_and_scalars_combine_first():
    """What the language guide says of -O1 and -O2 against -O0 at the edges of the float range:
    log(exp(x)), exp(x) / exp(x), two constant factors and a one-hot product summed over the
    classes are exact where the written form overflows (or multiplies -inf by 0), and numbers
    combined before the array is touched overflow where it may not."""

    def values(text, **inputs):
        out = []
        for opt in (0, 1, 2):
            module = graphc.compile_source(text + "loss = sum(v)\nminimize loss wrt x\n", dtype="float32", opt=opt)
            with np.errstate(over="ignore", invalid="ignore", divide="ignore"):  # -O0's exp, log(0), inf / inf
                out.append(
                    module.forward({}, **{k: np.asarray(v, np.float32 if k != "y" else int) for k, v in inputs.items()})
                )
        return out

    x = [1000.0, -1000.0, 1.0]
    o0, o1, o2 = values("input x : [3]\nv = log(exp(x))\noutput v\n", x=x)
    assert list(o0) == [np.inf, -np.inf, pytest.approx(1.0, rel=1e-6)]
    assert list(o1) == list(o2) == x
    o0, o1, o2 = values("input x : [3]\nv = exp(x) / exp(x)\noutput v\n", x=x)
    assert np.isnan(o0[:2]).all() and list(o1) == list(o2) == [1, 1, 1]
    o0, o1, o2 = values("input x : [1]\nv = x * 1e30 * 1e-30\noutput v\n", x=[1e10])
    assert o0[0] == np.inf and o1[0] == o2[0] == np.float32(1e10)
    masked = [[0.0, -np.inf, 1.0], [1.0, 2.0, 3.0]]
    text = "input x : [2, 3]\ninput y : int[2]\nv = -sum(one_hot(y, 3) * log_softmax(x), axis=1)\noutput v\n"
    o0, o1, o2 = values(text, x=masked, y=[0, 1])
    ce = values("input x : [2, 3]\ninput y : int[2]\nv = cross_entropy(x, y)\noutput v\n", x=masked, y=[0, 1])[0]
    assert np.isnan(o0[0]) and o0[1] == pytest.approx(ce[1], rel=1e-6)
    np.testing.assert_allclose(o1, ce, rtol=1e-6)
    np.testing.assert_array_equal(o1, o2)
    o0, o1, o2 = values("input x : [1]\ninput w : []\nv = x * 1e20 * 1e20 * w\noutput v\n", x=[1e-30], w=1.0)
    assert o0[0] == pytest.approx(1e10, rel=1e-6) and o1[0] == o2[0] == np.inf


@pytest.mark.parametrize("transposed", [False, True])
def test_pick_reads_rows_of_any_layout_and_scatter_pick_places_a_number_or_a_column(transposed):
    """_pick steps through x's values laid end to end where x is C-ordered, and reads a
    transposed view (which has no such layout) by its axes; _scatter_pick puts one value per
    row, given as a number or as a column, and writes zeros over whatever `out` held."""
    env: dict[str, Any] = {"np": np, "DTYPE": np.float64}
    for h in closure(["_pick", "_scatter_pick"]):
        exec(HELPERS[h].format(xp="np"), env)
    rng = np.random.default_rng(7)
    x = rng.normal(size=(4, 6)).T if transposed else rng.normal(size=(6, 4))
    labels = np.array([3, 3, 0, 2, 3, 0])
    np.testing.assert_array_equal(env["_pick"](x, labels), [x[i, k] for i, k in enumerate(labels)])
    column = rng.normal(size=(6, 1))
    for g in (-0.5, column):
        out = np.full((6, 4), np.nan)
        placed = env["_scatter_pick"](g, labels, 4, out=out)
        assert placed is out
        np.testing.assert_array_equal(placed, np.eye(4)[labels] * g)
