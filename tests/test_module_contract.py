"""The contract of the generated module (language spec, section 7), checked from the outside.

Each module is loaded from its source text alone, the way a user imports the file
`graphc compile` writes.
"""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
import textwrap
import threading
import types
import warnings
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from graphc.pipeline import compile_text


def load(text: str, dtype: str = "float64", opt: int = 2) -> tuple[str, types.ModuleType]:
    source = compile_text(textwrap.dedent(text), "model.nn", dtype=dtype, opt=opt).source
    module = types.ModuleType("generated")
    exec(compile(source, "generated.py", "exec"), module.__dict__)
    return source, module


CONTRACT = """
model contract
dim B, T
input x : [B, 3]
input labels : int[B]
input s : [T, 3]
param W : [3, 4]
param b : [4]
param V : [4, 3]
h = tanh(x @ W + b)
logits = h @ V
loss = mean(cross_entropy(logits, labels)) + mean((s @ W)^2) / 10
output logits, h
minimize loss
"""


def contract_inputs(rng: np.random.Generator, n: int = 5, t: int = 2) -> dict[str, np.ndarray]:
    return {"x": rng.normal(size=(n, 3)), "labels": rng.integers(0, 3, size=n), "s": rng.normal(size=(t, 3))}


def contract_loss(params: dict[str, np.ndarray], inputs: dict[str, np.ndarray]) -> float:
    """The contract model in plain NumPy, as an independent check of the values."""
    h = np.tanh(inputs["x"] @ params["W"] + params["b"])
    z = h @ params["V"]
    m = z.max(axis=1, keepdims=True)
    lse = np.log(np.exp(z - m).sum(axis=1)) + m[:, 0]
    ce = lse - z[np.arange(len(z)), inputs["labels"]]
    return float(ce.mean() + np.mean((inputs["s"] @ params["W"]) ** 2) / 10)


@pytest.fixture(scope="module")
def contract() -> tuple[str, types.ModuleType]:
    return load(CONTRACT)


# ---------------------------------------------------------------------------- imports and metadata


def imported_modules(source: str) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, "no relative imports"
            found.add((node.module or "").split(".")[0])
        elif isinstance(node, ast.Call) and getattr(node.func, "id", None) == "__import__":
            raise AssertionError("no dynamic imports")
    return found


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_module_imports_only_numpy_and_the_standard_library(contract, dtype):
    source, _ = load(CONTRACT, dtype)
    mods = imported_modules(source)
    assert "numpy" in mods
    assert mods <= {"numpy"} | set(sys.stdlib_module_names), mods


def test_module_runs_where_graphc_cannot_be_imported(contract, tmp_path):
    source, module = contract
    path = tmp_path / "contract.py"
    path.write_text(source)
    script = textwrap.dedent(
        f"""
        import importlib.abc, runpy, sys
        import numpy as np

        class Refuse(importlib.abc.MetaPathFinder):
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] in ("graphc", "lark", "networkx", "autograd"):
                    raise ImportError("not installed here: " + name)

        sys.meta_path.insert(0, Refuse())
        m = runpy.run_path({str(path)!r})
        rng = np.random.default_rng(0)
        inputs = {{"x": rng.normal(size=(5, 3)), "labels": rng.integers(0, 3, size=5), "s": rng.normal(size=(2, 3))}}
        print(repr(m["loss"](m["init_params"](3), **inputs)))
        """
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    want = module.loss(module.init_params(3), **contract_inputs(np.random.default_rng(0)))
    assert float(out.stdout) == want


def test_metadata_describes_the_declarations(contract):
    _, m = contract
    assert m.INPUTS == {"x": (("B", 3), "float64"), "labels": (("B",), "int64"), "s": (("T", 3), "float64")}
    assert m.PARAMS == {"W": ((3, 4), "float64"), "b": ((4,), "float64"), "V": ((4, 3), "float64")}
    assert m.OUTPUTS == {"logits": (("B", 3), "float64"), "h": (("B", 4), "float64")}
    assert list(m.INPUTS) == ["x", "labels", "s"], "declaration order"


@pytest.mark.parametrize("opt", [0, 1, 2])
def test_an_int_input_passed_through_as_an_output_comes_back_in_the_dtype_outputs_says(opt):
    text = "dim B\ninput l : int[B]\ninput x : [B]\nparam w : []\nloss = sum(x * w)\noutput l\nminimize loss\n"
    _, m = load(text, opt=opt)
    assert m.OUTPUTS == {"l": (("B",), "int64")}
    for dtype in (np.int32, np.uint8, np.int64):
        labels = np.array([3, 1, 2], dtype=dtype)
        got = m.forward(m.init_params(), l=labels)
        assert got.dtype == np.int64 and got is not labels and not np.shares_memory(got, labels)
        np.testing.assert_array_equal(got, [3, 1, 2])


def test_sizes_written_as_consts_reach_the_module_as_numbers():
    """The summary shows `[B, HIDDEN]`; the module, which has no HIDDEN, holds 4."""
    source, m = load(
        "dim B\nconst HIDDEN = 4\ninput x : [B, HIDDEN]\nparam W : [HIDDEN, 1]\nloss = mean(x @ W)\nminimize loss\n"
    )
    assert m.INPUTS["x"] == (("B", 4), "float64") and m.PARAMS["W"] == ((4, 1), "float64")
    assert "HIDDEN" not in source.split('"""', 2)[2]  # (past the header, which quotes the model)
    assert m.init_params()["W"].shape == (4, 1)


def test_metadata_dtypes_build_arrays_the_module_takes_as_they_are():
    _, m = load(CONTRACT, dtype="float32")
    assert m.PARAMS["W"] == ((3, 4), "float32") and m.INPUTS["labels"] == (("B",), "int64")
    sizes = {"B": 5, "T": 2}
    inputs = {name: np.zeros([sizes.get(d, d) for d in shape], dtype) for name, (shape, dtype) in m.INPUTS.items()}
    params = {name: np.ones(shape, dtype) for name, (shape, dtype) in m.PARAMS.items()}
    for _ in range(2):  # checked in full, then through the cache of signatures
        checked, given, dims = m._arguments(params, inputs, tuple(m.INPUTS))
        assert dims == sizes
        assert checked is params and given is inputs, "nothing converted"


def test_values_agree_with_plain_numpy(contract):
    _, m = contract
    rng = np.random.default_rng(1)
    params, inputs = m.init_params(1), contract_inputs(rng)
    assert m.loss(params, **inputs) == pytest.approx(contract_loss(params, inputs), rel=1e-12)
    logits, h = m.forward(params, **inputs)
    np.testing.assert_allclose(h, np.tanh(inputs["x"] @ params["W"] + params["b"]), rtol=1e-13)
    np.testing.assert_allclose(logits, h @ params["V"], rtol=1e-13)


# ---------------------------------------------------------------------------- init_params


INITS = """
model inits
param G : [200, 300] = glorot
param D : [20, 30]
param H : [400, 100] = he
param N : [100, 50] = normal(1, 0.5)
param U : [5000] = uniform(-2, 3)
param Z : [3]
param O : [2] = ones
param S : []
loss = sum(G) + sum(D) + sum(H) + sum(N) + sum(U) + sum(Z) + sum(O) + S
minimize loss
"""


def test_init_params_is_reproducible_and_depends_on_the_seed():
    _, m = load(INITS)
    a, b, c = m.init_params(7), m.init_params(7), m.init_params(8)
    assert list(a) == list(m.PARAMS)
    for name in a:
        np.testing.assert_array_equal(a[name], b[name])
        assert a[name] is not b[name], "fresh arrays on every call"
    for name in ("G", "D", "H", "N", "U"):
        assert not np.array_equal(a[name], c[name]), name
    np.testing.assert_array_equal(m.init_params()["G"], m.init_params(0)["G"])


def test_initializer_statistics():
    _, m = load(INITS)
    p = m.init_params(0)
    for name, (shape, _) in m.PARAMS.items():
        assert p[name].shape == shape and p[name].dtype == np.float64, name
    # glorot: uniform on +-sqrt(6 / (fan_in + fan_out)), so std = limit / sqrt(3)
    for name, fan_in, fan_out in (("G", 200, 300), ("D", 20, 30)):
        limit = np.sqrt(6 / (fan_in + fan_out))
        assert np.abs(p[name]).max() <= limit
        assert np.abs(p[name]).max() > 0.95 * limit
        assert p[name].std() == pytest.approx(limit / np.sqrt(3), rel=0.05)
    # he: normal with std sqrt(2 / fan_in), fan_in the first size of [in, out]
    assert p["H"].std() == pytest.approx(np.sqrt(2 / 400), rel=0.03)
    assert abs(p["H"].mean()) < 0.01
    assert p["N"].mean() == pytest.approx(1.0, abs=0.03) and p["N"].std() == pytest.approx(0.5, rel=0.03)
    assert p["U"].min() >= -2 and p["U"].max() <= 3 and p["U"].mean() == pytest.approx(0.5, abs=0.05)
    np.testing.assert_array_equal(p["Z"], np.zeros(3))
    np.testing.assert_array_equal(p["O"], np.ones(2))
    assert p["S"].shape == () and p["S"] == 0


def test_const_initializer():
    _, m = load("param C : [2, 2] = const(2.5)\nloss = sum(C)\nminimize loss\n")
    np.testing.assert_array_equal(m.init_params(0)["C"], np.full((2, 2), 2.5))


def test_an_initializer_without_arguments_may_take_empty_parentheses():
    """`he()` is `he`, `zeros()` is `zeros`: the module is the same, byte for byte."""
    called = INITS.replace("= glorot", "= glorot()").replace("= he", "= he()").replace("= ones", "= ones()")
    assert called.count("()") == 3
    source, m = load(called)
    assert source == load(INITS)[0]
    np.testing.assert_array_equal(m.init_params(3)["O"], np.ones(2))


def test_init_params_in_float32():
    _, m = load(INITS, "float32")
    p = m.init_params(0)
    assert all(v.dtype == np.float32 for v in p.values())
    reference = load(INITS)[1].init_params(0)
    np.testing.assert_allclose(p["G"], reference["G"], rtol=1e-6)


def test_a_number_past_float32_is_a_compile_error_in_float32_only():
    """In float32, 1e39 is inf: `sum(w * 1e39) * 1e-39` computed an infinite loss with a finite
    gradient (its constants folded in float64). A const computed past the range is refused too."""
    from graphc.errors import GraphcError

    text = "param w : [2] = ones\nconst BIG = 1e20 * 1e20\ny = sum(w * 1e39) * 1e-39 + BIG * sum(w)\nminimize y\n"
    assert load(text)[1].loss_and_grad(load(text)[1].init_params())[0] > 1e40
    with pytest.raises(GraphcError) as e:
        load(text, "float32")
    found = [(d.message, d.span.line, d.span.col) for d in e.value.diagnostics]
    assert found == [
        ("1e+39 is past float32's largest number, 3.4028235e+38: the model computes in float32", 3, 13),
        ("1e+40 is past float32's largest number, 3.4028235e+38: the model computes in float32", 3, 29),
    ]
    # and one computed from numbers alone, which folding would put in the module as inf
    with pytest.raises(GraphcError) as e:
        load("param w : [2] = ones\nconst N = 1e20\ny = sum(w * (N * N)) + sum(w * 10^39)\nminimize y\n", "float32")
    assert [(d.span.col, d.message.split(" is ")[0]) for d in e.value.diagnostics] == [(13, "1e+40"), (32, "1e+39")]
    # through several operations; inf in float64 as well (10^400) is NumPy's arithmetic, left be
    with pytest.raises(GraphcError) as e:
        load(
            "param w : [2] = ones\ny = sum(w * (10^38 * 10)) + sum(w * (-(1e20) * 1e20)) + sum(w * 10^400)\nminimize y\n",
            "float32",
        )
    assert [d.span.col for d in e.value.diagnostics] == [13, 37]
    load(text.replace("1e39", "3e38").replace("1e20 * 1e20", "1e38"), "float32")  # in range: fine


def test_an_initial_value_past_float32_is_a_compile_error_in_float32_only():
    """float64 holds const(1e300); a float32 module would have silently made it inf."""
    from graphc.errors import GraphcError

    text = "param big : [2] = const(1e300)\nloss = sum(big)\nminimize loss\n"
    assert load(text)[1].init_params()["big"][0] == 1e300
    with pytest.raises(GraphcError) as e:
        load(text, "float32")
    (d,) = e.value.diagnostics
    assert d.message == "const(1e300) makes values past float32's largest number, 3.403e+38"
    assert (d.span.line, d.span.col, d.span.end_col) == (1, 19, 31)
    # float32's largest number as NumPy prints it rounds to itself: it fits
    edge = load("param w : [2] = const(3.4028235e38)\nloss = sum(w)\nminimize loss\n", "float32")[1]
    assert edge.init_params()["w"][0] == np.finfo(np.float32).max
    # drawn in float64, then cast: a uniform as wide as float32's whole range is fine
    wide = load("param w : [50] = uniform(-3e38, 3e38)\nloss = sum(w)\nminimize loss\n", "float32")[1]
    assert np.isfinite(wide.init_params()["w"]).all()


def test_check_finds_what_only_a_float32_module_cannot_hold(tmp_path, capsys):
    """`check --dtype float32` refuses the initial value `compile --dtype float32` would; plain check does not."""
    from graphc.cli import main

    model = tmp_path / "big.nn"
    model.write_text("param big : [2] = const(1e300)\nloss = sum(big)\nminimize loss\n")
    assert main(["check", str(model)]) == 0
    capsys.readouterr()
    assert main(["check", "--dtype", "float32", str(model)]) == 1
    err = capsys.readouterr().err
    assert f"{model}:1:19: error: const(1e300) makes values past float32's largest number" in err


# ---------------------------------------------------------------------------- argument checks


def raises_naming(fn, name: str, declared: str, received: tuple | None):
    """The ValueError names the input, its declared shape and (if one came) the shape received."""
    with pytest.raises(ValueError) as err:
        fn()
    msg = str(err.value)
    assert re.search(rf"\b{re.escape(name)}\b", msg), msg
    assert declared in msg, msg
    if received is not None:
        shown = [str(tuple(received)), "[" + ", ".join(map(str, received)) + "]"]
        assert any(s in msg for s in shown), msg
    return msg


BAD_CALLS = [
    # (what, change to the inputs, name, declared, received)
    ("wrong rank", {"x": np.ones(5)}, "x", "[B, 3]", (5,)),
    ("wrong fixed size", {"x": np.ones((5, 2))}, "x", "[B, 3]", (5, 2)),
    ("a string array", {"x": np.full((5, 3), "a")}, "x", "[B, 3]", (5, 3)),
    ("booleans for floats", {"x": np.ones((5, 3), dtype=bool)}, "x", "[B, 3]", (5, 3)),
    ("float labels", {"labels": np.zeros(5)}, "labels", "int[B]", (5,)),
    ("B disagrees", {"labels": np.zeros(4, dtype=int)}, "labels", "int[B]", (4,)),
    ("T has a wrong fixed size", {"s": np.ones((2, 4))}, "s", "[T, 3]", (2, 4)),
    ("labels of the wrong rank", {"labels": np.zeros((5, 1), dtype=int)}, "labels", "int[B]", (5, 1)),
    ("rows of uneven length", {"x": [[1.0, 2.0, 3.0], [1.0, 2.0]]}, "x", "[B, 3]", None),
]


@pytest.mark.parametrize("what,change,name,declared,received", BAD_CALLS, ids=[c[0] for c in BAD_CALLS])
@pytest.mark.parametrize("function", ["forward", "loss", "loss_and_grad", "sgd_step"])
def test_bad_inputs_raise_value_error_naming_them(contract, function, what, change, name, declared, received):
    _, m = contract
    inputs = {**contract_inputs(np.random.default_rng(0)), **change}
    params = m.init_params(0)
    before = {k: v.copy() for k, v in params.items()}
    fn = getattr(m, function)
    args = (params, 0.1) if function == "sgd_step" else (params,)
    raises_naming(lambda: fn(*args, **inputs), name, declared, received)
    for k in params:
        np.testing.assert_array_equal(params[k], before[k], err_msg="a refused call changes nothing")


BAD_RATES = [
    (None, TypeError, r"sgd_step takes lr after the params: sgd_step\(params, 0.1, \*\*inputs\)"),
    ("0.1", TypeError, "lr must be a real number, got '0.1'"),
    (True, TypeError, "lr must be a real number, got True"),
    (np.full((5, 1), 0.1), TypeError, r"lr must be a real number, got an array of shape \(5, 1\)"),
    (np.array([0.1]), TypeError, r"lr must be a real number, got an array of shape \(1,\)"),
    (float("nan"), ValueError, "lr must be finite in float64, got nan"),
    (-np.inf, ValueError, "lr must be finite in float64, got -inf"),
    (np.array(True), TypeError, r"lr must be a real number, got array\(True\)"),
    (1 + 2j, TypeError, r"lr must be a real number, got \(1\+2j\)"),
    ([0.1, [0.2]], TypeError, r"lr must be a real number, got \[0.1, \[0.2\]\]"),
    (10**400, ValueError, "lr must be finite in float64, got " + "1" + "0" * 36 + r"\.\.\.$"),
]


@pytest.mark.parametrize("opt", [0, 1, 2])
@pytest.mark.parametrize("lr, error, said", BAD_RATES, ids=[repr(r[0])[:12] for r in BAD_RATES])
def test_sgd_step_refuses_a_learning_rate_that_is_no_number(lr, error, said, opt):
    """At -O2 DTYPE(None) was a nan that wiped the params; an array broadcast into them."""
    _, m = load(CONTRACT, opt=opt)
    inputs = contract_inputs(np.random.default_rng(0))
    params = m.init_params(0)
    before = {k: v.copy() for k, v in params.items()}
    with pytest.raises(error, match=said):
        m.sgd_step(params, lr, **inputs)
    for k in params:
        np.testing.assert_array_equal(params[k], before[k])
    for fine in (0.1, 1, np.float32(0.1), np.array(0.1), Fraction(1, 10)):  # any one real number
        assert np.isfinite(m.sgd_step(params, fine, **inputs))


@pytest.mark.parametrize("opt", [0, 2])
def test_a_0d_array_lr_is_a_number_and_takes_the_floats_step(opt):
    _, m = load(CONTRACT, opt=opt)
    inputs = contract_inputs(np.random.default_rng(0))
    by_float, by_array = m.init_params(0), m.init_params(0)
    for lr in (np.array(0.1), np.array(0.1, dtype=np.float32), np.array(1)):
        assert m.sgd_step(by_array, lr, **inputs) == m.sgd_step(by_float, float(lr), **inputs)
        for k in by_float:
            np.testing.assert_array_equal(by_array[k], by_float[k])


def test_sgd_step_takes_lr_by_name_unless_an_input_has_that_name():
    _, m = load(CONTRACT)
    inputs = contract_inputs(np.random.default_rng(0))
    by_place, by_name = m.init_params(0), m.init_params(0)
    assert m.sgd_step(by_place, 0.1, **inputs) == m.sgd_step(by_name, lr=0.1, **inputs)
    for k in by_place:
        np.testing.assert_array_equal(by_place[k], by_name[k])
    # a model whose input is called lr: lr=... is that input, and the rate must come by place
    _, named = load("dim B\ninput lr : [B, 2]\nparam w : [2]\nloss = mean((lr @ w)^2)\nminimize loss\n")
    params = {"w": np.ones(2)}
    with pytest.raises(TypeError, match="sgd_step takes lr after the params"):
        named.sgd_step(params, lr=np.ones((3, 2)))
    assert named.sgd_step(params, 0.25, lr=np.ones((3, 2))) == 4.0
    with pytest.raises(TypeError, match="sgd_step got lr twice"):
        m.sgd_step(by_place, 0.1, lr=0.2, **inputs)
    np.testing.assert_allclose(params["w"], [0.0, 0.0])  # w -= 0.25 * 4 (each gradient is 2 * 2)


def test_an_lr_past_float32_is_refused_by_a_float32_module():
    _, m = load(CONTRACT, "float32")
    params = m.init_params(0)
    with pytest.raises(ValueError, match="lr must be finite in float32, got 1e\\+300"):
        m.sgd_step(params, 1e300, **contract_inputs(np.random.default_rng(0)))
    assert all(np.isfinite(p).all() for p in params.values())


@pytest.mark.parametrize("opt", [0, 2])
def test_a_value_named_like_the_runtime_keeps_the_runtime_working(opt):
    """`_learning_rate = W * 2` must not hide the module's own _learning_rate."""
    text = "param W : [3]\n_learning_rate = W * 2\n_brief = _learning_rate + 1\nloss = sum(_brief^2)\nminimize loss\n"
    _, m = load(text, opt=opt)
    p = m.init_params()
    assert m.sgd_step(p, 0.1) == 3 * 1.0


def test_params_that_are_no_dict_are_named(contract):
    _, m = contract
    with pytest.raises(TypeError, match="params must be a dict from param names to arrays, got NoneType"):
        m.loss(None, **contract_inputs(np.random.default_rng(0)))


def test_a_dim_twice_in_one_input_is_reported_at_that_inputs_axes():
    """[N, N] given (3, 4) was said to have N 4 'here but 3 in an earlier input', where there
    is no earlier input: the 3 is the same array's axis 0."""
    _, m = load("dim N\ninput A : [N, N]\ninput v : [N]\nparam c : [] = ones\nloss = sum((A @ v) * c)\nminimize loss\n")
    msg = raises_naming(lambda: m.loss(m.init_params(), A=np.ones((3, 4)), v=np.ones(3)), "A", "[N, N]", (3, 4))
    assert msg.endswith("N is 4 on axis 1 but 3 on axis 0"), msg
    msg = raises_naming(lambda: m.loss(m.init_params(), A=np.ones((3, 3)), v=np.ones(4)), "v", "[N]", (4,))
    assert msg.endswith("N is 4 here but 3 in an earlier input"), msg


@pytest.mark.parametrize("function", ["forward", "loss", "loss_and_grad"])
def test_missing_input_raises_value_error_naming_it(contract, function):
    _, m = contract
    inputs = contract_inputs(np.random.default_rng(0))
    del inputs["labels" if function != "forward" else "x"]
    missing = "labels" if function != "forward" else "x"
    declared = "int[B]" if missing == "labels" else "[B, 3]"
    raises_naming(lambda: getattr(m, function)(m.init_params(0), **inputs), missing, declared, None)


def test_wrong_param_shape_and_unknown_input_are_refused(contract):
    _, m = contract
    inputs = contract_inputs(np.random.default_rng(0))
    params = m.init_params(0)
    raises_naming(lambda: m.loss({**params, "W": np.ones((4, 3))}, **inputs), "W", "[3, 4]", (4, 3))
    raises_naming(lambda: m.loss({k: v for k, v in params.items() if k != "b"}, **inputs), "b", "[4]", None)
    with pytest.raises(ValueError, match="xx"):
        m.loss(params, **inputs, xx=np.ones(3))
    m.loss(params, **inputs)  # remembered as accepted: a new key must still be looked at
    with pytest.raises(ValueError, match=r"unknown param 'w'; the model's params are W, b, V"):
        m.loss({**params, "w": np.ones((3, 4))}, **inputs)
    # the same names and arrays in the same order, the last param passed as the first input
    *kept, last = params
    with pytest.raises(ValueError, match=f"unknown input '{last}'"):
        m.loss({k: params[k] for k in kept}, **{last: params[last]}, **inputs)


def test_inputs_that_a_function_does_not_need_are_still_checked(contract):
    """forward does not read labels or s, but a caller who passes them gets them checked."""
    _, m = contract
    inputs = contract_inputs(np.random.default_rng(0))
    raises_naming(
        lambda: m.forward(m.init_params(0), **{**inputs, "labels": np.zeros(4, dtype=int)}), "labels", "int[B]", (4,)
    )
    logits, _ = m.forward(m.init_params(0), x=inputs["x"])
    assert logits.shape == (5, 3)


def test_lists_and_integer_arrays_are_accepted_as_floats(contract):
    _, m = contract
    params = m.init_params(0)
    inputs = contract_inputs(np.random.default_rng(0))
    want = m.loss(params, **inputs)
    as_lists = {"x": inputs["x"].tolist(), "labels": inputs["labels"].tolist(), "s": inputs["s"].tolist()}
    assert m.loss(params, **as_lists) == want
    ints = {**inputs, "s": np.array([[1, 2, 3], [0, -1, 2]])}
    assert m.loss(params, **ints) == pytest.approx(contract_loss(params, {**ints, "s": ints["s"].astype(float)}))


# ---------------------------------------------------------------------------- returned arrays


ALIASES = """
model aliases
input x : [3]
param w : [3]
param s : []
wt = transpose(w)
ss = sum(s)
r = reshape(w, [3, 1])
loss = sum((x * w - 1)^2) + s^2 + sum(r) + sum(s)
output wt, ss, r, w, x
minimize loss
"""


def test_returned_arrays_are_never_changed_by_later_calls_or_sgd_step():
    _, m = load(ALIASES)
    params = {"w": np.array([0.5, -1.0, 2.0]), "s": np.array(0.3)}
    x = np.array([1.0, 2.0, 3.0])
    outs = m.forward(params, x=x)
    loss, grads = m.loss_and_grad(params, x=x)
    saved_outs = [np.copy(o) for o in outs]
    saved_grads = {k: np.copy(v) for k, v in grads.items()}
    for returned in [*outs, *grads.values()]:
        for owned in [*params.values(), x]:
            assert not np.shares_memory(returned, owned), "returned arrays are the caller's own"
    for _ in range(3):
        m.sgd_step(params, 0.1, x=x)
        m.forward(params, x=x + 1)
        m.loss_and_grad(params, x=x - 1)
    for got, want in zip(outs, saved_outs):
        np.testing.assert_array_equal(got, want)
    for k in grads:
        np.testing.assert_array_equal(grads[k], saved_grads[k])
    assert not np.array_equal(params["w"], [0.5, -1.0, 2.0]), "sgd_step moved the params"


def test_equal_values_are_returned_as_separate_arrays():
    # CSE merges h and k, and the gradients of w and v are both the same value: the
    # caller still gets one array per name, so writing to one leaves the others alone
    _, m = load(
        """
        model twins
        input x : [3]
        param w : [3]
        param v : [3]
        h = x * 2
        k = h
        loss = sum(w * h) + sum(v * h)
        output h, k
        minimize loss
        """
    )
    params = {"w": np.ones(3), "v": np.ones(3)}
    h, k = m.forward(params, x=np.arange(3.0))
    _, grads = m.loss_and_grad(params, x=np.arange(3.0))
    for a, b in [(h, k), (grads["w"], grads["v"])]:
        assert not np.shares_memory(a, b)
        a += 1
        np.testing.assert_array_equal(b, [0.0, 2.0, 4.0])


@pytest.mark.parametrize("opt", [0, 1, 2])
def test_constant_results_have_the_model_dtype(opt):
    text = """
    model consts
    input x : [3]
    param w : [3]
    c = 1.0 * 2.0
    loss = sum(w * x) + c
    output c, loss
    minimize loss
    """
    _, m = load(text, "float32", opt)
    c, value = m.forward({"w": np.ones(3, np.float32)}, x=np.ones(3, np.float32))
    assert float(c) == 2.0 and float(value) == 5.0
    assert np.asarray(c).dtype == np.float32 and np.asarray(value).dtype == np.float32


# numbers alone, unfolded at -O0 (and where folding refuses a non-finite result): NumPy's
# arithmetic, so inf and nan as in NumPy rather than Python's ZeroDivisionError or complex
NUMBER_ONLY = {
    "a * (1 / 0)": np.inf,
    "a + 0^-1": np.inf,
    "a * 2^2000": np.inf,
    "a * (-8)^(1/3)": np.nan,
    "a * exp(1000)": np.inf,
    "a * logsumexp(2)": 2 + 2,
    "a * reshape(2, [1])": 2 + 2,
    "a * (3).T": 3 + 3,
    "a * max(2) * sum(3)": 6 + 6,
}


@pytest.mark.parametrize("expression", list(NUMBER_ONLY))
@pytest.mark.parametrize("opt", [0, 1, 2])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_arithmetic_on_numbers_alone_is_numpy_arithmetic(expression, opt, dtype):
    _, m = load(f"param a : [2] = const(1)\nc = {expression}\nloss = sum(c)\noutput c\nminimize loss\n", dtype, opt)
    with np.errstate(all="ignore"):
        c = m.forward(m.init_params())
        value, grads = m.loss_and_grad(m.init_params())
    np.testing.assert_array_equal(value, NUMBER_ONLY[expression])
    assert c.dtype == grads["a"].dtype == np.dtype(dtype)


@pytest.mark.parametrize("opt", [0, 1, 2])
def test_a_sum_of_scalar_products_keeps_the_model_dtype(opt):
    text = """
    dim B
    input x : [B, 2]
    param s : []
    v = x * sum(s * 0.5) + mean(0.5 * s^2)
    loss = sum(v)
    output v
    minimize loss
    """
    _, m = load(text, "float32", opt)
    p, x = {"s": np.array(2, np.float32)}, np.ones((3, 2), np.float32)
    v = m.forward(p, x=x)
    value, grads = m.loss_and_grad(p, x=x)
    np.testing.assert_allclose(v, np.full((3, 2), 3.0))
    assert value == 18.0 and float(grads["s"]) == 6 * (0.5 + 2.0)
    assert v.dtype == grads["s"].dtype == np.float32


@pytest.mark.parametrize("opt", [0, 1, 2])
def test_sgd_step_through_an_objective_that_is_reshaped(opt):
    # the step's gradient seed is lr, a Python number: the reshape of it is NumPy's
    text = """
    dim B
    input x : [B, 3]
    param W : [3, 2]
    m = mean((x @ W)^2, axis=(0, 1), keepdims=true)
    loss = reshape(m, [])
    minimize loss
    """
    _, module = load(text, opt=opt)
    p = {"W": np.ones((3, 2))}
    assert module.sgd_step(p, 0.1, x=np.ones((4, 3))) == 9.0
    np.testing.assert_allclose(p["W"], 1 - 0.1 * 3.0)  # each of the 4 rows of x @ W adds 2 * 3 / 8


@pytest.mark.parametrize("opt", [0, 1, 2])
def test_sgd_step_replaces_params_it_cannot_update_in_place(opt):
    # an int array, a Python number and a read-only array: each gets a new float array,
    # after every step is known, so no param has moved if one fails
    text = """
    dim B
    input x : [B, 3]
    param w : [3]
    param b : []
    param c : [2]
    loss = mean((x @ w + b)^2) + sum(c)
    minimize loss
    """
    _, module = load(text, opt=opt)
    frozen = np.ones(2)
    frozen.flags.writeable = False
    w = np.ones(3)
    p = {"w": w, "b": np.array(0), "c": frozen}
    assert module.sgd_step(p, 0.1, x=np.ones((2, 3))) == 9.0 + 2.0
    assert p["w"] is w  # updated in place
    np.testing.assert_allclose(w, 1 - 0.1 * 6.0)
    assert p["b"].dtype == p["c"].dtype == np.float64 and p["b"].shape == ()
    np.testing.assert_allclose([p["b"], *p["c"]], [-0.6, 0.9, 0.9])
    np.testing.assert_array_equal(frozen, 1.0)
    q = {"w": w, "b": 0, "c": frozen}
    with pytest.raises(ValueError, match="input x"):
        module.sgd_step(q, 0.1, x=np.ones((2, 4)))
    assert q["b"] == 0 and q["c"] is frozen


@pytest.mark.parametrize("opt", [0, 1, 2])
def test_params_in_a_mapping_that_takes_no_new_value_do_not_move_when_one_must_be_replaced(opt):
    """params may be any mapping; where one param is a list, sgd_step must put a new array in
    its place, and a read-only mapping refuses that: the arrays it can update stay as they were."""
    text = """
    dim B
    input x : [B, 3]
    param w : [3]
    param c : [2]
    loss = mean((x @ w)^2) + sum(c)
    minimize loss
    """
    _, module = load(text, opt=opt)
    w = np.ones(3)
    held = {"w": w, "c": [1.0, 1.0]}
    with pytest.raises(TypeError):
        module.sgd_step(types.MappingProxyType(held), 0.1, x=np.ones((2, 3)))
    np.testing.assert_array_equal(w, 1.0)
    assert held["c"] == [1.0, 1.0]


def test_int_outputs_stay_int_and_unused_params_get_zero_gradients():
    text = """
    model misc
    dim B
    input labels : int[B]
    param w : [3]
    param unused : [2]
    loss = sum(w^2)
    output labels, loss
    minimize loss
    """
    _, m = load(text)
    labels = np.array([2, 0, 1])
    out, value = m.forward({"w": np.ones(3), "unused": np.zeros(2)}, labels=labels)
    assert out.dtype.kind == "i" and np.array_equal(out, labels) and not np.shares_memory(out, labels)
    assert float(value) == 3.0
    # the objective does not depend on `unused`: its gradient is exactly 0, whatever its value
    _, grads = m.loss_and_grad({"w": np.ones(3), "unused": np.array([np.inf, np.nan])})
    np.testing.assert_array_equal(grads["unused"], [0.0, 0.0])
    np.testing.assert_array_equal(grads["w"], [2.0, 2.0, 2.0])


def test_sgd_step_updates_in_place_and_decreases_the_loss(contract):
    _, m = contract
    rng = np.random.default_rng(2)
    params, inputs = m.init_params(2), contract_inputs(rng, n=16)
    objects = {k: v for k, v in params.items()}
    start = before = m.loss(params, **inputs)
    for _ in range(20):
        expected_w = params["W"] - 0.2 * m.loss_and_grad(params, **inputs)[1]["W"]
        value = m.sgd_step(params, 0.2, **inputs)
        assert value == pytest.approx(before, rel=1e-12), "sgd_step returns the loss before the step"
        np.testing.assert_allclose(params["W"], expected_w, rtol=1e-12)
        after = m.loss(params, **inputs)
        assert after < before
        before = after
    assert before < 0.9 * start
    for k, v in params.items():
        assert v is objects[k], "the same arrays, updated in place"


def test_concurrent_calls_give_the_single_threaded_results(contract):
    _, m = contract
    params = m.init_params(4)
    jobs = [contract_inputs(np.random.default_rng(100 + i), n=30 + i, t=1 + i % 3) for i in range(8)]
    alone = [m.loss_and_grad(params, **inputs) for inputs in jobs]
    barrier = threading.Barrier(8)

    def stepped(i: int) -> dict:
        own = {k: v.copy() for k, v in params.items()}
        for _ in range(5):
            m.sgd_step(own, 0.1, **jobs[i])
        return own

    steps_alone = [stepped(i) for i in range(8)]

    def work(i: int) -> tuple[list, dict]:
        barrier.wait()  # every thread computes in its own workspace, with its own batch size
        runs = [m.loss_and_grad(params, **jobs[i]) for _ in range(25)]
        return runs, stepped(i)

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(work, range(8)))
    for i, (runs, own) in enumerate(results):
        for loss, grads in runs:
            assert loss == alone[i][0]
            for k in grads:
                np.testing.assert_array_equal(grads[k], alone[i][1][k])
        for k in own:
            np.testing.assert_array_equal(own[k], steps_alone[i][k])


# ---------------------------------------------------------------------------- names and determinism


def test_model_names_that_shadow_python_or_the_runtime_still_work():
    text = """
    model names
    input x : [3]
    param w : [3]
    float = x * w
    len = sum(float)
    dict = len^2
    np = dict + 1
    DTYPE = np * 2
    checked = DTYPE - 1
    _array = checked + 0
    _arguments = _array * 1
    ValueError = _arguments / 2
    loss = ValueError + sum(w^2)
    output float, len
    minimize loss
    """
    _, m = load(text)
    x, w = np.array([1.0, -2.0, 0.5]), np.array([0.3, 0.1, -0.4])
    total = float(np.sum(x * w))
    want = ((total**2 + 1) * 2 - 1) / 2 + float(np.sum(w**2))
    loss, grads = m.loss_and_grad({"w": w}, x=x)
    assert loss == pytest.approx(want, rel=1e-14)
    # d/dw [(s^2 + 1) * 2 - 1] / 2 = 2 s x, with s = x . w; plus 2 w
    np.testing.assert_allclose(grads["w"], 2 * total * x + 2 * w, rtol=1e-14)
    assert m.loss({"w": w}, x=x) == pytest.approx(want, rel=1e-14)


@pytest.mark.parametrize("opt", [0, 1, 2])
def test_a_param_named_loss_and_grad_leaves_sgd_steps_general_path_working(opt):
    """sgd_step at -O2 calls loss_and_grad on its general path (read-only params, an empty
    batch), and a param of that name was a local variable of the same name further down:
    UnboundLocalError, for every call that took that path."""
    text = "dim B\ninput x : [B, 3]\nparam loss_and_grad : [3, 2]\nloss = mean((x @ loss_and_grad)^2)\nminimize loss\n"
    _, m = load(text, opt=opt)
    x = np.random.default_rng(0).normal(size=(4, 3))
    params = m.init_params(0)
    value, grads = m.loss_and_grad(params, x=x)
    expected = params["loss_and_grad"] - 0.1 * grads["loss_and_grad"]
    held = params["loss_and_grad"].copy()
    held.flags.writeable = False
    stepped = {"loss_and_grad": held}
    assert m.sgd_step(stepped, 0.1, x=x) == pytest.approx(value, rel=1e-12)
    np.testing.assert_allclose(stepped["loss_and_grad"], expected, rtol=1e-12)
    moved = {"loss_and_grad": params["loss_and_grad"].copy()}
    assert m.sgd_step(moved, 0.1, x=x) == pytest.approx(value, rel=1e-12)  # the fast path too
    np.testing.assert_allclose(moved["loss_and_grad"], expected, rtol=1e-12)


DETERMINISM = """
model det
dim B
input x : [B, 4]
input y : [B]
param W0 : [4, 4]
fn block(a, W) {
    z = a @ W
    return a + tanh(z)
}
h = x @ W0
for i in 1..3 {
    param W{i} : [4, 4] = he
    h = block(h, W{i})
}
logits = sum(h * h, axis=1)
loss = mean(softplus(-y * logits)) + mean(maximum(h, 0.1))
output logits, h
minimize loss wrt W1, W2, x
"""


def test_compilation_is_byte_deterministic(tmp_path):
    first = compile_text(DETERMINISM, "model.nn").source
    assert compile_text(DETERMINISM, "model.nn").source == first
    path = tmp_path / "model.nn"
    path.write_text(DETERMINISM)
    script = (
        "import sys; from graphc.pipeline import compile_text; "
        f"sys.stdout.write(compile_text(open({str(path)!r}).read(), 'model.nn').source)"
    )
    for seed in ("0", "1", "4242"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=120)
        assert out.returncode == 0, out.stderr
        assert out.stdout == first, f"PYTHONHASHSEED={seed} changes the generated module"


def test_labels_out_of_range_raise_value_error():
    # -1 would silently select the last class and K would index past the end
    import numpy as np

    from graphc import compile_source

    m = compile_source(
        "dim B\ninput z : [B, 3]\ninput y : int[B]\nparam s : []\n"
        "loss = mean(cross_entropy(z * s, y)) + sum(one_hot(y, 3) * s)\nminimize loss\n"
    )
    p = {"s": np.array(1.0)}
    z = np.array([[1.0, 2.0, 3.0]])
    assert np.isfinite(m.loss(p, z=z, y=np.array([2])))
    for bad in (-1, 3):
        try:
            m.loss(p, z=z, y=np.array([bad]))
        except ValueError as e:
            assert str(e) == f"input y: labels must lie in [0, 3), but one is {bad}"
        else:
            raise AssertionError(f"label {bad} was accepted")


def test_dims_named_like_python_names_do_not_shadow_the_module():
    # a dim called np must not hide NumPy inside the generated functions
    import numpy as np

    from graphc import compile_source

    for dim in ("np", "float", "dims"):
        m = compile_source(
            f"dim {dim}\ninput x : [{dim}, 2]\ny = reshape(x, [{dim}, -1])\nloss = sum(y^2)\nminimize loss wrt x\n"
        )
        value, grads = m.loss_and_grad({}, x=np.ones((3, 2)))
        assert value == 6.0 and np.array_equal(grads["x"], np.full((3, 2), 2.0))


def test_braced_names_resolve_inside_constant_sizes():
    from graphc import compile_source

    m = compile_source(
        "const n1 = 4\nconst n2 = 5\nfor i in 1..2 {\n    param W{i} : [n{i}, 2]\n}\nloss = sum(W1) + sum(W2)\nminimize loss\n"
    )
    assert m.module.PARAMS["W1"][0] == (4, 2) and m.module.PARAMS["W2"][0] == (5, 2)


def test_braced_names_with_a_const_resolve_after_output_minimize_and_wrt():
    """After a loop, `h{L}` names what its last pass made, in every place a name goes."""
    from graphc import compile_source

    m = compile_source(
        "dim B\nconst L = 2\ninput x : [B, 3]\nh = x\nfor i in 1..L {\n    param W{i} : [3, 3]\n"
        "    h{i} = tanh(h @ W{i})\n    loss{i} = mean(h{i}^2)\n    h = h{i}\n}\n"
        "output h{L}, h{L-1}\nminimize loss{L} wrt W{L}, W{L-1}\n"
    ).module
    assert (list(m.OUTPUTS), m.OBJECTIVE, m.WRT) == (["h2", "h1"], "loss2", ("W2", "W1"))
    params, x = m.init_params(), np.linspace(-1, 1, 6).reshape(2, 3)
    h1 = np.tanh(x @ params["W1"])
    h2 = np.tanh(h1 @ params["W2"])
    np.testing.assert_allclose(m.forward(params, x=x), (h2, h1), rtol=1e-12)
    assert m.loss(params, x=x) == pytest.approx(np.mean(h2**2), rel=1e-12)


@pytest.mark.filterwarnings("ignore::PendingDeprecationWarning")  # np.matrix, on purpose
def test_a_cached_signature_still_converts_scalars_and_matrices():
    """The argument check remembers accepted calls by type as well as shape and dtype:
    a param that became a NumPy scalar, or an np.matrix input, is converted again."""
    _, m = load("param x : [] = ones\ng = 2*x + 1\nh = g^2\nminimize h\n")
    p = m.init_params()
    value, grads = m.loss_and_grad(p)
    p["x"] = p["x"] - 0.1 * grads["x"]  # a 0-d array minus a float is a np.float64
    assert isinstance(p["x"], np.float64)
    expected = (2 * p["x"] + 1) ** 2
    before = p["x"]
    assert m.sgd_step(p, 0.1) == pytest.approx(expected)
    assert float(p["x"]) == pytest.approx(before - 0.1 * 4 * (2 * before + 1))

    _, m = load(
        "dim B\ninput x : [B, 2]\ninput y : [B, 2]\nparam w : []\nz = x*y*w\noutput z\nloss = sum(z)\nminimize loss\n"
    )
    a, b = np.array([[1.0, 2], [3, 4]]), np.array([[5.0, 6], [7, 8]])
    p = {"w": np.array(1.0)}
    m.forward(p, x=a, y=b)
    np.testing.assert_array_equal(m.forward(p, x=np.matrix(a), y=np.matrix(b)), a * b)  # not a matrix product


@pytest.mark.parametrize("opt", [0, 2])
def test_the_cache_of_checked_calls_sees_arrays_changed_in_place(contract, opt):
    """An accepted call is remembered by its arrays' shapes and dtypes, and sgd_step's by their
    writeable flags too, read again on every call: an array reshaped in place after a call is
    checked again, and a param made read-only takes the general path, which leaves it as it was."""
    _, m = load(CONTRACT, opt=opt)
    params, inputs = m.init_params(0), contract_inputs(np.random.default_rng(4), n=6)
    value, grads = m.loss_and_grad(params, **inputs)
    moved = {k: v.copy() for k, v in params.items()}
    for _ in range(2):  # checked in full, then through the cache
        m.forward(moved, **inputs)
        m.sgd_step({k: v.copy() for k, v in params.items()}, 0.1, **inputs)
    general = m.loss_and_grad  # sgd_step's general path calls it; at -O2 its fast path does not
    if opt == 2:
        m.loss_and_grad = None
    listed = {k: v.copy() for k, v in params.items()}
    m.sgd_step(listed, 0.1, **{**inputs, "x": inputs["x"].tolist()})  # an input converted: still fast
    m.loss_and_grad = general
    for name in params:
        np.testing.assert_allclose(listed[name], params[name] - 0.1 * grads[name], rtol=1e-12)
    held = moved["W"]
    held.flags.writeable = False
    assert m.sgd_step(moved, 0.1, **inputs) == value
    assert moved["W"] is not held, "a new array takes the read-only one's place"
    np.testing.assert_array_equal(held, params["W"])
    for name in params:
        np.testing.assert_allclose(moved[name], params[name] - 0.1 * grads[name], rtol=1e-12)
    x = inputs["x"]
    x.shape = (3, 6)  # B is 3 where labels say 6, and x has 6 columns, not 3
    for f in (m.forward, m.loss, m.loss_and_grad):
        with pytest.raises(ValueError, match="input x"):
            f(params, **inputs)
    with pytest.raises(ValueError, match="input x"):
        m.sgd_step(params, 0.1, **inputs)
    x.shape = (6, 3)
    b = params["b"]
    b.shape = (2, 2)
    with pytest.raises(ValueError, match=r"param b: expected shape \[4\] \(rank 1\)"):
        m.sgd_step(params, 0.1, **inputs)


class _ListShaped:
    """An array-like whose shape is a list, as some array libraries give it: no key of the cache."""

    def __init__(self, a):
        self.a, self.shape, self.dtype = a, list(a.shape), a.dtype

    def __array__(self, dtype=None, copy=None):
        return self.a


@pytest.mark.parametrize("opt", [0, 2])
def test_an_array_like_whose_shape_is_a_list_is_converted_not_a_type_error(contract, opt):
    """The cache of checked calls hashed the arrays' shapes outside its guard: an array-like
    whose shape is a list stopped every function with `TypeError: unhashable type: 'list'`."""
    _, m = load(CONTRACT, opt=opt)
    params, inputs = m.init_params(0), contract_inputs(np.random.default_rng(3))
    value, grads = m.loss_and_grad(params, **inputs)
    like = {**inputs, "x": _ListShaped(inputs["x"])}
    np.testing.assert_array_equal(m.forward(params, **like)[0], m.forward(params, **inputs)[0])
    assert m.loss(params, **like) == value
    assert m.loss_and_grad(params, **like)[0] == value
    moved = {k: v.copy() for k, v in params.items()}
    assert m.sgd_step(moved, 0.1, **like) == value
    np.testing.assert_allclose(moved["W"], params["W"] - 0.1 * grads["W"], rtol=1e-12)


def test_a_param_named_like_the_update_steps_still_moves():
    _, m = load("param step_1 : [3, 3]\nparam V : [3, 3]\nloss = sum(V * step_1.T)\nminimize loss\n")
    p = m.init_params(seed=3)
    before = {k: v.copy() for k, v in p.items()}
    _, grads = m.loss_and_grad(p)
    m.sgd_step(p, 0.5)
    for k in p:
        np.testing.assert_allclose(p[k], before[k] - 0.5 * grads[k])
    assert not np.allclose(p["step_1"], before["step_1"])


EMPTY_BATCH_LOSSES = [
    "mean(tanh(x @ W))",
    "mean((x @ W - 1)^2)",
    "sum(mean(x @ W, axis=0)^2)",
    "mean(exp(x @ W) / exp(x @ W))",  # a mean of 1s over no rows is nan still, not 1
]


@pytest.mark.parametrize("opt", [0, 1, 2])
@pytest.mark.parametrize("objective", EMPTY_BATCH_LOSSES)
def test_an_empty_batch_gives_a_nan_loss_zero_gradients_and_leaves_the_params(opt, objective):
    # `2.0 / t.size` with a size of 0 must divide as NumPy does, not raise ZeroDivisionError
    source = f"dim B\ninput x : [B, 4]\nparam W : [4, 4] = normal(0, 1)\nloss = {objective}\nminimize loss\n"
    _, module = load(source, opt=opt)
    p = module.init_params()
    before = p["W"].copy()
    with np.errstate(all="ignore"):  # the mean of nothing is nan
        value, grads = module.loss_and_grad(p, x=np.zeros((0, 4)))
        assert np.isnan(value)
        np.testing.assert_array_equal(grads["W"], np.zeros((4, 4)))
        assert np.isnan(module.sgd_step(p, 0.1, x=np.zeros((0, 4))))
    np.testing.assert_array_equal(p["W"], before)


@pytest.mark.parametrize("opt", [0, 1, 2])
def test_an_empty_batch_leaves_a_bias_added_inside_a_mean_as_it_was(opt):
    """The gradient of c in mean(x @ W + c) sums 1/B over the batch: for B = 0, a sum of
    nothing, 0, not (1/0) * 0 = nan, which sgd_step would write into c."""
    source = (
        "dim B\ninput x : [B, 4]\nparam W : [4, 4]\nparam c : []\nparam d : [1]\n"
        "loss = mean(x @ W + c) + mean(sum(x @ W, axis=1, keepdims=true) + d)\nminimize loss\n"
    )
    _, module = load(source, opt=opt)
    p = module.init_params()
    before = {k: v.copy() for k, v in p.items()}
    with np.errstate(all="ignore"):  # the mean of nothing is nan
        value, grads = module.loss_and_grad(p, x=np.zeros((0, 4)))
        assert np.isnan(value)
        for k in p:
            np.testing.assert_array_equal(grads[k], np.zeros_like(p[k]))
        assert np.isnan(module.sgd_step(p, 0.1, x=np.zeros((0, 4))))
    for k in p:
        np.testing.assert_array_equal(p[k], before[k])
    x = np.random.default_rng(0).normal(size=(3, 4))  # with rows, c and d get the gradient 1
    _, grads = module.loss_and_grad(p, x=x)
    assert grads["c"] == 1.0 and grads["d"] == [1.0]


EMPTY_AXIS_REDUCTIONS = [
    ("max(x @ W)", -np.inf),  # the max of nothing, as the sum of nothing is 0
    ("sum(max(x @ W, axis=0))", -4 * np.inf),
    ("logsumexp(x @ W)", -np.inf),
    ("sum(softmax((x @ W).T))", 0.0),  # a softmax over the batch: four empty rows
    ("sum(log_softmax((x @ W).T))", 0.0),
]


@pytest.mark.parametrize("opt", [0, 1, 2])
@pytest.mark.parametrize("objective, value", EMPTY_AXIS_REDUCTIONS, ids=[o for o, _ in EMPTY_AXIS_REDUCTIONS])
def test_a_max_over_an_empty_batch_is_minus_infinity_not_an_error(opt, objective, value):
    """NumPy refuses the max of an empty axis ("zero-size array to reduction operation")."""
    source = f"dim B\ninput x : [B, 4]\nparam W : [4, 4] = normal(0, 1)\nloss = {objective}\nminimize loss\n"
    _, module = load(source, opt=opt)
    p = module.init_params()
    before = p["W"].copy()
    with np.errstate(all="ignore"):
        loss, grads = module.loss_and_grad(p, x=np.zeros((0, 4)))
        assert loss == value
        np.testing.assert_array_equal(grads["W"], np.zeros((4, 4)))
        module.sgd_step(p, 0.1, x=np.zeros((0, 4)))
    np.testing.assert_array_equal(p["W"], before)
    x = np.random.default_rng(0).normal(size=(3, 4))  # and a batch with rows is unchanged
    assert np.isfinite(module.loss(p, x=x))


@pytest.mark.parametrize("opt", [0, 1, 2])
@pytest.mark.parametrize("objective", ["sum(log_softmax(x @ W, axis=0))", "sum(log_softmax((x @ W).T))"])
def test_a_log_softmax_of_no_rows_is_empty_without_a_warning(opt, objective):
    """Along the empty batch, or of the batch's rows when there are none: nothing to normalize,
    but the log of the empty sums warned 'divide by zero encountered in log'."""
    source = f"dim B\ninput x : [B, 4]\nparam W : [4, 2] = normal(0, 1)\nloss = {objective}\nminimize loss\n"
    _, module = load(source, opt=opt)
    p = module.init_params()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        value, grads = module.loss_and_grad(p, x=np.zeros((0, 4)))
        module.sgd_step(p, 0.1, x=np.zeros((0, 4)))
    assert value == 0.0
    np.testing.assert_array_equal(grads["W"], np.zeros((4, 2)))


def test_only_a_max_over_a_dim_pays_for_an_empty_axis():
    """A fixed size is at least 1, so its max needs no initial=-inf."""
    source, _ = load(
        "dim B\ninput x : [B, 4]\nparam W : [4, 4]\nloss = sum(max(x @ W, axis=1)) + max(x @ W)\nminimize loss\n"
    )
    lines = [
        line for line in source.splitlines() if ".max(" in line and "def " not in line and "x.max(axis=axis" not in line
    ]
    assert any("axis=1" in line and "initial" not in line for line in lines), lines
    assert any("axis=1" not in line and "initial=-np.inf" in line for line in lines), lines


def test_an_input_that_alone_gives_a_dim_is_needed_for_its_size():
    text = """
    dim B, K
    input labels : int[B]
    input w : [K]
    input x : [B, K]
    param a : [] = ones
    oh = one_hot(labels, K) * a
    output oh
    loss = sum(oh * w) + sum(x)
    minimize loss
    """
    _, m = load(text)
    p = m.init_params()
    with pytest.raises(ValueError, match=r"missing input w \[K\] or x \[B, K\]: one is needed for the size K"):
        m.forward(p, labels=np.array([0, 1]))
    np.testing.assert_array_equal(m.forward(p, labels=np.array([0, 2]), w=np.ones(3)), np.eye(3)[[0, 2]])
    # any input that declares K tells it
    np.testing.assert_array_equal(m.forward(p, labels=np.array([0, 2]), x=np.ones((2, 3))), np.eye(3)[[0, 2]])


@pytest.mark.parametrize("file", ["C:\\Users\\N\\model.nn", 'a"""b.nn', "x\\N{.nn", "m\udcff.nn"])
def test_any_source_path_gives_an_importable_module(file):
    # the path is quoted in the module's docstring: backslashes, quotes and undecodable bytes
    source = compile_text("param W : [2]\nloss = sum(W)\nminimize loss\n", file).source
    module = types.ModuleType("generated")
    exec(compile(source.encode("utf-8"), "generated.py", "exec"), module.__dict__)
    assert module.loss({"W": np.ones(2)}) == 2.0
    assert "generated by graphc from" in module.__doc__


@pytest.mark.parametrize("opt", [0, 1, 2])
def test_a_long_chain_of_scalars_stays_under_pythons_nesting_limit(opt):
    # -O2 spells scalars inside their user: 400 terms would nest 400 brackets in one line
    _, m = load("param x : []\ny = " + " + ".join(["x"] * 400) + "\nminimize y\n", opt=opt)
    assert m.loss_and_grad({"x": np.array(0.5)}) == (200.0, {"x": 400.0})


def kept_arrays(m: types.ModuleType, *sizes: int) -> list:
    """The arrays of the calling thread's workspace for these sizes (None where not made), or None."""
    kept = getattr(m._LOCAL, "spaces", {}).get((m._workspace_arrays, sizes))
    return kept and kept[0]


def kept_bytes(m: types.ModuleType) -> int:
    return sum(a.nbytes for ws, _, _ in getattr(m._LOCAL, "spaces", {}).values() for a in ws if a is not None)


@pytest.mark.parametrize("opt", [0, 1, 2])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_the_gradient_of_a_scalar_param_is_a_0d_array_shaped_like_the_param(opt, dtype):
    text = "dim B\ninput x : [B]\nparam w : [] = ones\nparam c : []\nloss = sum((x * w + c)^2)\nminimize loss\n"
    _, m = load(text, dtype=dtype, opt=opt)
    params = m.init_params()
    value, grads = m.loss_and_grad(params, x=np.array([1.0, 2.0]))
    assert type(value) is float  # the objective stays a Python float
    for name, grad in grads.items():
        assert type(grad) is np.ndarray and grad.shape == params[name].shape == ()
        assert grad.dtype == params[name].dtype == np.dtype(dtype)
    assert grads["w"] == 10.0 and grads["c"] == 6.0  # 2 (x w + c) x summed, and 2 (x w + c) summed
    assert m.sgd_step(params, 0.1, x=np.array([1.0, 2.0])) == value


def test_a_batch_size_in_use_keeps_its_workspace_while_others_come_and_go():
    _, m = load("dim B\ninput x : [B, 3]\nparam W : [3, 2]\nloss = sum((x @ W)^2)\nminimize loss\n")
    p = m.init_params()
    m.sgd_step(p, 0.1, x=np.ones((8, 3)))
    hot = kept_arrays(m, 8)
    for b in range(1, 40):  # a size that keeps coming back, between many that come once
        m.sgd_step(p, 0.1, x=np.ones((100 + b, 3)))
        m.sgd_step(p, 0.1, x=np.ones((8, 3)))
        assert kept_arrays(m, 8) is hot
    assert len(m._LOCAL.spaces) <= 16


def test_a_function_makes_only_the_workspace_arrays_it_computes_in():
    """forward alone never makes the buffers of sgd_step's gradients; a later sgd_step adds
    them to the same workspace, and forward's arrays are shared, not made again."""
    text = (Path(__file__).parent.parent / "examples" / "regression.nn").read_text()
    compiled = compile_text(text, "regression.nn")
    _, m = load(text)
    params, inputs = m.init_params(), {"x": np.ones((6, 3)), "y": np.ones((6, 1))}
    m.forward(params, x=inputs["x"])
    ws = kept_arrays(m, 6)
    made = [a for a in ws if a is not None]
    assert len(made) == len(set(compiled.pool.index["forward"])) < len(ws)
    m.sgd_step(params, 0.1, **inputs)
    assert kept_arrays(m, 6) is ws and all(any(a is b for b in ws) for a in made)
    assert len([a for a in ws if a is not None]) > len(made)


def idle_bytes(m: types.ModuleType) -> int:
    """The bytes of the calling thread's workspaces besides the one it used last."""
    spaces = list(getattr(m._LOCAL, "spaces", {}).values())
    return sum(a.nbytes for ws, _, _ in spaces[:-1] for a in ws if a is not None)


def test_a_thread_keeps_besides_its_last_workspace_a_number_of_bytes_the_least_recently_used_going_first():
    _, m = load("dim B\ninput x : [B, 100]\nparam W : [100, 100]\nloss = sum(tanh(x @ W))\nminimize loss\n")
    p = m.init_params()
    m.forward(p, x=np.ones((100, 100)))
    one = kept_bytes(m)  # forward's at B = 100
    m.release_workspaces()
    m._WORKSPACE_BYTES = 3 * one
    for b in (100, 101, 102, 103, 104):
        m.forward(p, x=np.ones((b, 100)))
        assert idle_bytes(m) <= m._WORKSPACE_BYTES
    assert kept_arrays(m, 100) is None and kept_arrays(m, 101) is None
    assert [sizes for _, sizes in m._LOCAL.spaces] == [(102,), (103,), (104,)]
    m.forward(p, x=np.ones((102, 100)))  # coming back to a kept one makes it the last used
    assert [sizes for _, sizes in m._LOCAL.spaces] == [(103,), (104,), (102,)]


def test_a_workspace_larger_than_the_limit_is_kept_while_it_is_the_one_used_last():
    """A large batch's workspace, over _WORKSPACE_BYTES on its own, serves every call at that
    batch size, not only the one that made it; the next call at another size drops it
    before making its own arrays, so the two are never held at once."""
    _, m = load("dim B\ninput x : [B, 100]\nparam W : [100, 100]\nloss = sum(tanh(x @ W))\nminimize loss\n")
    p = m.init_params()
    m.forward(p, x=np.ones((100, 100)))
    m._WORKSPACE_BYTES = 3 * kept_bytes(m)  # room for the two small workspaces
    m.forward(p, x=np.ones((101, 100)))
    x = np.random.default_rng(0).normal(size=(400, 100))
    assert m.loss(p, x=x) == pytest.approx(np.tanh(x @ p["W"]).sum(), rel=1e-12)
    large = kept_arrays(m, 400)
    assert large is not None and kept_arrays(m, 100) is not None and kept_arrays(m, 101) is not None
    assert m.loss(p, x=x) == pytest.approx(np.tanh(x @ p["W"]).sum(), rel=1e-12)
    assert kept_arrays(m, 400) is large  # the second call computed in the same arrays

    held_when_made = []

    class Counting:  # the module's array module, noting what the thread holds at each array made
        def __getattr__(self, name):
            return getattr(np, name)

        def empty(self, *args, **kwargs):
            held_when_made.append(kept_bytes(m))
            return np.empty(*args, **kwargs)

    m.np = Counting()
    m.forward(p, x=np.ones((102, 100)))
    assert kept_arrays(m, 400) is None and kept_arrays(m, 102) is not None
    assert held_when_made and max(held_when_made) <= m._WORKSPACE_BYTES
    m.release_workspaces()
    assert kept_bytes(m) == 0


def test_a_workspace_that_failed_to_be_made_leaves_every_kept_one_counted():
    """Memory running out while a workspace is made leaves the cache as it was trimmed: the
    next call at the size used before computes in a workspace the thread counts, not in
    one the trim already let go."""
    _, m = load("dim B\ninput x : [B, 100]\nparam W : [100, 100]\nloss = sum(tanh(x @ W))\nminimize loss\n")
    p = m.init_params()
    m._WORKSPACE_BYTES = 0  # only the workspace used last is kept
    m.forward(p, x=np.ones((400, 100)))

    class Full:
        def __getattr__(self, name):
            return getattr(np, name)

        def empty(self, *args, **kwargs):
            raise MemoryError

    m.np = Full()
    with pytest.raises(MemoryError):
        m.forward(p, x=np.ones((500, 100)))
    m.np = np
    x = np.random.default_rng(0).normal(size=(400, 100))
    assert m.loss(p, x=x) == pytest.approx(np.tanh(x @ p["W"]).sum(), rel=1e-12)
    assert kept_arrays(m, 400) is not None and kept_bytes(m) > 0


def test_release_workspaces_drops_the_calling_threads_workspaces_only():
    _, m = load(CONTRACT)
    params, inputs = m.init_params(), contract_inputs(np.random.default_rng(0), n=7)
    want = m.loss_and_grad(params, **inputs)
    ready, done, seen = threading.Event(), threading.Event(), []

    def other() -> None:
        m.forward(params, **inputs)
        ready.set()
        done.wait(timeout=30)
        seen.append(kept_arrays(m, 7))  # another thread's release leaves this one's

    thread = threading.Thread(target=other, daemon=True)
    thread.start()
    try:
        assert ready.wait(timeout=30) and kept_bytes(m) > 0
        m.release_workspaces()
        assert kept_bytes(m) == 0
    finally:
        done.set()
        thread.join()
    assert seen[0] is not None
    loss, grads = m.loss_and_grad(params, **inputs)  # and the next call makes what it needs anew
    assert loss == want[0] and all(np.array_equal(grads[k], want[1][k]) for k in grads)
    m.release_workspaces()  # with nothing to drop


@pytest.mark.parametrize("opt", [0, 1])
def test_a_module_without_workspaces_has_release_workspaces_too(opt):
    _, m = load(CONTRACT, opt=opt)
    assert m.release_workspaces() is None


def test_the_functions_share_workspaces_and_hold_per_shape_the_most_one_needs(contract):
    """Functions whose buffers need the same dims compute in one workspace: calling all
    four holds, per shape, the most buffers any one of them needs, not their sum; and
    calls in any order still give the -O0 module's numbers."""
    source, m = contract
    pool = compile_text(CONTRACT, "model.nn").pool
    # forward needs B alone; loss, loss_and_grad and sgd_step also read s [T, 3]
    assert re.findall(r"^def (_workspace_\w+)\((.*)\)", source, re.M) == [
        ("_workspace_arrays", "B"),
        ("_workspace_arrays_2", "B, T"),
    ]
    for sizes, arrays in pool.arrays.items():
        most = Counter()
        for f in pool.users(sizes):
            plan = pool.plans[f]
            # a view of sgd_step's packed gradients is an array of its own, named by where it is
            fills = {i: ("part", pool.index[f][plan.flat], *place) for i, place in plan.parts.items()}
            mine = Counter((shape, fills.get(i, plan.fill.get(i))) for i, shape in enumerate(plan.buffers))
            most |= mine  # the larger count of each key
        assert Counter(arrays) == most
    assert len(pool.arrays[("B", "T")]) < sum(len(pool.plans[f].buffers) for f in pool.users(("B", "T")))
    _, plain = load(CONTRACT, opt=0)
    rng = np.random.default_rng(3)
    params, reference = m.init_params(), plain.init_params()
    for n in (5, 2, 5, 7, 5):
        inputs = contract_inputs(rng, n=n)
        for got, want in zip(m.forward(params, **inputs), plain.forward(reference, **inputs)):
            np.testing.assert_allclose(got, want, rtol=1e-12)
        loss, grads = m.loss_and_grad(params, **inputs)
        want_loss, want_grads = plain.loss_and_grad(reference, **inputs)
        assert loss == pytest.approx(want_loss, rel=1e-12) == m.loss(params, **inputs)
        for name in grads:
            np.testing.assert_allclose(grads[name], want_grads[name], rtol=1e-11, atol=1e-15)
        assert m.sgd_step(params, 0.5, **inputs) == pytest.approx(plain.sgd_step(reference, 0.5, **inputs), rel=1e-12)
        for name in params:
            np.testing.assert_allclose(params[name], reference[name], rtol=1e-11, atol=1e-15)


EMBEDDING = """\
dim B
input tok : int[B]
input y : [B, 3]
param E : [6, 4] = normal(0, 1)
param W : [4, 3] = normal(0, 1)
param v : [6] = normal(0, 1)
e = one_hot(tok, 6) @ E
s = one_hot(tok, 6) @ v
loss = mean((tanh(e @ W) - y)^2) + mean(s^2)
minimize loss
"""


def test_an_embedding_is_a_row_lookup_with_the_same_values_and_checked_labels():
    _, plain = load(EMBEDDING, opt=0)
    source, fast = load(EMBEDDING, opt=2)
    assert "_one_hot(" not in source.split("def forward")[1] and "np.take(E, tok" in source
    rng = np.random.default_rng(3)
    tok, y = np.array([0, 5, 5, 2, 0, 0, 1]), rng.normal(size=(7, 3))  # repeated rows add up
    p = plain.init_params(4)
    want_loss, want = plain.loss_and_grad(p, tok=tok, y=y)
    got_loss, got = fast.loss_and_grad(p, tok=tok, y=y)
    assert got_loss == pytest.approx(want_loss, rel=1e-12)
    for name in want:
        np.testing.assert_allclose(got[name], want[name], rtol=1e-10, atol=1e-12)
    # and the gradient is the loss's slope: central differences along a random direction
    u = rng.normal(size=(6, 4))
    h = 1e-6
    slope = plain.loss({**p, "E": p["E"] + h * u}, tok=tok, y=y) - plain.loss({**p, "E": p["E"] - h * u}, tok=tok, y=y)
    assert np.vdot(got["E"], u) == pytest.approx(slope / (2 * h), rel=1e-6)
    for bad in (np.array([0, 6]), np.array([-1, 0])):  # a negative label would pick the last row
        with pytest.raises(ValueError, match="input tok: labels must lie in"):
            fast.sgd_step(p, 0.1, tok=bad, y=y[:2])


def test_one_hot_of_no_labels_and_no_classes_is_empty():
    text = "dim B, K\ninput lab : int[B]\ninput z : [B, K]\noh = one_hot(lab, K)\nloss = mean(oh * z)\noutput oh\nminimize loss wrt z\n"
    for opt in (0, 2):
        _, m = load(text, opt=opt)
        with np.errstate(all="ignore"):
            assert m.forward({}, lab=np.zeros(0, int), z=np.zeros((0, 0))).shape == (0, 0)


@pytest.mark.parametrize("opt", [0, 2])
def test_an_empty_list_of_labels_is_no_labels_not_floats(opt):
    """NumPy makes a float array of [], so the last, empty batch of a loop that gathers its
    labels in a list was refused as float labels; an empty float array still is."""
    _, m = load(CONTRACT, opt=opt)
    params = m.init_params(0)
    given = {"x": np.zeros((0, 3)), "s": np.ones((2, 3))}
    as_array = {**given, "labels": np.zeros(0, dtype=np.int64)}
    with np.errstate(all="ignore"):
        np.testing.assert_array_equal(m.forward(params, **given, labels=[])[0], m.forward(params, **as_array)[0])
        np.testing.assert_equal(m.loss(params, **given, labels=[]), m.loss(params, **as_array))
        value, grads = m.loss_and_grad(params, **given, labels=())
        for name, grad in m.loss_and_grad(params, **as_array)[1].items():
            np.testing.assert_array_equal(grads[name], grad)
        stepped = {k: v.copy() for k, v in params.items()}
        np.testing.assert_equal(m.sgd_step(stepped, 0.1, **given, labels=[]), value)
    raises_naming(lambda: m.loss(params, **given, labels=np.zeros(0)), "labels", "int[B]", (0,))


LOGITS_3D = """
dim B, T
input logits : [B, T, 4]
input labels : int[B, T]
param s : [] = ones
loss = mean(cross_entropy(s * logits, labels))
minimize loss wrt s, logits
"""


@pytest.mark.parametrize("opt", [0, 1, 2])
def test_cross_entropy_gradient_does_not_depend_on_the_logits_memory_layout(opt):
    """The softmax-minus-one-hot gradient takes 1 off at each label through a reshape of its
    buffer: a new buffer must be C-ordered whatever the logits' layout, or the reshape is a
    copy and the 1s are lost (which -O1 did for Fortran-ordered or transposed logits)."""
    _, m = load(LOGITS_3D, opt=opt)
    rng = np.random.default_rng(5)
    logits = rng.normal(size=(3, 2, 4))
    labels = rng.integers(0, 4, size=(3, 2))
    params = {"s": np.array(1.5)}

    def loss_at(s):
        z = s * logits
        lse = np.log(np.exp(z).sum(axis=-1))
        return float(np.mean(lse - np.take_along_axis(z, labels[..., None], axis=-1)[..., 0]))

    h = 1e-6
    slope = (loss_at(1.5 + h) - loss_at(1.5 - h)) / (2 * h)
    layouts = {
        "C": logits,
        "Fortran": np.asfortranarray(logits),
        "moved axes": np.moveaxis(np.moveaxis(logits, -1, 0).copy(), 0, -1),
    }
    for layout, value in layouts.items():
        _, grads = m.loss_and_grad(params, logits=value, labels=labels)
        assert np.isclose(grads["s"], slope, rtol=1e-6), layout
        # softmax - one_hot sums to 0 over the classes
        assert np.allclose(grads["logits"].sum(axis=-1), 0.0, atol=1e-12), layout


def test_the_library_object_offers_release_workspaces():
    import graphc

    model = graphc.compile_source(CONTRACT, "contract.nn")
    assert model.release_workspaces is model.module.release_workspaces
    model.release_workspaces()


def test_the_library_object_offers_the_modules_tables():
    """model.PARAMS and the rest, as `import generated` gives them, so code written against a
    written module runs against the in-memory one."""
    import graphc

    model = graphc.compile_source(CONTRACT, "contract.nn")
    for table in ("DTYPE", "INPUTS", "PARAMS", "OUTPUTS", "OBJECTIVE", "WRT"):
        assert getattr(model, table) is getattr(model.module, table), table
    assert set(model.PARAMS) == set(model.init_params())


EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
ALLOCATION_FREE = ["chain_rule", "deep_tanh", "linear_regression", "logistic_regression", "regression"]


def _flat_values(result) -> list[np.ndarray]:
    """A function's result as a list of arrays: the loss, outputs and gradients in order."""
    if isinstance(result, dict):
        return [a for k in sorted(result) for a in _flat_values(result[k])]
    if isinstance(result, tuple):
        return [a for part in result for a in _flat_values(part)]
    return [np.asarray(result)]


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("name", sorted(p.stem for p in EXAMPLES.glob("*.nn")))
def test_every_example_gives_at_an_empty_batch_what_o0_gives(name: str, dtype: str) -> None:
    """At dims of 0 every function of every example gives at -O1 and -O2 what -O0 gives, nan
    and inf in the same places (a mean of no rows is nan, a sum of none 0): no rule of the
    optimizer may change what an empty batch computes, and sgd_step leaves the params as
    -O0's does."""
    from graphc import gradcheck

    text = (EXAMPLES / f"{name}.nn").read_text()
    got = {}
    for opt in (0, 1, 2):
        compiled = compile_text(text, f"{name}.nn", dtype=dtype, opt=opt)
        module = types.ModuleType(name)
        exec(compile(compiled.source, name, "exec"), module.__dict__)
        dims = gradcheck.sizes(compiled.graph, {d: 0 for d in compiled.graph.dims})
        params, inputs = gradcheck.point(module, compiled.graph, dims, 0)
        with np.errstate(all="ignore"):  # the mean of nothing is nan
            values = [module.forward(params, **inputs), module.loss(params, **inputs)]
            values.append(module.loss_and_grad(params, **inputs))
            values.append((module.sgd_step(params, 0.1, **inputs), params))
        got[opt] = _flat_values(tuple(values))
    for opt in (1, 2):
        assert len(got[opt]) == len(got[0])
        for a, b in zip(got[0], got[opt]):
            assert a.shape == b.shape
            np.testing.assert_array_equal(a, b)  # nan where -O0's is nan


@pytest.mark.parametrize("name", ALLOCATION_FREE)
def test_sgd_step_at_o2_allocates_no_array_after_its_first_call(name: str) -> None:
    """The guide's promise for models without softmax, one_hot or cross_entropy: a second
    call at the same batch size makes no array of the batch's size (softplus's second term
    too works in the workspace). Measured with tracemalloc, at a batch of 16,384: NumPy's own
    buffer for a broadcast add, 8,192 values at most, is no array of the step's."""
    import tracemalloc

    from graphc import gradcheck

    compiled = compile_text((EXAMPLES / f"{name}.nn").read_text(), f"{name}.nn", dtype="float32")
    module = types.ModuleType(name)
    exec(compile(compiled.source, name, "exec"), module.__dict__)
    g = compiled.graph
    dims = gradcheck.sizes(g, {d: 16384 for d in g.dims})
    params, inputs = gradcheck.point(module, g, dims, 0)
    params = {k: np.asarray(v, dtype=np.float32) for k, v in params.items()}
    inputs = {k: v.astype(np.float32) if v.dtype.kind == "f" else v for k, v in inputs.items()}
    module.sgd_step(params, 1e-3, **inputs)
    tracemalloc.start()
    try:
        module.sgd_step(params, 1e-3, **inputs)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 16384 * 4, f"{name}: a second sgd_step took {peak:,} bytes"


@pytest.mark.parametrize("objective", ["sum(x @ W)", "sum(W) * 3.0 + sum(x @ W)"])
def test_a_gradient_of_one_value_everywhere_is_filled_into_the_workspace(objective: str) -> None:
    """The gradient of a linear loss is one value in every entry (lr for sum(x @ W)): sgd_step
    made it with full_like, a new [B, 2] array on every call. It is written into a workspace
    array now, so a second call makes no array of the batch's size, and the step is still the
    gradient -O0 takes (checked against finite differences first)."""
    import tracemalloc

    text = f"dim B\ninput x : [B, 3]\nparam W : [3, 2]\nloss = {objective}\nminimize loss\n"
    modules = {}
    for opt in (0, 2):
        module = types.ModuleType(f"linear{opt}")
        exec(compile(compile_text(text, "linear.nn", opt=opt).source, "linear", "exec"), module.__dict__)
        modules[opt] = module
    rng = np.random.default_rng(0)
    x, W = rng.normal(size=(16384, 3)), rng.normal(size=(3, 2))
    loss = modules[0].loss
    grad = modules[0].loss_and_grad({"W": W}, x=x)[1]["W"]
    for i in np.ndindex(W.shape):  # loss is linear in W: a central difference is exact but for rounding
        up, down = W.copy(), W.copy()
        up[i] += 0.5
        down[i] -= 0.5
        assert grad[i] == pytest.approx(loss({"W": up}, x=x) - loss({"W": down}, x=x), rel=1e-9)
    params = {"W": W.copy()}
    modules[2].sgd_step(params, 1e-3, x=x)
    np.testing.assert_allclose(params["W"], W - 1e-3 * grad, rtol=1e-12)
    tracemalloc.start()
    try:
        modules[2].sgd_step(params, 1e-3, x=x)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    np.testing.assert_allclose(params["W"], W - 2e-3 * grad, rtol=1e-12)
    assert peak < 16384 * 2 * 8, f"a second sgd_step took {peak:,} bytes"


def test_the_gradient_of_a_reshaped_param_takes_its_step_without_a_copy():
    """A param the model reshapes gets its gradient reshaped back, a view of the step's own
    workspace array: sgd_step copied it before the update, a new array of the param's size
    at every call, though no param can move under it."""
    import tracemalloc

    text = (
        "dim B\ninput x : [B, 256]\nparam w : [65536]\nloss = mean(square(x @ reshape(w, [256, 256])))\nminimize loss\n"
    )
    _, m = load(text, dtype="float32")
    params, x = m.init_params(0), np.random.default_rng(0).normal(size=(8, 256)).astype(np.float32)
    expected = params["w"] - 1e-3 * m.loss_and_grad(params, x=x)[1]["w"]
    m.sgd_step(params, 1e-3, x=x)
    np.testing.assert_allclose(params["w"], expected, rtol=1e-5, atol=1e-7)
    tracemalloc.start()
    try:
        m.sgd_step(params, 1e-3, x=x)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < params["w"].nbytes / 4, f"a second sgd_step took {peak:,} bytes"


LABELLED = {
    "cross_entropy": "input x : [B, 4]\ninput y : int[B]\nparam W : [4, 3]\nloss = mean(cross_entropy(x @ W, y))\n",
    "picked": "input x : [B, 4]\ninput y : int[B]\nparam W : [4, 3]\n"
    "loss = -mean(sum(one_hot(y, 3) * log_softmax(x @ W), axis=-1))\n",
    "embedding": "input y : int[B]\nparam E : [3, 2]\nloss = sum(square(one_hot(y, 3) @ E))\n",
    "scaled": "input y : int[B]\nparam w : [3]\nloss = sum(one_hot(y, 3) * w)\n",
}


@pytest.mark.parametrize("model", sorted(LABELLED))
@pytest.mark.parametrize("opt", [0, 1, 2])
def test_labels_of_any_integer_dtype_give_the_same_values(model: str, opt: int):
    """Labels come in any integer dtype: uint64 ones, added to int64 positions, once made floats
    that could not index (a TypeError from inside the module at every level)."""
    _, m = load(f"dim B\n{LABELLED[model]}minimize loss\n", opt=opt)
    rng = np.random.default_rng(1)
    inputs = {"x": rng.standard_normal((5, 4)), "y": np.array([0, 2, 1, 2, 0])}
    inputs = {k: v for k, v in inputs.items() if k in m.INPUTS}
    params = m.init_params(3)
    value, grads = m.loss_and_grad(params, **inputs)
    for dtype in (np.uint64, np.uint8, np.int8, np.int32):
        typed = {k: v.astype(dtype) if v.dtype.kind == "i" else v for k, v in inputs.items()}
        got, got_grads = m.loss_and_grad(params, **typed)
        assert got == value, dtype
        assert all(np.array_equal(got_grads[k], grads[k]) for k in grads), dtype


# ---------------------------------------------------------------- params laid out in one array

PACKED_MODELS = ["regression", "mlp_classifier", "deep_tanh", "residual", "attention", "logistic_regression"]


def example_module(name: str, dtype: str = "float64", opt: int = 2) -> types.ModuleType:
    path = Path(__file__).parent.parent / "examples" / f"{name}.nn"
    return load(path.read_text(), dtype=dtype, opt=opt)[1]


def example_inputs(m: types.ModuleType, rng: np.random.Generator, n: int = 6) -> dict[str, np.ndarray]:
    """Inputs for an example's declared shapes: its dims at small sizes, labels within their classes."""
    sizes: dict[str, int] = {}
    inputs = {}
    for name, (shape, dtype) in m.INPUTS.items():
        dims = tuple(d if isinstance(d, int) else sizes.setdefault(d, n if not sizes else 3) for d in shape)
        if dtype == "int64":
            classes = min(v[0][-1] for k, v in m.PARAMS.items() if len(v[0]) == 2)
            inputs[name] = rng.integers(0, classes, size=dims)
        else:
            inputs[name] = rng.normal(size=dims).astype(m.DTYPE)
    return inputs


def test_init_params_lays_the_params_out_in_one_new_array_in_turn():
    m = example_module("regression")
    params, again = m.init_params(seed=3), m.init_params(seed=3)
    flat = params["W1"].base
    assert flat is not None and flat.ndim == 1 and flat.size == sum(a.size for a in params.values())
    start = 0
    for a in params.values():  # each a view at its place, in turn, as PARAMS lists them
        assert a.base is flat and a.flags.c_contiguous and a.flags.writeable and a.dtype == m.DTYPE
        np.testing.assert_array_equal(a.reshape(-1), flat[start : start + a.size])
        start += a.size
    assert list(params) == list(m.PARAMS)
    assert again["W1"].base is not flat  # every call a new array, the same values for the same seed
    for name in params:
        np.testing.assert_array_equal(params[name], again[name])
        np.testing.assert_array_equal(params[name], example_module("regression", opt=0).init_params(seed=3)[name])


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name", PACKED_MODELS)
def test_sgd_step_moves_packed_params_as_it_moves_arrays_of_their_own(name, dtype):
    """The params init_params made (one subtraction moves them all, where the step lays out its
    gradients so) and copies of them (one subtraction each) take the same steps, bit for bit."""
    m = example_module(name, dtype)
    rng = np.random.default_rng(7)
    packed = m.init_params(seed=1)
    copies = {k: v.copy() for k, v in packed.items()}
    seen = []
    # a scalar param (logistic regression's b) has no gradient array to lay out: that step keeps
    # one subtraction per param, and its module has no _packed
    assert hasattr(m, "_packed") == (name != "logistic_regression")
    real = getattr(m, "_packed", None)
    m._packed = lambda arrays: seen.append(real(arrays) is not None) or real(arrays)
    for _ in range(3):
        inputs = example_inputs(m, rng)
        assert m.sgd_step(packed, 0.05, **inputs) == m.sgd_step(copies, 0.05, **inputs)
        for k in packed:
            np.testing.assert_array_equal(packed[k], copies[k])
    # the packed ones took the single subtraction, the copies not
    assert seen == ([] if name == "logistic_regression" else [True, False] * 3)


def test_params_replaced_swapped_or_mixed_are_moved_one_by_one():
    """A param that is no longer init_params' own view (replaced by a copy, swapped with another
    of its shape, or from another call of init_params) sends the step down the path of one
    subtraction per param, with the numbers of params that were never packed."""
    m = example_module("deep_tanh")
    rng = np.random.default_rng(2)
    inputs = example_inputs(m, rng)
    square = [k for k, (shape, _) in m.PARAMS.items() if len(shape) == 2 and shape[0] == shape[1]]
    assert len(square) >= 2
    other = m.init_params(seed=5)

    def replaced(p):
        p[square[0]] = p[square[0]].copy()

    def swapped(p):
        p[square[0]], p[square[1]] = p[square[1]], p[square[0]]

    def mixed(p):
        p[square[1]] = other[square[1]] if p is not copies else other[square[1]].copy()

    for change in (replaced, swapped, mixed):
        packed = m.init_params(seed=4)
        copies = {k: v.copy() for k, v in packed.items()}
        change(packed)
        change(copies)
        assert m._packed(tuple(packed[k] for k in m.PARAMS)) is None
        for _ in range(2):
            assert m.sgd_step(packed, 0.1, **inputs) == m.sgd_step(copies, 0.1, **inputs)
        for k in packed:
            np.testing.assert_array_equal(packed[k], copies[k])


def test_packed_params_of_threads_move_as_they_do_alone():
    m = example_module("mlp_classifier", "float32")
    rng = np.random.default_rng(4)
    batches = [example_inputs(m, rng, n=8) for _ in range(4)]
    alone = [m.init_params(seed=s) for s in range(4)]
    for params, inputs in zip(alone, batches):
        for _ in range(5):
            m.sgd_step(params, 0.1, **inputs)
    together = [m.init_params(seed=s) for s in range(4)]

    def train(params, inputs):
        for _ in range(5):
            m.sgd_step(params, 0.1, **inputs)

    threads = [threading.Thread(target=train, args=pair) for pair in zip(together, batches)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for a, b in zip(alone, together):
        for k in a:
            np.testing.assert_array_equal(a[k], b[k])


@pytest.mark.parametrize("opt", [0, 1, 2])
def test_only_o2_moves_packed_params_with_one_subtraction(opt):
    source = compile_text(
        (Path(__file__).parent.parent / "examples" / "regression.nn").read_text(), "m.nn", opt=opt
    ).source
    step = source[source.index("def sgd_step") :]
    assert ("_packed((W1, b1, W2, b2))" in step) == (opt == 2)
    assert "return _pack({" in source  # init_params lays them out at every level


def test_params_named_by_wrt_in_another_order_still_move_at_once():
    """The single subtraction reads the params in init_params' order, whatever order `wrt` names them."""
    text = (
        "dim B\ninput x : [B, 3]\ninput y : [B, 2]\nparam W : [3, 2]\nparam b : [2]\n"
        "loss = mean((x @ W + b - y)^2)\nminimize loss wrt b, W\n"
    )
    source, m = load(text)
    assert "_packed((W, b))" in source
    params = m.init_params()
    copies = {k: v.copy() for k, v in params.items()}
    rng = np.random.default_rng(0)
    inputs = {"x": rng.normal(size=(5, 3)), "y": rng.normal(size=(5, 2))}
    assert m._packed((params["W"], params["b"])) is not None
    for _ in range(3):
        assert m.sgd_step(params, 0.1, **inputs) == m.sgd_step(copies, 0.1, **inputs)
    for k in params:
        np.testing.assert_array_equal(params[k], copies[k])
