"""The documentation shows what graphc does.

Every model in the docs passes `graphc check`; the summaries and errors the docs
print are printed as shown; the excerpts of the generated module stand in the
module graphc writes for examples/regression.nn; and the Python the docs run
prints and raises what the docs say it does.
"""

from __future__ import annotations

import contextlib
import io
import re
import sys
import textwrap
import types
import warnings
from pathlib import Path

import numpy as np
import pytest

from graphc.cli import main
from graphc.pipeline import compile_text

ROOT = Path(__file__).resolve().parent.parent
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
GUIDE = ROOT / "docs" / "generated-module.md"
REGRESSION = "examples/regression.nn"  # as the docs' commands name it, from the repository root


def fenced(path: Path) -> list[tuple[str, str, int, int]]:
    """The fenced blocks of a markdown file: (language, dedented text, first line, offset)."""
    text = path.read_text()
    found = []
    for m in re.finditer(r"^( *)```(\w*)\n(.*?)^\1```$", text, re.M | re.S):
        found.append((m.group(2), textwrap.dedent(m.group(3)), text.count("\n", 0, m.start()) + 1, m.start()))
    return found


def block_after(path: Path, words: str) -> tuple[str, int]:
    """The first fenced block after `words` in the file, and its line."""
    text = path.read_text()
    at = text.index(words)
    _, body, line, _ = next(b for b in fenced(path) if b[3] > at)
    return body, line


# a whole model has an objective; a fragment (lines put in for others) does not
MODELS = [
    (path, line, body)
    for path in DOCS
    for lang, body, line, _ in fenced(path)
    if lang == "nn" and re.search(r"^minimize ", body, re.M)
]


def test_the_docs_show_models() -> None:
    assert len(MODELS) >= 15


@pytest.mark.parametrize("path, line, body", MODELS, ids=[f"{p.name}:{n}" for p, n, _ in MODELS])
def test_every_model_in_the_docs_checks(path, line, body, tmp_path, capsys) -> None:
    model = tmp_path / "model.nn"
    model.write_text(body)
    status = main(["check", str(model)])
    assert status == 0, f"{path.name}:{line}: {capsys.readouterr().err}"


def run_check(path: Path, monkeypatch, capsys) -> tuple[int, str, str]:
    monkeypatch.chdir(path.parent)
    status = main(["check", path.name])
    out, err = capsys.readouterr()
    return status, out, err


def test_the_language_guides_mistakes_are_reported_as_shown(tmp_path, monkeypatch, capsys) -> None:
    guide = ROOT / "docs" / "language.md"
    source, _ = block_after(guide, "Given this file")
    shown, _ = block_after(guide, "`graphc check mistakes.nn` prints")
    (tmp_path / "mistakes.nn").write_text(source)
    status, out, err = run_check(tmp_path / "mistakes.nn", monkeypatch, capsys)
    assert (status, out, err) == (1, "", shown)


def test_the_language_guides_broadcast_warning_is_printed_as_shown(tmp_path, monkeypatch, capsys) -> None:
    guide = ROOT / "docs" / "language.md"
    source, _ = block_after(guide, "`graphc check model.nn`\non this model")
    shown, _ = block_after(guide, "warns, and then prints its summary")
    (tmp_path / "model.nn").write_text(source)
    status, out, err = run_check(tmp_path / "model.nn", monkeypatch, capsys)
    assert (status, err) == (0, shown)
    assert "  diff   [B, B]       line 7" in out


def test_the_language_guides_summary_is_printed_as_shown(monkeypatch, capsys) -> None:
    shown, _ = block_after(ROOT / "docs" / "language.md", "`examples/linear_regression.nn`:")
    monkeypatch.chdir(ROOT)
    assert main(["check", "examples/linear_regression.nn"]) == 0
    assert capsys.readouterr().out == shown


def test_the_language_guides_gradcheck_is_printed_as_shown(monkeypatch, capsys) -> None:
    """All but the error digits, which round-off may change from one machine to another."""
    shown, _ = block_after(ROOT / "docs" / "language.md", "### `graphc gradcheck MODEL.nn [options]`")
    monkeypatch.chdir(ROOT)
    assert main(["gradcheck", REGRESSION]) == 0
    printed = capsys.readouterr().out

    def steady(text: str) -> list[str]:
        return [re.sub(r"\d\.\d\de-1\d|\d\.\de-1\d", "#", line) for line in text.splitlines()]

    assert steady(printed) == steady(shown)


def test_the_readmes_mistakes_are_reported_as_shown(tmp_path, monkeypatch, capsys) -> None:
    """The README's variant of the tour model: its lines put in for those of the same name."""
    readme = ROOT / "README.md"
    changed, _ = block_after(readme, "Mistakes are reported")
    shown, _ = block_after(readme, "`graphc check examples/regression.nn` would print")
    lines = (ROOT / REGRESSION).read_text().splitlines()
    for new in changed.splitlines():
        name = new.split("=")[0].strip()
        (at,) = [i for i, old in enumerate(lines) if old.split("=")[0].strip() == name]
        lines[at] = new
    (tmp_path / "examples").mkdir()
    (tmp_path / REGRESSION).write_text("\n".join(lines) + "\n")
    monkeypatch.chdir(tmp_path)
    assert main(["check", REGRESSION]) == 1
    out, err = capsys.readouterr()
    assert (out, err) == ("", shown)
    assert err.count(": error: ") >= 2, "the README says the mistakes come all at once"


# ---------------------------------------------------------------- the generated module's guide


def regression_source(opt: int) -> str:
    return compile_text((ROOT / REGRESSION).read_text(), REGRESSION, opt=opt).source


def occurs(chunk: list[str], lines: list[str]) -> bool:
    """Whether the chunk's lines stand together in `lines`, each indented by one same amount more."""
    first = chunk[0].lstrip()
    for i, line in enumerate(lines):
        if line.lstrip() != first or i + len(chunk) > len(lines):
            continue
        indent = " " * (len(line) - len(first) - (len(chunk[0]) - len(first)))
        if all(lines[i + k] == (indent + c if c else "") for k, c in enumerate(chunk)):
            return True
    return False


EXCERPT_STARTS = ('"""regression', "def ", "# line ", "# backprop ")
EXCERPTS = [
    (line, body) for lang, body, line, _ in fenced(GUIDE) if lang == "python" and body.startswith(EXCERPT_STARTS)
]


def test_the_guide_shows_excerpts() -> None:
    assert len(EXCERPTS) >= 6


@pytest.mark.parametrize("line, body", EXCERPTS, ids=[f"line {n}" for n, _ in EXCERPTS])
def test_each_excerpt_stands_in_the_generated_module(line, body) -> None:
    """An excerpt is runs of the module's lines, `...` between them; the guide quotes -O2, and -O0 once."""
    modules = [regression_source(2).splitlines(), regression_source(0).splitlines()]
    chunks = [c.strip("\n").split("\n") for c in re.split(r"^ *\.\.\.\n", body, flags=re.M)]
    for chunk in chunks:
        assert any(occurs(chunk, m) for m in modules), f"guide line {line}: not in the module:\n" + "\n".join(chunk)


def test_the_table_quotes_lines_of_the_module() -> None:
    text = GUIDE.read_text()
    table = text[text.index("| line | chain-rule step |") :].split("\n\n")[0]
    quoted = re.findall(r"^\| `([^`]*)`", table, re.M)
    source = regression_source(2)
    assert len(quoted) >= 4
    for code in quoted:
        assert code.rstrip(".) ") in source, code


@pytest.fixture
def guide_namespace(tmp_path, monkeypatch) -> dict:
    """A namespace to run the docs' Python in, from a folder whose build/ holds the module, as
    after the README's `graphc compile examples/regression.nn -o build`."""
    build = tmp_path / "build"
    build.mkdir()
    (build / "regression.py").write_text(regression_source(2))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", list(sys.path))
    monkeypatch.delitem(sys.modules, "regression", raising=False)
    return {}


def guide_python(words: str) -> str:
    return block_after(GUIDE, words)[0]


def run(code: str, namespace: dict) -> str:
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(compile(code, str(GUIDE), "exec"), namespace)
    return printed.getvalue()


def test_the_training_loop_prints_what_the_guide_shows(guide_namespace) -> None:
    printed = run(guide_python("### A training loop"), guide_namespace)
    assert printed == block_after(GUIDE, "\nprints\n")[0]


def test_the_gradient_check_prints_what_the_guide_shows(guide_namespace) -> None:
    run(guide_python("### A training loop"), guide_namespace)
    code = guide_python("### Checking a gradient")
    printed = run(code, guide_namespace).split()
    promised = re.search(r"# for fresh params: (\S+) (\S+)", code).groups()
    assert len(printed) == 2
    np.testing.assert_allclose([float(p) for p in printed], [float(p) for p in promised], rtol=1e-8)


def test_the_bad_calls_raise_what_the_guide_shows(guide_namespace) -> None:
    run(guide_python("### A training loop"), guide_namespace)
    shown = block_after(GUIDE, "### Checks on every call")[0]
    calls = re.findall(r"^>>> (.*)\nValueError: (.*)$", shown, re.M)
    assert len(calls) == 2
    for call, message in calls:
        with pytest.raises(ValueError) as e:
            eval(call, guide_namespace)
        assert str(e.value) == message


def test_the_readmes_python_runs(guide_namespace) -> None:
    """The README's snippet, with the module where `graphc compile ... -o build` puts it."""
    (code,) = [body for lang, body, _, _ in fenced(ROOT / "README.md") if lang == "python"]
    run(code, guide_namespace)
    m, x, y = guide_namespace["m"], guide_namespace["x"], guide_namespace["y"]
    assert guide_namespace["grads"]["W1"].shape == (3, 4)
    assert guide_namespace["loss"] < m.loss(m.init_params(seed=0), x=x, y=y)


@pytest.mark.parametrize("doc", [ROOT / "README.md", GUIDE], ids=["README", "guide"])
def test_the_listed_regression_model_is_the_example_file(doc) -> None:
    """Both listings leave out the file's header comment and nothing else."""
    text = (ROOT / REGRESSION).read_text()
    (listing,) = [body for lang, body, _, _ in fenced(doc) if lang == "nn" and body.startswith("model regression")]
    assert listing == text[text.index("model regression") :]


def test_the_guides_workspace_count_is_the_modules() -> None:
    guide = " ".join(GUIDE.read_text().split())
    arrays, whole = map(int, re.search(r"computes in (\d+) arrays \(its workspace has (\d+)", guide).groups())
    most, every = map(int, re.search(r"\(`sgd_step`'s (\d+) here, not the (\d+) of all four\)", guide).groups())
    source = regression_source(2)
    made = source[source.index("def _workspace_arrays") :].split("\n\n\n")[0]
    rows = re.findall(r"# ws\[\d+\]: (.*)", made)
    assert (len(rows), len([r for r in rows if not r.endswith("read only")])) == (whole, arrays)
    step = source[source.index("def sgd_step") :]
    for quoted in re.findall(r"\(`(ones = ws\[\d+\])`, then `(d_b1 = .*?)`", guide)[0]:
        assert f"    {quoted}\n" in step, quoted
    pool = compile_text((ROOT / REGRESSION).read_text(), REGRESSION).pool
    assert (len(pool.plans["sgd_step"].buffers), sum(len(p.buffers) for p in pool.plans.values())) == (most, every)


def test_the_guides_learning_rates_are_taken_and_refused_as_it_says() -> None:
    """The learning rates the guide's checks name as fine are taken; those it says raise TypeError do."""
    guide = " ".join(GUIDE.read_text().split())
    said = guide[guide.index("`sgd_step`'s `lr` one real number") :].split("raises `TypeError`")[0]
    fine, refused = said.split("`None`")
    model, x, y = types.ModuleType("regression"), np.ones((4, 3)), np.ones((4, 1))
    exec(compile(regression_source(2), "regression.py", "exec"), model.__dict__)
    assert "np.array(0.1)" in fine and "np.array([0.1])" in refused
    for shown in re.findall(r"`(np\.[^`]*)`", fine):
        assert np.isfinite(model.sgd_step(model.init_params(), eval(shown), x=x, y=y)), shown
    for shown in re.findall(r"`(np\.[^`]*)`", refused):
        with pytest.raises(TypeError):
            model.sgd_step(model.init_params(), eval(shown), x=x, y=y)


def test_the_language_guides_first_model_returns_what_the_guide_shows() -> None:
    guide = ROOT / "docs" / "language.md"
    model, _ = block_after(guide, "## 1. A first model")
    text = " ".join(guide.read_text().split())
    shown = re.search(r"`loss_and_grad\(init_params\(\)\)` returns `(.*?)`", text).group(1)
    module = types.ModuleType("first")
    exec(compile(compile_text(model, "first.nn").source, "first.py", "exec"), module.__dict__)
    assert repr(module.loss_and_grad(module.init_params())) == shown


# ---------------------------------------------------------------- the language guide's smaller claims

# models whose lines are those the guide's error examples quote, at the lines they quote
ERROR_MODELS = {
    "unclosed.nn": "param x : []\ny = (2 * x\nminimize y\n",
    "fnscope.nn": (
        "dim B\ninput x : [B, 3]\nparam weights : [3, 3]\nfn layer(a) = tanh(a @ weights)\n"
        "h = layer(x)\nloss = sum(h)\nminimize loss\n"
    ),
    "fnerr.nn": "dim B\ninput x : [B, 3]\nparam W : [4, 4]\nfn dense(a, M) = a @ M\nh = dense(x, W)\nloss = sum(h)\nminimize loss\n",
    "loopname.nn": (
        "dim B\ninput x : [B, 4]\nh = x\nfor i in 1..60 {\n  param W{i} : [4, 4]\n  h = tanh(h @ Wt{i})\n}\n"
        "loss = sum(h)\nminimize loss\n"
    ),
    "objective.nn": "dim B\ninput x : [B, 3]\nparam W : [3, 2]\nh = x @ W\nminimize h\n",
}


def shown_errors(path: Path) -> dict[str, str]:
    """The guide's text blocks that show an error, by the file they name."""
    found = {}
    for lang, body, _, _ in fenced(path):
        named = re.match(r"(\w+\.nn):\d+:\d+: error: ", body)
        if lang == "text" and named:
            found[named.group(1)] = body
    return found


def test_the_language_guides_error_examples_are_reported_as_shown(tmp_path, monkeypatch, capsys) -> None:
    shown = shown_errors(ROOT / "docs" / "language.md")
    assert set(shown) - {"mistakes.nn"} == set(ERROR_MODELS), "a model for every example, and only those"
    for name, source in ERROR_MODELS.items():
        (tmp_path / name).write_text(source)
        assert run_check(tmp_path / name, monkeypatch, capsys) == (1, "", shown[name]), name


def test_the_precedence_examples_have_the_values_their_comments_give() -> None:
    guide = ROOT / "docs" / "language.md"
    model, _ = block_after(guide, "Some consequences worth knowing")
    said = dict(re.findall(r"^(\w) = .*# (-?[\d.]+)", model, re.M))
    assert len(said) == 6
    text = model + f"output {', '.join(said)}\n"
    module = types.ModuleType("precedence")
    exec(compile(compile_text(text, "precedence.nn").source, "precedence.py", "exec"), module.__dict__)
    values = module.forward({}, x=2.0)
    assert {name: float(v) for name, v in zip(said, values)} == {name: float(v) for name, v in said.items()}


def test_the_fan_rule_of_the_initializers_is_the_modules() -> None:
    """`fan_out` the last size, `fan_in` the product of the others; a vector's both n, a scalar's both 1;
    random params drawn from one generator seeded with `seed`, in declaration order."""
    text = (
        "param a : [2, 3, 5] = glorot\nparam b : [4] = he\nparam z : [3]\nparam c : [] = glorot\n"
        "param d : [] = he\nparam e : [6] = glorot\nparam f : [3, 7] = he\n"
        "loss = sum(a) + sum(b) + sum(z) + c + d + sum(e) + sum(f)\nminimize loss\n"
    )
    module = types.ModuleType("fans")
    exec(compile(compile_text(text, "fans.nn").source, "fans.py", "exec"), module.__dict__)
    rng = np.random.default_rng(7)
    want = {
        "a": rng.uniform(-np.sqrt(6 / (6 + 5)), np.sqrt(6 / (6 + 5)), size=(2, 3, 5)),
        "b": rng.normal(0, np.sqrt(2 / 4), size=(4,)),
        "z": np.zeros(3),
        "c": rng.uniform(-np.sqrt(6 / 2), np.sqrt(6 / 2), size=()),
        "d": rng.normal(0, np.sqrt(2 / 1), size=()),
        "e": rng.uniform(-np.sqrt(6 / 12), np.sqrt(6 / 12), size=(6,)),
        "f": rng.normal(0, np.sqrt(2 / 3), size=(3, 7)),
    }
    got = module.init_params(seed=7)
    assert list(got) == list(want)
    for name in want:
        np.testing.assert_allclose(got[name], want[name], rtol=1e-15, err_msg=name)


@pytest.mark.parametrize("doc", [ROOT / "docs" / "language.md", GUIDE], ids=["language", "guide"])
def test_the_label_range_message_is_the_modules(doc) -> None:
    text = " ".join(doc.read_text().split())
    ((name, classes, label),) = set(re.findall(r"`input (\w+): \1 must lie in \[0, (\d+)\), but one is (\d+)`", text))
    source = f"dim B\nconst K = {classes}\ninput z : [B, K]\ninput {name} : int[B]\n"
    source += f"loss = mean(cross_entropy(z, {name}))\nminimize loss wrt z\n"
    module = types.ModuleType("labels")
    exec(compile(compile_text(source, "labels.nn").source, "labels.py", "exec"), module.__dict__)
    with pytest.raises(ValueError) as e:
        module.loss({}, z=np.zeros((2, int(classes))), **{name: [0, int(label)]})
    assert str(e.value) == f"input {name}: {name} must lie in [0, {classes}), but one is {label}"


def summary_rows(text: str, monkeypatch, capsys, tmp_path) -> tuple[int, str]:
    (tmp_path / "model.nn").write_text(text)
    status, out, _ = run_check(tmp_path / "model.nn", monkeypatch, capsys)
    return status, out


def test_the_broadcasting_table_is_the_checkers(tmp_path, monkeypatch, capsys) -> None:
    text = (ROOT / "docs" / "language.md").read_text()
    table = text[text.index("| left | right | result |") :].split("\n\n")[0]
    rows = re.findall(r"^\| `(\[.*?\])` \| `(\[.*?\])` \| (`\[.*?\]`|error)", table, re.M)
    assert len(rows) == 6
    for left, right, result in rows:
        model = f"dim B, T\ninput a : {left}\ninput b : {right}\nc = a + b\nloss = sum(c)\nminimize loss wrt a\n"
        status, out = summary_rows(model, monkeypatch, capsys, tmp_path)
        if result == "error":
            assert status == 1, (left, right)
        else:
            assert status == 0 and re.search(rf"^  c +{re.escape(result.strip('`'))} +line 4$", out, re.M), (
                left,
                right,
            )


def test_the_reduction_shapes_are_the_checkers(tmp_path, monkeypatch, capsys) -> None:
    text = " ".join((ROOT / "docs" / "language.md").read_text().split())
    said = text[text.index("For `x : [B, T, 4]`:") :].split(", which broadcasts")[0]
    pairs = re.findall(r"`(\w+\(x[^`]*\))` is `(\[[^`]*\])`", said)
    assert len(pairs) == 4
    lines = [f"v{k} = {call}" for k, (call, _) in enumerate(pairs)]
    model = "dim B, T\ninput x : [B, T, 4]\n" + "\n".join(lines) + "\nloss = sum(x)\nminimize loss wrt x\n"
    status, out = summary_rows(model, monkeypatch, capsys, tmp_path)
    assert status == 0
    for k, (call, shape) in enumerate(pairs):
        assert re.search(rf"^  v{k} +{re.escape(shape)} +line {k + 3}$", out, re.M), call


def test_the_summarys_row_for_a_rebound_loop_name_is_as_shown(monkeypatch, capsys) -> None:
    text = " ".join((ROOT / "docs" / "language.md").read_text().split())
    row, example = re.search(r"as `(h \[B, \w+\] line \d+ \(x\d+\))` for `(examples/\w+\.nn)`", text).groups()
    monkeypatch.chdir(ROOT)
    assert main(["check", example]) == 0
    printed = [" ".join(line.split()) for line in capsys.readouterr().out.splitlines()]
    assert row in printed


def test_the_guides_in_memory_compile_runs(guide_namespace, monkeypatch) -> None:
    run(guide_python("### A training loop"), guide_namespace)
    monkeypatch.chdir(ROOT)  # the path it names is the repository's
    printed = run(guide_python("### Without writing files"), guide_namespace)
    assert printed == regression_source(2)[:60] + "\n"
    assert isinstance(guide_namespace["value"], float) and set(guide_namespace["grads"]) == {"W1", "b1", "W2", "b2"}


def test_a_scalar_output_comes_as_the_guide_says() -> None:
    """A NumPy scalar of DTYPE, as `np.float64(0.5)`; a scalar gradient stays a 0-d array (section 1)."""
    text = " ".join((ROOT / "docs" / "language.md").read_text().split())
    assert "a scalar output (shape `[]`) comes as a NumPy scalar of `DTYPE`, such as `np.float64(0.5)`" in text
    source = "input x : []\nparam w : [] = const(0.25)\ns = w * x\noutput s, w\nminimize s\n"
    for dtype in ("float64", "float32"):
        for opt in (0, 1, 2):
            module = types.ModuleType("scalars")
            exec(compile(compile_text(source, "scalars.nn", dtype, opt).source, "scalars.py", "exec"), module.__dict__)
            params = module.init_params()
            s, w = module.forward(params, x=2.0)
            assert type(s) is type(w) is module.DTYPE and s == 0.5 and w == 0.25, (dtype, opt)
            assert type(module.loss_and_grad(params, x=2.0)[1]["w"]) is np.ndarray, (dtype, opt)


def headings(path: Path) -> set[str]:
    """The anchors GitHub gives the file's headings (fenced blocks left out)."""
    text = re.sub(r"^( *)```.*?^\1```$", "", path.read_text(), flags=re.M | re.S)
    return {re.sub(r"[^\w\- ]", "", h.strip().lower()).replace(" ", "-") for h in re.findall(r"^#+ (.*)$", text, re.M)}


@pytest.mark.parametrize("doc", DOCS, ids=[p.name for p in DOCS])
def test_the_docs_links_lead_somewhere(doc) -> None:
    links = re.findall(r"\]\(([^)\s]*)\)", doc.read_text())
    assert links
    for link in links:
        path, _, anchor = link.partition("#")
        target = doc.parent / path if path else doc
        assert target.exists(), link
        assert not anchor or anchor in headings(target), link


def test_the_guides_scratch_listing_is_the_logistic_examples() -> None:
    """The guide quotes softplus's scratch array as the logistic_regression example's workspace
    lists it (it quoted `# ws[3]: t_3's scratch`, a row no example has)."""
    guide = " ".join(GUIDE.read_text().split())
    (quoted,) = re.findall(r"lists as `(# ws\[\d+\]: [^`]*scratch[^`]*)`", guide)
    path = ROOT / "examples" / "logistic_regression.nn"
    source = compile_text(path.read_text(), path.name).source
    made = source[source.index("def _workspace_arrays") :].split("\n\n\n")[0]
    assert f"  {quoted}\n" in made, (quoted, made)


def test_the_builtins_the_language_guide_lists_are_the_compilers() -> None:
    """Section 10 names every builtin function in the first column of its tables or in its prose as
    `name(`, and no function the compiler lacks (`sign(x)` stands only in a derivative column)."""
    from graphc.ops import BUILTINS

    text = (ROOT / "docs" / "language.md").read_text()
    section = text[text.index("## 10. Builtin functions") : text.index("## 11. Errors")]
    called = set(re.findall(r"`(\w+)\(", section))
    first_cells = set(re.findall(r"^\| `(\w+)[(`]", section, re.M))
    assert set(BUILTINS) <= called, sorted(set(BUILTINS) - called)
    assert first_cells <= set(BUILTINS) | {"keepdims", "axis"}, sorted(first_cells - set(BUILTINS))


def test_the_outer_product_labels_are_drawn_as_the_guide_says() -> None:
    """`u ⊗` back to the matrix of `u @ M`, `⊗ u` back to that of `M @ u`."""
    import graphc

    text = " ".join((ROOT / "docs" / "language.md").read_text().split())
    assert "`u ⊗` for `u @ M`, `⊗ u` for `M @ u`" in text
    for expr, label in (("u @ M", "u ⊗"), ("M @ u", "⊗ u")):
        model = graphc.compile_source(f"param u : [3]\nparam M : [3, 3]\nloss = sum({expr})\nminimize loss\n")
        labels = re.findall(r'label="([^"]*)"', model.backward_picture.source)
        assert label in labels, (expr, labels)


def test_an_embedding_of_sequences_is_a_lookup_too() -> None:
    """The guide: `one_hot(tokens, V) @ E` on `int[B]` tokens is compiled as `np.take`, and so is
    `reshape(one_hot(tokens, V), [B*T, V]) @ E` on `int[B, T]` tokens, with the same values."""
    text = " ".join((ROOT / "docs" / "language.md").read_text().split())
    assert "is embedded as `reshape(one_hot(tokens, V), [B*T, V]) @ E`" in text
    head = "dim B, T\nconst V = 7\nparam E : [V, 3]\n"
    one_axis = compile_text(
        head + "input tokens : int[B]\ne = one_hot(tokens, V) @ E\nloss = sum(e^2)\nminimize loss\n", "a.nn"
    )
    two_axes = compile_text(
        head
        + "input tokens : int[B, T]\ne = reshape(one_hot(tokens, V), [B*T, V]) @ E\nloss = sum(e^2)\nminimize loss\n",
        "b.nn",
    )
    assert "np.take(E, tokens" in one_axis.source and "_one_hot(" not in one_axis.source
    assert "np.take(E, tokens" in two_axes.source and "_one_hot(" not in two_axes.source
    modules = []
    for compiled in (one_axis, two_axes):
        module = types.ModuleType("embedding")
        exec(compile(compiled.source, "embedding.py", "exec"), module.__dict__)
        modules.append(module)
    tokens = np.array([[0, 6, 2], [2, 2, 5]])
    params = modules[0].init_params(seed=3)
    flat_value, flat_grads = modules[0].loss_and_grad(params, tokens=tokens.reshape(-1))
    value, grads = modules[1].loss_and_grad(params, tokens=tokens)
    np.testing.assert_allclose(value, flat_value, rtol=1e-12)
    np.testing.assert_allclose(grads["E"], flat_grads["E"], rtol=1e-12)


def test_labels_named_in_an_output_come_back_as_int64() -> None:
    text = " ".join((ROOT / "docs" / "language.md").read_text().split())
    assert "`forward` returns their values as int64 whatever integer dtype came in" in text
    source = "dim B\ninput z : [B, 3]\ninput y : int[B]\nlab = y\nloss = mean(cross_entropy(z, y))\n"
    source += "output lab, y\nminimize loss wrt z\n"
    for opt in (0, 1, 2):
        module = types.ModuleType("labels_out")
        exec(compile(compile_text(source, "labels_out.nn", opt=opt).source, "labels_out.py", "exec"), module.__dict__)
        given = np.array([2, 0, 1], dtype=np.uint8)
        for back in module.forward({}, z=np.zeros((3, 3)), y=given):
            assert back.dtype == np.int64 and back.tolist() == [2, 0, 1], opt


def test_the_guides_header_count_is_the_example_files() -> None:
    """The guide lists regression.nn without its header comment, whose lines it counts."""
    guide = " ".join(GUIDE.read_text().split())
    said, more = re.search(r"without its (\d+)-line header comment: .*? (\d+) more than here", guide).groups()
    lines = (ROOT / REGRESSION).read_text().splitlines()
    header = lines.index("model regression")
    assert int(said) == int(more) == header


def test_no_render_writes_the_module_alone(tmp_path, capsys) -> None:
    text = " ".join((ROOT / "docs" / "language.md").read_text().split())
    assert "| `--no-render` | write only `NAME.py`: no pictures, no page and no `.dot` files |" in text
    out = tmp_path / "out"
    assert main(["compile", str(ROOT / REGRESSION), "-o", str(out)]) == 0
    assert main(["compile", str(ROOT / REGRESSION), "-o", str(out), "--no-render"]) == 0
    capsys.readouterr()
    assert sorted(p.name for p in out.iterdir()) == ["regression.py"]


def test_the_guides_O1_lines_are_the_modules() -> None:
    """The -O1 lines the guide quotes inline stand in the -O1 modules of the examples it names."""
    guide = " ".join(GUIDE.read_text().split())
    said = guide[guide.index("- `-O1`: the graph simplified") : guide.index("- `-O2` (the default)")]
    folded, layer, activation = re.search(
        r"user: `(d_t = [^`]*)`.*each layer is `(t_2 = [^`]*)` then `(h_2 = [^`]*)`", said
    ).groups()
    assert f"    {folded}\n" in regression_source(1)
    path = ROOT / "examples" / "deep_tanh.nn"
    source = compile_text(path.read_text(), path.name, opt=1).source
    step = source[source.index("def loss_and_grad") : source.index("def sgd_step")]
    assert f"    {layer}\n    {activation}\n" in step
    assert re.search(r"^    d_t_2 = ", step, re.M)


def test_a_braced_index_takes_any_whole_offset_but_no_negative_result(tmp_path, monkeypatch, capsys) -> None:
    text = " ".join((ROOT / "docs" / "language.md").read_text().split())
    assert "(`U{i-2}` is an error on the pass where `i` is 1)" in text
    body = "param w : [2]\nfor i in {lo}..3 {{\n  param U{{i-2}} : [2]\n  param V{{i+10}} : [2]\n}}\n"
    body += "loss = sum(w) + sum(U1) + sum(V13)\nminimize loss\n"
    status, _ = summary_rows(body.format(lo=2), monkeypatch, capsys, tmp_path)
    assert status == 0
    (tmp_path / "model.nn").write_text(body.format(lo=1))
    status, out, err = run_check(tmp_path / "model.nn", monkeypatch, capsys)
    assert status == 1 and "U{i-2} is 'U-1' here" in err and "when i = 1" in err, err


def test_the_summarys_columns_stay_apart_at_the_widest_shape(monkeypatch, capsys) -> None:
    """Every value row keeps two spaces between its shape and its line, the widest shape's too
    ([B, CLASSES] is wider than the column's least width)."""
    monkeypatch.chdir(ROOT)
    assert main(["check", "examples/mlp_classifier.nn"]) == 0
    rows = [r for r in capsys.readouterr().out.splitlines() if r.rstrip().split(" ")[-2:-1] == ["line"]]
    assert rows and all("]  " in r or "varies  " in r for r in rows), rows
    assert len({r.index(" line ") for r in rows}) == 1, rows


def workspace_listing(example: str) -> str:
    """The comments of an example's `_workspace_arrays`, their wrapped lines joined, one row a line."""
    path = ROOT / "examples" / f"{example}.nn"
    source = compile_text(path.read_text(), path.name).source
    made = source[source.index("def _workspace_arrays") :].split("\n\n\n")[0]
    comments = [line.split("#", 1)[1].strip() for line in made.splitlines() if "#" in line]
    return re.sub(r" (?=ws\[\d+\]:)", "\n", " ".join(comments))


def test_the_guides_workspace_rows_are_the_examples() -> None:
    """The rows the guide quotes from the mlp_classifier and deep_tanh examples' workspaces (it
    quoted `# ws[11]: sgd_step: d_W2`, which is ws[15] there)."""
    guide = " ".join(GUIDE.read_text().split())
    said = guide[guide.index("so where their lists differ") : guide.index("A buffer is handed")]
    rows = re.findall(r"`# (ws\[\d+\]: [^`]*)`", said)
    assert len(rows) == 2
    mlp = workspace_listing("mlp_classifier").splitlines()
    for row in rows:
        assert row in mlp, (row, mlp)
    (ends,) = re.findall(r"`(t \.\.\. t_\d+ \(\d+ names\))` in the deep_tanh example", said)
    assert f"forward, loss: {ends}," in workspace_listing("deep_tanh")


def test_the_reshapes_the_guide_shows_are_checked_and_shown_as_it_says(tmp_path, monkeypatch, capsys) -> None:
    """Section 10's reshapes of `[B, T, 8]`, taken or refused, and each shape as the summary shows it
    (it said `[B, -1]` is shown `[B, 8*T]`, where graphc check prints `[B, T*8]`); section 3's
    inferred sizes too."""
    text = " ".join((ROOT / "docs" / "language.md").read_text().split())
    said = text[text.index("`[B, T, 8]` can become") :].split(". The gradient")[0]
    taken, refused = said.split("but not")
    targets = re.findall(r"`(\[[^`]*\])`(?: \([^`]*`(\[[^`]*\])`\))?", taken)[1:]  # after the array's own
    cases = [(target, shown or target, "[B, T, 8]") for target, shown in targets]
    inferred = re.findall(r"`reshape\(x, (\[[^`]*\])\)` of a `(\[[^`]*\])` x is `(\[[^`]*\])`", text)
    cases += [(target, shown, x) for target, x, shown in inferred]
    assert len(cases) == 5, cases
    for target, shown, x in cases:
        body = f"dim B, T\nconst D = 16\ninput x : {x}\nv = reshape(x, {target})\nloss = sum(v)\nminimize loss wrt x\n"
        status, out = summary_rows(body, monkeypatch, capsys, tmp_path)
        assert status == 0 and re.search(rf"^  v +{re.escape(shown)} +line 4$", out, re.M), (x, target, out)
    no = re.findall(r"`(\[[^`]*\])`", refused)
    assert len(no) == 2
    for target in no:
        body = f"dim B, T\ninput x : [B, T, 8]\nv = reshape(x, {target})\nloss = sum(v)\nminimize loss wrt x\n"
        assert summary_rows(body, monkeypatch, capsys, tmp_path)[0] == 1, target


def test_the_warnings_the_language_guide_names_are_given(tmp_path, monkeypatch, capsys) -> None:
    """Section 12 names three kinds of warning; each goes to stderr, the summary is printed and the
    status is 0. A param the objective does not read is warned of at its declaration and gets zeros;
    so is an input after wrt; a param left out by wrt is not (section 4). `u.T` of a vector is
    warned of with the reshape that makes a column (section 8)."""
    text = " ".join((ROOT / "docs" / "language.md").read_text().split())
    assert "(a broadcast that pairs every entry with every other, section 9; `.T` of a vector, section 8;" in text
    assert "warn of it at its declaration" in text and "a param left out by `wrt` is not warned of" in text
    assert "They warn too of an input named after `wrt` that the objective does not read" in text
    column = re.search(r"a column is `(reshape\(u, \[3, 1\]\))`", text).group(1)
    head = "dim B\ninput x : [B, 3]\ninput y : [B]\nparam u : [3]\nparam v : [3]\n"
    cases = {
        "pairs": ("d = x @ u - reshape(y, [-1, 1])\nloss = sum(d) + sum(v)\nminimize loss\n", "6:5", "every entry"),
        "vector.T": ("loss = u @ u.T + sum(v)\nminimize loss\n", "6:12", column),
        "param": ("loss = sum(x @ u)\nminimize loss\n", "5:7", "param 'v' does not affect the objective"),
        "input": ("loss = sum(u) + sum(v)\nminimize loss wrt x, u, v\n", "2:7", "input 'x' does not affect"),
    }
    for name, (body, at, words) in cases.items():
        (tmp_path / "model.nn").write_text(head + body)
        status, out, err = run_check(tmp_path / "model.nn", monkeypatch, capsys)
        assert status == 0 and out.startswith("model model: OK"), (name, err)
        assert err.startswith(f"model.nn:{at}: warning: ") and err.count(": warning: ") == 1, (name, err)
        assert words in err, (name, err)
    (tmp_path / "model.nn").write_text(head + "loss = sum(x @ u)\nminimize loss wrt u\n")
    assert run_check(tmp_path / "model.nn", monkeypatch, capsys)[2] == ""
    module = types.ModuleType("unread")
    source = head + "loss = sum(x @ u)\nminimize loss wrt x, u, v\n"
    exec(compile(compile_text(source, "unread.nn").source, "unread.py", "exec"), module.__dict__)
    x = np.ones((2, 3))
    grads = module.loss_and_grad(module.init_params(), x=x, y=np.ones(2))[1]
    assert grads["v"].tolist() == [0.0] * 3 and grads["x"].shape == (2, 3)


def test_sgd_step_takes_the_general_path_where_the_guide_says() -> None:
    """The caller's own params dict comes back from `_arguments(..., in_place=True)`, and sgd_step
    updates its arrays in place, only for writeable DTYPE arrays and no dim 0; lists, another dtype,
    read-only arrays and an empty batch take the general path, which updates what was passed."""
    guide = " ".join(GUIDE.read_text().split())
    assert "a writeable array of `DTYPE`, and no dim is 0. Params passed as lists, in another dtype or" in guide
    model = types.ModuleType("regression")
    exec(compile(regression_source(2), "regression.py", "exec"), model.__dict__)
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(4, 3)), rng.normal(size=(4, 1))

    def read_only(p):
        p["W1"].flags.writeable = False
        return p

    kinds = {
        "as they come": (lambda p: p, 4),
        "a list": (lambda p: {**p, "b1": p["b1"].tolist()}, 4),
        "another dtype": (lambda p: {**p, "W2": p["W2"].astype(np.float32)}, 4),
        "read-only": (read_only, 4),
        "an empty batch": (lambda p: p, 0),
    }
    for kind, (make, n) in kinds.items():
        params = make(model.init_params(seed=1))
        held = dict(params)
        checked, _, _ = model._arguments(params, {"x": x[:n], "y": y[:n]}, ("x", "y"), in_place=True)
        assert (checked is params) == (kind == "as they come"), kind
        if n:
            want = model.loss_and_grad(params, x=x, y=y)[1]
            before = {name: np.array(p, dtype=np.float64) for name, p in params.items()}
            model.sgd_step(params, 0.1, x=x, y=y)
            for name in want:
                np.testing.assert_allclose(params[name], before[name] - 0.1 * want[name], rtol=1e-6, err_msg=kind)
                writable_float = isinstance(held[name], np.ndarray) and held[name].flags.writeable
                assert (params[name] is held[name]) == writable_float, (kind, name)


@pytest.mark.parametrize("level, dtype", [(0, "float32"), (1, "float64"), (2, "float64")])
def test_the_report_says_what_the_language_guide_says(level, dtype, tmp_path, capsys) -> None:
    """`--report`'s first line names the dtype its bytes are of, a dim not given counts as 1, the
    update costs two FLOPs a param value (one at -O2), forward and loss's own graph is counted at -O1
    and -O2, and a function with a workspace (at -O2) says what a later call holds."""
    text = " ".join((ROOT / "docs" / "language.md").read_text().split())
    row = text[text.index("| `--report` |") : text.index("| `--dims B=128,...` |")]
    for said in (
        "the update two a param value, `p - lr·g`, one at -O2",
        "at -O1 and -O2 those of the graph `forward` and `loss` compute",
        "and where it has a workspace, what a later call at the same dims holds",
        "its first line names the float type the bytes are of",
    ):
        assert said in row, said
    assert "the dim values `--report` uses for its numbers (1 where not given)" in text
    args = ["compile", str(ROOT / REGRESSION), "-o", str(tmp_path), "--no-render", "--report"]
    assert main([*args, f"-O{level}", "--dtype", dtype]) == 0
    report = capsys.readouterr().out.split("\n", 1)[1]
    size = np.dtype(dtype).itemsize
    assert report.startswith(
        f"report ({dtype}, {size} bytes a value; dims for numbers: B=1; B not given, counted as 1)"
    )
    module = types.ModuleType("regression")
    exec(compile(regression_source(2), "regression.py", "exec"), module.__dict__)
    values = sum(int(np.prod(shape)) for shape, _ in module.PARAMS.values())
    assert re.search(rf"^  after -O{level}: .*; update {values * (1 if level == 2 else 2)}$", report, re.M)
    assert ("forward and loss, no gradient taken" in report) == (level > 0)
    memory = report[report.index("memory of one call") :].split("\n  saved")[0].splitlines()[1:]
    assert len(memory) == 4
    assert all(("a later call at these dims" in line) == (level == 2) for line in memory), memory


def test_the_files_the_readme_walks_through_are_graphcs() -> None:
    """Every file the README's "Inside" section names is in the package (or is the grammar)."""
    text = (ROOT / "README.md").read_text()
    inside = text[text.index("## Inside") :]
    named = set(re.findall(r"`([\w/]+\.(?:py|lark)|passes/)`", inside))
    assert len(named) >= 20
    for name in named:
        assert (ROOT / "graphc" / name).exists() or (ROOT / name).exists(), name


def test_the_helpers_the_guide_names_are_the_modules() -> None:
    """Each helper the guide lists after the metadata is defined in the module, between its
    metadata and `init_params`."""
    guide = " ".join(GUIDE.read_text().split())
    said = guide[guide.index("After the metadata come") : guide.index("```python def _sigmoid")]
    names = [*re.findall(r"`(_\w+)`", said), "release_workspaces", "_sigmoid"]
    assert len(names) >= 10, names
    source = regression_source(2)
    start, end = source.index("\nWRT = "), source.index("\ndef init_params(")
    for name in names:
        at = re.search(rf"^(def {name}\(|{name} = )", source, re.M)
        assert at and start < at.start() < end, name


def test_a_row_holding_inf_warns_as_the_language_guide_says() -> None:
    """From -O1 on, the gradients of cross_entropy and log_softmax meet a +inf as inf / inf, a
    log-likelihood written out as inf * 0 (its exponentials times a number over their sums); the
    gradient is nan at the +inf, and the cross-entropy's and the log-likelihood's only there."""
    text = " ".join((ROOT / "docs" / "language.md").read_text().split())
    assert "from `-O1` on, `inf / inf` for the gradients of `cross_entropy` and `log_softmax`, but `inf * 0`" in text
    head = "dim B\nconst K = 4\ninput z : [B, K]\ninput y : int[B]\n"
    models = {
        "divide": [
            "loss = mean(cross_entropy(z, y))\n",
            "lp = log_softmax(z)\nloss = sum(lp * lp)\n",
        ],
        "multiply": ["loss = -mean(sum(one_hot(y, K) * log_softmax(z), axis=1))\n"],
    }
    z, y = np.array([[1.0, np.inf, 0.0, 2.0], [1.0, 2.0, 3.0, 4.0]]), np.array([0, 1])
    for op, bodies in models.items():
        other = {"divide": "multiply", "multiply": "divide"}[op]
        for body, opt in [(body, opt) for body in bodies for opt in (1, 2)]:
            module = types.ModuleType("rows")
            source = compile_text(head + body + "minimize loss wrt z\n", "rows.nn", opt=opt).source
            exec(compile(source, "rows.py", "exec"), module.__dict__)
            with warnings.catch_warnings(record=True) as caught, np.errstate(all="ignore", invalid="warn"):
                warnings.simplefilter("always")
                grad = module.loss_and_grad({}, z=z, y=y)[1]["z"]
            said = {str(w.message) for w in caught}
            assert f"invalid value encountered in {op}" in said, (body, said)
            assert f"invalid value encountered in {other}" not in said, (body, said)
            assert np.isnan(grad[0, 1]) and np.isfinite(grad[1]).all(), body
            if "lp * lp" not in body:  # the rest of the row too, where the label is not the +inf
                assert np.isfinite(grad[0, [0, 2, 3]]).all(), body


def test_the_readmes_benchmark_table_agrees_with_itself() -> None:
    """The timing table's ratio columns are its time columns divided (to rounding), and the prose
    under it quotes the table: the geometric mean of NumPy / graphc per kernel choice, the ranges on
    the MLP and logistic regression, and JAX's lead on the 32-layer network."""
    text = (ROOT / "README.md").read_text()
    table = text[text.index("| model | graphc | NumPy by hand |") :].split("\n\n")[0]
    groups = []  # per kernel choice, each row's numbers: 3 times, then 4 ratios
    for group in table.split("| **")[1:]:
        rows = re.findall(r"^\| [^*|][^|]*? \|(.*)$", group, re.M)
        groups.append([[float(v) for v in re.findall(r"[\d.]+", row)] for row in rows])
    assert [len(g) for g in groups] == [4, 4] and all(len(r) == 7 for g in groups for r in g)

    def divided(a: float, b: float) -> tuple[float, float]:
        """The least and most a / b can be, each rounded to the digits the table shows."""
        half = [0.5 * 10.0 ** -len(f"{v:g}".partition(".")[2]) for v in (a, b)]
        return (a - half[0]) / (b + half[1]), (a + half[0]) / (b - half[1])

    for rows in groups:
        for graphc, numpy_, matmuls, by_hand, over_matmuls, *_ in rows:
            low, high = divided(numpy_, graphc)
            assert low - 0.005 <= by_hand <= high + 0.005, (numpy_, graphc, by_hand)
            low, high = divided(graphc, matmuls)
            assert low - 0.005 <= over_matmuls <= high + 0.005, (graphc, matmuls, over_matmuls)
    means = [round(float(np.prod([r[3] for r in rows]) ** (1 / len(rows))), 2) for rows in groups]
    prose = " ".join(text[text.index("The generated step is faster") :].split())
    stated = re.search(r"([\d.]+)x in geometric mean \(([\d.]+)x on the AVX-512 kernels\)", prose).groups()
    assert means == [float(s) for s in stated]
    found = re.search(r"([\d.]+)(?:-([\d.]+))?x on the matmul-bound MLP and ([\d.]+)(?:-([\d.]+))?x on logistic", prose)
    for row, (low, high) in zip((0, 3), (found.groups()[:2], found.groups()[2:])):
        # a range is low-high, one number where both kernel choices gave it
        assert sorted((groups[0][row][3], groups[1][row][3])) == [float(low), float(high or low)]
    lead = re.search(r"32-layer tanh network \(([\d.]+)x, and ([\d.]+)x on the AVX-512", prose).groups()
    assert [float(v) for v in lead] == [round(1 / g[2][6], 2) for g in groups]


def test_the_examples_readme_lists_every_example() -> None:
    """examples/README.md's table names each example once, each begins with its comment, its links
    lead somewhere, and the chain rule's dh/dx is 12 at x = 1 as the table says."""
    readme = ROOT / "examples" / "README.md"
    text = readme.read_text()
    listed = re.findall(r"^\| `(\w+\.nn)` \|", text, re.M)
    assert sorted(listed) == sorted(p.name for p in (ROOT / "examples").glob("*.nn"))
    for name in listed:
        assert (ROOT / "examples" / name).read_text().startswith("# "), name
    for link in re.findall(r"\]\(([^)\s]*)\)", text):
        assert (readme.parent / link).exists(), link
    assert "dh/dx = 12 at x = 1" in text
    path = ROOT / "examples" / "chain_rule.nn"
    module = types.ModuleType("chain_rule")
    exec(compile(compile_text(path.read_text(), path.name).source, "chain_rule.py", "exec"), module.__dict__)
    assert module.loss_and_grad(module.init_params())[1]["x"] == 12.0


def test_sizes_keep_the_names_they_were_written_with(tmp_path, monkeypatch, capsys) -> None:
    """Section 3: a const's name and arithmetic on consts are shown as written, the value beside
    them where a single size is the point, and arithmetic past 30 characters by its value."""
    text = " ".join((ROOT / "docs" / "language.md").read_text().split())
    assert "`[2*HIDDEN]` (`2*HIDDEN (8)` where it is the point)" in text and "`HIDDEN (4)`" in text
    assert "arithmetic longer than 30 characters is shown by its value instead (`[81]`" in text
    long = "HIDDEN*HIDDEN*HIDDEN + HIDDEN*HIDDEN + 1"  # 81 when HIDDEN is 4
    assert len(long) > 30
    body = f"const HIDDEN = 4\nparam W : [2*HIDDEN]\nparam U : [HIDDEN]\nparam V : [{long}]\n"
    status, out = summary_rows(body + "loss = sum(W) + sum(U) + sum(V)\nminimize loss\n", monkeypatch, capsys, tmp_path)
    assert status == 0
    for row in ("W     [2*HIDDEN]", "U     [HIDDEN]", "V     [81]"):
        assert f"\n  {row} " in out, (row, out)
    (tmp_path / "model.nn").write_text(body + "u = W + U\nloss = sum(u) + sum(V)\nminimize loss\n")
    status, _, err = run_check(tmp_path / "model.nn", monkeypatch, capsys)
    assert status == 1 and "sizes 2*HIDDEN (8) and HIDDEN (4) do not broadcast" in err, err


def test_whole_numbers_are_written_whole_where_the_guide_says(tmp_path, monkeypatch, capsys) -> None:
    """A size, an axis and a loop bound written `3.0` or `3e0` are errors at the number; `H/2` with
    `H = 8` is a size."""
    text = " ".join((ROOT / "docs" / "language.md").read_text().split())
    said = re.search(
        r"Where a whole number is expected \(([^)]*)\) it is written as one: `3`, not `3\.0` or `3e0`", text
    )
    assert said and said.group(1) == "a size, an axis, a loop bound"
    places = {
        "size": "param p : [{n}]\nloss = sum(p)\nminimize loss\n",
        "axis": "param p : [2, 3]\nloss = sum(sum(p, axis={n}))\nminimize loss\n",
        "loop bound": "param p : [2]\nh = p\nfor i in 1..{n} {{\n  h = h * 2\n}}\nloss = sum(h)\nminimize loss\n",
    }
    for place, model in places.items():
        for written, whole in (("3.0", "3"), ("3e0", "3"), ("1.0", "1")):
            if place == "axis" and whole == "3":
                continue  # p has no axis 3
            (tmp_path / "model.nn").write_text(model.format(n=written))
            status, _, err = run_check(tmp_path / "model.nn", monkeypatch, capsys)
            article = "an" if place == "axis" else "a"
            assert status == 1 and f"{article} {place} is written as a whole number" in err, (place, written, err)
            assert f"write {whole}, not {written}" in err, (place, written, err)
    status, out = summary_rows(
        "const H = 8\nparam p : [H/2]\nloss = sum(p)\nminimize loss\n", monkeypatch, capsys, tmp_path
    )
    assert status == 0 and "  p     [H/2]" in out, out
