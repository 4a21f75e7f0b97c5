"""Hostile and malformed input: every case exits 1 with a clear message and no traceback."""

from __future__ import annotations

import os
import re
import shutil
import signal
import stat
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

import graphc
from graphc.cli import main
from graphc.lower_loop import MAX_LOOP_DEPTH
from graphc.scope import MAX_ERRORS

VALID = """model tiny
dim B
input x : [B, 3]
param W : [3, 1]
loss = mean((x @ W)^2)
minimize loss
"""


def run_check(path: Path, capsys: pytest.CaptureFixture[str]) -> str:
    """graphc check PATH in-process: asserts exit status 1 and no traceback, returns stderr."""
    status = main(["check", str(path)])
    out, err = capsys.readouterr()
    assert status == 1, out + err
    assert "Traceback" not in out + err
    assert "error" in err
    return err


def write(tmp_path: Path, data: bytes | str, name: str = "model.nn") -> Path:
    path = tmp_path / name
    if isinstance(data, str):
        path.write_text(data, encoding="utf-8", newline="")
    else:
        path.write_bytes(data)
    return path


def test_binary_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\xff\xfe\x00")
    err = run_check(path, capsys)
    assert f"{path}:1:1: error: the file is not UTF-8 text (byte 0x89)" in err


def test_invalid_utf8_is_located(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, b"param w : []\nloss = w \xc3\x28 2\nminimize loss\n")
    err = run_check(path, capsys)
    assert f"{path}:2:10: error: the file is not UTF-8 text (byte 0xc3)" in err


def test_invalid_utf8_column_counts_characters(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, "param w : []\nloss = w # é ü\n".encode() + b"\xff\nminimize loss\n")
    err = run_check(path, capsys)
    assert f"{path}:3:1: error: the file is not UTF-8 text (byte 0xff)" in err
    path = write(tmp_path, "# é ü ".encode() + b"\xff\n", name="second.nn")
    err = run_check(path, capsys)
    assert f"{path}:1:7: error: the file is not UTF-8 text (byte 0xff)" in err


@pytest.mark.parametrize("encoding", ["utf-16", "utf-32"])
def test_utf16_and_utf32_files(encoding: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, VALID.encode(encoding))
    err = run_check(path, capsys)
    assert f"{path}:1:1: error: the file is {encoding.upper()} text; save it as UTF-8" in err


def test_old_mac_line_endings(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, VALID.replace("\n", "\r"))
    err = run_check(path, capsys)
    assert f"{path}:1:1: error: the lines end in a lone \\r (old Mac style); save the file with \\n" in err


def test_nul_byte_is_located(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, b"param w : []\nloss = w\x00\nminimize loss\n")
    err = run_check(path, capsys)
    assert f"{path}:2:9: error: the file holds a NUL byte" in err


def test_terminal_escape_is_not_echoed(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, "param w : []\nloss = w + \x1b[2J 1\nminimize loss\n")
    err = run_check(path, capsys)
    assert f"{path}:2:12: error: unexpected character '\\x1b'" in err
    assert "\x1b" not in err, "control characters from the file must not reach the terminal"


def test_unclosed_deep_parentheses(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, "param w : []\nloss = " + "(" * 5000 + "w\nminimize loss\n")
    err = run_check(path, capsys)
    assert f"{path}:2:5007: error: '(' is never closed" in err
    # the long line is shown as a window around the column, with the caret under it
    shown, caret = err.splitlines()[1:3]
    assert shown.startswith("    2 | ...") and len(shown) < 300
    assert shown[caret.index("^")] == "("


def test_deep_balanced_parentheses_around_an_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, "param w : []\nloss = " + "(" * 5000 + "w + " + ")" * 5000 + "\nminimize loss\n")
    err = run_check(path, capsys)
    assert f"{path}:2:5012: error: unexpected ')'; expected an expression" in err


def test_deep_balanced_parentheses_are_fine(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, "param w : []\nloss = " + "(" * 5000 + "w^2" + ")" * 5000 + "\nminimize loss\n")
    assert main(["check", str(path)]) == 0
    assert "model model: OK" in capsys.readouterr().out


@pytest.mark.parametrize(
    "expr",
    ["tanh(" * 5000 + "w" + ")" * 5000, "-" * 5000 + "w", "w" + "^w" * 5000, "[" * 5000 + "w" + "]" * 5000],
    ids=["calls", "negations", "powers", "lists"],
)
def test_deep_expression_is_refused(expr: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, f"param w : []\nloss = {expr}\nminimize loss\n")
    err = run_check(path, capsys)
    assert re.search(rf"^{re.escape(str(path))}:2:\d+: error: expression is nested too deeply", err, re.M), err


def test_exponential_fn_expansion_is_refused_quickly(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Forty lines that would expand to 2^40 ops are refused before expansion, at the call."""
    lines = ["param w : []", "fn f0(a) = a * 2"]
    lines += [f"fn f{i}(a) = f{i - 1}(a) + f{i - 1}(a)" for i in range(1, 40)]
    lines += ["loss = f39(w)", "minimize loss"]
    path = write(tmp_path, "\n".join(lines) + "\n")
    err = run_check(path, capsys)
    assert f"{path}:42:8: error: this call of f39 expands to about" in err


def test_fns_nesting_too_deeply_once_inlined_are_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Each body nests 450 brackets, under the limit; inlined into one another, 22,000."""
    lines = ["param x : []", "fn f0(a) = a"]
    lines += [f"fn f{i}(a) = " + "(" * 450 + f"f{i - 1}(a)" + " + 1)" * 450 for i in range(1, 50)]
    lines += ["y = f49(x)", "minimize y"]
    path = write(tmp_path, "\n".join(lines) + "\n")
    err = run_check(path, capsys)
    assert f"{path}:52:1: error: this statement nests too deeply once its fn calls are inlined" in err


def _nested_loops(depth: int, indent: bool = True) -> str:
    heads = "".join(" " * k * indent + f"for i{k} in 1..1 {{\n" for k in range(depth))
    return "param w : []\nh = w\n" + heads + "h = h * 2\n" + "}\n" * depth + "minimize h\n"


def test_loops_nested_too_deeply_are_refused_at_the_first_one_too_deep(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """5,000 nested loops took a minute and a gigabyte, then were blamed on fns inlined, and
    12,000 ran out of frames working out their cost before the depth was checked. The error
    names no pass: none of the 500 around it is to blame."""
    for depth, indent in (5000, True), (12000, False):  # (12,000 indented is past the 64 MiB a model may be)
        path = write(tmp_path, _nested_loops(depth, indent))
        err = run_check(path, capsys)
        col = 1 + MAX_LOOP_DEPTH * indent
        assert f"{path}:{3 + MAX_LOOP_DEPTH}:{col}: error: loops are nested too deeply" in err
        assert err.count("error:") == 1 and "fn" not in err and "note" not in err and len(err) < 2_000


def test_loops_nested_as_deeply_as_allowed_are_fine(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, _nested_loops(MAX_LOOP_DEPTH))
    assert main(["check", str(path)]) == 0
    assert f"h     []           line {3 + MAX_LOOP_DEPTH}\n" in capsys.readouterr().out


@pytest.mark.parametrize("opt", [0, 1, 2])
def test_a_long_chain_of_scalars_compiles_at_pythons_usual_recursion_limit(opt: int) -> None:
    """-O2 planned the buffers of the chain's scalars, each spelled inside the next, by
    recursing once per link: 1,500 links were a RecursionError from compile_source, and
    20,000 one from `graphc compile`, whose limit is higher."""
    n = 1500
    text = f"param s : []\nparam x : [3]\nh = s\nfor i in 1..{n} {{\n  h = h * 0.999 + s\n}}\nloss = sum(x * h)\n"
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(1000)
    try:
        model = graphc.compile_source(text + "minimize loss\n", opt=opt)
    finally:
        sys.setrecursionlimit(limit)
    params = {"s": np.array(0.5), "x": np.array([1.0, 2.0, 3.0])}
    h = 0.5
    for _ in range(n):
        h = h * 0.999 + 0.5
    loss, grads = model.loss_and_grad(params)
    assert loss == pytest.approx(6 * h, rel=1e-12)
    step = 1e-6
    slope = (model.loss({**params, "s": np.array(0.5 + step)}) - model.loss({**params, "s": np.array(0.5 - step)})) / (
        2 * step
    )
    assert grads["s"] == pytest.approx(slope, rel=1e-6)


def test_the_library_takes_the_deepest_expression_the_parser_does() -> None:
    """490 nested calls pass the parser's limit of 500 levels, but lowering them from
    compile_source, at Python's usual recursion limit, ended in the RecursionError meant
    for fns inlined into fns: 'nests too deeply once its fn calls are inlined', in a model
    with no fn. (`graphc` raises the limit; the library did not.)"""
    depth = 490
    text = "param w : []\nloss = " + "tanh(" * depth + "w" + ")" * depth + "\nminimize loss\n"
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(1000)
    try:
        model = graphc.compile_source(text)
        assert sys.getrecursionlimit() == 1000  # as the caller left it
    finally:
        sys.setrecursionlimit(limit)
    value = 0.3
    for _ in range(depth):
        value = np.tanh(value)
    assert model.loss({"w": np.array(0.3)}) == pytest.approx(value, rel=1e-12)


def test_gradcheck_of_arrays_numpy_cannot_even_size_says_they_do_not_fit(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """40 dims drawn at 3, 4, 5, ... make an input of 42!/2 entries: NumPy refused it with a
    ValueError, not the MemoryError gradcheck turned into words, so a traceback came out."""
    dims = [f"D{k}" for k in range(40)]
    text = f"dim {', '.join(dims)}\ninput x : [{', '.join(dims)}]\nparam w : []\nloss = sum(x * w)\nminimize loss\n"
    status = main(["gradcheck", str(write(tmp_path, text))])
    out, err = capsys.readouterr()
    assert status == 1 and "Traceback" not in out + err
    assert "error: gradcheck: the arrays at D0=3, D1=4, " in err and "do not fit in memory; give smaller --dims" in err


def test_gradcheck_out_of_memory_in_a_model_without_dims_names_none(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A model without dims was told 'the arrays at  do not fit in memory; give smaller --dims'."""

    def out_of_memory(*args, **kwargs):
        raise MemoryError

    monkeypatch.setattr(graphc.gradcheck, "check", out_of_memory)
    status = main(["gradcheck", str(write(tmp_path, VALID.replace("dim B\n", "").replace("B, 3", "3")))])
    assert status == 1
    assert capsys.readouterr().err == "error: gradcheck: the model's arrays do not fit in memory\n"


@pytest.mark.parametrize("command, doing", [("check", "check"), ("compile", "compile")])
def test_a_model_too_large_for_memory_is_a_word_not_a_traceback(
    command: str, doing: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A model of millions of nodes ran out of memory with a traceback from deep in the passes."""
    import graphc.lower
    import graphc.pipeline

    def out_of_memory(*args, **kwargs):
        raise MemoryError

    for stage in (graphc.lower, graphc.pipeline):  # check's lowering, compile's
        monkeypatch.setattr(stage, "lower", out_of_memory)
    path = write(tmp_path, VALID)
    extra = ["-o", str(tmp_path / "out")] if command == "compile" else []
    assert main([command, str(path), *extra]) == 1
    out, err = capsys.readouterr()
    assert err == f"error: {path}: out of memory: the model is too large to {doing} here\n" and out == ""
    assert not (tmp_path / "out").exists()


def test_200000_statements_with_an_error_on_the_last_line(tmp_path: Path) -> None:
    n = 200_000
    body = "".join(f"v{i} = p * {i % 7 + 1}\n" for i in range(n))
    path = write(tmp_path, "param p : []\n" + body + "minimize v0 +\n")
    last = n + 2
    # a generous limit: this guards against a hang, it is not a speed test
    proc = subprocess.run(
        [sys.executable, "-m", "graphc", "check", str(path)], capture_output=True, text=True, timeout=1800
    )
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    assert f"{path}:{last}:13: error: unexpected '+'" in proc.stderr
    assert f"{last:>5} | minimize v0 +" in proc.stderr


def test_200000_statements_with_an_unknown_name_on_the_last_line(tmp_path: Path) -> None:
    """The whole file is parsed and lowered before the name is found missing (a typo of the
    last value's name, so the nearest of 200,000 names is looked for too)."""
    n = 200_000
    body = "".join(f"v{i + 1} = v{i} * w + b\n" for i in range(n))
    path = write(
        tmp_path,
        "dim B\ninput v0 : [B, 4]\nparam w : [4]\nparam b : []\n" + body + f"loss = sum(v{n}x)\nminimize loss\n",
    )
    last = n + 5
    proc = subprocess.run(  # (a guard against a hang, not a speed test)
        [sys.executable, "-m", "graphc", "check", str(path)], capture_output=True, text=True, timeout=1800
    )
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert f"{path}:{last}:12: error: unknown name 'v{n}x'; did you mean 'v{n}'?" in proc.stderr
    assert f"{last:>6} | loss = sum(v{n}x)" in proc.stderr


@pytest.mark.parametrize("mistake", ["h{i} = W + q{i}", "h{i} = W + b"])
def test_an_error_on_every_line_stops_after_max_errors(
    mistake: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Unknown names or shape errors on 20,000 lines: the first MAX_ERRORS, in file order,
    then a line saying graphc stopped (each error costs about the same, however many)."""
    body = "".join(mistake.format(i=i) + "\n" for i in range(20_000))
    path = write(tmp_path, "param W : [2]\nparam b : [3]\n" + body + "loss = sum(W)\nminimize loss\n")
    err = run_check(path, capsys)
    headers = re.findall(rf"^{re.escape(str(path))}:(\d+):\d+: error: ", err, re.M)
    assert [int(line) for line in headers] == list(range(3, 3 + MAX_ERRORS))
    assert err.rstrip().endswith(f"error: graphc stopped after {MAX_ERRORS} errors; mend these and run it again")


def test_empty_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    err = run_check(write(tmp_path, b""), capsys)
    assert "the file holds no statements" in err


def test_only_comments_and_blank_lines(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    err = run_check(write(tmp_path, "# nothing yet\n\n   \n# still nothing\n"), capsys)
    assert "the file holds no statements" in err


def test_a_directory(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "model.nn"
    folder.mkdir()
    err = run_check(folder, capsys)
    assert err.strip() == f"error: {folder}: is a directory, not a model file"


def test_a_missing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "nowhere.nn"
    err = run_check(missing, capsys)
    assert err.strip() == f"error: {missing}: no such file"


def test_a_link_to_a_missing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`ls` shows the model; 'no such file' alone would puzzle: say where the link points."""
    link = tmp_path / "model.nn"
    link.symlink_to(tmp_path / "moved" / "model.nn")
    err = run_check(link, capsys)
    assert err.strip() == f"error: {link}: is a link to {tmp_path / 'moved' / 'model.nn'}, which does not exist"


def test_the_library_says_why_a_file_is_no_model(tmp_path: Path) -> None:
    """compile_file raises graphc.ModelFileError (not a CLI class) with the same words."""
    import graphc

    folder = tmp_path / "model.nn"
    folder.mkdir()
    utf16 = write(tmp_path, "model m\n".encode("utf-16"), "wide.nn")
    for path, said in [
        (tmp_path / "nowhere.nn", "no such file"),
        (folder, "is a directory, not a model file"),
        (utf16, "the file is UTF-16 text; save it as UTF-8"),
    ]:
        with pytest.raises(graphc.ModelFileError, match=said):
            graphc.compile_file(str(path))


def test_the_library_wants_text_not_bytes() -> None:
    import graphc

    with pytest.raises(TypeError, match="compile_source takes the model's text as a str, not bytes"):
        graphc.compile_source(VALID.encode())


def test_the_library_lists_every_mistake_where_the_command_does(tmp_path: Path, capsys) -> None:
    """str() of the GraphcError from compile_file and compile_source is `graphc check`'s report:
    every error, each with file:line:col, the source line and its caret."""
    path = tmp_path / "two.nn"
    path.write_text("dim B\ninput x : [B, 3]\nparam W : [4, 2]\nh = x @ W\nloss = mean(h) + zz\nminimize loss\n")
    assert main(["check", str(path)]) == 1
    report = capsys.readouterr().err.rstrip("\n")
    with pytest.raises(graphc.GraphcError) as e:
        graphc.compile_file(str(path))
    assert str(e.value) == report
    assert [line for line in report.splitlines() if ": error: " in line] == [
        f"{path}:4:5: error: cannot multiply [B, 3] @ [4, 2]: inner sizes 3 and 4 differ",
        f"{path}:5:18: error: unknown name 'zz'",
    ]
    with pytest.raises(graphc.GraphcError) as e:
        graphc.compile_source(path.read_text(), "mine.nn")
    assert str(e.value) == report.replace(str(path), "mine.nn")


@pytest.mark.parametrize(
    "option, said",
    [
        ({"dtype": "float16"}, "dtype must be 'float64' or 'float32', got 'float16'"),
        ({"dtype": None}, "dtype must be 'float64' or 'float32', got None"),
        ({"opt": 3}, "opt must be 0, 1 or 2, got 3"),
        ({"opt": "2"}, "opt must be 0, 1 or 2, got '2'"),
        ({"opt": True}, "opt must be 0, 1 or 2, got True"),
    ],
)
def test_the_library_refuses_options_it_has_not(option: dict, said: str) -> None:
    with pytest.raises(ValueError) as e:
        graphc.compile_source(VALID, **option)
    assert str(e.value) == said


def test_the_library_takes_numpy_float_types_as_dtype() -> None:
    import numpy as np

    for dtype in (np.float32, np.dtype("float32"), "float32"):
        assert graphc.compile_source(VALID, dtype=dtype).module.DTYPE is np.float32
    assert graphc.compile_source(VALID, dtype=float, opt=np.int64(1)).module.DTYPE is np.float64  # as NumPy reads it


def test_an_unknown_option_is_refused_with_its_commands_usage(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as e:
        main(["compile", "m.nn", "--bogus"])
    err = capsys.readouterr().err
    assert e.value.code == 2
    assert err.startswith("usage: graphc compile ") and "graphc compile: error: unrecognized arguments: --bogus" in err


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    project = (Path(__file__).resolve().parent.parent / "pyproject.toml").read_text()
    (version,) = re.findall(r'^version = "(.*)"$', project, re.M)
    with pytest.raises(SystemExit) as e:
        main(["--version"])
    assert e.value.code == 0
    assert capsys.readouterr().out == f"graphc {version}\n"


def test_a_huge_file_is_refused_unread(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "huge.nn"
    with open(path, "wb") as f:
        f.truncate(65 * 2**20)  # sparse: no disk space used
    err = run_check(path, capsys)
    assert "larger than 64 MiB" in err


def test_crlf_line_endings_keep_columns(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, "param w : []\r\nloss = w ^\r\nminimize loss\r\n")
    err = run_check(path, capsys)
    assert f"{path}:2:11: error: unexpected end of line; expected an expression" in err
    assert "\r" not in err


@pytest.mark.parametrize(
    "body",
    [
        "if mean(w) > 0:\n  w2 = w\nelse:\n  w2 = w\n",  # a Python block and its else
        "while true:\n  pass\n",
        "w2 = w +\n    w\n",  # a statement continued as Python continues it in brackets
    ],
)
def test_crlf_file_reports_a_python_habit_once(body: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Each of these is one error in a file with \\n line ends, and must be one with \\r\\n too."""
    source = "param w : []\n" + body + "minimize w\n"
    lf = run_check(write(tmp_path, source, "lf.nn"), capsys)
    crlf = run_check(write(tmp_path, source.replace("\n", "\r\n"), "crlf.nn"), capsys)
    assert lf.count(": error: ") == 1, lf
    assert crlf.count(": error: ") == 1, crlf


def test_a_stray_carriage_return_before_a_line_end_keeps_the_caret_at_the_column(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A \\r inside a line is a space; the source line shown dropped every \\r at its end,
    not only the one of \\r\\n, so the caret stood a column left of the one reported."""
    path = write(tmp_path, "param w : []\r\nloss = w +\r\r\nminimize loss\r\n")
    err = run_check(path, capsys)
    header, shown, caret = err.splitlines()[:3]
    assert header == f"{path}:2:12: error: unexpected end of line; expected an expression"
    assert shown == "    2 | loss = w +?"
    assert caret.index("^") - len("      | ") == 11


def test_byte_order_mark_is_ignored(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, b"\xef\xbb\xbf" + VALID.encode())
    assert main(["check", str(path)]) == 0
    assert "model tiny: OK" in capsys.readouterr().out


def test_non_ascii_name(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, "param w : []\nloss = w + é\nminimize loss\n")
    err = run_check(path, capsys)
    assert f"{path}:2:12: error: unexpected character 'é'" in err


def test_written_files_get_the_usual_permissions(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Files are staged under temporary names (mkstemp makes those owner-only) but end up as open() makes them."""
    path = write(tmp_path, VALID)
    old = os.umask(0o022)
    try:
        assert main(["compile", str(path), "-o", str(tmp_path / "build"), "--no-render"]) == 0
    finally:
        os.umask(old)
    capsys.readouterr()
    modes = {f.name: stat.S_IMODE(f.stat().st_mode) for f in (tmp_path / "build").iterdir()}
    assert modes and set(modes.values()) == {0o644}, modes


def test_compile_of_a_broken_model_writes_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, VALID.replace("[3, 1]", "[4, 1]"))
    out_dir = tmp_path / "build"
    status = main(["compile", str(path), "-o", str(out_dir)])
    out, err = capsys.readouterr()
    assert status == 1
    assert "cannot multiply [B, 3] @ [4, 1]" in err
    assert "Traceback" not in out + err
    assert not out_dir.exists() or not any(out_dir.iterdir())


def test_compile_of_a_broken_model_leaves_an_existing_folder_untouched(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out_dir = tmp_path / "build"
    out_dir.mkdir()
    (out_dir / "keep.txt").write_text("mine")
    path = write(tmp_path, "param w : []\nloss = w +\nminimize loss\n", name="tiny.nn")
    assert main(["compile", str(path), "-o", str(out_dir)]) == 1
    err = capsys.readouterr().err
    assert f"{path}:2:11: error: unexpected end of line" in err
    assert sorted(p.name for p in out_dir.iterdir()) == ["keep.txt"]


def test_compile_of_a_binary_file_writes_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, bytes(range(256)))
    out_dir = tmp_path / "out"
    assert main(["compile", str(path), "-o", str(out_dir)]) == 1
    err = capsys.readouterr().err
    assert "not UTF-8" in err or "NUL byte" in err
    assert not out_dir.exists()


def test_an_output_folder_that_is_a_file_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, VALID)
    assert main(["compile", str(path), "-o", str(path), "--no-render"]) == 1
    out, err = capsys.readouterr()
    assert f"cannot write to {path}: it is a file, not a folder" in err and "Traceback" not in out + err
    assert path.read_text() == VALID


def test_a_model_kept_as_name_py_is_never_overwritten(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`model tiny` in tiny.py compiled into its own folder would write tiny.py over the model,
    and so would a model.nn that is a link to out/tiny.py compiled into out."""
    path = write(tmp_path, VALID, "tiny.py")
    out = tmp_path / "out"
    out.mkdir()
    (out / "tiny.py").write_text(VALID)
    (tmp_path / "model.nn").symlink_to(out / "tiny.py")
    for model, folder in [(path, tmp_path), (tmp_path / "model.nn", out)]:
        assert main(["compile", str(model), "-o", str(folder), "--no-render"]) == 1
        err = capsys.readouterr().err
        assert f"cannot write {folder / 'tiny.py'}: it is the model file itself; pick another folder with -o" in err
        assert model.read_text() == VALID


@pytest.mark.parametrize(
    "kept",
    ["tiny.py", pytest.param("tiny.html", marks=pytest.mark.skipif(not shutil.which("dot"), reason="needs dot"))],
)
def test_a_file_of_the_users_with_an_output_name_is_never_overwritten(
    kept: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`graphc compile tiny.nn -o .` beside the user's own tiny.py (a training script, say):
    only a module or page graphc's own mark shows it wrote is replaced, and nothing is written."""
    path = write(tmp_path, VALID)
    mine = tmp_path / kept
    mine.write_text("import tiny_helpers  # my training script\n")
    assert main(["compile", str(path), "-o", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert f"cannot write {mine}: it is a file graphc did not write; move it, or pick another folder with -o" in err
    assert mine.read_text() == "import tiny_helpers  # my training script\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["model.nn", kept])
    mine.unlink()
    assert main(["compile", str(path), "-o", str(tmp_path)]) == 0
    assert main(["compile", str(path), "-o", str(tmp_path), "-O0"]) == 0  # graphc's own is replaced


def test_a_link_to_the_model_in_the_output_folder_is_replaced_not_followed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The rename replaces the link or the hard link's name; the model keeps its text."""
    path = write(tmp_path, VALID, "tiny.py")
    for how in ("symlink", "hardlink"):
        folder = tmp_path / how
        folder.mkdir()
        if how == "symlink":
            (folder / "tiny.py").symlink_to(path)
        else:
            os.link(path, folder / "tiny.py")
        assert main(["compile", str(path), "-o", str(folder), "--no-render"]) == 0
        assert path.read_text() == VALID
        assert (folder / "tiny.py").read_text().startswith('"""tiny: generated by graphc')


def test_a_model_name_too_long_for_a_file_writes_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The module's name fits, its picture's does not: the renames must not stop half-way."""
    longest = os.pathconf(tmp_path, "PC_NAME_MAX")
    name = "a" * (longest - 10)  # NAME.py fits, NAME.forward.dot does not
    path = write(tmp_path, VALID.replace("model tiny", f"model {name}"))
    out_dir = tmp_path / "out"
    assert main(["compile", str(path), "-o", str(out_dir)]) == 1
    err = capsys.readouterr().err
    assert f"cannot write {out_dir / name}.forward.dot: the name is longer than the {longest} bytes" in err
    assert not out_dir.exists()  # not even the folder


def test_a_path_too_long_for_the_file_system_writes_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """NAME.py's path fits, NAME.forward.dot's does not: found before the first rename."""
    deepest = os.pathconf(tmp_path, "PC_PATH_MAX")
    folder = tmp_path
    while len(str(folder)) < deepest - 250:
        folder = folder / ("d" * 200)
    folder.mkdir(parents=True)
    name = "m" * (deepest - len(str(folder)) - 10)
    path = write(tmp_path, VALID.replace("model tiny", f"model {name}"))
    assert main(["compile", str(path), "-o", str(folder)]) == 1
    assert f"the path is longer than the {deepest} bytes a path may have here" in capsys.readouterr().err
    assert list(folder.iterdir()) == []


def test_an_output_folder_that_is_a_dangling_link_says_so(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, VALID)
    (tmp_path / "out").symlink_to(tmp_path / "gone")
    assert main(["compile", str(path), "-o", str(tmp_path / "out"), "--no-render"]) == 1
    err = capsys.readouterr().err
    assert f"cannot write to {tmp_path / 'out'}: it is a link to {tmp_path / 'gone'}, which does not exist" in err


def test_a_folder_in_the_way_of_an_output_file_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, VALID, name="net.nn")
    out_dir = tmp_path / "build"
    (out_dir / "tiny.py").mkdir(parents=True)
    status = main(["compile", str(path), "-o", str(out_dir)])
    err = capsys.readouterr().err
    assert status == 1 and "a folder of that name is in the way" in err
    assert sorted(p.name for p in out_dir.iterdir()) == ["tiny.py"]


@pytest.mark.parametrize(
    "file, module",
    [
        ("1-net.nn", "model_1_net"),
        ("numpy.nn", "numpy_model"),
        ("lark.nn", "lark_model"),  # graphc run in the output folder would import it as its parser
        ("class.nn", "class_model"),
        ("typing.nn", "typing_model"),  # the standard library's module would be imported instead
        ("__main__.nn", "__main___model"),  # `import __main__` is the running script
        ("__init__.nn", "__init___model"),  # it would make the output folder a package
        ("a\u00b2.nn", "a2"),  # a superscript two is no character of a Python name
        ("\ufb01le.nn", "file"),  # the fi ligature: Python reads `import \ufb01le` as `import file`
    ],
)
def test_a_file_name_that_is_no_module_name_gives_an_importable_one(
    file: str, module: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, VALID.replace("model tiny\n", ""), name=file)
    assert main(["compile", str(path), "-o", str(tmp_path / "out"), "--no-render"]) == 0
    assert (tmp_path / "out" / f"{module}.py").exists()
    proc = subprocess.run(
        [sys.executable, "-c", f"import {module}; print({module}.WRT)"],
        cwd=tmp_path / "out",
        capture_output=True,
        text=True,
    )
    assert proc.stdout.strip() == "('W',)", proc.stderr


@pytest.mark.parametrize("mistake", [None, "loss = mean((x @ W)^2)\nq = loss + z\n"], ids=["ok", "mistake"])
def test_the_command_ends_with_all_it_wrote_in_its_files(
    mistake: str | None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The command ends the process on the spot once it is done, leaving a failed model
    unfreed (cli.entry): what it printed must all be in the files it printed to first, with
    the status main returns, though files are block-buffered (no PYTHONUNBUFFERED)."""
    model = write(tmp_path, VALID if mistake is None else VALID.replace("loss = mean((x @ W)^2)\n", mistake))
    status = main(["check", str(model)])
    said = capsys.readouterr()
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}
    with open(tmp_path / "out", "w") as out, open(tmp_path / "err", "w") as err:
        proc = subprocess.run([sys.executable, "-m", "graphc", "check", str(model)], stdout=out, stderr=err, env=env)
    assert proc.returncode == status == (0 if mistake is None else 1)
    assert (tmp_path / "out").read_text() == said.out
    assert (tmp_path / "err").read_text() == said.err
    assert said.out if mistake is None else "unknown name 'z'" in said.err


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
def test_an_output_stream_that_is_full_is_an_error_not_a_traceback(tmp_path: Path) -> None:
    model = write(tmp_path, VALID)
    with open("/dev/full", "w") as full:
        out = subprocess.run(
            [sys.executable, "-m", "graphc", "check", str(model)], stdout=full, stderr=subprocess.PIPE, text=True
        )
    assert out.returncode == 1
    assert out.stderr == "error: cannot write the output: No space left on device\n"


@pytest.mark.parametrize("command", ["check", "compile"])
def test_a_closed_output_stream_is_an_error_not_a_traceback(command: str, tmp_path: Path) -> None:
    """`graphc check m.nn >&-`: Python gives no sys.stdout at all; the output is lost, as on a
    full disk, and said so (compile's files are written all the same)."""
    model = write(tmp_path, VALID)
    proc = subprocess.run(
        [sys.executable, "-m", "graphc", command, str(model)]
        + (["-o", str(tmp_path / "out")] if command == "compile" else []),
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: os.close(1),
    )
    assert proc.returncode == 1
    assert proc.stderr == "error: cannot write the output: Bad file descriptor\n"
    if command == "compile":
        assert (tmp_path / "out" / "tiny.py").exists()


@pytest.mark.parametrize("stderr", ["closed", "full"])
def test_a_warning_that_cannot_be_shown_does_not_stop_the_compile(stderr: str, tmp_path: Path) -> None:
    """`graphc compile m.nn 2>&-` (or a full disk behind stderr) of a model with a warning:
    the warning is lost, as argparse loses its messages there, and the module is written;
    before, the failed warning stopped the compile with status 1, silently, writing nothing."""
    if stderr == "full" and not os.path.exists("/dev/full"):
        pytest.skip("needs /dev/full")
    warned = VALID.replace("input x : [B, 3]\n", "input x : [B, 3]\ninput t : [B]\n").replace(
        "mean((x @ W)^2)", "mean((x @ W - t)^2)"
    )  # [B, 1] - [B]: every entry against every other, a warning
    model = write(tmp_path, warned)
    out = tmp_path / "out"
    with open("/dev/full" if stderr == "full" else os.devnull, "w") as target:
        proc = subprocess.run(
            [sys.executable, "-m", "graphc", "compile", str(model), "-o", str(out), "--no-render"],
            stdout=subprocess.PIPE,
            stderr=target,
            text=True,
            preexec_fn=(lambda: os.close(2)) if stderr == "closed" else None,
        )
    assert (proc.returncode, proc.stdout) == (0, f"wrote {out / 'tiny.py'}\n")
    assert (out / "tiny.py").exists()
    proc = subprocess.run([sys.executable, "-m", "graphc", "check", str(model)], capture_output=True, text=True)
    assert ": warning: " in proc.stderr  # (the model does warn)


def test_a_reader_that_leaves_early_stops_the_command_as_it_stops_any_tool(tmp_path: Path) -> None:
    """`graphc check big.nn | head -1`: the summary runs past what the pipe holds; the reader
    leaving ends graphc silently with 141 (128 + SIGPIPE), as it ends `yes | head`."""
    model = tmp_path / "big.nn"
    values = "".join(f"value_number_{i} = w * {i}\n" for i in range(3000))
    model.write_text(f"param w : [3]\n{values}loss = sum(w)\nminimize loss\n")
    proc = subprocess.Popen(
        [sys.executable, "-m", "graphc", "check", str(model)], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    assert proc.stdout.readline() == b"model big: OK\n"
    proc.stdout.close()
    assert proc.wait(timeout=60) == 141
    assert proc.stderr.read() == b""


def test_ctrl_c_is_a_word_not_a_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import graphc.cli

    def interrupted(args):
        raise KeyboardInterrupt

    monkeypatch.setattr(graphc.cli, "cmd_check", interrupted)
    assert main(["check", str(write(tmp_path, VALID))]) == 130
    assert capsys.readouterr().err == "graphc: interrupted\n"


@pytest.mark.parametrize(
    "options, said",
    [
        (["-o", ""], "argument -o: expected a folder name, got an empty one"),
        (
            ["-o", "out/tiny.py"],
            "argument -o: DIR is the folder NAME.py is written to, not the module's file; give out",
        ),
        (["-o", "tiny.py"], "argument -o: DIR is the folder NAME.py is written to, not the module's file; give ."),
        (["--no-render", "--format", "png"], "--format png chooses the pictures' format, and --no-render draws none"),
    ],
)
def test_options_that_cannot_mean_anything_are_command_line_mistakes(
    options: list[str], said: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as e:
        main(["compile", str(write(tmp_path, VALID)), *options])
    assert e.value.code == 2
    assert said in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.nn"]


def test_an_existing_folder_named_like_a_module_is_an_output_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "v1.py").mkdir()
    assert main(["compile", str(write(tmp_path, VALID)), "-o", str(tmp_path / "v1.py"), "--no-render"]) == 0
    assert (tmp_path / "v1.py" / "tiny.py").is_file()


def test_a_misspelled_name_in_a_long_loop_is_one_error_found_fast(tmp_path: Path) -> None:
    """The passes' errors at one place fold into one, so no error cap ends the loop early:
    each later pass must not search every name for a suggestion again (quadratic: 5,000
    passes took minutes, 10,000 would take seven). A generous limit: this guards against a
    hang, not a speed."""
    n = 10_000
    text = f"dim B\ninput x : [B, 2]\nh = x\nfor i in 1..{n} {{\n  param W{{i}} : [2, 2]\n  h = h @ Wt{{i}}\n}}\n"
    path = write(tmp_path, text + "loss = sum(h)\nminimize loss\n")
    proc = subprocess.run(
        [sys.executable, "-m", "graphc", "check", str(path)], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 1
    assert proc.stderr.count("error:") == 1
    assert f"it fails there on {n - 1:,} more passes too" in proc.stderr


def test_a_fn_with_an_unknown_name_called_in_a_long_loop_is_reported_once_fast(tmp_path: Path) -> None:
    """The fn's unknown name is reported where the fn is declared; the calls on each pass must
    not search 5,000 names for a suggestion again (75 s before). A guard against a hang."""
    consts = "".join(f"const C{i} = {i}\n" for i in range(5_000))
    text = f"param x : [3]\n{consts}fn f(a) = a * Qzz\nh = x\nfor i in 1..5000 {{\n  h = h + f(x)\n}}\n"
    path = write(tmp_path, text + "loss = sum(h)\nminimize loss\n")
    proc = subprocess.run(
        [sys.executable, "-m", "graphc", "check", str(path)], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 1
    assert proc.stderr.count("error:") == 1 and "unknown name 'Qzz'" in proc.stderr


def _files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


@pytest.mark.skipif(not hasattr(signal, "SIGHUP"), reason="needs POSIX signals")
def test_ctrl_c_between_the_renames_leaves_no_mix_of_two_compiles(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ctrl-C after the first file is renamed into place: the folder holds either the old
    compile or the new one, never the new module beside the old pictures."""
    old, new = write(tmp_path, VALID, "old.nn"), write(tmp_path, VALID.replace("3", "2"), "new.nn")
    out, fresh = tmp_path / "out", tmp_path / "fresh"
    assert main(["compile", str(old), "-o", str(out)]) == 0
    assert main(["compile", str(new), "-o", str(fresh)]) == 0
    capsys.readouterr()
    real = os.replace

    def replace(src, dst):
        real(src, dst)
        os.kill(os.getpid(), signal.SIGINT)  # the user presses Ctrl-C now

    monkeypatch.setattr(os, "replace", replace)
    before = signal.signal(
        signal.SIGINT, signal.default_int_handler
    )  # as in a terminal, even where run in the background
    try:
        assert main(["compile", str(new), "-o", str(out)]) == 130
    finally:
        signal.signal(signal.SIGINT, before)
        monkeypatch.undo()
    assert capsys.readouterr().err == "graphc: interrupted\n"
    assert _files(out) == _files(fresh)


@pytest.mark.skipif(sys.platform == "win32", reason="needs POSIX file locks")
def test_two_compiles_writing_one_folder_at_once_do_not_mix(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A second compile (of a changed model, --no-render) that starts writing while the first
    is between its renames waits for it, then replaces all of it: the folder ends as the
    second alone would leave it, not its module beside the first one's pictures and page."""
    old, new = write(tmp_path, VALID, "old.nn"), write(tmp_path, VALID.replace("3", "2"), "new.nn")
    out, fresh = tmp_path / "out", tmp_path / "fresh"
    assert main(["compile", str(new), "-o", str(fresh), "--no-render"]) == 0
    second = (  # says when it asks for the lock, so the first knows it is waiting there
        "import fcntl, sys\n"
        "real = fcntl.flock\n"
        "def flock(fd, operation):\n"
        "    print('locking', file=sys.stderr, flush=True)\n"
        "    return real(fd, operation)\n"
        "fcntl.flock = flock\n"
        "from graphc.cli import main\n"
        "sys.exit(main(sys.argv[1:]))\n"
    )
    started: list[subprocess.Popen] = []
    real = os.replace

    def replace(src, dst):
        real(src, dst)
        if not started:  # after the first file is in place, the other compile starts writing
            started.append(
                subprocess.Popen(
                    [sys.executable, "-c", second, "compile", str(new), "-o", str(out), "--no-render"],
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    text=True,
                    cwd=Path(graphc.__file__).parent.parent,
                )
            )
            started[0].stderr.readline()  # 'locking', or the end: it never asked and has written

    monkeypatch.setattr(os, "replace", replace)
    try:
        assert main(["compile", str(old), "-o", str(out)]) == 0
    finally:
        monkeypatch.undo()
    other = started[0]
    _, err = other.communicate(timeout=60)
    assert other.returncode == 0, err
    assert _files(out) == _files(fresh)


@pytest.mark.skipif(not hasattr(signal, "SIGHUP"), reason="needs POSIX signals")
def test_kill_while_writing_leaves_no_temporary_files(tmp_path: Path) -> None:
    """`kill` (SIGTERM) or a closed terminal (SIGHUP) while the files are staged waits for the
    writing to end, then stops the command as Ctrl-C does: the folder holds all of the new
    compile, and no temporary. One of them ignored (as under nohup) does not hide the other."""
    old, new = write(tmp_path, VALID, "old.nn"), write(tmp_path, VALID.replace("3", "2"), "new.nn")
    out, fresh = tmp_path / "out", tmp_path / "fresh"
    assert main(["compile", str(new), "-o", str(fresh), "--no-render"]) == 0
    for sent, ignored in (["SIGTERM"], None), (["SIGHUP"], None), (["SIGHUP", "SIGTERM"], "SIGHUP"):
        assert main(["compile", str(old), "-o", str(out), "--no-render"]) == 0
        assert _files(out) != _files(fresh)
        killed_while_staging = (
            "import os, signal, sys, tempfile\n"
            "from graphc.cli import main\n"
            "real = tempfile.mkstemp\n"
            "def mkstemp(*a, **k):\n"
            "    made = real(*a, **k)\n"
            + "".join(f"    os.kill(os.getpid(), signal.{name})\n" for name in sent)
            + "    return made\n"
            "tempfile.mkstemp = mkstemp\n"
            "signal.signal(signal.SIGTERM, signal.SIG_DFL)\n"  # as they are unless run under nohup
            "signal.signal(signal.SIGHUP, signal.SIG_DFL)\n"
            + (f"signal.signal(signal.{ignored}, signal.SIG_IGN)\n" if ignored else "")
            + "sys.exit(main(sys.argv[1:]))\n"
        )
        proc = subprocess.run(
            [sys.executable, "-c", killed_while_staging, "compile", str(new), "-o", str(out), "--no-render"],
            capture_output=True,
            text=True,
            cwd=Path(graphc.__file__).parent.parent,
        )
        assert proc.returncode == 128 + getattr(signal, sent[-1]), (sent, proc.stderr)
        assert proc.stderr == "graphc: terminated\n"
        assert _files(out) == _files(fresh)


def test_a_name_of_100000_characters_is_quoted_by_its_ends(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The source line is shown as a window; the message's quote of the name is cut the same
    way, so one mistake is not 100 KB of output."""
    name = "v" + "x" * 100_000 + "yz"
    path = write(tmp_path, f"param w : [3]\nloss = sum(w * {name})\nminimize loss\n")
    assert main(["check", str(path)]) == 1
    err = capsys.readouterr().err
    assert len(err) < 2_000
    assert f"error: unknown name '{name[:40]}...{name[-10:]}'\n" in err


def test_threads_lowering_at_once_share_one_raise_of_the_recursion_limit() -> None:
    """The recursion limit is the process's: a thread that finished lowering put back the
    usual 1,000 frames under one still lowering a deep model, which then failed as 'nests
    too deeply once its fn calls are inlined', and the last left the limit raised."""
    from graphc.lower import lower
    from graphc.parser import parse

    deep = parse(
        "param w : []\nh = w\nfor i in 1..60 {\n  h = " + "tanh(" * 400 + "h" + ")" * 400 + "\n}\nminimize h\n", "d.nn"
    )
    small = parse("param w : []\nh = w\nfor i in 1..3000 {\n  h = h * 0.5 + w\n}\nminimize h\n", "s.nn")
    before = sys.getrecursionlimit()
    failures: list[BaseException] = []

    def run(program) -> None:
        try:
            lower(program)
        except BaseException as e:  # noqa: BLE001 - any failure of the thread is the test's
            failures.append(e)

    try:
        sys.setrecursionlimit(1000)
        for _ in range(3):
            threads = [threading.Thread(target=run, args=(p,)) for p in (small, deep, small)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
        assert not failures, failures
        assert sys.getrecursionlimit() == 1000
    finally:
        sys.setrecursionlimit(before)
