"""Every kind of mistake in tests/programs/err/ is reported where and how its file says.

Each file starts with `# expect: LINE:COL: TEXT` lines, one per error the file
holds (`LINE:COL-END:` where the carets' width matters: they run up to column END,
which is not under one), and may add `# note: TEXT` lines for the `= note:` under an error. A
file must produce exactly its expected errors: a missing one is a lost
diagnostic, an extra one is a cascade or a wrong report.
"""

from __future__ import annotations

import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from graphc import compile_source
from graphc.cli import main
from graphc.errors import _distance, nearest

ERR_DIR = Path(__file__).parent / "programs" / "err"
FILES = sorted(ERR_DIR.glob("*.nn"))
EXPECT = re.compile(r"^# expect: (\d+):(\d+)(?:-(\d+))?: (.+)$", re.M)
NOTE = re.compile(r"^# note: (.+)$", re.M)
HEADER = re.compile(r"^(?P<file>.+?):(?P<line>\d+):(?P<col>\d+): error: (?P<msg>.*)$")


@dataclass(frozen=True)
class Expected:
    line: int
    col: int
    text: str
    end: int | None = None  # the column the carets stop before, where the file gives it


def expectations(path: Path) -> tuple[list[Expected], list[str]]:
    source = path.read_text()
    errors = [Expected(int(a), int(b), t.strip(), int(e) if e else None) for a, b, e, t in EXPECT.findall(source)]
    return errors, [n.strip() for n in NOTE.findall(source)]


def check_report(path: Path, stderr: str) -> None:
    """The report names each expected error at its place, shows the line, and puts a caret under the column."""
    errors, notes = expectations(path)
    lines = stderr.splitlines()
    source_lines = path.read_text().split("\n")
    headers = [(i, m) for i, m in ((i, HEADER.match(s)) for i, s in enumerate(lines)) if m]
    assert len(headers) == len(errors), f"expected {len(errors)} errors, got:\n{stderr}"
    for exp in errors:
        found = [
            (i, m)
            for i, m in headers
            if m["file"] == str(path) and int(m["line"]) == exp.line and int(m["col"]) == exp.col
        ]
        assert found, f"no error at {exp.line}:{exp.col} in:\n{stderr}"
        # several errors at one place (a fn's line, called twice): the one with this text
        i, m = next(((i, m) for i, m in found if exp.text in m["msg"]), found[0])
        assert exp.text in m["msg"], f"at {exp.line}:{exp.col} wanted {exp.text!r}, got {m['msg']!r}"
        # the source line with its number, then a caret under the reported column
        gutter = f"{exp.line:>5} | "
        assert lines[i + 1] == gutter + source_lines[exp.line - 1].rstrip("\r"), stderr
        caret_line = lines[i + 2]
        assert caret_line.startswith(" " * (len(gutter) - 2) + "| "), stderr
        carets = caret_line[len(gutter) :]
        assert carets.strip().startswith("^"), stderr
        assert len(carets) - len(carets.lstrip(" ")) == exp.col - 1, f"caret not under column {exp.col}:\n{stderr}"
        if exp.end is not None:
            assert carets.strip() == "^" * (exp.end - exp.col), f"carets not up to column {exp.end}:\n{stderr}"
    for note in notes:
        assert any(s.strip().startswith("= note:") and note in s for s in lines), f"no note {note!r} in:\n{stderr}"
    assert "Traceback" not in stderr


def checked(tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, status: int):
    """`graphc check` in-process of a model `text` written to m.nn: asserts its exit status and
    returns what it printed (.out, .err)."""
    path = tmp_path / "m.nn"
    path.write_text(text)
    assert main(["check", str(path)]) == status
    return capsys.readouterr()


def error_heads(stderr: str) -> list[str]:
    """The message of each error in a report, without its place."""
    return [line.split(" error: ")[1] for line in stderr.splitlines() if " error: " in line]


def test_there_are_enough_kinds_of_mistake() -> None:
    assert len(FILES) >= 30
    for path in FILES:
        errors, _ = expectations(path)
        assert errors, f"{path.name} has no '# expect:' line"
        assert path.read_text().startswith("# expect: "), f"{path.name} must start with its expectation"


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_check_reports_the_mistake(path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status = main(["check", str(path)])
    out, err = capsys.readouterr()
    assert status == 1
    assert out == "", "a failed check prints no summary"
    assert "?;" not in err, "a question ends its sentence"
    check_report(path, err)


def test_every_mistake_is_reported_alike_in_a_file_with_crlf_line_ends() -> None:
    """A file saved on Windows holds the same mistakes at the same places, in the same words."""
    from graphc.errors import GraphcError
    from graphc.lower import lower
    from graphc.parser import parse

    def report(text: str) -> list[tuple[int, int, str]]:
        with pytest.raises(GraphcError) as e:
            lower(parse(text, "m.nn"), "float64")
        return [(d.span.line, d.span.col, d.message) for d in e.value.diagnostics]

    for path in FILES:
        text = path.read_text()
        assert report(text.replace("\n", "\r\n")) == report(text), path.name


def test_spec_example_is_reproduced_exactly(capsys: pytest.CaptureFixture[str]) -> None:
    path = ERR_DIR / "broadcast_mismatch.nn"
    assert main(["check", str(path)]) == 1
    err = capsys.readouterr().err
    assert err.splitlines() == [
        f"{path}:12:8: error: cannot add [B, 4] and [3]: sizes 4 and 3 do not broadcast",
        "   12 | pred = h + b1",
        "      |        ^^^^^^",
    ]


def test_errors_come_in_file_order(capsys: pytest.CaptureFixture[str]) -> None:
    path = ERR_DIR / "several_independent_errors.nn"
    main(["check", str(path)])
    places = [(int(m["line"]), int(m["col"])) for m in map(HEADER.match, capsys.readouterr().err.splitlines()) if m]
    assert len(places) == 4
    assert places == sorted(places)


@pytest.mark.parametrize("name", ["broadcast_mismatch", "syntax_several_errors", "fn_shape_error_at_call_site"])
def test_the_installed_command_reports_the_same(name: str) -> None:
    path = ERR_DIR / f"{name}.nn"
    proc = subprocess.run(
        [sys.executable, "-m", "graphc", "check", str(path)], capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 1
    assert proc.stdout == ""
    check_report(path, proc.stderr)


def test_a_fixed_model_passes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The error files differ from a valid model by their mistake only: fixing it makes check succeed."""
    source = (ERR_DIR / "broadcast_mismatch.nn").read_text().replace("param b1 : [3]", "param b1 : [4]")
    fixed = tmp_path / "fixed.nn"
    fixed.write_text(source)
    assert main(["check", str(fixed)]) == 0
    out, err = capsys.readouterr()
    assert "model m: OK" in out
    assert err == ""


@pytest.mark.parametrize(
    "operand, named",
    [
        ("(x @ W)", "'(x @ W)'"),
        ("-x @ W", "'-x @ W'"),
        ("x\t@   W", "'x @ W'"),  # its blanks as one space
        ("x @ W + x @ W + x @ W + x @ W + x @ W", "this operand"),  # too long to quote
        ("x @\n    W", "this operand"),  # over two lines
    ],
)
def test_a_compound_operand_is_quoted_where_it_is_short(operand: str, named: str) -> None:
    from graphc.errors import GraphcError
    from graphc.pipeline import check

    text = f"dim B\ninput x : [B, 3]\nparam W : [3, 4]\nloss = sum({operand}, axis=7)\nminimize loss\n"
    with pytest.raises(GraphcError) as info:
        check(text, "m.nn")
    (d,) = info.value.diagnostics
    assert d.message.startswith(f"axis 7 is out of range for {named}, which is [B, 4]")


@pytest.mark.parametrize("var, offered", [("i", ", such as j"), ("jk", ""), ("ij", "")])
def test_a_taken_loop_variable_is_offered_a_letter_only_in_place_of_a_letter(var: str, offered: str) -> None:
    """i, j, k... are the usual loop variables: one taken is offered the next free; a longer name,
    even one spelled inside "ijklmn", is only told to take another."""
    from graphc.errors import GraphcError
    from graphc.pipeline import check

    text = f"param W : [3]\nconst {var} = 2\nfor {var} in 1..2 {{\n  u = W\n}}\nloss = sum(W)\nminimize loss\n"
    with pytest.raises(GraphcError) as info:
        check(text, "m.nn")
    (d,) = info.value.diagnostics
    assert d.message.endswith(f"so it cannot be this loop's variable; use another name{offered}"), d.message


def test_a_mistake_in_a_loop_names_its_iteration(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", str(ERR_DIR / "loop_iteration_named.nn")]) == 1
    assert "= note: when i = 1 (the loop at line 6)" in capsys.readouterr().err


def test_a_model_past_the_op_limit_is_refused_where_it_passes_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Statements alone can pass the limit (10^6 lines of 3 ops each do): the message must not
    blame fns, as it did."""
    import graphc.lower_expr

    monkeypatch.setattr(graphc.lower_expr, "MAX_NODES", 6)
    model = tmp_path / "big.nn"
    # x is op 0 and each line adds two (the constant 2 and the product): line 6 starts past 6
    model.write_text("param x : [2]\nh = x\n" + "h = h * 2\n" * 8 + "loss = sum(h)\nminimize loss\n")
    assert main(["check", str(model)]) == 1
    err = capsys.readouterr().err
    assert f"{model}:6:5: error: the model grows past 6 ops here; graphc refuses models that large\n" in err


# ---------------------------------------------------------------------------- warnings

PAIRING = """\
dim B, T
input x : [B, 3]
input y : [B]
input t : [T]
param W : [3, 1]
param b : [3]
pred = x @ W
wrong = mean((pred - y)^2)
fine = mean((reshape(pred, [-1]) - y)^2) + mean(x + b) + mean(pred * x) + mean(pred * t)
pairs = mean(reshape(pred, [-1, 1]) - reshape(y, [1, -1]))
h = pred
for i in 1..3 {
    h = h + maximum(pred, y)
}
loss = wrong + fine + pairs + mean(h)
minimize loss
"""


def test_a_broadcast_that_pairs_every_entry_with_every_other_is_a_warning(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """[B, 1] - [B] is [B, B]: graphc accepts it as NumPy does, and says so once per place.
    A bias, a column times a matrix, [B, 1] against another dim [T] and a pairing written
    out with reshape are not warned of."""
    path = tmp_path / "pairing.nn"
    path.write_text(PAIRING)
    assert main(["check", str(path)]) == 0
    out, err = capsys.readouterr()
    assert "model pairing: OK" in out
    warned = [line for line in err.splitlines() if ": warning: " in line]
    assert warned == [
        f"{path}:8:14: warning: pred [B, 1] - y [B] is [B, B], every entry of one against every entry of "
        "the other; if entries are meant to pair, give both one shape, and if every pair is meant, say so "
        "with reshape(y, [1, -1])",
        f"{path}:13:13: warning: maximum of pred [B, 1] and y [B] is [B, B], every entry of one against every "
        "entry of the other; if entries are meant to pair, give both one shape, and if every pair is meant, "
        "say so with reshape(y, [1, -1])",
    ], err
    assert "    8 | wrong = mean((pred - y)^2)\n      |              ^^^^^^^^^^\n" in err
    assert main(["compile", str(path), "-o", str(tmp_path / "out"), "--no-render"]) == 0
    assert capsys.readouterr().err.count(": warning: ") == 2
    import graphc

    with pytest.warns(graphc.GraphcWarning, match=r"pairing.nn:8:14: warning: pred \[B, 1\] - y \[B\]") as caught:
        graphc.compile_source(PAIRING, "pairing.nn")
    with pytest.warns(graphc.GraphcWarning) as too:
        graphc.compile_file(str(path))
    assert {w.filename for w in [*caught, *too]} == {__file__}  # the line of the caller's own code


def test_a_transpose_of_a_vector_is_a_warning(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """u @ u.T reads as an outer product and is NumPy's dot product: u.T of a vector is u. A
    matrix's .T is what it says, and is not warned of."""
    path = tmp_path / "m.nn"
    path.write_text("const D = 3\nparam u : [D]\nparam M : [D, 2]\nc = u @ u.T + sum(M.T @ u)\nminimize c\n")
    assert main(["check", str(path)]) == 0
    warned = [line for line in capsys.readouterr().err.splitlines() if ": warning: " in line]
    assert warned == [
        f"{path}:4:9: warning: u.T is u itself: u is a vector, [D], with no rows and columns to swap; "
        "for a column write reshape(u, [D, 1])"
    ]


def test_a_param_the_objective_never_reads_is_a_warning(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """V is declared and even used, but not by the loss: training would never move it. A
    param after wrt that the loss reads through a fn is not warned of."""
    path = tmp_path / "m.nn"
    path.write_text(
        "dim B\ninput x : [B, 3]\nparam W : [3, 4]\nparam V : [3, 4]\nfn f(a, M) = a @ M\n"
        "dead = x @ V\nloss = mean(f(x, W))\nminimize loss\n"
    )
    assert main(["check", str(path)]) == 0
    warned = [line for line in capsys.readouterr().err.splitlines() if ": warning: " in line]
    assert warned == [
        f"{path}:4:7: warning: param 'V' does not affect the objective 'loss': its gradient is always zero, "
        "so training leaves it as initialized"
    ]
    path.write_text(path.read_text().replace("minimize loss", "minimize loss wrt W"))
    assert main(["check", str(path)]) == 0
    assert ": warning: " not in capsys.readouterr().err  # V is not trained at all: nothing to warn of
    path.write_text(path.read_text().replace("wrt W", "wrt W, y").replace("dim B\n", "dim B\ninput y : [B]\n"))
    assert main(["check", str(path)]) == 0
    assert "2:7: warning: input 'y' does not affect the objective 'loss': its gradient is always zero\n" in (
        capsys.readouterr().err
    )


def test_the_broadcast_warnings_fix_silences_it_at_any_rank(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "three.nn"
    text = "dim B, T\ninput x : [B, T, 1]\ninput m : [T]\nloss = mean(x * m)\nminimize loss wrt x\n"
    path.write_text(text)
    assert main(["check", str(path)]) == 0
    assert "every pair is meant, say so with reshape(m, [1, 1, -1])" in capsys.readouterr().err
    path.write_text(text.replace("x * m", "x * reshape(m, [1, 1, -1])"))
    assert main(["check", str(path)]) == 0
    assert capsys.readouterr().err == ""
    # an operand with no name of its own: the sentence still ends in the reshape to write
    path.write_text(text.replace("x * m", "x * (m + 1)"))
    assert main(["check", str(path)]) == 0
    assert "every pair is meant, say so with reshape(..., [1, 1, -1])\n" in capsys.readouterr().err


def test_a_mistake_over_several_lines_shows_each(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`(x` then `@ W)`: the caret under `x` alone would blame the operand, not the product."""
    path = tmp_path / "m.nn"
    path.write_text("dim B\ninput x : [B, 3]\nparam W : [4, 2]\nh = (x\n\t@ W)\nloss = sum(h)\nminimize loss\n")
    assert main(["check", str(path)]) == 1
    err = capsys.readouterr().err
    assert err.endswith("    4 | h = (x\n      |     ^^\n    5 | \t@ W)\n      | \t^^^^\n"), err
    # blank and comment-only lines between are left out, and no caret goes under a comment
    path.write_text(
        "dim B\ninput x : [B, 3]\nparam W : [4, 2]\nh = (x  # a\n\n  # b\n  @ W)  # c\nloss = sum(h)\nminimize loss\n"
    )
    assert main(["check", str(path)]) == 1
    err = capsys.readouterr().err
    assert err.endswith("    4 | h = (x  # a\n      |     ^^\n    7 |   @ W)  # c\n      |   ^^^^\n"), err


def test_a_warning_in_a_loop_is_given_once_for_its_place(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Each pass's shapes differ here, so the messages do: still one warning, not one per pass."""
    path = tmp_path / "w.nn"
    text = "dim B\ninput y : [B]\nparam w : []\ns = 0\nfor i in 1..30 {\n  input a{i} : [i, B, 1]\n"
    path.write_text(text + "  s = s + mean(w * a{i} - y)\n}\nminimize s\n")
    assert main(["check", str(path)]) == 0
    assert capsys.readouterr().err.count("warning:") == 1


def test_a_place_whose_message_changes_each_pass_cannot_fill_the_error_cap(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """W{i} is [i, 4]: each pass's error names other sizes. The first is shown, the rest counted,
    and the file's other mistake (lossx) still comes."""
    text = "dim B\ninput x : [B, 4]\nparam V : [4, 1]\nfor i in 1..100 {\n  param W{i} : [i, 4]\n"
    err = checked(tmp_path, capsys, text + "  y{i} = x @ W{i}\n}\nloss = mean(x @ V)\nminimize lossx\n", 1).err
    assert err.count("error: cannot multiply") == 1 and "unknown name 'lossx'" in err
    assert "it fails there on 98 more passes too" in err  # i = 4 is fine: 99 fail, 1 shown


def test_a_repeat_is_counted_once_per_pass(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = "dim B\ninput x : [B, 4]\nparam V : [3, 4]\nfn g(a, w) = a @ w\ns = 0\n"
    err = checked(
        tmp_path, capsys, text + "for i in 1..1 {\n  s = s + sum(g(x, V)) + sum(g(x, V))\n}\nminimize s\n", 1
    ).err
    assert "more pass" not in err, err  # one pass calls g twice: no second pass failed


@pytest.mark.parametrize(
    "number, errors",
    [("(1/0 + 1e30) * 1e10", 0), ("((-8)^0.5 + 1e30) * 1e10", 0), ("1e20 * 1e20 * 2 * 2", 1), ("-(-(1e20 * 1e20))", 1)],
)
def test_a_number_past_float32_is_said_once_and_inf_or_nan_is_numpy_s(number: str, errors: int, tmp_path: Path) -> None:
    path = tmp_path / "m.nn"
    path.write_text(f"param w : [2] = ones\ny = sum(w * ({number}))\nminimize y\n")
    proc = subprocess.run(
        [sys.executable, "-m", "graphc", "check", "--dtype", "float32", str(path)], capture_output=True, text=True
    )
    assert proc.stderr.count("error:") == errors, proc.stderr


def test_a_warning_said_outside_a_loop_is_not_said_again_in_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = "dim B\ninput p : [B, 1]\ninput t : [B]\nfn d(a, b) = mean(a - b)\ns = d(p, t)\n"
    printed = checked(tmp_path, capsys, text + "for i in 1..3 {\n  s = s + d(p, t)\n}\nminimize s wrt p\n", 0)
    assert printed.err.count("warning:") == 1


def test_passes_are_counted_in_the_loop_that_made_the_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """An inner loop between two calls, a later loop and a top-level call are no more passes of
    the loop over i, which has three: the error is made on all, so 2 more."""
    path = tmp_path / "m.nn"
    text = "dim B\ninput x : [B, 4]\nfn f(a) = a @ a\nfor i in 1..3 {\n  p{i} = f(x)\n  for j in 1..2 { z = x }\n"
    text += "  q{i} = f(x)\n}\nfor k in 1..4 { r{k} = f(x) }\ns = f(x)\nloss = sum(x)\nminimize loss wrt x\n"
    path.write_text(text)
    assert main(["check", str(path)]) == 1
    err = capsys.readouterr().err
    assert err.count("error:") == 1 and "when i = 1 (the loop at line 4); it fails there on 2 more passes too" in err


def test_an_unknown_function_is_likened_to_functions_alone(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`ww(x)` beside a param `www` is no call of www: a call's suggestions are builtins and fns,
    and a value's are never fns."""
    path = tmp_path / "m.nn"
    path.write_text(
        "dim B\ninput x : [B, 3]\nparam www : [3]\nfn dott(a, b) = sum(a * b)\n"
        "h = ww(x, www)\nk = dot(x, www)\nloss = mean(h) + dott(www, www) + dot\nminimize loss\n"
    )
    assert main(["check", str(path)]) == 1
    heads = error_heads(capsys.readouterr().err)
    assert heads == [
        "unknown function 'ww'",
        "unknown function 'dot'; did you mean 'dott'?",
        "unknown name 'dot'",
    ]
    # inside a fn too, where a misspelled outer value is pointed at (and no param is a function)
    path.write_text("param www : [3]\nfn f(a) = ww(a) * 2\nloss = sum(f(www))\nminimize loss\n")
    assert main(["check", str(path)]) == 1
    err = capsys.readouterr().err
    assert "error: unknown function 'ww'\n" in err, err


def test_the_summary_of_a_model_without_params_or_values_says_none(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = checked(tmp_path, capsys, "input x : []\nminimize x wrt x\n", 0).out
    assert out == (
        "model m: OK\ninputs:\n  x     []\nparams: none\nvalues: none\noutputs: x []\n"
        "objective: minimize x with respect to x\n"
    )


def test_reshaped_sizes_are_shown_as_written_and_compiled_as_their_product(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """reshape(x, [B*T, D]) is [B*T, D] to the user, not [B*T, 4]; [B*T*D] is not [4*B*T]; the
    generated code is the same as for the product written out, and the sizes compare by value."""
    head = "dim B, T\nconst D = 4\nconst H = 2\ninput x : [B, T, D]\nparam W : [D, H]\n"
    path = tmp_path / "m.nn"
    model = head + "h = reshape(x, [B*T, D])\nm = reshape(x, [B*T*D])\nloss = sum(h @ W) + sum(m)\nminimize loss\n"
    path.write_text(model)
    assert main(["check", str(path)]) == 0
    rows = [" ".join(line.split()) for line in capsys.readouterr().out.splitlines()]
    assert {"h [B*T, D] line 6", "m [B*T*D] line 7"} <= set(rows), rows
    # a -1 stands for the sizes of the shape that the others leave: [B, T, D] to [-1] is B*T*D
    path.write_text(
        head
        + "g = reshape(x, [-1])\nk = reshape(W, [-1])\nn = reshape(x, [-1, 2])\nminimize s\n"
        + "s = sum(g) + sum(k) + sum(n)\n"
    )
    assert main(["check", str(path)]) == 0
    rows = [" ".join(line.split()) for line in capsys.readouterr().out.splitlines()]
    assert {"g [B*T*D] line 6", "k [D*H] line 7", "n [2*B*T, 2] line 8"} <= set(rows), rows
    path.write_text(head + "k = reshape(x, [B, T*D])\nloss = sum(reshape(x, [B*T, D]) @ W + k)\nminimize loss\n")
    assert main(["check", str(path)]) == 1
    assert error_heads(capsys.readouterr().err) == [
        "cannot add [B*T, H] and [B, T*D]: sizes H (2) and T*D do not broadcast"
    ]

    # the same code as for the sizes written as numbers: only the header and the source lines it quotes differ
    def code(text: str) -> list[str]:
        module = compile_source(text, "m.nn").source.split('"""', 2)[2]
        return [line for line in module.splitlines() if not line.lstrip().startswith("#")]

    assert code(model) == code(model.replace("[B*T, D]", "[B*T, 4]").replace("[B*T*D]", "[4*T*B]"))


def test_sizes_computed_from_consts_keep_their_arithmetic_and_its_brackets(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "m.nn"
    path.write_text(
        "const H = 2\nconst S = 8\nparam P : [(H+1) * 2, S / H, H - (1 - H), 2^(H+1), 28*28]\n"
        "for i in 1..2 {\n  param W{i} : [2*i, H*i]\n}\nloss = sum(P) + sum(W1) + sum(W2)\nminimize loss\n"
    )
    assert main(["check", str(path)]) == 0
    rows = [" ".join(line.split()) for line in capsys.readouterr().out.splitlines()]
    # a loop's variable is a number on each pass, so a size computed from it shows its value
    want = {"P [(H + 1)*2, S/H, H - (1 - H), 2^(H + 1), 28*28]", "W1 [2, 2]", "W2 [4, 4]"}
    assert want <= {" ".join(r.split()[:-2]) for r in rows}, rows
    # arithmetic too long to read in a shape shows its value
    path.write_text("const H = 2\nparam P : [" + "(" * 20 + "H" + " + 1)" * 20 + "]\nloss = sum(P)\nminimize loss\n")
    assert main(["check", str(path)]) == 0
    assert "  P     [22]  " in capsys.readouterr().out


def test_sizes_written_as_consts_are_shown_by_name_and_compared_by_value(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`[B, HIDDEN]` is what the user wrote: the summary and the messages keep the const's name
    (with its value where one size is the point), while `[HIDDEN]` and `[4]` stay one shape."""
    path = tmp_path / "m.nn"
    model = (
        "dim B\nconst HIDDEN = 4\ninput x : [B, HIDDEN]\n"
        "param W : [HIDDEN, 2 * HIDDEN]\nparam b : [4]\nparam v : [8]\n"
        "h = x @ W + v\nk = x + b\nloss = mean(h) + mean(k)\nminimize loss\n"
    )
    path.write_text(model)
    assert main(["check", str(path)]) == 0
    rows = [" ".join(line.split()) for line in capsys.readouterr().out.splitlines()]
    # 2 * HIDDEN shows as written too, and is the 8 of v's [8]
    want = {"x [B, HIDDEN]", "W [HIDDEN, 2*HIDDEN] 32 glorot", "h [B, 2*HIDDEN] line 7", "k [B, HIDDEN] line 8"}
    assert want <= set(rows), rows
    path.write_text(model.replace("x @ W + v", "x @ W.T + v").replace("x + b", "x + v"))
    assert main(["check", str(path)]) == 1
    heads = error_heads(capsys.readouterr().err)
    assert len(heads) == 2, heads
    assert heads[0].startswith(
        "cannot multiply [B, HIDDEN] @ [2*HIDDEN, HIDDEN]: inner sizes HIDDEN (4) and 2*HIDDEN (8) differ;"
    )
    assert heads[1] == "cannot add [B, HIDDEN] and [8]: sizes HIDDEN (4) and 8 do not broadcast"
    # a braced const is shown as the const it names on that pass
    path.write_text(
        "dim B\nconst D1 = 3\nconst D2 = 5\nconst D3 = 2\ninput x : [B, D1]\nh = x\n"
        "for i in 1..2 {\n  param W{i} : [D{i}, D{i+1}]\n  h = tanh(h @ W{i})\n}\nloss = mean(h)\nminimize loss\n"
    )
    assert main(["check", str(path)]) == 0
    rows = [" ".join(line.split()) for line in capsys.readouterr().out.splitlines()]
    assert {"W1 [D1, D2] 15 glorot", "W2 [D2, D3] 10 glorot"} <= set(rows), rows


def test_a_statement_no_loop_allows_is_said_once_without_a_pass(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`output h` in a loop fails on every pass alike: naming a pass or counting the others
    would suggest some pass might allow it."""
    err = checked(
        tmp_path,
        capsys,
        "param x : [3]\nh = x\nfor j in 1..2 {\n  for i in 1..3 {\n    output h\n    dim C\n  }\n}\n"
        "loss = sum(h)\nminimize loss\n",
        1,
    ).err
    assert "note" not in err, err
    assert error_heads(err) == [
        "output is not allowed inside a for loop",
        "dim is not allowed inside a for loop",
    ]


def test_a_braced_name_is_likened_to_names_of_its_own_pass_by_its_base(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`b{i}` with no b declared is b1, one letter from W1 but no misspelling of W{i}: a braced
    name is likened by its base to the names its pass makes (`Wt{i}` -> W1)."""
    path = tmp_path / "m.nn"
    text = "dim B\ninput x : [B, 4]\nh = x\nfor i in 1..3 {\n  param W{i} : [4, 4]\n  h = h @ W{i} + NAME\n}\n"
    path.write_text(text.replace("NAME", "b{i}") + "loss = mean(h)\nminimize loss\n")
    assert main(["check", str(path)]) == 1
    assert "error: unknown name 'b1'\n" in capsys.readouterr().err
    path.write_text(text.replace("NAME", "Wt{i}") + "loss = mean(h)\nminimize loss\n")
    assert main(["check", str(path)]) == 1
    assert "error: unknown name 'Wt1'; did you mean 'W1'?\n" in capsys.readouterr().err


def test_a_matmul_of_a_rank_it_cannot_take_gets_no_param_hint(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`x @ T` with T of rank 3 fails for T's rank, which no other param's name and no
    transpose mends: the message says so alone."""
    printed = checked(
        tmp_path,
        capsys,
        "dim B\ninput x : [B, 3]\nparam T : [2, 3, 4]\nparam V : [3, 4]\n"
        "loss = mean(x @ T) + mean(x @ V)\nminimize loss\n",
        1,
    )
    assert "error: @ takes 1-D and 2-D operands, but the right side is [2, 3, 4] (rank 3)\n" in printed.err


@pytest.mark.parametrize(
    "model",
    [
        # in a fn, whose argument is named like the param its call passes: the fn cannot see W0
        "param W0 : [10, 20]\nparam W1 : [20, 1]\nfn layer(a, W1) = a @ W1\nh = layer(x, W1)\n"
        "loss = mean(h) + mean(x @ W0)\n",
        # in a loop: W{i} is W2 on the pass that fails, and W1 in its place would be every pass's
        "param W1 : [10, 10]\nparam W2 : [20, 1]\nh = x\nfor i in 1..2 {\n  h = h @ W{i}\n}\nloss = mean(h)\n",
    ],
    ids=["fn", "loop"],
)
def test_a_param_is_likened_to_another_only_where_written_by_its_own_name(
    model: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    err = checked(tmp_path, capsys, f"dim B\ninput x : [B, 10]\n{model}minimize loss\n", 1).err
    assert "inner sizes 10 and 20 differ\n" in err, err
    assert "did you mean" not in err


def test_a_vector_param_is_not_likened_to_a_matrix_param(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # V fits x @ V, but the result would be [B, 4], not the [B] that x @ v is written for
    err = checked(
        tmp_path,
        capsys,
        "dim B\ninput x : [B, 10]\nparam v : [4]\nparam V : [10, 4]\nloss = mean(x @ v) + mean(x @ V)\nminimize loss\n",
        1,
    ).err
    assert "inner sizes 10 and 4 differ" in err, err
    assert "did you mean" not in err, err


def test_a_param_an_earlier_product_took_as_declared_is_not_told_to_turn_round(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # x @ W took W : [3, 1] as declared; declaring it [1, 3] would break that product
    err = checked(
        tmp_path, capsys, "dim B\ninput x : [B, 3]\nparam W : [3, 1]\nloss = mean(x @ W @ W)\nminimize loss\n", 1
    ).err
    assert "inner sizes 1 and 3 differ" in err, err
    assert "declare it" not in err, err


def test_an_input_used_as_floats_is_not_told_to_be_declared_int(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    err = checked(
        tmp_path,
        capsys,
        "dim B\ninput x : [B, 3]\nparam W : [3, 4]\nlogits = x @ W\n"
        "loss = mean(cross_entropy(logits, x))\nminimize loss\n",
        1,
    ).err
    assert "needs integer labels" in err, err
    assert "declare it" not in err, err  # x @ W takes x as floats


def test_float_labels_named_with_braces_are_not_told_the_input_of_their_base(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """y{i} is y1 here, a float input; y, its base, is another input: the labels are not y,
    and `input y{i} : int[B]` is no declaration to write."""
    err = checked(
        tmp_path,
        capsys,
        "dim B\ninput x : [B, 3]\ninput y : int[B]\ninput y1 : [B]\nparam W : [3, 4]\n"
        "for i in 1..1 {\n  loss = mean(cross_entropy(x @ W, y{i})) + mean(cross_entropy(x @ W, y))\n}\nminimize loss\n",
        1,
    ).err
    assert "but 'y{i}' is [B]\n" in err, err


def test_a_c_comment_on_the_first_line_of_a_file_is_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`//` at offset 0 has no character before it to look at."""
    err = checked(tmp_path, capsys, "// a model\nparam x : [3]\nloss = sum(x)\nminimize loss\n", 1).err
    assert "m.nn:1:1: error: unexpected '//': a comment starts with #" in err, err
    assert "\n    1 | // a model\n      | ^^\n" in err, err


def test_an_argument_by_name_is_not_told_a_fix_holding_a_wrong_keyword(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """sum(x=w, axs=0) is not told to write sum(w, axs=0), which is wrong again; the right
    keywords still go into the fix."""
    printed = checked(
        tmp_path,
        capsys,
        "param w : [3]\ns = sum(x=w, axs=0)\nt = mean(x=w, axis=None)\nu = sum(x=w, keepdims=True)\n"
        "v = sum(x=w, axis=0)\nloss = s + t + u + v\nminimize loss\n",
        1,
    )
    heads = error_heads(printed.err)
    assert heads == [
        "sum(x) takes x by position, not by name",
        "sum() got an unexpected keyword 'axs'; did you mean 'axis'?",
        "mean(x) takes x by position, not by name",
        "there is no None in .nn; leave axis out for its default, every axis",
        "sum(x) takes x by position, not by name",
        "keepdims must be true or false, not True (in lower case: keepdims=true)",
        "sum(x) takes x by position, not by name: write sum(w, axis=0)",
    ], heads


@settings(max_examples=300, deadline=None)
@given(
    name=st.text("abAB_1", min_size=1, max_size=9),
    candidates=st.lists(st.text("abAB_1", min_size=1, max_size=9), max_size=12),
)
def test_the_suggestion_is_the_one_a_full_search_finds(name: str, candidates: list[str]) -> None:
    """nearest skips, unmeasured, a name with more letters of its own than a typo has edits:
    it must still pick what measuring every candidate picks."""

    def by_distance() -> str | None:
        most, best = max(1, len(name) // 3), None
        for c in set(candidates):
            d = _distance(name.lower(), c.lower(), limit=min(3, most))
            if c == name or len(name) > 64 or d is None or d > most or d >= max(len(name), len(c)):
                continue
            key = (d, _distance(name, c, limit=len(name) + len(c)), c)
            best = min(best or key, key)
        return best and best[2]

    assert nearest(name, candidates) == by_distance()
