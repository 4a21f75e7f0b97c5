"""Whole models, compiled from .nn text, against HIPS autograd on the same model written by hand.

The generated module is loaded from its source text alone (exec into a fresh module), so
what is tested is exactly what `graphc compile` writes. Hessians come from
`hessian_vector_graph` on the compiled graph, one column H·e_i at a time.
"""

from __future__ import annotations

import textwrap
import types
from collections.abc import Callable
from dataclasses import dataclass, field

import autograd
import autograd.numpy as anp
import numpy as np
import pytest

from graphc.autodiff import hessian_vector_graph
from graphc.ir import evaluate
from graphc.pipeline import Compiled, compile_text

Arrays = dict[str, np.ndarray]


def compile_model(text: str, dtype: str = "float64", opt: int = 2) -> tuple[Compiled, types.ModuleType]:
    """Compile .nn text and load the generated module from its source, as a user would."""
    compiled = compile_text(textwrap.dedent(text), "model.nn", dtype=dtype, opt=opt)
    module = types.ModuleType(compiled.name)
    exec(compile(compiled.source, f"{compiled.name}.py", "exec"), module.__dict__)
    return compiled, module


# ---------------------------------------------------------------------------- reference helpers


def a_sigmoid(x):
    # sigma(x) = (1 + tanh(x / 2)) / 2, finite everywhere
    return 0.5 * (1 + anp.tanh(x / 2))


def a_softplus(x):
    return anp.logaddexp(0, x)


def a_logsumexp(x, axis, keepdims=False):
    # shift by the max for stability; the shift cancels in the derivative
    m = anp.max(x, axis=axis, keepdims=True)
    out = anp.log(anp.sum(anp.exp(x - m), axis=axis, keepdims=True)) + m
    return out if keepdims else anp.squeeze(out, axis=axis)


def a_log_softmax(x, axis=-1):
    return x - a_logsumexp(x, axis, keepdims=True)


def a_one_hot(labels, k):
    return (labels[..., None] == np.arange(k)).astype(float)


def a_cross_entropy(logits, labels):
    return -anp.sum(a_one_hot(labels, logits.shape[-1]) * a_log_softmax(logits), axis=-1)


# ---------------------------------------------------------------------------- the models


@dataclass
class Model:
    name: str
    text: str
    reference: Callable[[Arrays, Arrays], tuple]  # (values of params and wrt inputs, other inputs) -> (loss, outputs)
    inputs: Callable[[np.random.Generator], Arrays]
    wrt: tuple[str, ...] = ()  # float inputs differentiated as well as the params
    skip_params: tuple[str, ...] = field(default=())  # params left out of wrt


MLP = Model(
    "mlp",
    """
    model mlp
    dim B
    input  x : [B, 4]
    input  y : [B, 2]
    param  W1 : [4, 5]
    param  b1 : [5]
    param  W2 : [5, 5] = he
    param  b2 : [5]
    param  W3 : [5, 3]
    param  b3 : [3]
    param  W4 : [3, 2] = normal(0, 0.5)
    param  b4 : [2]
    h1 = sigmoid(x @ W1 + b1)
    h2 = tanh(h1 @ W2 + b2)
    h3 = relu(h2 @ W3 + b3)
    pred = h3 @ W4 + b4
    loss = mean((pred - y)^2)
    output pred, h3
    minimize loss
    """,
    lambda p, i: _mlp(p, i),
    lambda rng: {"x": rng.normal(size=(7, 4)), "y": rng.normal(size=(7, 2))},
)


def _mlp(p, i):
    h1 = a_sigmoid(i["x"] @ p["W1"] + p["b1"])
    h2 = anp.tanh(h1 @ p["W2"] + p["b2"])
    h3 = anp.maximum(h2 @ p["W3"] + p["b3"], 0)
    pred = h3 @ p["W4"] + p["b4"]
    return anp.mean((pred - i["y"]) ** 2), (pred, h3)


CLASSIFIER = Model(
    "classifier",
    """
    model classifier
    dim B
    input  x : [B, 4]
    input  labels : int[B]
    param  W1 : [4, 6]
    param  b1 : [6]
    param  W2 : [6, 3]
    param  b2 : [3]
    h = tanh(x @ W1 + b1)
    logits = h @ W2 + b2
    probs = softmax(logits)
    nll = -sum(one_hot(labels, 3) * log_softmax(logits, axis=1), axis=1)
    loss = mean(cross_entropy(logits, labels)) + 0.5 * mean(nll) + 0.01 * sum(W1^2)
    output probs, logits
    minimize loss
    """,
    lambda p, i: _classifier(p, i),
    lambda rng: {"x": rng.normal(size=(9, 4)), "labels": rng.integers(0, 3, size=9)},
)


def _classifier(p, i):
    h = anp.tanh(i["x"] @ p["W1"] + p["b1"])
    logits = h @ p["W2"] + p["b2"]
    probs = anp.exp(a_log_softmax(logits))
    nll = -anp.sum(a_one_hot(i["labels"], 3) * a_log_softmax(logits, axis=1), axis=1)
    loss = anp.mean(a_cross_entropy(logits, i["labels"])) + 0.5 * anp.mean(nll) + 0.01 * anp.sum(p["W1"] ** 2)
    return loss, (probs, logits)


RESIDUAL = Model(
    "residual",
    """
    model residual
    dim B
    input x : [B, 5]
    input y : [B, 5]
    h = x
    for i in 1..3 {
        param W{i} : [5, 5] = normal(0, 0.2)
        param b{i} : [5]
        h = h + relu(h @ W{i} + b{i})
    }
    loss = mean(abs(h - y)) + 0.1 * sum(h^2) / 10
    output h
    minimize loss
    """,
    lambda p, i: _residual(p, i),
    lambda rng: {"x": rng.normal(size=(6, 5)), "y": rng.normal(size=(6, 5))},
)


def _residual(p, i):
    h = i["x"]
    for k in (1, 2, 3):
        h = h + anp.maximum(h @ p[f"W{k}"] + p[f"b{k}"], 0)
    return anp.mean(anp.abs(h - i["y"])) + 0.1 * anp.sum(h**2) / 10, (h,)


BLOCKS = Model(
    "blocks",
    """
    model blocks
    dim B
    input x : [B, 3]
    input y : [B]
    param W1 : [3, 4]
    param b1 : [4]
    param v : [4]
    fn layer(a, W, b) {
        z = a @ W + b
        s = softplus(z)
        return s * sigmoid(z)
    }
    fn score(h, w) = h @ w
    h = layer(x, W1, b1)
    s = score(h, v)
    loss = mean(softplus(-y * s)) + mean(exp(-s^2))
    output s
    minimize loss
    """,
    lambda p, i: _blocks(p, i),
    lambda rng: {"x": rng.normal(size=(8, 3)), "y": rng.choice([-1.0, 1.0], size=8)},
)


def _blocks(p, i):
    z = i["x"] @ p["W1"] + p["b1"]
    h = a_softplus(z) * a_sigmoid(z)
    s = h @ p["v"]
    return anp.mean(a_softplus(-i["y"] * s)) + anp.mean(anp.exp(-(s**2))), (s,)


SHAPES = Model(
    "shapes",
    """
    model shapes
    dim B
    input x : [B, 6]
    param W : [6, 6]
    param U : [3, 2]
    z = x @ W
    r = reshape(z, [B, 3, 2])
    m = mean(r, axis=(0, 2))
    k = max(r, axis=-1, keepdims=true)
    l = logsumexp(r, axis=(1, 2))
    flat = reshape(r - k, [-1, 6])
    gram = transpose(flat) @ flat
    q = W.T * gram
    e = sum(reshape(x @ W, [B, 2, 3]), axis=1) + max(reshape(2 * z, [B, 3, 2]), axis=(0, 2))
    rows = (reshape(r, [3*B, 2]) + reshape(z, [B*3, 2])) @ U.T
    loss = sum(tanh(m @ U)) + mean(l) + mean(q) + sum(mean(r, axis=(0, 1), keepdims=true)) + mean(e^2) + mean(rows^2)
    output gram, l
    minimize loss
    """,
    lambda p, i: _shapes(p, i),
    lambda rng: {"x": rng.normal(size=(4, 6))},
)


def _shapes(p, i):
    z = i["x"] @ p["W"]
    r = anp.reshape(z, (z.shape[0], 3, 2))
    m = anp.mean(r, axis=(0, 2))
    k = anp.max(r, axis=-1, keepdims=True)
    lse = a_logsumexp(r, axis=(1, 2))
    flat = anp.reshape(r - k, (-1, 6))
    gram = flat.T @ flat
    q = p["W"].T * gram
    b = z.shape[0]
    e = anp.sum(anp.reshape(z, (b, 2, 3)), axis=1) + anp.max(anp.reshape(2 * z, (b, 3, 2)), axis=(0, 2))
    loss = (
        anp.sum(anp.tanh(m @ p["U"]))
        + anp.mean(lse)
        + anp.mean(q)
        + anp.sum(anp.mean(r, axis=(0, 1), keepdims=True))
        + anp.mean(e**2)
        + anp.mean(((anp.reshape(r, (3 * b, 2)) + anp.reshape(z, (b * 3, 2))) @ p["U"].T) ** 2)
    )
    return loss, (gram, lse)


POWERS = Model(
    "powers",
    """
    model powers
    dim B
    input x : [B, 3]
    param W : [3, 3]
    param c : [3]
    h = x @ W + c
    p = 1 + h^2
    loss = mean(p^-1) + mean(maximum(h, 0.3) * minimum(h, -0.2)) + mean(sqrt(p)) + mean(p^-0.5 * log(p)) + mean(h^3) / 10 + mean(maximum(h, c)) - mean(minimum(c, h) ** 2)
    minimize loss
    """,
    lambda p, i: _powers(p, i),
    lambda rng: {"x": rng.normal(size=(5, 3))},
)


def _powers(p, i):
    h = i["x"] @ p["W"] + p["c"]
    q = 1 + h**2
    loss = (
        anp.mean(q**-1)
        + anp.mean(anp.maximum(h, 0.3) * anp.minimum(h, -0.2))
        + anp.mean(anp.sqrt(q))
        + anp.mean(q**-0.5 * anp.log(q))
        + anp.mean(h**3) / 10
        + anp.mean(anp.maximum(h, p["c"]))
        - anp.mean(anp.minimum(p["c"], h) ** 2)
    )
    return loss, (loss,)


ADVERSARY = Model(
    "adversary",
    """
    model adversary
    dim B
    input x : [B, 3]
    input y : [B]
    param w : [3]
    param b : []
    z = x @ w + b
    loss = mean(softplus(-y * z)) + 0.1 * sum(sin(x) * cos(x))
    minimize loss wrt w, x
    """,
    lambda p, i: _adversary(p, i),
    lambda rng: {"x": rng.normal(size=(6, 3)), "y": rng.choice([-1.0, 1.0], size=6)},
    wrt=("x",),
    skip_params=("b",),
)


def _adversary(p, i):
    z = p["x"] @ p["w"] + p["b"]
    loss = anp.mean(a_softplus(-i["y"] * z)) + 0.1 * anp.sum(anp.sin(p["x"]) * anp.cos(p["x"]))
    return loss, (loss,)


ZOO = Model(
    "zoo",
    """
    model zoo
    input x : [2, 3]
    param a : [3]
    param s : []
    u = x * a + s
    v = exp(-square(u)) + log(1 + abs(u)) + sqrt(1 + relu(u)) + sin(u) * cos(u) + softplus(u) - sigmoid(u) * tanh(u)
    w = sum(logsumexp(v, axis=0)) + sum(max(v, axis=1, keepdims=true)) + mean(v, axis=-1)
    loss = sum(w) / (1 + s^2) + sum(log_softmax(v, axis=0) * softmax(v))
    output w
    minimize loss
    """,
    lambda p, i: _zoo(p, i),
    lambda rng: {"x": rng.normal(size=(2, 3))},
)


def _zoo(p, i):
    u = i["x"] * p["a"] + p["s"]
    v = (
        anp.exp(-(u**2))
        + anp.log(1 + anp.abs(u))
        + anp.sqrt(1 + anp.maximum(u, 0))
        + anp.sin(u) * anp.cos(u)
        + a_softplus(u)
        - a_sigmoid(u) * anp.tanh(u)
    )
    w = anp.sum(a_logsumexp(v, axis=0)) + anp.sum(anp.max(v, axis=1, keepdims=True)) + anp.mean(v, axis=-1)
    softmax_v = anp.exp(a_log_softmax(v, axis=-1))
    loss = anp.sum(w) / (1 + p["s"] ** 2) + anp.sum(a_log_softmax(v, axis=0) * softmax_v)
    return loss, (w,)


MODELS = [MLP, CLASSIFIER, RESIDUAL, BLOCKS, SHAPES, POWERS, ADVERSARY, ZOO]


def random_params(module: types.ModuleType, rng: np.random.Generator) -> Arrays:
    """Random values for every param (not the initializers: zero biases would hide mistakes)."""
    return {name: rng.normal(scale=0.7, size=shape) for name, (shape, _) in module.PARAMS.items()}


def reference(model: Model, params: Arrays, inputs: Arrays) -> tuple[float, tuple, Arrays]:
    """Loss, outputs and gradients of the hand-written model, by autograd."""
    others = {k: v for k, v in inputs.items() if k not in model.wrt}
    point = {**params, **{k: inputs[k] for k in model.wrt}}

    def objective(values):
        return model.reference(values, others)[0]

    loss, outputs = model.reference(point, others)
    grads = autograd.grad(objective)(point)
    wanted = [k for k in params if k not in model.skip_params] + list(model.wrt)
    return float(loss), tuple(np.asarray(o) for o in outputs), {k: grads[k] for k in wanted}


@pytest.mark.parametrize("model", MODELS, ids=[m.name for m in MODELS])
@pytest.mark.parametrize("opt,seed", [(0, 0), (1, 1), (2, 2), (2, 3)])
def test_loss_and_gradients_match_autograd_in_float64(model: Model, opt: int, seed: int):
    _, module = compile_model(model.text, opt=opt)
    rng = np.random.default_rng(seed)
    params, inputs = random_params(module, rng), model.inputs(rng)
    want_loss, want_outputs, want_grads = reference(model, params, inputs)

    loss, grads = module.loss_and_grad(params, **inputs)
    assert isinstance(loss, float)
    assert loss == pytest.approx(want_loss, rel=1e-7)
    assert module.loss(params, **inputs) == pytest.approx(want_loss, rel=1e-7)
    assert list(grads) == list(want_grads), "grads are keyed like the wrt names, in order"
    for name, want in want_grads.items():
        assert grads[name].shape == np.shape(want), name
        np.testing.assert_allclose(grads[name], want, rtol=1e-7, atol=1e-12, err_msg=name)

    outputs = module.forward(params, **inputs)
    outputs = outputs if isinstance(outputs, tuple) else (outputs,)
    assert len(outputs) == len(want_outputs) == len(module.OUTPUTS)
    for got, want in zip(outputs, want_outputs):
        np.testing.assert_allclose(got, want, rtol=1e-7, atol=1e-12)


@pytest.mark.parametrize("model", MODELS, ids=[m.name for m in MODELS])
def test_float32_module_returns_float32_close_to_autograd(model: Model):
    _, module = compile_model(model.text, dtype="float32")
    rng = np.random.default_rng(5)
    params, inputs = random_params(module, rng), model.inputs(rng)
    want_loss, want_outputs, want_grads = reference(model, params, inputs)

    params32 = {k: v.astype(np.float32) for k, v in params.items()}
    loss, grads = module.loss_and_grad(params32, **inputs)
    assert isinstance(loss, float)
    assert loss == pytest.approx(want_loss, rel=1e-4, abs=1e-5)
    for name, want in want_grads.items():
        assert grads[name].dtype == np.float32, name
        scale = max(1.0, float(np.max(np.abs(want))))
        np.testing.assert_allclose(grads[name], want, rtol=1e-3, atol=1e-4 * scale, err_msg=name)
    outputs = module.forward(params32, **inputs)
    for got, want in zip(outputs if isinstance(outputs, tuple) else (outputs,), want_outputs):
        assert got.dtype == np.float32
        scale = max(1.0, float(np.max(np.abs(want))))
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5 * scale)
    assert all(v.dtype == np.float32 for v in module.init_params(0).values())


def _ulps(got: np.ndarray, exact: np.ndarray) -> np.ndarray:
    """How many float32 units in the last place of each exact value `got` is off by."""
    return np.abs(got.astype(np.float64) - exact) / np.spacing(np.abs(exact).astype(np.float32))


@pytest.mark.parametrize(
    "loss",
    [
        "mean(cross_entropy(z, y))",
        "sum(cross_entropy(z, y))",
        "-mean(sum(one_hot(y, 10) * log_softmax(z), axis=1))",  # written out, as softmax_regression does
    ],
)
def test_a_float32_cross_entropy_gradient_is_as_exact_as_the_softmax_allows(loss: str):
    """The gradient of a float32 cross-entropy, softmax(z) - one_hot(y) (over the batch size for
    the mean), is at -O1 and -O2 as near the float64 value as -O0's softmax allows. Off the
    labels it is the softmax itself, exp(z - max(z)) over the row's sum, whose error is mostly
    the rounding of z - max(z), which the exp makes a relative one. Taken as the exp of the
    log-probabilities, (z - max(z)) - log(sum), each rounded once more, it was 3.2 ulp off for
    half of these values (the softmax: 1.9) and 5.6 on average (4.1); -O0 still takes the
    written-out form's so, as log_softmax's derivative says."""
    text = f"input y : int[1000]\nparam z : [1000, 10]\nloss = {loss}\nminimize loss\n"
    rng = np.random.default_rng(0)
    z = (rng.standard_normal((1000, 10)) * 10).astype(np.float32)  # probabilities down to 1e-30
    y = rng.integers(0, 10, 1000)
    _, exact = compile_model(text, dtype="float64", opt=0)[1].loss_and_grad({"z": z.astype(np.float64)}, y=y)
    off_label = np.ones(z.shape, dtype=bool)
    off_label[np.arange(1000), y] = False  # (at the label, p - 1 cancels digits where p is near 1)
    errors = {}
    for opt in (0, 1, 2):
        _, grads = compile_model(text, dtype="float32", opt=opt)[1].loss_and_grad({"z": z}, y=y)
        assert grads["z"].dtype == np.float32
        u = _ulps(grads["z"], exact["z"])[off_label]
        errors[opt] = float(np.median(u)), float(u.mean())
    for opt in (1, 2):
        assert errors[opt][0] <= 2.0 and errors[opt][1] <= 4.5, errors
        assert errors[opt][0] <= 1.05 * errors[0][0] and errors[opt][1] <= 1.05 * errors[0][1], errors


# ---------------------------------------------------------------------------- Hessians


CHAIN = """
param x : []
g = 2*x + 1
h = g^2
minimize h
"""


def test_the_lecture_chain_example():
    """h = (2x + 1)^2: h'(x) = 8x + 4, so 12 at x = 1."""
    _, module = compile_model(CHAIN)
    for x in (1.0, -0.5, 3.0):
        loss, grads = module.loss_and_grad({"x": np.array(x)})
        assert loss == pytest.approx((2 * x + 1) ** 2, rel=1e-15)
        assert float(grads["x"]) == pytest.approx(8 * x + 4, rel=1e-15)


def test_default_output_is_the_objective():
    _, module = compile_model(CHAIN)
    assert module.forward({"x": np.array(2.0)}) == pytest.approx(25.0)
    assert list(module.OUTPUTS) == ["h"]


LOGISTIC = """
model logistic
dim N
input X : [N, 3]
input y : [N]
param w : [3]
loss = mean(softplus(-y * (X @ w)))
minimize loss
"""


def full_hessian(compiled: Compiled, wrt: str, values: Arrays) -> np.ndarray:
    """Evaluate H·e_i for every i: the Hessian of the objective in one param, as a square matrix."""
    g = compiled.graph
    node = g.params[wrt]
    hv = hessian_vector_graph(g, g.grads[wrt], node, v_name="v_probe")
    shape = g.shape(node)
    size = int(np.prod(shape))
    columns = []
    for i in range(size):
        e = np.zeros(size)
        e[i] = 1.0
        out = evaluate(g, {**values, "v_probe": e.reshape(shape)}, nodes=[hv])[hv]
        columns.append(np.asarray(out, dtype=float).reshape(size))
    return np.stack(columns, axis=1)


def fd_hessian(module: types.ModuleType, params: Arrays, inputs: Arrays, wrt: str, h: float = 1e-5) -> np.ndarray:
    """Central differences of the generated gradient, one coordinate at a time."""
    base = np.asarray(params[wrt], dtype=float)
    size = base.size
    columns = []
    for i in range(size):
        step = np.zeros(size)
        step[i] = h
        plus = module.loss_and_grad({**params, wrt: base + step.reshape(base.shape)}, **inputs)[1][wrt]
        minus = module.loss_and_grad({**params, wrt: base - step.reshape(base.shape)}, **inputs)[1][wrt]
        columns.append(((plus - minus) / (2 * h)).reshape(size))
    return np.stack(columns, axis=1)


def test_chain_hessian_is_eight():
    compiled, module = compile_model(CHAIN)
    for x in (1.0, -2.0, 0.25):
        hessian = full_hessian(compiled, "x", {"x": np.array(x)})
        np.testing.assert_allclose(hessian, [[8.0]], rtol=1e-15)
        np.testing.assert_allclose(fd_hessian(module, {"x": np.array(x)}, {}, "x"), [[8.0]], rtol=1e-8)


def test_logistic_regression_hessian():
    """loss = mean softplus(-y Xw) with y = ±1: H = X^T diag(p(1 - p)) X / n, p = sigmoid(Xw)."""
    compiled, module = compile_model(LOGISTIC)
    rng = np.random.default_rng(3)
    X, y, w = rng.normal(size=(20, 3)), rng.choice([-1.0, 1.0], size=20), rng.normal(size=3)
    hessian = full_hessian(compiled, "w", {"X": X, "y": y, "w": w})
    p = 1 / (1 + np.exp(-(X @ w)))
    want = X.T @ np.diag(p * (1 - p)) @ X / len(y)
    np.testing.assert_allclose(hessian, want, rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(hessian, hessian.T, rtol=1e-12)
    assert np.all(np.linalg.eigvalsh(hessian) > 0), "the logistic loss is convex"
    np.testing.assert_allclose(fd_hessian(module, {"w": w}, {"X": X, "y": y}, "w"), want, rtol=1e-6, atol=1e-9)


HESSIAN_CASES = [(CLASSIFIER, "W2"), (CLASSIFIER, "b1"), (ZOO, "a"), (SHAPES, "U"), (BLOCKS, "v")]


@pytest.mark.parametrize("model,wrt", HESSIAN_CASES, ids=[f"{m.name}-{w}" for m, w in HESSIAN_CASES])
def test_model_hessians_match_autograd(model: Model, wrt: str):
    compiled, module = compile_model(model.text)
    rng = np.random.default_rng(11)
    params, inputs = random_params(module, rng), model.inputs(rng)

    def objective(value):
        return model.reference({**params, wrt: value}, inputs)[0]

    size = params[wrt].size
    want = np.asarray(autograd.hessian(objective)(params[wrt])).reshape(size, size)
    got = full_hessian(compiled, wrt, {**params, **inputs})
    np.testing.assert_allclose(got, want, rtol=1e-7, atol=1e-10)
    np.testing.assert_allclose(fd_hessian(module, params, inputs, wrt), want, rtol=1e-5, atol=1e-7)


# ---------------------------------------------------------------------------- stability in the module


def test_generated_module_is_stable_for_huge_logits():
    text = """
    model stable
    dim B
    input z : [B, 3]
    input labels : int[B]
    param s : []
    a = z * s
    loss = mean(cross_entropy(a, labels)) + mean(softplus(a)) + mean(sigmoid(a)) + mean(logsumexp(a, axis=1)) - mean(log_softmax(a))
    minimize loss
    """
    _, module = compile_model(text)
    z = np.array([[1e4, -1e4, 0.0], [-1e4, -1e4, 1e4], [3.0, 2.0, 1.0]])
    labels = np.array([1, 2, 0])
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        loss, grads = module.loss_and_grad({"s": np.array(1.0)}, z=z, labels=labels)
    assert np.isfinite(loss) and np.isfinite(grads["s"])
    with np.errstate(over="ignore"):  # autograd's tanh derivative divides by cosh(5e3) = inf: 0, as it should
        want = stable_reference(text, z, labels)
    assert loss == pytest.approx(want[0], rel=1e-12)
    assert float(grads["s"]) == pytest.approx(float(want[2]["s"]), rel=1e-9)


def stable_reference(text: str, z: np.ndarray, labels: np.ndarray) -> tuple:
    return reference(
        Model(
            "stable",
            text,
            lambda p, i: (
                anp.mean(a_cross_entropy(i["z"] * p["s"], i["labels"]))
                + anp.mean(a_softplus(i["z"] * p["s"]))
                + anp.mean(a_sigmoid(i["z"] * p["s"]))
                + anp.mean(a_logsumexp(i["z"] * p["s"], axis=1))
                - anp.mean(a_log_softmax(i["z"] * p["s"])),
                (),
            ),
            lambda rng: {},
        ),
        {"s": np.array(1.0)},
        {"z": z, "labels": labels},
    )


@pytest.mark.parametrize("opt", [0, 1, 2])
def test_objective_made_by_a_view_op(opt: int):
    """The gradient seed 1.0 reaches transpose and reshape directly when they make the objective."""
    text = """
    param w : [3]
    param u : [1]
    s = sum(w^2)
    loss = (s + reshape(u^2, [])).T
    minimize loss
    """
    _, module = compile_model(text, opt=opt)
    w, u = np.array([1.0, -2.0, 0.5]), np.array([3.0])
    loss, grads = module.loss_and_grad({"w": w, "u": u})
    assert loss == pytest.approx(np.sum(w**2) + 9.0)
    np.testing.assert_allclose(grads["w"], 2 * w)
    np.testing.assert_allclose(grads["u"], 2 * u)


def test_power_zero_has_zero_gradient_at_zero():
    """d/dx x^0 = 0 everywhere, also at x = 0 where 0 * x^-1 would be nan."""
    _, module = compile_model("param x : [2]\nloss = sum(x^0)\nminimize loss\n", opt=0)
    loss, grads = module.loss_and_grad({"x": np.array([0.0, 2.0])})
    assert loss == 2.0
    np.testing.assert_array_equal(grads["x"], [0.0, 0.0])
