"""`graphc compile --report`: exact FLOP polynomials, saved values, peak memory, pass effects."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from test_passes import programs  # tests/ is on the path: pytest puts it there

from graphc import cli
from graphc.pipeline import compile_text
from graphc.render import Labels
from graphc.report import _add, call_memory, pass_effects, phase_flops, saved_for_backward, show_poly

MODEL = """\
dim B
input x : [B, 3]
input y : [B, 4]
param W : [3, 4]
h = tanh(x @ W)
loss = mean((h - y)^2)
minimize loss
"""


def test_forward_flops_count_the_matmul_as_2mnk():
    c = compile_text(MODEL, "m.nn")
    forward = phase_flops(c.graph)["forward"]
    # matmul 2*B*3*4, then tanh, sub, square, mean over B*4 elements each
    assert forward == {("B",): 2 * 3 * 4 + 4 * 4}
    assert show_poly(forward) == "40·B"
    # optimized, the square and the mean are one inner product: still 2 FLOPs an element
    assert any(c.optimized.op(n) == "inner" for n in c.optimized.order())
    assert phase_flops(c.optimized)["forward"] == {("B",): 2 * 3 * 4 + 4 + 4 + 2 * 4}


def test_a_dim_that_comes_more_than_once_is_shown_with_its_power():
    """q @ k.T of [T, 8] each is a [T, T] array made of 2·T·T·8 FLOPs: shown 16·T², with a
    B·T² term where a batch dim multiplies it."""
    text = "dim B\ndim T\ninput q : [T, 8]\ninput k : [T, 8]\ninput x : [B, T]\nloss = sum(x @ (q @ k.T))\nminimize loss wrt q\n"
    forward = phase_flops(compile_text(text, "m.nn", opt=0).graph)["forward"]
    # q @ k.T: 2·T·T·8; x @ (that): 2·B·T·T; the sum: one per element of [B, T]
    assert forward == {("T", "T"): 2 * 8, ("B", "T", "T"): 2, ("B", "T"): 1}
    assert show_poly(forward) == "2·B·T² + B·T + 16·T²"  # by degree, then by name
    assert show_poly({("B", "B", "B", "T"): 5}) == "5·B³·T"


def test_broadcasting_ops_count_their_result_and_reductions_their_argument():
    text = "dim B\ninput x : [B, 1]\ninput w : [1, 4]\nz = x * w\nloss = sum(z)\nminimize loss wrt x\n"
    forward = phase_flops(compile_text(text, "m.nn", opt=0).graph)["forward"]
    assert forward == {("B",): 4 + 4}  # the product has 4·B elements, and the sum reads them all


def test_backward_reads_the_tanh_output_not_just_shapes():
    c = compile_text(MODEL, "m.nn")
    saved = saved_for_backward(c.optimized)
    assert saved["h"] == {("B",): 4}
    assert not any("count" in name for name in saved)  # a count is only a shape


def test_call_memory_grows_with_the_batch():
    c = compile_text(MODEL, "m.nn")
    small, large = (call_memory(c.pool, c.optimized, {"B": b}, 8)["loss_and_grad"] for b in (1, 100))
    assert small == large and small[("B",)] > 0  # one polynomial in B, whatever B the numbers are for


@pytest.mark.parametrize("level", [0, 1, 2])
def test_call_memory_is_what_a_call_really_allocates(tmp_path, capsys, level):
    """A generated function frees nothing before it returns: at -O0 every value it computes
    is held at once (four [64, 32] layers and their gradients), not only those alive
    together. Measured with tracemalloc, the workspace made by a first call counted in."""
    import tracemalloc
    import types

    text = (
        "dim B\ninput x : [B, 32]\ninput y : [B, 32]\nparam W : [32, 32]\nh = x\n"
        "for i in 1..4 {\n    h = tanh(h @ W + x)\n}\nloss = mean((h - y)^2)\nminimize loss\n"
    )
    model = tmp_path / "m.nn"
    model.write_text(text)
    args = ["compile", str(model), "-o", str(tmp_path), "--no-render", "--report", "-O", str(level), "--dims", "B=64"]
    assert cli.main(args) == 0
    memory = capsys.readouterr().out.split("memory of one call")[1].split("saved for")[0]
    said = {
        line.split()[0]: int(line.split(";")[0].rsplit("(", 1)[1].rstrip(")").replace(",", ""))
        for line in memory.strip().splitlines()[1:]
    }
    module = types.ModuleType("m")
    exec(compile((tmp_path / "m.py").read_text(), "m.py", "exec"), module.__dict__)
    params = module.init_params()
    rng = np.random.default_rng(0)
    inputs = {"x": rng.normal(size=(64, 32)), "y": rng.normal(size=(64, 32))}
    for name in ("forward", "loss_and_grad", "sgd_step"):
        call, lr = getattr(module, name), (0.01,) if name == "sgd_step" else ()
        module.release_workspaces()
        tracemalloc.start()
        try:
            call(params, *lr, **inputs)
            call(
                params, *lr, **inputs
            )  # the second call finds the workspace made: its peak is over what the first left
            first_and_second = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert 0.9 * first_and_second <= said[name] <= 1.25 * first_and_second, (name, said[name], first_and_second)


def test_a_later_call_holds_what_the_first_made_less_its_workspace(tmp_path, capsys):
    """At -O2 the first call makes the workspace and a later one at the same dims computes in
    it: measured with tracemalloc around the second call, what it allocates is what the report
    says a later call holds (the gradients loss_and_grad hands back, forward's output)."""
    import re
    import tracemalloc
    import types

    text = (
        "dim B\ninput x : [B, 32]\ninput y : [B, 32]\nparam W : [32, 32]\nh = x\n"
        "for i in 1..4 {\n    h = tanh(h @ W + x)\n}\noutput h\nloss = sum((h - y) * (h - y))\nminimize loss\n"
    )
    model = tmp_path / "m.nn"
    model.write_text(text)
    args = ["compile", str(model), "-o", str(tmp_path), "--no-render", "--report", "-O2", "--dims", "B=256"]
    assert cli.main(args) == 0
    memory = capsys.readouterr().out.split("memory of one call")[1].split("saved for")[0]
    later = {}
    for line in memory.strip().splitlines()[1:]:
        said = line.split("; a later call at these dims ")[1]
        number = re.search(r"\(([\d,]+)\)$", said) or re.match(r"([\d,]+) bytes$", said)
        later[line.split()[0]] = int(number.group(1).replace(",", ""))
    # worked out apart: forward hands back h, [256, 32]; loss_and_grad the gradient of W, [32, 32]
    assert later["forward"] == 256 * 32 * 8 and later["loss_and_grad"] == 32 * 32 * 8, later
    module = types.ModuleType("m")
    exec(compile((tmp_path / "m.py").read_text(), "m.py", "exec"), module.__dict__)
    params = module.init_params()
    rng = np.random.default_rng(0)
    inputs = {"x": rng.normal(size=(256, 32)), "y": rng.normal(size=(256, 32))}
    for name in ("forward", "loss_and_grad"):
        call = getattr(module, name)
        call(params, **inputs)  # makes the workspace
        tracemalloc.start()
        try:
            call(params, **inputs)
            measured = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        # beside the arrays, a few hundred bytes of Python objects (the grads dict, the float)
        assert later[name] <= measured <= later[name] + 4096, (name, later[name], measured)


def test_passes_report_what_they_removed():
    c = compile_text(MODEL, "m.nn")
    rows = pass_effects(c.graph, 2, c.optimized)
    assert [name for name, *_ in rows] == ["xent", "fold", "simplify", "cse", "dce"]
    assert sum(sum(removed.values()) for _, _, _, removed, _ in rows) > 0
    # a rewrite that replaces nodes says what it added, not only what it took away
    nodes = len(c.graph.nx)
    for _, left, _, removed, added in rows:
        assert left == nodes - sum(removed.values()) + sum(added.values())
        nodes = left
    # the FLOPs left after each pass: dce's are those of the optimized graph
    f = phase_flops(c.optimized)
    assert rows[-1][2] == {k: f["forward"].get(k, 0) + f["backward"].get(k, 0) for k in f["forward"] | f["backward"]}
    assert rows[-1][2][("B",)] < sum(v.get(("B",), 0) for v in phase_flops(c.graph).values())


def test_cli_prints_the_report(tmp_path, capsys):
    model = tmp_path / "m.nn"
    model.write_text(MODEL)
    assert cli.main(["compile", str(model), "-o", str(tmp_path), "--no-render", "--report", "--dims", "B=32"]) == 0
    out = capsys.readouterr().out
    assert "FLOPs forward 40·B (1,280)" in out and "B=32" in out and "saved for the backward pass" in out
    # sgd_step's workspace: [B, 4] buffers and the [3, 4] step of W, in float64
    line = next(line for line in out.splitlines() if line.strip().startswith("sgd_step") and "buffers" in line)
    buffers = int(line.split()[1])
    assert buffers >= 2 and "·B" in line and "96 bytes" in line.replace("+ 96 bytes", "96 bytes"), line


@pytest.mark.parametrize("level, per_value", [(0, 2), (1, 2), (2, 1)])
def test_the_update_counts_its_flops_per_param_value_sgd_step_moves(tmp_path, capsys, level, per_value):
    """p - lr * g is two FLOPs a value; at -O2 sgd_step's gradients come times lr already.
    Only the params after `wrt` move."""
    model = tmp_path / "m.nn"
    model.write_text(
        "dim B\ninput x : [B, 3]\nparam W : [3, 5]\nparam b : [5]\nparam c : [2, 2]\n"
        "loss = sum((x @ W + b)^2) + sum(c)\nminimize loss wrt W, b\n"
    )
    args = ["compile", str(model), "-o", str(tmp_path), "--no-render", "--report", f"-O{level}"]
    assert cli.main(args) == 0
    out = capsys.readouterr().out
    before, after = (line for line in out.splitlines() if "FLOPs forward" in line)
    assert before.endswith(f"update {2 * (15 + 5)}"), before
    assert after.endswith(f"update {per_value * (15 + 5)}"), after


def test_counts_agree_with_their_nouns_and_a_coefficient_of_one_is_left_out(tmp_path, capsys):
    model = tmp_path / "m.nn"
    model.write_text(
        "dim B\ndim N\ninput x : [B, N]\ninput y : [B, N]\nparam w : []\nloss = sum(x * y * w)\nminimize loss\n"
    )
    assert cli.main(["compile", str(model), "-o", str(tmp_path), "--no-render", "--report"]) == 0
    out = capsys.readouterr().out
    assert "FLOPs forward 3·B·N (3)" in out and "1·B" not in out
    forward = next(line for line in out.splitlines() if line.strip().startswith("forward") and "buffer" in line)
    assert "1 buffer, 8·B·N bytes (8); 1 value computed in place" in forward, forward


def test_report_refuses_a_dim_the_model_does_not_have(tmp_path, capsys):
    model = tmp_path / "m.nn"
    model.write_text(MODEL)
    with pytest.raises(SystemExit) as exit:
        cli.main(["compile", str(model), "-o", str(tmp_path), "--no-render", "--report", "--dims", "N=32"])
    assert exit.value.code == 2
    err = capsys.readouterr().err
    assert "argument --dims: the model has no dim N; its dims are B" in err
    assert not (tmp_path / "m.py").exists()


def test_dims_without_report_is_a_command_line_mistake(tmp_path, capsys):
    model = tmp_path / "m.nn"
    model.write_text(MODEL)
    try:
        cli.main(["compile", str(model), "-o", str(tmp_path), "--no-render", "--dims", "B=32"])
    except SystemExit as e:
        assert e.code == 2
    else:
        raise AssertionError("--dims alone was accepted")
    assert "--dims gives the dim sizes for --report's numbers; add --report" in capsys.readouterr().err
    assert not (tmp_path / "m.py").exists()


@pytest.mark.parametrize(
    "dims, said",
    [
        (["--dims", "B=3,B=4"], "argument --dims: B is given twice"),
        (["--dims", "B=3", "--dims", "B=5"], "argument --dims: B is given twice"),  # not the last one silently
        (["--dims", "B=-5"], "a size being a whole number (0 or more), got 'B=-5'"),
    ],
)
def test_a_dim_given_twice_or_negative_is_a_command_line_mistake(tmp_path, capsys, dims, said):
    model = tmp_path / "m.nn"
    model.write_text(MODEL)
    with pytest.raises(SystemExit) as e:
        cli.main(["compile", str(model), "-o", str(tmp_path), "--report", *dims])
    assert e.value.code == 2
    assert said in capsys.readouterr().err


def test_report_at_o0_says_no_pass_ran(tmp_path, capsys):
    model = tmp_path / "m.nn"
    model.write_text(MODEL)
    assert cli.main(["compile", str(model), "-o", str(tmp_path), "--no-render", "--report", "-O", "0"]) == 0
    out = capsys.readouterr().out
    assert "passes: none at -O0" in out and "each applied once" not in out


def test_unnamed_saved_values_are_named_by_op_and_line_each_once():
    text = "dim B\ninput x : [B, 3]\nparam W : [3, 2]\nparam V : [3, 2]\nloss = mean(tanh(x @ W) * tanh(x @ V))\nminimize loss\n"
    c = compile_text(text, "m.nn")
    assert saved_for_backward(c.optimized) == {"tanh (line 5)": {("B",): 2}, "tanh (line 5) #2": {("B",): 2}}
    # with the model's text, as the pictures name them
    named = saved_for_backward(c.optimized, Labels(c.graph, text))
    assert named == {"tanh(x @ W)": {("B",): 2}, "tanh(x @ V)": {("B",): 2}}


@pytest.mark.parametrize("level", [0, 1, 2])
@pytest.mark.parametrize("dtype, itemsize", [("float64", 8), ("float32", 4)])
def test_a_view_read_by_the_backward_pass_keeps_the_array_it_looks_into_once(tmp_path, capsys, level, dtype, itemsize):
    """h.T @ h reads h twice, once through a view; reshape(x, ...) @ W's gradient reads a view
    of the input x. What the backward pass keeps is h, [B, 3] (for its tanh and its product),
    and t, [2·B, 3] (for its tanh and its square): nothing of x, which the caller holds, and
    nothing of h twice."""
    model = tmp_path / "m.nn"
    model.write_text(
        "dim B\ninput x : [B, 2, 4]\ninput u : [B, 4]\nparam W : [4, 3]\n"
        "h = tanh(u @ W)\nt = tanh(reshape(x, [B*2, 4]) @ W)\n"
        "loss = sum(h.T @ h) + sum(t^2)\nminimize loss\n"
    )
    args = ["compile", str(model), "-o", str(tmp_path), "--no-render", "--report", f"-O{level}", "--dtype", dtype]
    assert cli.main([*args, "--dims", "B=10"]) == 0
    saved = capsys.readouterr().out.split("saved for the backward pass: ")[1].split("\n  workspaces")[0]
    per_b = (3 + 2 * 3) * itemsize
    assert saved.splitlines()[0] == f"{per_b}·B bytes ({per_b * 10:,})", saved
    names = sorted(line.split()[0] for line in saved.splitlines()[1:])
    assert names == ["h", "t"], saved


def test_the_report_names_saved_values_inside_fns_in_the_callers_terms(tmp_path, capsys):
    """A value made in a fn call reads as the picture draws it, `(h1 @ W2 + b2)`, not by the
    fn's own argument `a`."""
    text = (
        "dim B\ninput x : [B, 3]\nparam W1 : [3, 4]\nparam b1 : [4]\nparam W2 : [4, 4]\nparam b2 : [4]\n"
        "fn layer(a, W, b) = relu(a @ W + b)\nh1 = layer(x, W1, b1)\nh2 = layer(h1, W2, b2)\n"
        "loss = mean(h2)\nminimize loss\n"
    )
    model = tmp_path / "m.nn"
    model.write_text(text)
    assert cli.main(["compile", str(model), "-o", str(tmp_path), "--no-render", "--report", "--dims", "B=2"]) == 0
    saved = capsys.readouterr().out.split("saved for the backward pass:")[1].split("workspaces")[0]
    rows = [line.split()[0] for line in saved.strip().splitlines()[1:]]
    assert sorted(rows) == ["(h1", "(x", "h1"], saved  # relu reads its input; mean reads no value
    assert "(h1 @ W2 + b2) 32·B bytes (64)" in saved and "(x @ W1 + b1)  32·B bytes (64)" in saved


def test_an_embedding_lookup_counts_no_flops_and_its_gradient_one_add_per_row_element():
    text = "input tok : int[8]\nparam E : [1000, 4]\nloss = sum(one_hot(tok, 1000) @ E)\nminimize loss\n"
    f = phase_flops(compile_text(text, "m.nn").optimized)
    assert f["forward"] == {(): 8 * 4}  # the sum; the lookup itself is no arithmetic
    assert f["backward"] == {(): 8 * 4}  # the rows added into d_E


def test_a_log_likelihood_written_out_counts_no_flops_for_its_pick_and_the_gradient_put_back():
    text = "input z : [8, 5]\ninput y : int[8]\nloss = -sum(sum(one_hot(y, 5) * z, axis=-1))\nminimize loss wrt z\n"
    f = phase_flops(compile_text(text, "m.nn").optimized)
    assert f["forward"] == {(): 8 + 1}  # the sum of the 8 picked values and its negation
    assert f["backward"] == {}  # -1 placed at each label: no arithmetic


def test_the_pass_table_ends_at_the_graph_the_module_computes():
    """cse merges exp(x @ W) with its twin only after simplify ran, and a(x)/a(x) then
    simplifies on a later round: the table shows those rounds, so its last row is the
    optimized graph, nodes and FLOPs."""
    text = (
        "dim B\ninput x : [B, 3]\nparam W : [3, 4]\na = exp(x @ W)\nb = exp(x @ W)\n"
        "loss = sum(log(a) - log(b)) + sum(a / b)\nminimize loss\n"
    )
    for level in (1, 2):
        c = compile_text(text, "m.nn", opt=level)
        rows = pass_effects(c.graph, level, c.optimized)
        assert rows[-1][0] == "later rounds"
        assert_last_row_is_optimized(rows, c)


def assert_last_row_is_optimized(rows, c) -> None:
    f = phase_flops(c.optimized)
    assert rows[-1][1] == len(c.optimized.nx)
    assert rows[-1][2] == _add(f["forward"], f["backward"])
    nodes = len(c.graph.nx)  # each row's removals and additions account for its count
    for _, left, _, removed, added in rows:
        assert left == nodes - sum(removed.values()) + sum(added.values())
        nodes = left


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(programs())
def test_the_pass_table_ends_at_the_optimized_graph_on_random_programs(text):
    for level in (1, 2):
        c = compile_text(text, "m.nn", opt=level)
        assert_last_row_is_optimized(pass_effects(c.graph, level, c.optimized), c)


def test_the_report_says_the_value_of_every_dim_it_used(tmp_path, capsys):
    """A dim left out of --dims counts as 1: the header names it, not only the dims given."""
    model = tmp_path / "m.nn"
    model.write_text(
        "dim B\ndim N\ninput x : [B, N]\nparam s : [1, 3]\ninput u : [B, 3]\nloss = sum(u * s) + mean(x)\nminimize loss\n"
    )
    assert cli.main(["compile", str(model), "-o", str(tmp_path), "--no-render", "--report", "--dims", "B=4"]) == 0
    header = capsys.readouterr().out.split("report (")[1].splitlines()[0]
    assert header == "float64, 8 bytes a value; dims for numbers: B=4, N=1; N not given, counted as 1)"
    model.write_text("input x : [3]\nparam w : [3]\nloss = sum(x * w)\nminimize loss\n")
    assert cli.main(["compile", str(model), "-o", str(tmp_path), "--no-render", "--report", "--dtype", "float32"]) == 0
    assert "report (float32, 4 bytes a value; the model has no dims)" in capsys.readouterr().out


@pytest.mark.parametrize("dtype, itemsize", [("float64", 8), ("float32", 4)])
def test_the_report_says_which_float_its_bytes_are_of(tmp_path, capsys, dtype, itemsize):
    """The same model at either dtype has the same FLOPs and bytes in proportion to the
    width the header states: the backward pass reads h and h - y, [B, 4] each."""
    model = tmp_path / "m.nn"
    model.write_text(MODEL)
    args = ["compile", str(model), "-o", str(tmp_path), "--no-render", "--report", "--dtype", dtype, "--dims", "B=5"]
    assert cli.main(args) == 0
    out = capsys.readouterr().out
    assert out.split("report (")[1].startswith(f"{dtype}, {itemsize} bytes a value; dims for numbers: B=5)")
    assert f"saved for the backward pass: {2 * 4 * itemsize}·B bytes ({2 * 4 * itemsize * 5})" in out
    assert "FLOPs forward 40·B (200)" in out


@pytest.mark.parametrize("level", [0, 1, 2])
def test_forward_and_loss_get_a_row_of_their_own_graph(tmp_path, capsys, level):
    """forward and loss compute the model optimized with no gradient taken (a cross-entropy
    kept whole, not turned into log-probabilities for its gradient): the report says what
    that graph costs, at the levels that make one."""
    text = (
        "dim B\ninput x : [B, 3]\ninput y : int[B]\nparam W : [3, 4]\n"
        "logits = x @ W\nloss = mean(cross_entropy(logits, y))\noutput logits\nminimize loss\n"
    )
    model = tmp_path / "m.nn"
    model.write_text(text)
    assert cli.main(["compile", str(model), "-o", str(tmp_path), "--no-render", "--report", f"-O{level}"]) == 0
    rows = [line for line in capsys.readouterr().out.splitlines() if "no gradient taken" in line]
    c = compile_text(text, "m.nn", opt=level)
    if c.plain is None:
        assert level == 0 and not rows
        return
    ops = {c.plain.op(n) for n in c.plain.order()}
    assert "cross_entropy" in ops and "exp_minus_one_hot" not in ops
    flops = show_poly(phase_flops(c.plain)["forward"])
    assert rows == [
        f"  forward and loss, no gradient taken: {len(c.plain.nx)} nodes; FLOPs {flops} ({flops.split('·')[0]})"
    ]
