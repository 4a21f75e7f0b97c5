"""Shape of the generated code itself: what a reader sees, and work not done twice."""

from __future__ import annotations

import itertools
import re
import types
from pathlib import Path

import numpy as np
import pytest

from graphc.pipeline import compile_text

MODEL = """\
dim B
input x : [B, 3]
input y : [B, 1]
param W : [3, 1]
pred = x @ W
loss = mean((pred - y)^2)
minimize loss
"""


def function(source: str, name: str) -> str:
    return re.search(rf"^def {name}\(.*?(?=^def |\Z)", source, re.S | re.M).group(0)


def test_an_argument_spelled_twice_by_an_emission_is_computed_once():
    # mean(v) is emitted as sum(v) / v.size: v must be a variable, not an expression copied twice
    text = MODEL.replace("mean((pred - y)^2)", "mean(exp(pred - y))")
    for opt in (1, 2):
        loss = function(compile_text(text, "m.nn", opt=opt).source, "loss")
        assert loss.count("np.exp(") == 1 and ".size" in loss, loss
    # and so is the difference in mean((pred - y)^2), an inner product of it with itself
    for opt in (1, 2):
        loss = function(compile_text(MODEL, "m.nn", opt=opt).source, "loss")
        code = "\n".join(line for line in loss.splitlines() if not line.strip().startswith("#"))
        assert code.count("subtract(") + code.count(" - y") == 1 and "_inner(" in code, loss


def test_o0_writes_one_statement_per_op_and_o1_folds_single_uses():
    o0 = function(compile_text(MODEL, "m.nn", opt=0).source, "loss")
    o1 = function(compile_text(MODEL, "m.nn", opt=1).source, "loss")
    statements = lambda text: [line for line in text.splitlines() if re.match(r"    \w+ = ", line)]  # noqa: E731
    assert len(statements(o0)) > len(statements(o1))
    assert all(line.count("(") <= 2 for line in statements(o0))
    assert "out=" not in o0 + o1


MLP = """\
dim B
input x : [B, 5]
input y : [B, 2]
param W1 : [5, 7]
param b1 : [7]
param W2 : [7, 2]
h = tanh(x @ W1 + b1)
loss = mean((h @ W2 - y)^2)
minimize loss
"""


def test_o2_computes_into_a_workspace_in_place():
    compiled = compile_text(MLP, "m.nn", opt=2)
    source = compiled.source
    step = function(source, "sgd_step")
    # the bias add and the tanh land in the matmul's buffer
    assert "t = np.dot(x, W1, out=ws[0])\n    np.add(t, b1, out=t)\n    h = np.tanh(t, out=t)" in step, step
    # the step allocates nothing: every array statement writes into a buffer (an _inner is a scalar)
    for line in step.splitlines():
        if re.match(r"    \w+ = np\.(?!sum\(t)", line):
            assert "out=" in line, line
    # and moves the params where they are
    for w in ("W1", "b1", "W2"):
        assert f"np.subtract({w}, d_{w}, out={w})" in step
    # values computed over dead ones or into buffers freed by them: fewer buffers than values
    plan = compiled.pool.plans["sgd_step"]
    values = step.split("value = float")[0].count("out=")
    assert 0 < len(plan.buffers) - len(plan.fill) < values / 1.5


def test_o2_hands_the_caller_fresh_arrays():
    grads = function(compile_text(MLP, "m.nn", opt=2).source, "loss_and_grad")
    for w in ("W1", "b1", "W2"):
        line = next(line for line in grads.splitlines() if line.startswith(f"    d_{w} = "))
        assert "out=" not in line, line


def test_o2_sums_a_bias_gradient_as_a_product_with_ones_made_once():
    source = compile_text(MLP, "m.nn", opt=2).source
    step = function(source, "sgd_step")
    (line,) = [line for line in step.splitlines() if line.startswith("    d_b1 = ")]
    assert re.fullmatch(r"    d_b1 = np\.dot\(ones, d_t\w*, out=ws\[\d+\]\)", line), line
    ones = re.search(r"\n    ones = (ws\[\d+\])\n", step).group(1)
    # the workspace fills it when it is made, and nothing in the step writes it
    assert f"((B,), 1.0),  # {ones}: ones, read only" in function(source, "_workspace_arrays")
    assert f"out={ones}" not in step and "out=ones" not in step


def test_o2_column_sums_match_numpy_and_leave_the_ones_alone():
    import types

    import numpy as np

    text = (
        "dim B\ninput x : [B, 3]\nparam b : [3]\nloss = sum(exp(x + b)) + sum(sum(x * b, axis=0) ^ 2)\nminimize loss\n"
    )
    module = types.ModuleType("generated")
    exec(compile(compile_text(text, "m.nn", opt=2).source, "generated.py", "exec"), module.__dict__)
    rng = np.random.default_rng(1)
    b = rng.standard_normal(3)
    for batch in (4, 1, 7, 4):  # a workspace per batch size; the first is used again at the end
        x = rng.standard_normal((batch, 3))
        expected = np.exp(x + b).sum(axis=0) + 2 * x.sum(axis=0) * (x * b).sum(axis=0)
        _, grads = module.loss_and_grad({"b": b}, x=x)
        np.testing.assert_allclose(grads["b"], expected, rtol=1e-12)


@pytest.mark.parametrize("lead", [(), (2,)])
def test_o2_row_sums_and_means_are_products_with_ones_as_accurate_as_numpy(lead):
    """A sum or mean along a matrix's rows (a softmax's backward, a norm's mean and variance),
    or along the last axis of a stack of matrices, is x @ ones at -O2, in float32 within a few
    units in the last place of a float64 sum, for rows of 1 to 3,000 values and batches of 0
    to 9, with keepdims or without."""
    import types

    import numpy as np

    rng = np.random.default_rng(3)
    eps = np.finfo(np.float32).eps
    last = len(lead) + 1
    for k, batches in ((10, (4, 0, 9, 4)), (3000, (9, 1)), (1, (5,))):
        sizes = ", ".join(["B", *map(str, lead), str(k)])
        text = (
            f"dim B\ninput x : [{sizes}]\nparam w : [{k}]\nh = x * w\n"
            f"r = sum(h, axis={last})\nm = mean(h, axis=-1, keepdims=true)\n"
            "loss = sum(r * r) + sum(m)\noutput r, m\nminimize loss\n"
        )
        source = compile_text(text, "m.nn", "float32", opt=2).source
        step = function(source, "loss_and_grad")
        assert f".sum(axis={last}" not in step and ".sum(axis=-1" not in step, step
        assert step.count("np.matmul(") + step.count("np.dot(") >= 2, step
        module = types.ModuleType("generated")
        exec(compile(source, "generated.py", "exec"), module.__dict__)
        w = rng.random(k).astype(np.float32) + 0.5
        for batch in batches:
            x = rng.random((batch, *lead, k)).astype(np.float32)
            h = (x * w).astype(np.float64)  # the products, rounded as the module rounds them
            r, m = h.sum(axis=-1), h.sum(axis=-1, keepdims=True) / k
            got_r, got_m = module.forward({"w": w}, x=x)
            assert got_r.dtype == got_m.dtype == np.float32
            assert got_r.shape == (batch, *lead) and got_m.shape == (batch, *lead, 1)
            np.testing.assert_array_less(np.abs(got_r - r), 4 * eps * r + 1e-30)
            np.testing.assert_array_less(np.abs(got_m - m), 4 * eps * m + 1e-30)
            _, grads = module.loss_and_grad({"w": w}, x=x)
            expected = (2 * r[..., None] * x + x / k).reshape(-1, k).sum(axis=0)
            np.testing.assert_allclose(grads["w"], expected, rtol=1e-4, atol=1e-6)


def test_float32_inner_products_of_ten_million_values_are_within_a_few_ulp_of_float64():
    """mean(x^2) and sum(x * y) are BLAS dot products, which add float32 products up in
    float32: over these 10^7 values one dot was off by some 1,500 and 3,500 ulp. Taken by
    blocks whose results are added in float64, the module's are within the rounding of the
    result.

    The bound follows from the values, not from how a BLAS orders its additions: x and y are
    multiples of 2^-5 in [0.75, 1], so every product is a multiple of 2^-10 no larger than 1,
    and every partial sum of a block of 2^14 products a multiple of 2^-10 of at most 2^14: an
    integer of at most 2^24 times 2^-10, exact in float32 in whatever order it is added. Each
    block's dot is then exact, and so is the float64 sum of the blocks (below 2^53 times
    2^-10); the result is off only by its rounding to float32, half an ulp, and for the mean
    by the division by n too: under two ulp of the float64 value."""
    import types

    import numpy as np

    text = "dim N\ninput x : [N]\ninput y : [N]\nparam s : []\nm = mean((s * x)^2)\np = sum(x * y)\n"
    text += "loss = m + p\noutput m, p\nminimize loss\n"
    source = compile_text(text, "m.nn", "float32", opt=2).source
    assert source.count("_inner(") >= 3, source  # the definition, m and p
    module = types.ModuleType("generated")
    exec(compile(source, "generated.py", "exec"), module.__dict__)
    assert module._BLOCK == 2**14  # the block the argument above is made for
    n = 10**7
    rng = np.random.default_rng(0)
    x = (rng.integers(24, 33, n) / 32).astype(np.float32)
    y = (rng.integers(24, 33, n) / 32).astype(np.float32)
    m, p = module.forward({"s": np.float32(1)}, x=x, y=y)
    assert m.dtype == p.dtype == np.float32
    x64, y64 = x.astype(np.float64), y.astype(np.float64)
    for got, exact, ulps in ((m, np.vdot(x64, x64) / n, 2), (p, np.vdot(x64, y64), 1)):
        assert abs(got - exact) <= ulps * np.spacing(np.float32(exact)), (got, exact)


def test_the_inner_product_helper_agrees_with_float64_at_every_size_and_layout():
    """One block, several, a part block at the end, none at all; C-ordered and transposed."""
    import numpy as np

    from graphc.ops.helpers import HELPERS

    rng = np.random.default_rng(5)
    for dtype in (np.float32, np.float64):
        env = {"np": np, "DTYPE": dtype}
        exec(HELPERS["_inner"].format(xp="np"), env)
        inner, block = env["_inner"], env["_BLOCK"]
        for shape in ((0,), (1,), (7, 3), (block,), (block + 1,), (3 * block,), (500, 97), (2, block + 5)):
            a = rng.standard_normal(shape).astype(dtype)
            b = rng.random(shape).astype(dtype)
            for a_, b_ in ((a, b), (a, a), (a.T, b.T), (a.T, np.ascontiguousarray(b.T))):
                got = inner(a_, b_)
                exact = np.vdot(a_.astype(np.float64), b_.astype(np.float64))
                assert type(got) is dtype, (shape, type(got))
                scale = np.vdot(np.abs(a_).astype(np.float64), np.abs(b_).astype(np.float64))
                assert abs(got - exact) <= 8 * np.finfo(dtype).eps * scale, (dtype, shape, got, exact)


def test_o2_relu_takes_the_maximum_with_zeros_made_once():
    import types

    import numpy as np

    text = "dim B\ninput x : [B, 3]\nparam w : [3]\nh = relu(relu(x * w) - 1)\nloss = sum(h * h)\nminimize loss\n"
    source = compile_text(text, "m.nn", opt=2).source
    assert function(source, "_workspace_arrays").count(", 0.0),  # ws[") == 1
    assert "np.maximum(" in function(source, "loss_and_grad") and ", 0," not in function(source, "loss_and_grad")
    module = types.ModuleType("generated")
    exec(compile(source, "generated.py", "exec"), module.__dict__)
    w = np.ones(3)
    for x in ([[2.0, -np.inf, 0.5], [3.0, 1.0, -2.0]], [[-1.0, 4.0, np.inf]], [[1.5, -3.0, 2.5]]):
        x = np.array(x)
        h = np.maximum(np.maximum(x, 0) - 1, 0)
        with np.errstate(invalid="ignore"):  # inf - inf in the gradient of the second input
            loss, grads = module.loss_and_grad({"w": w}, x=x)
        assert loss == (h * h).sum()  # relu(-inf) is 0 and relu(inf) inf, as NumPy's maximum says
        if np.isfinite(x).all():
            np.testing.assert_allclose(grads["w"], (2 * h * x).sum(axis=0), rtol=1e-12)


def test_o2_sigmoid_clips_against_a_bound_made_once_and_warns_of_nothing():
    import types

    import numpy as np

    text = "dim B\ninput x : [B, 3]\nparam w : [3]\nloss = sum(sigmoid(x * w))\nminimize loss\n"
    source = compile_text(text, "m.nn", opt=2).source
    assert "((B, 3), _EXP_MAX),  # ws[" in function(source, "_workspace_arrays")
    assert "exp_max = ws[" in function(source, "loss_and_grad") and "cap=exp_max)" in function(source, "loss_and_grad")
    module = types.ModuleType("generated")
    exec(compile(source, "generated.py", "exec"), module.__dict__)
    x = np.array([[-1e4, -50.0, 0.0], [50.0, 1e4, -800.0]])
    with np.errstate(over="raise", invalid="raise", divide="raise"):  # no overflow in e^-x at -1e4
        loss, grads = module.loss_and_grad({"w": np.ones(3)}, x=x)
    s = 1 / (1 + np.exp(-np.clip(x, -700, 700)))
    np.testing.assert_allclose(loss, s.sum(), rtol=1e-15)
    np.testing.assert_allclose(grads["w"], (s * (1 - s) * x).sum(axis=0), rtol=1e-12, atol=1e-300)


def test_workspace_constants_leave_the_models_names_alone():
    text = "dim B\ninput x : [B, 3]\nparam W : [3, 4]\nparam ones : [4]\nzeros = relu(x @ W + ones)\nloss = sum(zeros)\nminimize loss\n"
    step = function(compile_text(text, "m.nn", opt=2).source, "sgd_step")
    assert "    ones = params['ones']" in step and "zeros = np.maximum(t, zeros_2, out=" in step
    assert re.search(r"d_ones = np\.dot\(ones_2, \w+, out=ws\[\d+\]\)", step), step


def test_o2_hands_out_bias_gradients_summed_with_ones_as_fresh_arrays():
    grads = function(compile_text(MLP, "m.nn", opt=2).source, "loss_and_grad")
    (line,) = [line for line in grads.splitlines() if line.startswith("    d_b1 = ")]
    assert re.fullmatch(r"    d_b1 = np\.dot\(ones, d_t\w*\)", line), line


def test_sign_is_never_computed_over_its_argument():
    # NumPy 2.4's np.sign(t, out=t) is an order of magnitude slower than into another array
    text = "dim B\ninput x : [B, 8]\ninput y : [B, 4]\nparam W : [8, 4]\nloss = mean(abs(x @ W - y))\nminimize loss\n"
    source = compile_text(text, "m.nn", opt=2).source
    signs = re.findall(r"np\.sign\((\w+), out=([\w\[\]]+)\)", source)
    assert signs and all(x != out for x, out in signs), signs


@pytest.mark.parametrize("p", ["3", "4", "-1", "-2", "-3", "0.5", "-0.5", "1.5"])  # and their gradients
def test_powers_with_a_fast_form_never_call_np_power(p):
    # np.power calls the C library's pow per element; these are squares, roots and products
    text = f"dim B\ninput x : [B, 8]\nparam W : [8, 4]\nloss = mean((exp(x @ W))^{p})\nminimize loss\n"
    source = compile_text(text, "m.nn", opt=2).source
    assert "np.power" not in source and not re.search(r"\*\* ?\(?-?[0-9]", source)


def test_sgd_step_does_not_compute_the_gradient_of_an_input():
    text = "dim B\ninput x : [B, 8]\nparam W : [8, 4]\nloss = sum(tanh(x @ W))\nminimize loss wrt x, W\n"
    source = compile_text(text, "m.nn", opt=2).source
    assert "d_x" in function(source, "loss_and_grad")
    assert "d_x" not in function(source, "sgd_step") and "W.T" not in function(source, "sgd_step")


def test_a_carriage_return_inside_a_statement_stays_inside_the_comment_quoting_it():
    """A lone CR is a blank to the model but a line end to Python: quoted as it is, the rest of
    the statement became a line of code, and the module could not be imported."""
    text = "param x : [3]\nloss = sum(x)\r+ 2 * sum(x)\nminimize loss\n"
    source = compile_text(text, "m.nn", opt=2).source
    assert "\r" not in source and "# line 2: loss = sum(x) + 2 * sum(x)" in source
    m = types.ModuleType("m")
    exec(compile(source, "m", "exec"), m.__dict__)
    assert m.loss({"x": np.array([1.0, 2.0, 3.0])}) == 18.0


@pytest.mark.parametrize("opt", [0, 2])
def test_the_array_module_is_one_name_that_can_be_swapped(opt: int):
    """Every array call goes through the name the module is imported as, so another
    NumPy-compatible module can take its place: emitted as `anp`, no `np.` is left and
    the module computes the same loss, gradients and step."""
    import types
    from pathlib import Path

    import numpy as np

    from graphc.codegen import emit_numpy

    path = Path(__file__).resolve().parent.parent / "examples" / "mlp_classifier.nn"
    text = path.read_text()
    c = compile_text(text, path.name, "float64", opt)
    swapped, _, _ = emit_numpy(
        c.optimized, c.name, text, path.name, c.lowered.inits, "float64", opt, c.step, c.plain, xp="anp"
    )
    assert "import numpy as anp" in swapped
    assert not re.findall(r"\bnp\.", swapped)
    modules = []
    for source in (c.source, swapped):
        m = types.ModuleType("m")
        exec(compile(source, "m", "exec"), m.__dict__)
        modules.append(m)
    rng = np.random.default_rng(0)
    inputs = {}
    for name, (shape, dtype) in modules[0].INPUTS.items():
        size = tuple(5 if isinstance(d, str) else d for d in shape)
        inputs[name] = rng.integers(0, 3, size) if dtype == "int64" else rng.standard_normal(size)
    (loss, grads), (loss2, grads2) = (m.loss_and_grad(m.init_params(1), **inputs) for m in modules)
    assert loss == loss2 and grads.keys() == grads2.keys()
    for w in grads:
        np.testing.assert_array_equal(grads[w], grads2[w])
    stepped = [m.init_params(1) for m in modules]
    for m, params in zip(modules, stepped):
        m.sgd_step(params, 0.1, **inputs)
    for w in stepped[0]:
        np.testing.assert_array_equal(stepped[0][w], stepped[1][w])


def test_a_gradient_is_named_after_the_variable_it_is_the_gradient_of():
    """h rebound on each of 3 passes is h, h_2, h_3 in the code; their gradients, computed in
    reverse, are d_h_3, d_h_2, d_h (they were numbered afresh: d_h was h_3's)."""
    text = "dim B\ninput x : [B, 4]\nparam W : [4, 4]\nh = x\nfor i in 1..3 {\n  h = tanh(h @ W)\n}\n"
    text += "loss = sum(h^2)\nminimize loss\n"
    body = function(compile_text(text, "m.nn", opt=0).source, "loss_and_grad")
    forward = [m for m in re.findall(r"^    (h\w*) = ", body, re.M)]
    assert forward == ["h", "h_2", "h_3"]
    first = {v: body.index(f"    d_{v} = ") for v in forward}
    assert first["h_3"] < first["h_2"] < first["h"]


def test_only_the_whole_gradient_of_a_value_used_twice_is_called_d_v():
    # u = h*h + h: d_u passes through the add unchanged, and d_h sums three uses
    text = "param h : [3]\nu = h * h + h\nloss = sum(u)\nminimize loss\n"
    from graphc.autodiff import gradients
    from graphc.lower import lower
    from graphc.parser import parse

    g = gradients(lower(parse(text, "m.nn")).graph)
    of = {}
    for n in g.order():
        if g.node(n)["phase"] == "backward" and g.node(n).get("adjoint_of") is not None:
            of.setdefault(g.node(n)["adjoint_of"], []).append(n)
    h, u = g.params["h"], next(n for n in g.order() if g.node(n)["name"] == "u")
    assert len(of[u]) == 1 and len(of[h]) == 1  # a partial sum is no gradient of h
    assert of[h] == [g.grads["h"]]
    for opt in (0, 1, 2):
        grad = function(compile_text(text, "m.nn", opt=opt).source, "loss_and_grad")
        assert len(re.findall(r"^    d_h = ", grad, re.M)) == 1, grad


def test_init_params_makes_a_generator_only_where_it_draws():
    zeros = function(
        compile_text(MODEL.replace("param W : [3, 1]", "param W : [3, 1] = zeros"), "m.nn").source, "init_params"
    )
    assert "rng" not in zeros  # an unused variable, which linters flag
    drawn = function(compile_text(MODEL, "m.nn").source, "init_params")
    assert "rng = np.random.default_rng(seed)" in drawn and "rng.uniform(" in drawn


def test_the_sum_over_a_values_uses_says_so():
    # the sum was filed under "backprop through line 1: param w : [3]", the declaration
    text = "param w : [3]\nloss = sum(w^2) + sum(exp(w))\nminimize loss\n"
    grad = function(compile_text(text, "m.nn", opt=0).source, "loss_and_grad")
    assert "# w (line 1) is used more than once: its gradient sums those of its uses" in grad
    assert "backprop through line 1" not in grad


def test_a_loop_lines_comment_names_its_pass():
    text = "dim B\ninput x : [B, 4]\nparam W : [4, 4]\nh = x\nfor i in 1..3 {\n  h = tanh(h @ W)\n}\n"
    text += "loss = sum(h^2)\nminimize loss\n"
    grad = function(compile_text(text, "m.nn", opt=0).source, "loss_and_grad")
    for i in (1, 2, 3):
        assert f"    # line 6 (i = {i}): h = tanh(h @ W)" in grad
        assert f"    # backprop through line 6 (i = {i}): h = tanh(h @ W)" in grad


def test_a_gradient_passed_through_unchanged_takes_the_name_it_can_get():
    # d loss/d (pred - y) is also d loss/d pred (the subtraction passes it on): it is d_pred
    for opt in (0, 1, 2):
        grad = function(compile_text(MODEL, "m.nn", opt=opt).source, "loss_and_grad")
        assert re.search(r"^    d_pred = ", grad, re.M), grad


def test_the_sum_over_uses_in_a_loop_names_its_pass():
    text = "dim B\ninput x : [B, 4]\nparam W : [4, 4]\nh = x\nfor i in 1..2 {\n  h = tanh(h @ W) + h\n}\n"
    text += "loss = sum(h^2)\nminimize loss\n"
    grad = function(compile_text(text, "m.nn", opt=0).source, "loss_and_grad")
    assert "# h (line 6, i = 1) is used more than once: its gradient sums those of its uses" in grad


def test_at_o0_every_gradient_is_named_after_the_value_it_belongs_to():
    """d_X is the gradient of X, and at -O0, where every value has a variable, that holds for
    unnamed values too (d_t_2), so a reader tells gradients from values by name."""
    for path in sorted((Path(__file__).resolve().parent.parent / "examples").glob("*.nn")):
        source = compile_text(path.read_text(), path.name, opt=0).source
        body = function(source, "loss_and_grad")
        assigned = re.findall(r"^    (\w+) = ", body, re.M)
        gradients = [v for v in assigned if v.startswith("d_")]
        assert any(g.startswith("d_t") for g in gradients) or path.stem == "chain_rule", path.name
        for g in gradients:
            of = re.sub(r"^d_", "", g)
            assert of in assigned[: assigned.index(g)] or of in re.findall(r"'(\w+)'", body), f"{path.name}: {g}"


def test_a_function_names_the_workspace_arrays_it_computes_in_as_a_range_where_they_run_on():
    """99 indices written out spread one call over nine lines: each call is one line, a run
    of indices a range (`range(98)`), indices that are no run a tuple."""
    examples = Path(__file__).parent.parent / "examples"
    for name in ("deep_tanh", "logistic_regression", "regression", "residual"):
        compiled = compile_text((examples / f"{name}.nn").read_text(), f"{name}.nn")
        for fn, placed in compiled.pool.index.items():
            (call,) = re.findall(r"^    ws = _workspace\(.*", function(compiled.source, fn), re.M)
            used = re.fullmatch(r"    ws = _workspace\(_workspace_arrays, (.*), [BN]\)", call).group(1)
            assert tuple(eval(used)) == tuple(sorted(set(placed))), (name, fn, call)
    deep = compile_text((examples / "deep_tanh.nn").read_text(), "deep_tanh.nn").source
    assert "ws = _workspace(_workspace_arrays, range(99), B)\n" in function(deep, "sgd_step")
    logistic = compile_text((examples / "logistic_regression.nn").read_text(), "logistic_regression.nn").source
    assert "ws = _workspace(_workspace_arrays, (0, 2, 3, 4, 5), N)\n" in function(logistic, "sgd_step")


@pytest.mark.parametrize(
    "used, shown",
    [((0,), "(0,)"), ((3,), "(3,)"), ((0, 1), "range(2)"), ((2, 3, 4), "range(2, 5)"), ((0, 2, 3), "(0, 2, 3)")],
)
def test_workspace_indices_are_a_range_only_where_they_run_on(used, shown):
    from graphc.statements import _indices

    assert _indices(used) == shown


def test_the_outputs_are_the_same_from_whichever_folder_and_path_the_model_is_compiled(tmp_path, monkeypatch) -> None:
    """A build from `models/m.nn`, from `/abs/path/m.nn` or from inside the folder writes the
    same bytes: no path of the machine it ran on gets into the module or the page."""
    from graphc import cli, render

    text = (Path(__file__).resolve().parent.parent / "examples" / "regression.nn").read_text()
    for folder in ("a", "b/c"):
        (tmp_path / folder).mkdir(parents=True)
        (tmp_path / folder / "regression.nn").write_text(text)
    monkeypatch.chdir(tmp_path)
    assert cli.main(["compile", "a/regression.nn", "-o", "out1"]) == 0
    assert cli.main(["compile", str(tmp_path / "b/c/regression.nn"), "-o", "out2"]) == 0
    monkeypatch.chdir(tmp_path / "b")
    assert cli.main(["compile", "c/regression.nn", "-o", str(tmp_path / "out3")]) == 0
    names = sorted(p.name for p in (tmp_path / "out1").iterdir())
    assert "regression.py" in names and ("regression.html" in names or not render.have_dot())
    for name in names:
        first = (tmp_path / "out1" / name).read_bytes()
        assert first == (tmp_path / "out2" / name).read_bytes() == (tmp_path / "out3" / name).read_bytes(), name


def test_a_statement_broken_over_lines_is_quoted_whole_at_its_first_line():
    # the comments quoted the one line an op's span began on: '# line 7: loss = mean(', an
    # open bracket, and '# line 8: (p - y)^2', a fragment of no statement
    text = (
        "dim B\ninput x : [B, 3]\ninput y : [B]\nparam w : [3]\n"
        "p = (x @ w   # a comment inside the brackets\n     + 1)\n"
        "loss = mean(\n    (p - y)^2\n)\nminimize loss\n"
    )
    for opt in (0, 1, 2):
        grad = function(compile_text(text, "m.nn", opt=opt).source, "loss_and_grad")
        comments = [line.strip() for line in grad.splitlines() if line.strip().startswith("# ")]
        assert "# line 5: p = (x @ w + 1)" in comments, grad
        assert "# line 7: loss = mean((p - y)^2)" in comments, grad
        assert "# backprop through line 7: loss = mean((p - y)^2)" in comments, grad
        assert "# backprop through line 5: p = (x @ w + 1)" in comments, grad
        assert not any("line 6" in c or "line 8" in c for c in comments), grad


def test_an_expression_folded_into_its_user_gets_no_needless_brackets():
    # `0.5 * ((_inner(t, t) / t.size))` and `0.001 * (_inner(w, w))`: an emission already
    # in brackets, or one call, was bracketed again where it was folded into its user
    text = MODEL.replace("mean((pred - y)^2)", "0.5 * mean((pred - y)^2) + 0.001 * sum(W^2)")
    for opt in (1, 2):
        loss = function(compile_text(text, "m.nn", opt=opt).source, "loss")
        (line,) = [line for line in loss.splitlines() if line.startswith("    loss = ")]
        assert "((" not in line and "(_inner(W, W))" not in line, line
        assert re.search(r"0\.5 \* \(_inner\((\w+), \1\) / \1\.size\)", line), line
        assert "0.001 * _inner(W, W)" in line, line


def test_sgd_steps_update_says_its_gradients_already_hold_lr():
    # '# the update: each param moves against its gradient' over 'np.subtract(W, d_W, out=W)'
    # read as a step without lr: sgd_step differentiates lr * loss, so d_W is lr times the gradient
    text = MODEL.replace("loss", "cost")
    step = function(compile_text(text, "m.nn", opt=2).source, "sgd_step")
    head, update = step.split("np.subtract(W, d_W, out=W)")[0].rsplit("value = float(cost)", 1)
    comment = " ".join(line.strip().lstrip("# ") for line in update.splitlines() if line.strip().startswith("#"))
    assert "lr * cost" in comment and "lr times" in comment, update
    assert "lr" in head.split("# backprop through")[1], head  # and the first backward step multiplies by it


def test_loss_and_grads_docstring_names_one_gradient_plainly():
    # 'its gradient with respect to each of x': 'each of' before a single name
    one = function(compile_text("param x : []\nh = (2*x + 1)^2\nminimize h\n", "m.nn").source, "loss_and_grad")
    assert '"""The objective h and its gradient with respect to x."""' in one, one
    three = function(compile_text(MLP, "m.nn").source, "loss_and_grad")
    assert "its gradient with respect to each of W1, b1, W2." in three, three


def test_a_value_the_model_calls_t_keeps_its_name_beside_the_temporaries():
    # the temporary x @ W came first and took `t`, so the model's t was t_2 in the code and
    # its gradient d_t_2, beside a d_t that was the gradient of the temporary
    text = "dim B\ninput x : [B, 3]\ninput y : [B]\nparam w : [3]\nparam W : [3, 3]\n"
    text += "t = tanh(x @ W)\np = t @ w\nloss = mean((p - y)^2)\nminimize loss\n"
    for opt in (0, 1, 2):
        source = compile_text(text, "m.nn", opt=opt).source
        for name in ("forward", "loss_and_grad", "sgd_step"):
            body = function(source, name)
            if opt < 2 and name == "sgd_step":
                continue
            assert re.search(r"^    t = (np\.)?tanh\(", body, re.M), (opt, body)
            assert re.search(r"^    p = .*\bt\b", body, re.M), (opt, body)
        grad = function(source, "loss_and_grad")
        # d_t is the gradient of t: it is what the tanh's backward step multiplies
        assert re.search(r"^    d_t = ", grad, re.M), (opt, grad)
        assert re.search(r"(\bd_t \*|np\.multiply\(d_t,)", grad.split("# backprop through line 6")[1]), (opt, grad)


RELU = """\
dim B
input x : [B, 3]
input y : [B]
param W : [3, 4]
param w : [4]
h = relu(x @ W)
loss = mean((h @ w - y)^2)
minimize loss
"""


def test_relus_derivative_mask_is_named_after_the_value_it_masks():
    # relu's derivative [x > 0] was an anonymous temporary (`t_4 = np.greater(t, 0.0)...`),
    # or at -O2 kept the name of the array it was computed over (`np.greater(t, 0.0, out=t)`),
    # so `d_h * t` read as a product with the forward value itself
    for opt in (0, 2):
        grad = function(compile_text(RELU, "m.nn", opt=opt).source, "loss_and_grad")
        found = re.findall(r"^    (\w+) = np\.greater\((\w+), (?:0\.0|_ZERO)", grad, re.M)
        assert found and all(mask == f"{x}_mask" for mask, x in found), grad
        (mask, _), *_ = found
        assert re.search(rf"^    \w+ = .*\bd_h\b.*\b{mask}\b", grad, re.M), grad  # the gradient step reads it


MASKS = """\
dim B
input x : [B, 3]
input y : [B, 4]
param W : [3, 4]
h = x @ W
e = y - h
loss = mean(abs(e)) + mean(maximum(h, 0.5)) + mean(minimum(y, e)) + sum(max(y * e, axis=1))
minimize loss
"""


def test_the_masks_of_max_min_and_abs_are_named_after_the_value_they_mask():
    # the 0/1 arrays of maximum, minimum and max and abs's sign array were anonymous temporaries
    # ('t_36 = np.sign(t)', then 'd_t = d_t_2 * t_36'), where relu's was already x_mask
    for opt in (0, 1, 2):
        grad = function(compile_text(MASKS, "m.nn", opt=opt).source, "loss_and_grad")
        assigned = re.findall(r"^    (\w+) = (.*)", grad, re.M)
        names = [v for v, _ in assigned]
        signs = [v for v, text in assigned if text.startswith("np.sign(")]
        assert signs == ([] if opt == 1 else ["e_sign"]), (opt, grad)  # -O1 folds it into its one user
        masks = [v for v in names if v.endswith("_mask")]
        # maximum(h, 0.5)'s for h, minimum(y, e)'s for e (-O1 folds it into its one user), and
        # max(y * e)'s for the temporary y * e
        assert "h_mask" in masks and ("e_mask" in masks) == (opt != 1), (opt, grad)
        assert any(re.fullmatch(r"t(_\d+)?_mask", m) for m in masks), (opt, grad)
        for m in signs + masks:
            of = m.rsplit("_", 1)[0]
            assert of in names[: names.index(m)], (opt, m, grad)  # named after a variable before it
            later = grad.split(f"    {m} = ", 1)[1].split("\n", 1)[1]
            assert re.search(rf"\b{m}\b", later), (opt, m, grad)  # and a later step reads it


def test_at_every_level_the_gradient_of_an_unnamed_value_is_named_after_its_variable():
    # d_t_2 named the gradient of t_2 at -O0 only: at -O1 and -O2 it was a temporary like any
    # other (`t_4 = d_h * ...`, then `d_W = x.T @ t_4`), and at -O1 the value itself was
    # folded into its user, so nothing paired the backward line with its forward one
    text = RELU.replace("param w : [4]", "param w : [4]\nparam b : [4]").replace("x @ W)", "x @ W + b)")
    for opt in (0, 1, 2):
        grad = function(compile_text(text, "m.nn", opt=opt).source, "loss_and_grad")
        (t,) = re.findall(r"^    h = np\.maximum\((\w+), ", grad, re.M)  # x @ W + b, the relu's argument
        assert t.startswith("t"), (opt, grad)
        for grad_of in ("W", "b"):  # both read its gradient, computed once
            (line,) = re.findall(rf"^    d_{grad_of} = .*", grad, re.M)
            assert re.search(rf"\bd_{t}\b", line), (opt, line, grad)
        assert re.search(rf"^    d_{t} = ", grad, re.M), (opt, grad)
    # and every d_X in the examples, at every level, is the gradient of a variable X before it
    for path in sorted((Path(__file__).resolve().parent.parent / "examples").glob("*.nn")):
        for opt in (1, 2):
            body = function(compile_text(path.read_text(), path.name, opt=opt).source, "loss_and_grad")
            assigned = re.findall(r"^    (\w+) = ", body, re.M)
            for g in (v for v in assigned if v.startswith("d_")):
                of = g[2:]
                assert of in assigned[: assigned.index(g)] or f"'{of}'" in body, f"{path.name} -O{opt}: {g}"


REBOUND = """\
dim B
input x : [B, 4]
param W : [4, 4]
param V : [4, 4]
h = tanh(x @ W)
d_h = h * 2
h = tanh(d_h @ V)
h_2 = relu(h * 3)
loss = mean(maximum(h_2, 0.1)) + max(h_2)
minimize loss
"""


def test_a_gradient_or_mask_name_is_never_numbered_and_versions_skip_the_models_names():
    # the model's own h_2 was h_2_2 in the code (h's second binding had taken h_2), and h's
    # gradient d_h_3 (the model's d_h had taken d_h, the second h's gradient d_h_2): d_h_2 and
    # d_h_3 read as the gradients of the second and third h
    for opt in (0, 1, 2):
        grad = function(compile_text(REBOUND, "m.nn", opt=opt).source, "loss_and_grad")
        assigned = re.findall(r"^    (\w+) = ", grad, re.M)
        assert re.search(r"^    h_2 = np\.maximum\(", grad, re.M), (opt, grad)  # the model's h_2 as written
        assert re.search(r"^    h_3 = np\.tanh\(", grad, re.M), (opt, grad)  # h's second binding skips h_2
        assert re.search(r"^    d_h = h \* 2\.0$|^    d_h = np\.multiply\(h, (2\.0|_TWO)", grad, re.M), (opt, grad)
        for name in assigned:
            assert not re.fullmatch(r"d_\w+_\d+_\d+|\w+_(mask|sign)_\d+|h_2_\d+", name), (opt, name, grad)
            if name.startswith("d_") and name != "d_h":  # d_X: the gradient of a variable X before it
                assert name[2:] in assigned[: assigned.index(name)] or name[2:] in ("W", "V"), (opt, name, grad)
        # the gradients of h_2 and h_3 are named after them; the first h's is a temporary, as its
        # name is the model's
        assert "d_h_2" in assigned and "d_h_3" in assigned and assigned.count("d_h") == 1, (opt, grad)


def test_where_the_model_calls_a_value_t_the_temporaries_are_not_its_versions():
    # the model's t rebound was t, then t_3 beside a temporary t_2: which was the second t?
    text = REBOUND.replace("h", "t").replace("tant", "tanh")
    for opt in (0, 2):
        grad = function(compile_text(text, "m.nn", opt=opt).source, "loss_and_grad")
        assigned = re.findall(r"^    (\w+) = ", grad, re.M)
        assert any(re.fullmatch(r"_t(_\d+)?", v) for v in assigned), (opt, grad)
        # every t or t_k is one of the model's: t and its second binding, t_3, and its own t_2
        ts = re.findall(r"^    (t(?:_\d+)?) = (np\.\w+)", grad, re.M)
        assert sorted(ts) == [("t", "np.tanh"), ("t_2", "np.maximum"), ("t_3", "np.tanh")], (opt, grad)
        assert re.search(r"^    t_3 = np\.tanh\(", grad, re.M), (opt, grad)


def test_a_value_computed_over_a_gradient_or_a_mask_takes_a_name_of_its_own():
    # in residual's layer norm, 'np.multiply(d_t_28, t_28, out=d_t_28)' and the steps after it
    # kept d_t_28's name for values that were no longer t_28's gradient; an in-place step keeps
    # only a temporary's name, one that says nothing of what the array held
    examples = Path(__file__).resolve().parent.parent / "examples"
    seen = 0
    for path in sorted(examples.glob("*.nn")):
        source = compile_text(path.read_text(), path.name, opt=2).source
        for name in ("loss_and_grad", "sgd_step"):
            body = function(source, name)
            for line in body.splitlines():
                over = re.fullmatch(r"    (\w+ = )?[\w.]+\(.*, out=(\w+)\)", line)
                if over and re.fullmatch(r"d_\w+|\w+_mask", over.group(2)):
                    seen += 1  # computed over a gradient or a mask: it must say what it is
                    assert over.group(1) is not None, f"{path.name} {name}: {line}"
    assert seen > 10  # the check has something to look at


@pytest.mark.parametrize(
    "example, line, trained, shape, made",
    [
        # the attention weights were a new [T, T] array on every call of loss, loss_and_grad and
        # sgd_step: the softmax had no `out=` form, so sgd_step was not free of allocations
        ("attention", "weights = _softmax(scores, 1", None, ("T", "T"), 0),
        # log_softmax made a new [N, K] array per call, as the softmax did; so did the one-hot
        # its log-likelihood was picked with, which is now a lookup at the labels. Where its
        # gradient is taken, it is the scores less their max, less the log of their exp's sums,
        # written over the scores
        (
            "softmax_regression",
            "logp = _log_softmax(scores, 1",
            r"logp = np\.subtract\((\w+), \w+, out=\1",
            ("N", 5),
            0,
        ),
    ],
)
def test_o2_computes_a_softmax_into_the_workspace_unless_it_goes_to_the_caller(example, line, trained, shape, made):
    path = Path(__file__).resolve().parent.parent / "examples" / f"{example}.nn"
    compiled = compile_text(path.read_text(), path.name, opt=2)
    written = rf"{re.escape(line)}, out=(scores|ws\[\d+\])"
    for name in ("loss", "loss_and_grad", "sgd_step"):
        body = function(compiled.source, name)
        assert re.search(rf"^    {written if name == 'loss' or not trained else trained}\)$", body, re.M), body
        assert compiled.pool.plans[name].made.count((shape, "float")) == made, name
    # forward returns them: they are the caller's own array
    assert f"    {line})\n" in function(compiled.source, "forward")


def test_log_softmax_written_over_its_argument_gives_the_plain_values():
    path = Path(__file__).resolve().parent.parent / "examples" / "softmax_regression.nn"
    compiled = compile_text(path.read_text(), path.name, opt=2)
    namespace: dict = {}
    exec(compiled.source, namespace)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((7, 5)) * 30
    for axis in (0, 1, -1):
        want = namespace["_log_softmax"](x, axis)
        into = x.copy()
        assert namespace["_log_softmax"](into, axis, out=into) is into
        np.testing.assert_array_equal(into, want)
        np.testing.assert_allclose(np.exp(want).sum(axis=axis), 1.0, rtol=1e-12)


def test_the_workspace_listing_names_an_arrays_variables_in_the_order_they_are_written():
    # 'ws[0]: h1, t_mask, t' listed the layer's t last, after its relu and the relu's mask
    # (alphabetically, temporaries last); it now follows the array through the functions
    from graphc.codegen import _listing

    path = Path(__file__).resolve().parent.parent / "examples" / "mlp_classifier.nn"
    source = compile_text(path.read_text(), path.name, opt=2).source
    (listed,) = re.findall(r"# ws\[0\]: (.*)", source)
    # each function names its values in its own graph: the comment lists them by function
    groups = dict(group.split(": ") for group in listed.split("; "))
    assert list(groups) == ["forward, loss", "loss_and_grad, sgd_step"], listed
    for functions, listing in groups.items():
        names = listing.split(", ")
        for f in functions.split(", "):
            body = function(source, f)
            first = [re.search(rf"^    ({name} = |np\.\w+\({name}, .*out={name}\))", body, re.M) for name in names]
            assert all(first) and sorted(first, key=lambda m: m.start()) == first, (names, body)
    # a run of one name's numbered variables is shown by its ends where its first one is
    order = ["t_3", "h", "t_4", "t_5", "d_h", "t_6", "h_2", "t_7"]
    assert _listing(order) == ["t_3 ... t_7 (5 names)", "h", "d_h", "h_2"]


def test_the_gradient_of_a_square_root_power_reuses_the_forward_square_root():
    # x^0.5's derivative was 0.5 / (np.sqrt(x) + 0.0): a second square root of x, where sqrt(x)'s
    # reads the forward value
    for power in ("x^0.5", "sqrt(x)"):
        text = f"input x : [3]\nv = {power}\nloss = sum(v)\noutput v\nminimize loss wrt x\n"
        for opt in (0, 1, 2):
            grad = function(compile_text(text, "m.nn", opt=opt).source, "loss_and_grad")
            assert grad.count("np.sqrt(") == 1 and "np.abs(v" in grad, (power, opt, grad)


def test_a_models_name_never_takes_a_name_the_helpers_define():
    # a dim called _EXP_MAX was the workspace maker's argument, and the sigmoid's bound, its fill,
    # read the batch size instead: sigmoid(-1000) came out 1 / (1 + e^5)
    text = "dim _EXP_MAX\ninput x : [_EXP_MAX]\n_BLOCK = sigmoid(x)\n_ONE = sum(_BLOCK^2)\n"
    text += "output _BLOCK\nminimize _ONE wrt x\n"
    source = compile_text(text, "m.nn", opt=2).source
    assert re.search(r"^def _workspace_arrays\(_EXP_MAX_2\):", source, re.M), source
    assert re.search(r"^    _BLOCK_2 = ", function(source, "forward"), re.M), source
    namespace: dict = {}
    exec(source, namespace)
    x = np.array([-1000.0, 0.0, 1000.0, -30.0, 2.0])
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        got = namespace["forward"]({}, x=x)
        value, grads = namespace["loss_and_grad"]({}, x=x)
    cap = np.log(np.finfo(np.float64).max) - 1  # where the helper stops e^-x short of overflowing
    np.testing.assert_allclose(got, 1 / (1 + np.exp(np.minimum(-x, cap))), rtol=1e-15, atol=0)
    assert got[0] < 1e-300
    assert value == pytest.approx(np.sum(got**2), rel=1e-15)


def comments_over(body: str, statement: str) -> list[str]:
    """The comment lines right above the first line starting with `statement`."""
    lines = body.splitlines()
    i = next(i for i, line in enumerate(lines) if line.startswith(statement))
    above = []
    while lines[i - 1].strip().startswith("#"):
        i -= 1
        above.insert(0, lines[i].strip())
    return above


def test_a_folded_statements_comment_names_every_line_folded_into_it():
    # at -O1 'd_w = (0.02 * w) + (x.T @ d_p)' adds the gradients of w's uses on lines 6 and 5,
    # but its comment named only w's declaration, so nothing pointed at the lines it computes
    text = "dim B\ninput x : [B, 3]\ninput y : [B]\nparam w : [3]\n"
    text += "p = x @ w\nloss = mean((p - y)^2) + 0.01 * sum(w^2)\nminimize loss\n"
    grad = function(compile_text(text, "m.nn", opt=1).source, "loss_and_grad")
    assert re.search(r"^    d_w = .*\bw\b.*\bx\.T\b", grad, re.M), grad  # both uses folded into one line
    notes = comments_over(grad, "    d_w = ")
    assert notes[0].startswith("# w (line 4) is used more than once"), notes
    assert "# and line 6: loss = mean((p - y)^2) + 0.01 * sum(w^2)" in notes, notes
    assert "# and line 5: p = x @ w" in notes, notes
    # a line folded into nothing else names its own line alone
    assert comments_over(grad, "    p = ") == ["# line 5: p = x @ w"]


def test_o0_takes_the_inverse_square_root_of_a_number_without_adding_zero():
    # attention's 'D^-0.5' read '1 / (np.sqrt(DTYPE(16.0)) + 0.0)' at -O0: the + 0.0 turns an
    # array's -0.0 into +0.0 (x^-0.5 is +inf there), which a number written out never is
    import types

    import numpy as np

    text = "dim B\nconst D = 16\ninput x : [B, 3]\nparam w : [3]\nloss = sum(x @ w * D^-0.5)\nminimize loss\n"
    source = compile_text(text, "m.nn", opt=0).source
    assert "+ 0.0" not in source and "1 / np.sqrt(DTYPE(16.0))" in function(source, "loss"), source
    module = types.ModuleType("generated")
    exec(compile(source, "generated.py", "exec"), module.__dict__)
    x, w = np.arange(6.0).reshape(2, 3), np.array([1.0, -2.0, 0.5])
    assert module.loss({"w": w}, x=x) == (x @ w).sum() * 0.25
    # an array keeps it: -0.0^-0.5 is +inf, as np.power says, not 1 / -0.0
    array = function(compile_text(text.replace("x @ w * D^-0.5", "x * w^-0.5"), "m.nn", opt=0).source, "loss")
    assert "np.sqrt(w) + 0.0" in array, array
    # and so does the number -0.0, but not 0.0 (left unfolded at -O1 too, their power being inf)
    for opt, (number, said) in itertools.product(
        (0, 1), [("-0.0", "1 / (np.sqrt(DTYPE(-0.0)) + 0.0)"), ("0.0", "1 / np.sqrt(DTYPE(0.0))")]
    ):
        zero = compile_text(text.replace("D = 16", f"D = {number}"), "m.nn", opt=opt).source
        assert said in function(zero, "loss"), zero
        module = types.ModuleType("generated")
        exec(compile(zero, "generated.py", "exec"), module.__dict__)
        with np.errstate(all="ignore"):
            assert module.loss({"w": np.ones(3)}, x=np.ones((2, 3))) == np.inf


def test_a_node_a_rewrite_made_of_several_credits_each_of_their_lines():
    # -O1 merges d_g = 2 * g (line 3's backward step) and d_x = d_g * 2 (line 2's) into
    # 'd_x = 4.0 * g', whose comment named line 2 alone
    text = "param x : [] = ones\ng = 2*x + 1\nh = g^2\nminimize h\n"
    for opt in (1, 2):
        grad = function(compile_text(text, "m.nn", opt=opt).source, "loss_and_grad")
        assert comments_over(grad, "    d_x = 4.0 * g") == [
            "# backprop through line 2: g = 2*x + 1",
            "# and line 3: h = g^2",
        ], grad
    # a node the rewrite only shares is no part of it: the gradient's exp(z - max(z)) and its sums
    # are CSE'd with the loss's, but the line computing softmax - one_hot from them is line 7's
    # backward step alone, not its forward one too
    text = "dim B\ninput x : [B, 4]\ninput y : int[B]\nparam W : [4, 3]\nz = x @ W\n"
    text += "logp = log_softmax(z)\nloss = mean(cross_entropy(z, y))\noutput logp\nminimize loss\n"
    for opt in (1, 2):
        grad = function(compile_text(text, "m.nn", opt=opt).source, "loss_and_grad")
        assert grad.count("np.exp(") == 1, grad  # shared
        (line,) = [line for line in grad.splitlines() if "_normalized_minus_one_hot(" in line]
        assert comments_over(grad, line) == ["# backprop through line 7: loss = mean(cross_entropy(z, y))"], grad


@pytest.mark.parametrize("opt", [1, 2])
def test_forward_and_loss_compute_a_cross_entropy_alone(opt):
    """A cross-entropy whose gradient is taken keeps its shifted logits' exp, which that gradient
    reads again; forward and loss, which take no gradient, compute it alone, from a graph optimized
    without the gradients, and all the functions agree on its value."""
    text = "dim B\ninput x : [B, 4]\ninput y : int[B]\nparam W : [4, 3]\nz = x @ W\n"
    text += "ce = cross_entropy(z, y)\nloss = mean(ce)\noutput ce\nminimize loss\n"
    c = compile_text(text, "m.nn", opt=opt)
    for name in ("forward", "loss"):
        body = function(c.source, name)
        assert "_cross_entropy(" in body and "_log_softmax(" not in body, body
    grad = function(c.source, "loss_and_grad")
    assert "_minus_max(" in grad and "_normalized_minus_one_hot(" in grad and "_cross_entropy(" not in grad, grad
    m = types.ModuleType("m")
    exec(compile(c.source, "m.py", "exec"), m.__dict__)
    rng = np.random.default_rng(2)
    params, x, y = m.init_params(1), rng.standard_normal((6, 4)), rng.integers(0, 3, 6)
    value, _ = m.loss_and_grad(params, x=x, y=y)
    assert m.loss(params, x=x, y=y) == pytest.approx(value, rel=1e-14)
    assert m.forward(params, x=x, y=y).mean() == pytest.approx(value, rel=1e-14)
    # the page maps forward's lines too, though its graph is not loss_and_grad's
    (ce,) = [n for n in c.graph.order() if c.graph.node(n)["name"] == "ce"]
    first = c.code_lines[ce][0]
    assert "_cross_entropy(" in c.source.splitlines()[first - 1]


@pytest.mark.parametrize("opt", [1, 2])
def test_forward_shares_the_log_softmax_a_cross_entropy_beside_it_needs(opt):
    """A forward that outputs log_softmax(z) and cross_entropy(z, y) computes the log-probabilities
    once and reads the cross-entropy off them at the labels, with the values of -O0."""
    text = "dim B\ninput x : [B, 4]\ninput y : int[B]\nparam W : [4, 3]\nz = x @ W\n"
    text += "lp = log_softmax(z)\nce = cross_entropy(z, y)\nloss = mean(ce)\noutput lp, ce\nminimize loss\n"
    body = function(compile_text(text, "m.nn", opt=opt).source, "forward")
    assert body.count("_log_softmax(") == 1 and "_cross_entropy(" not in body, body
    rng = np.random.default_rng(3)
    x, y = rng.standard_normal((6, 4)) * 30, rng.integers(0, 3, 6)
    results = []
    for level in (0, opt):
        m = types.ModuleType("m")
        exec(compile(compile_text(text, "m.nn", opt=level).source, "m.py", "exec"), m.__dict__)
        results.append(m.forward(m.init_params(1), x=x, y=y))
    (lp0, ce0), (lp, ce) = results
    np.testing.assert_allclose(lp, lp0, rtol=1e-13, atol=1e-12)
    np.testing.assert_allclose(ce, ce0, rtol=1e-13, atol=1e-12)
    np.testing.assert_allclose(ce, -lp[np.arange(6), y], rtol=0, atol=0)


@pytest.mark.parametrize("opt", [0, 1, 2])
def test_every_mapped_line_names_a_node_of_the_model_in_its_phase(opt):
    """The page links generated lines to nodes by key, whichever of the three graphs a function
    comes from: every key is a node of the unoptimized graph, and forward's and loss's lines go
    to forward-phase nodes only."""
    for path in sorted((Path(__file__).resolve().parent.parent / "examples").glob("*.nn")):
        c = compile_text(path.read_text(), path.name, "float64", opt)
        source = c.source.splitlines()
        starts = {
            name: 1 + next(i for i, s in enumerate(source) if s.startswith(f"def {name}("))
            for name in ("loss", "loss_and_grad")
        }
        forward_first = 1 + next(i for i, s in enumerate(source) if s.startswith("def forward("))
        for key, lines in c.code_lines.items():
            assert key in c.graph.nx, (path.name, key)
            if any(forward_first <= line < starts["loss_and_grad"] for line in lines):
                assert c.graph.node(key)["phase"] == "forward", (path.name, key)
