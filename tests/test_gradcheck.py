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
loss = mean(cross_entropy(z * s, labels)) + sum(one_hot(labels, 3))
minimize loss wrt s, z
"""
    compiled = compile_text(text, "m.nn")
    g = compiled.graph
    dims = gradcheck.sizes(g, {"K": 7})
    assert dims == {"B": 4, "K": 7}  # not 3, one_hot's classes: a [B, 3] value would be square
    # labels serve 7 classes and 3: they must lie in [0, 3), and all of it is drawn
    drawn = gradcheck.inputs(g, {"B": 500, "K": 7}, np.random.default_rng(0))
    assert drawn["labels"].shape == (500,) and set(drawn["labels"]) == {0, 1, 2}
    rows = gradcheck.check(module_of(compiled.source), g, dims)
    assert [(r.name, r.shape, r.checked) for r in rows] == [("s", "[]", 1), ("z", "[4, 7]", 20)]
    assert all(r.ok for r in rows)


def test_dim_sizes_differ_from_each_other_and_from_fixed_sizes() -> None:
    g = compile_text(
        "dim B, T\ninput x : [B, 3]\ninput y : [T, 5]\nparam W : [3]\nloss = sum(x @ W) + sum(y)\nminimize loss\n",
        "m.nn",
    ).graph
    assert gradcheck.sizes(g, {}) == {"B": 4, "T": 6}
    assert gradcheck.sizes(g, {"T": 4}) == {"B": 6, "T": 4}


def test_a_large_loss_does_not_hide_a_wrong_gradient() -> None:
    """Round-off in a loss of 1e7 is about 1e-3 of a difference quotient; a slope of 2w wrongly 0 is not."""
    compiled = compile_text("param W : [3] = normal(1, 0.1)\nloss = sum(W^2) + 1e7\nminimize loss\n", "m.nn", opt=0)
    assert "2.0 * W" in compiled.source or "W * 2.0" in compiled.source
    wrong = compiled.source.replace("2.0 * W", "0.0 * W").replace("W * 2.0", "W * 0.0")
    (right_row,) = gradcheck.check(module_of(compiled.source), compiled.graph, {})
    (wrong_row,) = gradcheck.check(module_of(wrong), compiled.graph, {})
    assert right_row.ok and not wrong_row.ok


def test_large_entries_do_not_loosen_the_check() -> None:
    """Entries of 1e10 take steps of 1e4: round-off shrinks with them, and so must the allowance."""
    text = "param W : [3] = const(1e10)\nloss = 1e-10 * sum(W^2)\nminimize loss\n"
    compiled = compile_text(text, "m.nn", opt=0)
    wrong = compiled.source.replace("2.0 * W", "0.0 * W").replace("W * 2.0", "W * 0.0")
    assert wrong != compiled.source
    (right_row,) = gradcheck.check(module_of(compiled.source), compiled.graph, {})
    (wrong_row,) = gradcheck.check(module_of(wrong), compiled.graph, {})
    assert right_row.ok and not wrong_row.ok
    assert gradcheck.step(module_of(compiled.source), compiled.graph, {}) == 0.0  # no false alarm at 1e10


def test_slopes_too_small_to_see_are_not_called_agreement(tmp_path: Path, capsys) -> None:
    model = tmp_path / "m.nn"
    model.write_text("param W : [3] = normal(1, 0.1)\nloss = 1e-12 * sum(W^2)\nminimize loss\n")
    assert main(["gradcheck", str(model)]) == 1
    out, err = capsys.readouterr()
    assert "CANNOT TELL: slopes below 1.0e-08" in out
    assert "error: the slopes of W are below what round-off in the loss lets the check see" in err


def test_sgd_step_must_leave_params_outside_wrt_alone() -> None:
    compiled = compile_text("param W : [3]\nparam b : [] = ones\nloss = sum(W^2) + b\nminimize loss wrt W\n", "m.nn")
    g = compiled.graph
    assert gradcheck.step(module_of(compiled.source), g, {}) < 1e-12
    moves_b = compiled.source.replace(
        "np.subtract(W, d_W, out=W)\n    return value", "np.subtract(W, d_W, out=W)\n    b -= 1.0\n    return value"
    )
    assert moves_b != compiled.source
    assert gradcheck.step(module_of(moves_b), g, {}) == float("inf")


def test_a_loss_that_is_no_number_is_said_so(tmp_path: Path, capsys) -> None:
    model = tmp_path / "m.nn"
    model.write_text("input x : [3]\nparam W : [3]\nloss = sum(sqrt(x - 9) * W)\nminimize loss\n")
    assert main(["gradcheck", str(model)]) == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith(
        "error: gradcheck: the loss is nan at the random point checked (no dims, seed 0, inputs from a "
        "standard normal and from |standard normal| + 0.5)"
    )


LOG_OF_INPUT = "dim B\ninput x : [B, 3]\nparam W : [3, 2]\nloss = sum(log(x) @ W) + sum(sqrt(x @ W^2))\nminimize loss\n"


def test_where_a_standard_normal_gives_no_loss_positive_inputs_are_checked(tmp_path: Path, capsys) -> None:
    """log and sqrt of an input are nan at a standard normal's negative draws: the check moves
    to positive inputs, says so, and still tells a right gradient from a wrong one."""
    model = tmp_path / "m.nn"
    model.write_text(LOG_OF_INPUT)
    assert main(["gradcheck", str(model)]) == 0
    out = capsys.readouterr().out
    assert "inputs: floats from |standard normal| + 0.5, as with floats from a standard normal the loss is nan" in out
    assert main(["gradcheck", str(model), "--most", "1"]) == 0
    assert "central differences of loss at 1 entry of each array" in capsys.readouterr().out
    compiled = compile_text(LOG_OF_INPUT, "m.nn", opt=0)
    g = compiled.graph
    dims = gradcheck.sizes(g, {})
    with pytest.raises(gradcheck.NotFinite), np.errstate(all="ignore"):
        gradcheck.check(module_of(compiled.source), g, dims)
    assert all(r.ok and r.steepest > 0.1 for r in gradcheck.check(module_of(compiled.source), g, dims, positive=True))
    wrong = compiled.source.replace("0.5", "0.6")  # sqrt's derivative, 0.5 / sqrt(u)
    assert wrong != compiled.source
    assert not all(r.ok for r in gradcheck.check(module_of(wrong), g, dims, positive=True))


def test_sgd_step_is_checked_against_the_gradient() -> None:
    """At -O2 sgd_step is compiled apart, lr folded in: a wrong factor there is caught too."""
    compiled = compile_text(REGRESSION, "m.nn")
    g = compiled.graph
    dims = gradcheck.sizes(g, {})
    assert gradcheck.step(module_of(compiled.source), g, dims) < 1e-9
    step_only = compiled.source.replace("2.0 * (DTYPE(lr)", "3.0 * (DTYPE(lr)")
    assert step_only != compiled.source
    assert gradcheck.step(module_of(step_only), g, dims) > 0.1
    assert all(r.ok for r in gradcheck.check(module_of(step_only), g, dims))  # loss_and_grad is still right


def test_a_dim_the_model_lacks_is_refused(tmp_path: Path, capsys) -> None:
    model = tmp_path / "m.nn"
    model.write_text(REGRESSION)
    with pytest.raises(SystemExit) as exit:  # a command-line mistake, as a malformed --dims is
        main(["gradcheck", str(model), "--dims", "T=4"])
    assert exit.value.code == 2
    assert "argument --dims: the model has no dim T; its dims are B" in capsys.readouterr().err


def test_a_model_with_mistakes_is_reported_as_by_check(tmp_path: Path, capsys) -> None:
    model = tmp_path / "m.nn"
    model.write_text(REGRESSION.replace("x @ W", "x @ Q"))
    assert main(["gradcheck", str(model)]) == 1
    err = capsys.readouterr().err
    assert f"{model}:6:18: error: unknown name 'Q'" in err
    assert "    6 | loss = mean((x @ Q + b - y)^2)\n      |                  ^" in err  # as check shows it


def test_gradcheck_shows_the_warnings_check_shows(tmp_path: Path, capsys) -> None:
    model = tmp_path / "m.nn"
    model.write_text(REGRESSION.replace("- y)", "- reshape(y, [-1]))"))
    main(["gradcheck", str(model)])
    err = capsys.readouterr().err
    assert f"{model}:6:13: warning: [B, 1] - [B] is [B, B], every entry of one against every entry" in err, err


def test_an_array_whose_slopes_are_all_zero_says_so(tmp_path, capsys) -> None:
    """Every relu off at the point drawn: the zeros agree, but no derivative was tested."""
    model = tmp_path / "dead.nn"
    model.write_text(
        "dim B\ninput x : [B, 3]\nparam W : [3, 2] = ones\nh = relu(x @ W - 50)\nloss = sum(h)\nminimize loss\n"
    )
    assert main(["gradcheck", str(model)]) == 0
    out = capsys.readouterr().out
    assert "ok, but every slope checked is 0 (try another --seed or --dims)" in out
    assert "all" not in out.splitlines()[-1] and out.splitlines()[-1].startswith(
        "the gradient agrees at the entries checked"
    )


def test_with_only_inputs_after_wrt_no_param_step_is_claimed(tmp_path: Path, capsys) -> None:
    model = tmp_path / "m.nn"
    model.write_text(REGRESSION.replace("minimize loss", "minimize loss wrt x"))
    assert main(["gradcheck", str(model)]) == 0
    out = capsys.readouterr().out
    assert "sgd_step" not in out and "the gradient agrees at the entries checked" in out, out


def test_gradcheck_names_the_params_sgd_step_moves_when_wrt_names_some(tmp_path: Path, capsys) -> None:
    model = tmp_path / "m.nn"
    model.write_text(REGRESSION.replace("minimize loss", "minimize loss wrt W"))
    assert main(["gradcheck", str(model)]) == 0
    assert "sgd_step moves W (the params after wrt) by lr times its gradient" in capsys.readouterr().out


def test_gradcheck_says_each_param_when_wrt_names_them_all_in_another_order(tmp_path: Path, capsys) -> None:
    model = tmp_path / "m.nn"
    model.write_text(REGRESSION.replace("minimize loss", "minimize loss wrt b, W"))
    assert main(["gradcheck", str(model)]) == 0
    assert "sgd_step moves each param by lr times its gradient" in capsys.readouterr().out


def test_a_reshape_to_a_multiple_of_a_dim_is_checked(tmp_path: Path, capsys) -> None:
    """reshape(r, [-1, 3]) of a [B, 2, 3] value is [2*B, 3], a size with a number in it."""
    model = tmp_path / "m.nn"
    model.write_text(
        "dim B\ninput x : [B, 6]\nparam W : [3, 2]\n"
        "s = reshape(reshape(x, [B, 2, 3]), [-1, 3]) @ W\nloss = mean(reshape(s, [B, -1])^2)\nminimize loss\n"
    )
    assert main(["gradcheck", str(model)]) == 0
    out = capsys.readouterr().out
    assert "  W     [3, 2]        6" in out and out.splitlines()[-1].startswith("the gradient agrees")


@pytest.mark.parametrize(
    "option, value, said",
    [
        ("--seed", "²", "argument --seed: expected a whole number of 0 or more, got '²'"),
        ("--most", "①", "argument --most: expected a whole number of 1 or more, got '①'"),
        ("--most", "٣", "argument --most: expected a whole number of 1 or more, got '٣'"),
        ("--seed", "9" * 5000, "argument --seed: expected a whole number of 0 or more, got '999"),
        ("--dims", "B=²", "argument --dims: expected NAME=SIZE, a size being a whole number (0 or more), got 'B=²'"),
    ],
    ids=["superscript", "circled", "arabic-indic", "5000 digits", "a dim's size"],
)
def test_a_number_not_written_in_the_digits_0_to_9_is_a_command_line_mistake(
    option: str, value: str, said: str, tmp_path, capsys
) -> None:
    """Characters str.isdigit takes but int() does not (or does as another digit) are
    refused as any other malformed number, in the option's words."""
    model = tmp_path / "m.nn"
    model.write_text(REGRESSION)
    with pytest.raises(SystemExit) as exit:
        main(["gradcheck", str(model), option, value])
    assert exit.value.code == 2
    assert said in capsys.readouterr().err
