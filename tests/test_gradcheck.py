"""`graphc gradcheck`: it passes every example, and it catches a gradient that is wrong."""

from __future__ import annotations

import types
from pathlib import Path

import numpy as np
import pytest

from graphc import gradcheck
from graphc.cli import main
from graphc.pipeline import compile_text

EXAMPLES = sorted((Path(__file__).resolve().parent.parent / "examples").glob("*.nn"))


def module_of(source: str) -> types.ModuleType:
    module = types.ModuleType("checked")
    exec(compile(source, "checked.py", "exec"), module.__dict__)
    return module


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_every_example_passes(path: Path, capsys) -> None:
    assert main(["gradcheck", str(path)]) == 0
    out = capsys.readouterr().out
    last = out.rstrip().split("\n")[-1]
    assert last.startswith("the gradient agrees" if path.stem == "chain_rule" else "all "), last
    assert "DISAGREES" not in out


REGRESSION = """\
dim B
input x : [B, 3]
input y : [B, 1]
param W : [3, 1]
param b : [1]
loss = mean((x @ W + b - y)^2)
minimize loss
"""


@pytest.mark.parametrize("opt", [0, 2])
def test_a_wrong_gradient_is_caught(opt: int) -> None:
    """The mean's 2/n made 3/n: every gradient is 1.5 times too large."""
    compiled = compile_text(REGRESSION, "m.nn", opt=opt)
    right = compiled.source
    wrong = right.replace("2.0", "3.0")
    assert wrong != right
    g = compiled.graph
    dims = gradcheck.sizes(g, {})
    assert all(r.ok for r in gradcheck.check(module_of(right), g, dims))
    rows = gradcheck.check(module_of(wrong), g, dims)
    assert [r.name for r in rows] == ["W", "b"]
    assert not any(r.ok for r in rows)
    assert all(r.worst > 0.3 * r.steepest for r in rows)  # a third of the slope: 1.5x, not noise


def test_the_command_fails_and_says_which(tmp_path: Path, capsys, monkeypatch) -> None:
    model = tmp_path / "m.nn"
    model.write_text(REGRESSION)
    monkeypatch.setattr(gradcheck, "RTOL", 0.0)  # no tolerance: round-off alone disagrees
    monkeypatch.setattr(gradcheck, "ATOL", 0.0)
    assert main(["gradcheck", str(model)]) == 1
    out, err = capsys.readouterr()
    assert "DISAGREES" in out
    assert err == "error: the gradient of W, b disagrees with the finite differences\n"


def test_the_point_is_off_the_kinks() -> None:
    """relu at 0 has slope 0 by convention and a difference quotient of 1/2: the params are moved first."""
    text = "param W : [5]\nloss = sum(relu(W)) + sum(abs(W))\nminimize loss\n"
    compiled = compile_text(text, "m.nn")
    assert all(r.ok for r in gradcheck.check(module_of(compiled.source), compiled.graph, {}))


def test_labels_lie_among_their_classes_and_inputs_named_by_wrt_are_checked() -> None:
    text = """\
dim B, K
input z : [B, K]
input labels : int[B]
param s : []
loss = mean(cross_entropy(z * s, labels))
minimize loss wrt s, z
"""
    compiled = compile_text(text, "m.nn")
    g = compiled.graph
    dims = gradcheck.sizes(g, {"K": 7})
    assert dims == {"B": 3, "K": 7}
    drawn = gradcheck.inputs(g, dims, np.random.default_rng(0))
    assert drawn["labels"].shape == (3,) and drawn["labels"].max() < 7
    rows = gradcheck.check(module_of(compiled.source), g, dims)
    assert [(r.name, r.shape, r.checked) for r in rows] == [("s", "[]", 1), ("z", "[3, 7]", 20)]
    assert all(r.ok for r in rows)


def test_a_dim_the_model_lacks_is_refused(tmp_path: Path, capsys) -> None:
    model = tmp_path / "m.nn"
    model.write_text(REGRESSION)
    assert main(["gradcheck", str(model), "--dims", "T=4"]) == 1
    assert "--dims: the model has no dim T; its dims are B" in capsys.readouterr().err


def test_a_model_with_mistakes_is_reported_as_by_check(tmp_path: Path, capsys) -> None:
    model = tmp_path / "m.nn"
    model.write_text(REGRESSION.replace("x @ W", "x @ Q"))
    assert main(["gradcheck", str(model)]) == 1
    assert f"{model}:6:18: error: unknown name 'Q'" in capsys.readouterr().err
