"""The pictures: DOT for both graphs, SVGs through Graphviz, the HTML page in a browser."""

from __future__ import annotations

import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest

from graphc import cli, render
from graphc.pipeline import compile_text

CHAIN = """\
param x : []
g = 2*x + 1
h = g^2
minimize h
"""

TWO_LAYER = """\
model two_layer
dim B
input x : [B, 3]
input y : [B, 1]
param W1 : [3, 8]
param b1 : [8]
param W2 : [8, 1]
param b2 : [1]
fn dense(a, W, b) = a @ W + b
h = sigmoid(dense(x, W1, b1))
pred = dense(h, W2, b2)
loss = mean((pred - y)^2)
output pred
minimize loss
"""

LOOP = """\
dim B
input x : [B, 4]
h = x
for i in 1..3 {
    param W{i} : [4, 4]
    h = h + tanh(h @ W{i})
}
loss = sum(h^2)
minimize loss
"""

needs_dot = pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz dot is not installed")


def dots(text: str, name: str = "m") -> tuple[str, str]:
    c = compile_text(text, f"{name}.nn")
    return render.forward_dot(c.graph, text, name), render.backward_dot(c.graph, text, name)


def test_chain_backward_reads_off_the_lecture_derivative():
    # dh/dx = 2g * 2: the factors on the path from h to x are "· 2g" then "· 1" then "· 2"
    _, back = dots(CHAIN, "chain")
    labels = re.findall(r'label="([^"]*)"', back)
    assert "· 2g" in labels
    assert "· 2" in labels
    assert any(label.startswith("gradient d_x") for label in labels)
    # the factor 2g reads the forward value g, drawn as a dashed reference
    ref = re.search(r'(r\d+) \[id="r\d+", label="g\\n\[\]"', back)
    assert ref is not None
    assert re.search(rf"{ref.group(1)} -> e\d+_\d+_\d+ \[style=dashed", back)


def test_forward_graph_shows_kinds_names_shapes_and_clusters():
    fwd, _ = dots(TWO_LAYER)
    assert 'label="x\\ninput [B, 3]"' in fwd
    assert 'label="W1\\nparam [3, 8]"' in fwd
    assert 'label="h = sigmoid\\n[B, 8]"' in fwd
    assert "minimize loss" in fwd
    # two calls of dense, two clusters
    assert fwd.count('subgraph "cluster_fn_dense_') == 2
    loop_fwd, _ = dots(LOOP)
    assert loop_fwd.count('subgraph "cluster_loop_i_') == 3


def test_backward_graph_has_an_adjoint_per_value_and_a_result_per_param():
    c = compile_text(TWO_LAYER, "m.nn")
    back = render.backward_dot(c.graph, TWO_LAYER, "m")
    for p in ("W1", "b1", "W2", "b2"):
        assert f"gradient d_{p}" in back
    assert "∂loss/∂h\\n[B, 8]" in back
    assert "@ W2ᵀ" in back
    assert "· h(1−h)" in back  # in the output the rule reads, drawn dashed beside it
    # every chain-rule edge the sweep used is drawn as a factor node
    for a, n, pos in c.graph.chain:
        assert f"e{a}_{n}_{pos} [" in back


def test_fan_out_is_drawn_as_a_sum():
    text = "param x : [3]\ny = sum(x * x) + sum(exp(x))\nminimize y\n"
    _, back = dots(text)
    assert "Σ of 3 paths" in back  # x feeds mul twice and exp once


def test_dot_is_deterministic_and_ids_follow_topological_order():
    a, b = dots(TWO_LAYER), dots(TWO_LAYER)
    assert a == b
    ids = [int(i) for i in re.findall(r"^\s*n(\d+) \[", a[0], flags=re.M)]
    assert ids == sorted(ids) or set(ids) == set(range(min(ids), max(ids) + 1))


@needs_dot
@pytest.mark.parametrize("text", [CHAIN, TWO_LAYER, LOOP])
def test_svgs_are_valid_and_name_every_param(text, tmp_path):
    c = compile_text(text, "m.nn")
    for dot in (render.forward_dot(c.graph, text, "m"), render.backward_dot(c.graph, text, "m")):
        svg = render.render(dot, "svg").decode()
        root = ET.fromstring(svg)
        assert root.tag.endswith("svg")
        for p in c.graph.params:
            assert p in svg


def test_the_page_puts_no_block_inside_an_element_that_holds_only_text():
    """The listings were <div> rows inside a <pre>, which holds phrasing content only: an
    HTML checker rejects every row. Each listing is now a <div> of rows."""
    from html.parser import HTMLParser

    from graphc import page

    phrasing_only = {"pre", "span", "h1", "h2", "button", "p"}
    blocks = {"div", "pre", "section", "main", "header", "p", "h1", "h2"}
    wrong: list[str] = []

    class Nesting(HTMLParser):
        stack: list[str] = []

        def handle_starttag(self, tag, attrs):
            if tag in blocks and phrasing_only & set(self.stack):
                wrong.append(f"<{tag}> in <{'> <'.join(self.stack)}>")
            if tag not in ("meta", "br", "img", "input"):
                self.stack.append(tag)

        def handle_endtag(self, tag):
            assert self.stack.pop() == tag

    c = compile_text(TWO_LAYER, "two.nn")
    text = page.make_page("two_layer", TWO_LAYER, c.source, "<svg></svg>", "<svg></svg>", {})
    Nesting().feed(text)
    assert not wrong, wrong[:3]


def _page_style() -> dict[str, str]:
    """The page's CSS as selector -> declarations, each declaration's spaces squeezed out."""
    from graphc import page

    c = compile_text(TWO_LAYER, "two.nn")
    text = page.make_page("two_layer", TWO_LAYER, c.source, "<svg></svg>", "<svg></svg>", {})
    style = re.sub(r"/\*.*?\*/", "", re.search(r"<style>(.*?)</style>", text, re.S).group(1), flags=re.S)
    return {sel.strip(): re.sub(r"\s+", "", body) for sel, body in re.findall(r"([^{}]+)\{([^}]*)\}", style)}


def test_the_page_header_keeps_one_line_and_the_panes_take_the_rest():
    """The header holds the hover text, 120 characters for a value made in a fn call: in a
    1024-px window it wrapped onto a second line while the panes kept a height of the
    window less 40 px, so the page grew taller than the window and scrolling a code row
    into view scrolled the whole page, the header half out of sight. The header keeps to
    one line, and the panes fill what it leaves."""
    style = _page_style()
    assert {"white-space:nowrap", "overflow:hidden", "text-overflow:ellipsis"} <= set(style["header"].split(";"))
    assert not any("100vh-" in rule for rule in style.values()), "the panes guess the header's height"
    assert {"display:flex", "flex-direction:column", "height:100vh"} <= set(style["body"].split(";"))
    assert {"flex:1", "min-height:0"} <= set(style["main"].split(";"))


def test_a_highlighted_row_is_lit_across_its_whole_line():
    """A listing row was as wide as its pane, its text overflowing it: with the pane
    scrolled sideways to read a long line, a highlighted row showed no highlight at all.
    A listing is as wide as its longest line, and every row with it."""
    style = _page_style()
    assert {"width:max-content", "min-width:100%"} <= set(style["div.listing"].split(";"))


def test_the_full_size_button_stays_in_view_when_a_picture_scrolls():
    """A graph pane scrolled as a whole, its heading with it: shown at full size, the
    32-layer backward picture is 18,000 px tall, and the button that fits it back into the
    pane scrolled out of sight with the first node. The picture scrolls in a box of its own
    under the heading, which stays put."""
    from html.parser import HTMLParser

    from graphc import page

    c = compile_text(TWO_LAYER, "two.nn")
    text = page.make_page("two_layer", TWO_LAYER, c.source, "<svg></svg>", "<svg></svg>", {})
    parents: dict[str, list[str]] = {}

    class Nesting(HTMLParser):
        stack: list[str] = []

        def handle_starttag(self, tag, attrs):
            named = tag + "".join("." + v for k, v in attrs if k == "class")
            if tag in ("svg", "button"):
                parents.setdefault(tag, []).append(" ".join(self.stack))
            if tag != "meta":
                self.stack.append(named)

        def handle_endtag(self, tag):
            self.stack.pop()

    Nesting().feed(text)
    assert parents["svg"] == ["html body main section.graph div.picture"] * 2, parents["svg"]
    assert parents["button"] == ["html body main section.graph h2"] * 2, parents["button"]
    style = _page_style()
    assert "overflow:hidden" in style["section.graph"].split(";")
    assert "overflow:auto" in style["section.graph div.picture"].split(";")


def test_the_page_brings_the_selected_drawing_into_view_when_the_pointer_is_not_on_it():
    """Opened as deep_tanh.html#select=a10, the page lit the gradient's drawing 2,000 px
    down the backward picture, out of sight; and switching a picture between full size
    and fitted kept the scroll offset in pixels, so the lit node was somewhere else. On
    both the picture scrolls to the selected drawing (hovering, the pointer is on it)."""
    from graphc import page

    script = page._SCRIPT
    reveal = re.search(r"function reveal\((\w+)\) \{(.*?)\n\}", script, re.S)
    assert reveal, "no function brings a drawing into view"
    assert "scrollIntoView" in reveal.group(2) and "g.node" in reveal.group(2)
    size = re.search(r"button\.size'\)\.forEach\((.*?)\n\}\)\);", script, re.S).group(1)
    assert "reveal(" in size, "the size button leaves the lit node where the offset falls"
    on_load = script[script.index("location.hash") :]
    assert re.search(r"if \(want\) \{[^}]*select\(want\[1\]\);[^}]*\breveal\b", on_load), on_load[:200]
    hover = re.search(r"addEventListener\('mouseenter', (.*?)\);", script).group(1)
    assert "reveal" not in hover


@needs_dot
def test_compile_writes_pictures_and_page(tmp_path):
    model = tmp_path / "two.nn"
    model.write_text(TWO_LAYER)
    assert cli.main(["compile", str(model), "-o", str(tmp_path / "out")]) == 0
    names = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert names == sorted(
        f"two_layer.{s}" for s in ("py", "forward.dot", "backward.dot", "forward.svg", "backward.svg", "html")
    )
    page = (tmp_path / "out" / "two_layer.html").read_text()
    ids = re.findall(r'\bid="([^"]+)"', page)
    assert len(ids) == len(set(ids)), "an id is used twice on the page"
    assert cli.main(["compile", str(model), "-o", str(tmp_path / "png"), "--format", "png"]) == 0
    png = (tmp_path / "png" / "two_layer.backward.png").read_bytes()
    assert png.startswith(b"\x89PNG")


def test_without_dot_compile_writes_dot_files_and_says_how_to_install(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(render, "have_dot", lambda: False)
    model = tmp_path / "c.nn"
    model.write_text(CHAIN)
    assert cli.main(["compile", str(model), "-o", str(tmp_path)]) == 0
    names = {p.name for p in tmp_path.iterdir()}
    assert {"c.py", "c.forward.dot", "c.backward.dot"} <= names
    assert not any(n.endswith(".svg") for n in names)
    err = capsys.readouterr().err
    assert err.count("apt-get install graphviz") == 1
    assert err.startswith("warning: Graphviz's `dot` program was not found")  # as every other warning


def test_no_render_writes_only_the_module(tmp_path):
    model = tmp_path / "c.nn"
    model.write_text(CHAIN)
    assert cli.main(["compile", str(model), "-o", str(tmp_path / "o"), "--no-render"]) == 0
    assert [p.name for p in (tmp_path / "o").iterdir()] == ["c.py"]


def _chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if shutil.which(name):
            return shutil.which(name)
    return None


def _browser(args: list[str], tmp: Path) -> subprocess.CompletedProcess:
    flags = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={tmp / 'profile'}",
    ]
    return subprocess.run([_chromium(), *flags, *args], capture_output=True, text=True, timeout=120)


@needs_dot
@pytest.mark.skipif(_chromium() is None, reason="no headless Chromium")
def test_page_selecting_a_node_highlights_its_source_and_code_lines(tmp_path):
    model = tmp_path / "two.nn"
    model.write_text(TWO_LAYER)
    out = tmp_path / "out"
    assert cli.main(["compile", str(model), "-o", str(out)]) == 0
    page = out / "two_layer.html"
    text = page.read_text()
    assert "http://" not in text.replace("http://www.w3.org", "") and "https://" not in text  # works offline
    c = compile_text(TWO_LAYER, str(model))
    h = next(n for n in c.graph.order() if c.graph.node(n)["name"] == "h")
    code_line = c.code_lines[h][0]
    dom = _browser(["--dump-dom", f"{page.as_uri()}#select=f{h}"], tmp_path).stdout
    # the script ran in the browser: h's source line (10) and its generated line are highlighted
    assert re.search(r'<div id="src-10" class="hl">', dom)
    assert re.search(rf'<div id="code-{code_line}" class="hl">', dom)
    # the status line speaks the user's names, and so does each node's hover text
    assert '<span id="status">h [B, 8] = sigmoid, line 10</span>' in dom
    assert "<title>h [B, 8] = sigmoid, line 10</title>" in dom and "<title>%" not in dom
    # h is drawn three times, computed, read by a factor and as an adjoint: all light up
    for drawn in (f"f{h}", f"r{h}", f"a{h}"):
        assert re.search(rf'<g id="{drawn}" class="node hl">', dom), drawn
    assert "<title>n0-&gt;" not in dom  # edges have no hover text of DOT ids
    shot = tmp_path / "page.png"
    _browser(["--window-size=1400,900", f"--screenshot={shot}", f"{page.as_uri()}#select=a{h}"], tmp_path)
    assert shot.read_bytes().startswith(b"\x89PNG")


EXAMPLES = sorted((Path(__file__).resolve().parent.parent / "examples").glob("*.nn"))


@needs_dot
@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_every_example_renders_both_graphs(path):
    text = path.read_text()
    c = compile_text(text, path.name)
    fwd = render.render(render.forward_dot(c.graph, text, c.name)).decode()
    back = render.render(render.backward_dot(c.graph, text, c.name)).decode()
    ET.fromstring(fwd), ET.fromstring(back)  # well-formed XML
    for p in c.graph.params:
        assert f">{p}</text>" in fwd, f"param {p} is not named in the forward picture"
        assert f"gradient d_{p}" in back, f"no gradient result for {p}"


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_the_page_maps_every_drawn_node_of_every_example(path):
    from graphc import page

    text = path.read_text()
    c = compile_text(text, path.name)
    fwd, back = render.forward_dot(c.graph, text, c.name), render.backward_dot(c.graph, text, c.name)
    drawn = set(re.findall(r' \[id="([^"]+)"', fwd + back))
    mapping = page.node_map(c.graph, c.code_lines, text)
    assert drawn <= set(mapping), sorted(drawn - set(mapping))
    # a node's entry shows where it comes from: a source line for each, code for most
    assert all(mapping[i]["src"] for i in drawn if not i.startswith("e"))


def factor_labels(text: str) -> set[str]:
    _, back = dots(text)
    return set(re.findall(r'label="(· [^"]*)"', back))


def test_factor_formulas_put_in_every_name_once():
    # a user's `b` put in for the formula's `a` is not replaced again by the formula's `b`
    base = "param x : []\nparam b : []\nparam s : []\nparam a : []\n"
    assert "· (−(x - b)/s²)" in factor_labels(base + "z = (x - b) / s\nminimize z\n")
    assert "· (−b/a²)" in factor_labels(base + "z = b / a\nminimize z\n")
    maximum = factor_labels(base + "z = maximum(b, a)\nminimize z\n")
    assert maximum == {"· ([b > a] + ½[b = a])", "· ([a > b] + ½[b = a])"}, maximum


def test_ties_split_the_gradient_in_the_picture_as_in_the_code():
    """At a tie the generated code gives each of maximum's arguments half the gradient, and
    max's tied entries equal shares: the factors say so rather than [a ≥ b], 1 on both."""
    base = "param a : []\nparam b : []\nparam v : [3]\n"
    labels = factor_labels(base + "z = maximum(a, b) + minimum(b, a) + max(v)\nminimize z\n")
    assert {"· ([a > b] + ½[a = b])", "· ([b > a] + ½[a = b])"} <= labels, labels
    assert {"· ([b < a] + ½[b = a])", "· ([a < b] + ½[b = a])"} <= labels, labels
    assert "· [v = max] / Σ[v = max]" in labels
    from graphc import compile_source

    m = compile_source(base + "z = maximum(a, b) + max(v)\nminimize z\n").module
    one = np.array(1.0)
    _, grads = m.loss_and_grad({"a": one, "b": one, "v": np.ones(3)})
    assert (grads["a"], grads["b"]) == (0.5, 0.5) and list(grads["v"]) == [1 / 3] * 3


def test_a_factor_names_every_value_in_full_never_by_a_stand_in_letter():
    # long arguments were shown as `z`, or as the formula's own a and b: here the user's names
    text = "dim B\ninput x : [B, 4]\nparam b : [4]\nparam z : [4]\nparam w : [4]\n"
    text += "u = tanh(x * w + x * z)\nq = x / (exp(x * w) + 1.0)\nloss = sum(q + u)\nminimize loss\n"
    assert factor_labels(text) == {
        "· (1−u²)",  # tanh's, in the output it reads, by its name
        "· (−x/(exp(x * w) + 1.0)²)",  # the quotient's, the formula's own a and b put in
        "· exp(x * w)",  # one pair of brackets, not exp((x * w))
        "· x\\nΣ over B",
        "· 1",
        "· 1 (broadcast)",
    }


def test_a_matmul_factor_says_what_its_operands_ranks_make_it():
    """Through an inner product the gradient coming in is a number, and back to the matrix of
    a vector-matrix product it is an outer product: `@ uᵀ` and `uᵀ @` would be shape errors."""
    text = "dim B\ninput h : [B, 3]\nparam u : [3]\nparam M : [3, 2]\nparam w : [3]\n"
    text += "loss = u @ u + sum(u @ M) + sum(h @ w) + sum(M.T @ u)\nminimize loss wrt u, M, w, h\n"
    _, back = dots(text)
    factors = re.findall(r'label="([^"∂]*)"', back)
    assert factors.count("· u") == 2, factors  # u @ u, one factor per operand
    assert {"@ Mᵀ", "u ⊗", "⊗ w", "hᵀ @"} <= set(factors), factors
    assert "uᵀ @" not in factors and "@ uᵀ" not in factors and "@ wᵀ" not in factors


def test_softmax_factors_say_the_axis_their_sum_runs_along():
    """Σ in a broadcast factor means over the broadcast axes; softmax's runs along its own axis."""
    text = "dim B, T\ninput x : [B, T, 3]\nparam a : [3]\ny = x * a\np = softmax(y, axis=0)\n"
    text += "q = log_softmax(y, axis=1)\nr = softmax(y)\nloss = sum(p * x) + mean(q) + sum(r * x)\nminimize loss\n"
    _, back = dots(text)
    factors = set(re.findall(r'label="([^"∂]*)"', back))
    assert {"p ⊙ (δ − Σ δ ⊙ p)\\nΣ along B", "δ − exp(q) ⊙ Σ δ\\nΣ along T"} <= factors, factors
    assert "r ⊙ (δ − Σ δ ⊙ r)\\nΣ along axis 2" in factors


def test_a_sum_along_a_dim_that_sizes_two_axes_says_which_axis():
    """Attention's scores are [T, T]: 'Σ along T' was said for softmax along either axis, and
    'Σ over T' for a [T] bias added to the rows or to the columns, two different derivatives
    drawn alike. Where a dim sizes several axes, the factor names the axis by its position."""
    base = "dim T\ninput x : [T, T]\ninput c : [T, 1]\ninput b : [T]\ns = x * c + b\n"
    rows = set(
        re.findall(r'label="([^"∂]*)"', dots(base + "loss = sum(softmax(s, axis=0) * x)\nminimize loss wrt c, b\n")[1])
    )
    cols = set(
        re.findall(r'label="([^"∂]*)"', dots(base + "loss = sum(softmax(s, axis=1) * x)\nminimize loss wrt c, b\n")[1])
    )
    assert "· 1\\nΣ over axis 0" in rows  # b [T] was added to every row: summed over the rows
    assert "· x\\nΣ over axis 1" in rows  # c [T, 1] scaled every column
    along = re.compile(r"Σ along (.*)")
    assert {m for t in rows for m in along.findall(t)} == {"axis 0"}
    assert {m for t in cols for m in along.findall(t)} == {"axis 1"}
    # a dim that sizes one axis still names it
    assert "· 1\\nΣ over B" in factor_labels(
        "dim B\ninput x : [B, 3]\nparam b : [3]\nloss = sum(x + b)\nminimize loss\n"
    )


def test_a_logsumexp_factor_says_which_axis_its_softmax_runs_along():
    """logsumexp(z, axis=0) and logsumexp(z, axis=1) have different derivatives, a softmax
    down the columns or along the rows, but both were drawn `· softmax(z)`, which reads as
    the row-wise softmax (softmax's own axis is the last one); max's share likewise."""
    base = "dim B\ninput x : [B, 4]\nparam W : [4, 4]\nz = x @ W\n"
    columns = factor_labels(base + "loss = sum(logsumexp(z, axis=0)) + sum(max(z, axis=0))\nminimize loss\n")
    rows = factor_labels(base + "loss = sum(logsumexp(z, axis=1)) + sum(max(z, axis=1))\nminimize loss\n")
    every = factor_labels(base + "loss = logsumexp(z) + max(z)\nminimize loss\n")
    assert {"· softmax(z)\\nalong B", "· [z = max] / Σ[z = max]\\nalong B"} <= columns, columns
    assert {"· softmax(z)\\nalong axis 1", "· [z = max] / Σ[z = max]\\nalong axis 1"} <= rows, rows
    assert {"· softmax(z)\\nover all entries", "· [z = max] / Σ[z = max]\\nover all entries"} <= every, every
    # of a vector there is one way: nothing to add
    vector = factor_labels("param v : [3]\nloss = logsumexp(v) + max(v, axis=0)\nminimize loss\n")
    assert {"· softmax(v)", "· [v = max] / Σ[v = max]"} <= vector, vector


def test_a_factor_shows_the_sum_that_undoes_broadcasting():
    text = "dim B\ninput x : [B, 4]\ninput c : [B, 1]\nparam b : [4]\nparam s : []\n"
    text += "h = (x + b) * s - c\nloss = mean(h^2)\nminimize loss wrt b, s, c\n"
    _, back = dots(text)
    factors = re.findall(r'label="(· [^"]*)"', back)
    assert "· 1\\nΣ over B" in factors  # b [4] was added to every row of [B, 4]
    assert "· (x + b)\\nΣ over all" in factors  # s [] scaled all of [B, 4]
    assert "· (−1)\\nΣ over axis 1" in factors  # c [B, 1] was taken from each column
    assert "· 1/(B·4) (broadcast)" in factors  # the mean says what it divides by


def test_a_text_in_a_loop_shows_its_pass_s_value_of_the_loop_variable():
    text = "param u : [3]\nd = u @ u\nh = 0\nfor i in 1..3 { h = h + i * d }\nloss = h\nminimize loss\n"
    _, back = dots(text)
    assert all(f"∂loss/∂({i} * d)" in back for i in (1, 2, 3)) and "(i * d)" not in back
    # a fn's param named like the loop variable is the fn's own: its text is left as written
    text = "param u : [3]\nfn f(i) = i * i\nh = u\nfor i in 1..2 { h = h + f(h) }\nloss = sum(h)\nminimize loss\n"
    _, back = dots(text)
    assert "1 * 1" not in back and "2 * 2" not in back


def test_a_factor_in_a_loop_names_its_iterations_values():
    _, back = dots(LOOP)
    assert "∂loss/∂(h₁ @ W2)" in back and "{i}" not in back
    # h is rebound on every pass: its values are numbered, so no two drawings share a label,
    # and a text reading h names the one it reads (the first pass reads x, bound to h)
    assert "∂loss/∂h₂" in back and "∂loss/∂h\\n" not in back
    assert 'label="· (1−tanh(h₁ @ W2)²)"' in back  # tanh's output, by its text in that pass
    assert "∂loss/∂(h @ W1)" in back and "∂loss/∂(h₂ @ W3)" in back


def test_every_value_of_a_rebound_name_has_a_label_of_its_own():
    # two bindings in one pass, and a fn's local named like the outer value: all different
    text = """\
dim B
input x : [B, 2]
fn norm(h) {
    h = h - mean(h, axis=-1, keepdims=true)
    return h * h
}
h = x
for i in 1..2 {
    param W{i} : [2, 2]
    h = tanh(h @ W{i})
    h = norm(h) + h
}
loss = mean(h^2)
minimize loss
"""
    forward, back = dots(text)
    adjoints = re.findall(r'label="(∂loss/∂h[^\\"]*)', back)
    assert len(adjoints) == len(set(adjoints)) == 6, adjoints
    # a text names the value it reads: the fn's own h inside norm, the caller's outside
    assert "∂loss/∂(h₂ * h₂)" in back and "∂loss/∂(h₃ @ W2)" in back and "∂loss/∂(h₆^2)" in back
    assert [f"h{s} = " in forward for s in "₁₂₃₄₅₆"] == [True] * 6


NUMBERING = {
    # g is bound to the first h: which value `h` and `g` read cannot be told from the graph
    "param x : [3] = ones\nh = tanh(x)\ng = h\nh = h * 2\nloss = sum(h * g)\nminimize loss\n": "(h * g)",
    # a fn's local h and the caller's h (its param a): each by its own number
    "param x : [3] = ones\nfn f(a) {\n    h = a * 2\n    return exp(h + a)\n}\nh = tanh(x)\nh = f(h)\n"
    "loss = sum(h)\nminimize loss\n": "(h₂ + h₁)",
    # a param the fn rebinds stands for the caller's h₂ @ W, not for h₂
    "param x : [3] = ones\nparam W : [3, 3]\nfn f(h) {\n    h = h * 3 + h\n    return h\n}\nh = tanh(x)\n"
    "h = tanh(h)\ny = f(h @ W)\nloss = sum(y)\nminimize loss\n": "(h * 3)",
    # a keyword is not a value, even one called like a rebound name
    "dim B\ninput x : [B, 3]\naxis = x * 2\naxis = axis * 3\nloss = sum(sum(axis * x, axis=0))\n"
    "minimize loss wrt x\n": "sum(axis₂ * x, axis=0)",
    # ... written with spaces too
    "param p : [4]\naxis = p * 1\naxis = axis * 2\ny = sum(axis * 2, axis = 0) * 3\nloss = sum(y)\n"
    "minimize loss\n": "sum(axis₂ * 2, axis = 0)",
    # each pass of a loop reads its own h, through a fn called on the same line every pass
    "param p : [4]\nparam W : [4, 4]\nfn g(a) = tanh(a)\nh = p * 1\nfor i in 1..3 { h = g(h @ W) }\n"
    "loss = sum(h)\nminimize loss\n": "(h₃ @ W)",
    # the param h stands for tanh(h₁), which has no number of its own
    "param p : [4]\nh = p * 1\nfn f(h) {\n    t = tanh(h * 2)\n    h = t + 1\n    return h\n}\ny = f(tanh(h))\n"
    "h = y\nloss = sum(h)\nminimize loss\n": "(h * 2)",
    # a and b swapped through t: each name reads the value called by the other
    "param p : [4]\nparam q : [4]\na = p * 1\na = a * 2\nb = q * 1\nt = a\na = b\nb = t\n"
    "loss = sum(exp(a - b))\nminimize loss\n": "(a - b)",
}


@pytest.mark.parametrize(
    "text, label",
    NUMBERING.items(),
    ids=["alias", "fn local", "fn param", "keyword", "spaced keyword", "loop pass", "param expr", "swap"],
)
def test_a_text_numbers_a_rebound_name_only_where_it_is_sure_which_value_it_is(text, label):
    _, back = dots(text)
    assert f"∂loss/∂{label}" in back, sorted(set(re.findall(r'label="(∂loss/∂[^"\\]*)', back)))


@needs_dot
def test_a_form_feed_in_the_model_leaves_the_pictures_valid_xml(tmp_path):
    model = tmp_path / "ff.nn"
    model.write_text("param w : [2]\nparam h : [2]\ny = exp(h\f* w)\nloss = sum(y)\nminimize loss\n")
    assert cli.main(["compile", str(model), "-o", str(tmp_path / "o")]) == 0
    for kind in ("forward", "backward"):
        ET.parse(tmp_path / "o" / f"ff.{kind}.svg")


def test_the_incoming_gradient_is_no_letter_a_model_can_use():
    text = "dim B\ninput x : [B, 4]\nparam W : [4, 4]\ng = x @ W\np = softmax(g)\nloss = mean(p * g)\nminimize loss\n"
    _, back = dots(text)
    assert 'label="p ⊙ (δ − Σ δ ⊙ p)\\nΣ along axis 1"' in back
    assert "δ: the gradient coming in" in back


def test_the_mean_of_one_entry_multiplies_by_one():
    assert "· 1 (broadcast)" in factor_labels("param c : [1]\nloss = mean(c)\nminimize loss\n")


def test_values_inside_a_fn_call_are_named_in_the_callers_terms():
    _, back = dots(TWO_LAYER)  # dense(a, W, b) = a @ W + b, called as dense(h, W2, b2)
    assert "∂loss/∂(h @ W2)" in back and "∂loss/∂(x @ W1 + b1)" in back
    assert "∂loss/∂(a @ W" not in back
    # a param the body rebinds means the body's own value after that: its text stays
    text = "param x : [3]\nfn f(h) {\n  h = h * 2\n  return h + 1\n}\nloss = sum(f(x))\nminimize loss\n"
    _, back = dots(text)
    assert "∂loss/∂(h + 1)" in back


def test_params_and_their_gradients_stand_outside_the_loop_boxes():
    """Inside its iteration's box, a param (or its gradient) pushed each box sideways: the
    32-layer pictures were a staircase three to four times wider than this."""

    def top_level(dot: str) -> set[str]:
        depth, names = 0, set()
        for line in dot.splitlines():
            depth += line.count("{") - line.count("}") if line.lstrip().startswith(("subgraph", "}")) else 0
            m = re.match(r'\s*\w+ \[id="[^"]*", label="([^"\\]*)', line)
            if m and depth == 0:
                names.add(m.group(1))
        return names

    fwd, back = dots(LOOP)
    assert {"W1", "W2", "W3"} <= top_level(fwd)
    assert {"gradient d_W1", "gradient d_W2", "gradient d_W3"} <= top_level(back)


def test_a_named_const_keeps_its_name_in_the_forward_picture():
    fwd, _ = dots("const D = 16\nparam x : [2]\nloss = sum(x * D)\nminimize loss\n")
    assert 'label="D = 16"' in fwd


def test_a_transposed_operand_is_not_transposed_back_in_words():
    _, back = dots("param k : [3, 3]\nparam q : [3, 3]\nloss = sum(q @ k.T)\nminimize loss\n")
    assert 'label="@ k"' in back and "(k.T)ᵀ" not in back
    assert 'label="k\\n[3, 3]", shape=ellipse' in back and 'label="(k.T)\\n' not in back  # the value it reads


def cluster_names(dot: str) -> list[str]:
    return re.findall(r'subgraph ("[^"]*")', dot)


def test_each_loop_and_each_call_is_its_own_cluster():
    two_loops = """\
param x : [3]
h = x
for i in 1..2 {
    h = h * 2
}
for i in 1..2 {
    h = h + 1
}
loss = sum(h)
minimize loss
"""
    names = cluster_names(dots(two_loops)[0])
    assert len(names) == len(set(names)) == 4
    fn_in_loop = """\
param x : [3]
fn f(a) = a * 2
h = x
for i in -1..0 {
    h = f(h) + 1
}
loss = sum(h)
minimize loss
"""
    fwd, back = dots(fn_in_loop)
    names = cluster_names(fwd)
    assert len(names) == len(set(names)) == 4  # two iterations (i = -1 and 0), a call in each
    if shutil.which("dot"):
        for dot in (fwd, back):
            ET.fromstring(render.render(dot, "svg").decode())


def fake_dot(folder: Path, script: str | None) -> str:
    """A folder with a `dot` that runs `script` (None: an executable file that is no program)."""
    folder.mkdir()
    dot = folder / "dot"
    dot.write_bytes(b"\x7fELF broken" if script is None else f"#!/bin/sh\n{script}\n".encode())
    dot.chmod(0o755)
    return str(folder)


@pytest.mark.parametrize(
    "script, said",
    [
        ("echo 'Error: out of memory' >&2; exit 1", "Error: out of memory"),
        ("kill -9 $$", "killed by signal 9"),
        ("exit 3", "exit status 3"),
        (None, "could not be run"),
        ("exit 0", "dot gave no svg picture"),  # success, and nothing drawn
        ("echo 'dotfiles synced'", "dot gave no svg picture"),  # another program called `dot`
    ],
)
def test_a_failing_dot_leaves_the_module_and_dot_files_and_says_why(tmp_path, monkeypatch, capsys, script, said):
    model = tmp_path / "c.nn"
    model.write_text(CHAIN)
    monkeypatch.setenv("PATH", fake_dot(tmp_path / "bin", script))  # alone: no real dot to fall back on
    assert cli.main(["compile", str(model), "-o", str(tmp_path / "o")]) == 0
    assert sorted(p.name for p in (tmp_path / "o").iterdir()) == ["c.backward.dot", "c.forward.dot", "c.py"]
    err = capsys.readouterr().err
    assert err.count(said) == 2 and "the forward graph is not drawn" in err and "c.html" in err


def test_a_dot_that_hangs_is_given_one_graph_only(tmp_path, monkeypatch, capsys):
    """Each drawing may take DOT_TIMEOUT; a dot that hung on the forward graph would hang as
    long on the backward one, so it is not run again."""
    model = tmp_path / "c.nn"
    model.write_text(CHAIN)
    runs = tmp_path / "runs"
    sleep = shutil.which("sleep")  # found before PATH holds the fake dot alone
    monkeypatch.setenv("PATH", fake_dot(tmp_path / "bin", f"echo run >> {runs}; exec {sleep} 30"))
    monkeypatch.setattr(render, "DOT_TIMEOUT", 0.5)
    assert cli.main(["compile", str(model), "-o", str(tmp_path / "o")]) == 0
    assert runs.read_text() == "run\n"
    err = capsys.readouterr().err
    assert "the forward graph is not drawn: dot took longer than 0.5 s;" in err
    assert (
        "the backward graph is not drawn: dot was not tried, having taken longer than 0.5 s on the forward graph;"
        in err
    )


@needs_dot
def test_a_graph_too_large_to_read_is_not_drawn(tmp_path, monkeypatch, capsys):
    model = tmp_path / "c.nn"
    model.write_text(CHAIN)
    monkeypatch.setattr(render, "MAX_DRAWN", 7)  # the chain's forward graph has 6 nodes, its backward 8
    assert cli.main(["compile", str(model), "-o", str(tmp_path / "o")]) == 0
    names = sorted(p.name for p in (tmp_path / "o").iterdir())
    assert names == ["c.backward.dot", "c.forward.dot", "c.forward.svg", "c.py"]
    assert "the backward graph is not drawn: it has" in capsys.readouterr().err


@needs_dot
def test_a_recompile_leaves_no_files_of_the_earlier_one(tmp_path):
    model = tmp_path / "c.nn"
    model.write_text(CHAIN)
    out = tmp_path / "o"
    (out).mkdir()
    (out / "other.forward.svg").write_text("another model's")
    assert cli.main(["compile", str(model), "-o", str(out)]) == 0
    assert cli.main(["compile", str(model), "-o", str(out), "--format", "png"]) == 0
    names = sorted(p.name for p in out.iterdir())
    assert names == ["c.backward.dot", "c.backward.png", "c.forward.dot", "c.forward.png", "c.html", "c.py"] + [
        "other.forward.svg"
    ]
    assert cli.main(["compile", str(model), "-o", str(out), "--no-render"]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["c.py", "other.forward.svg"]


def test_every_gradient_is_drawn_even_without_a_path():
    text = "param x : []\nparam unused : [3]\nloss = x * 2\nminimize loss wrt x, unused\n"
    _, back = dots(text)
    assert "gradient d_unused\\n∂loss/∂unused = 0 (no path from unused to loss)\\n[3]" in back
    _, itself = dots("param x : []\nminimize x\n")
    assert "gradient d_x\\n∂x/∂x = 1\\n[]" in itself
    from graphc import page

    c = compile_text(text, "m.nn")
    assert page.node_map(c.graph, c.code_lines, text)[f"a{c.graph.params['unused']}"]["src"] == [2]


@needs_dot
@pytest.mark.parametrize("folder", ["-out", "a folder"])
def test_the_command_that_draws_a_graph_left_undrawn_runs_as_shown(folder, tmp_path, monkeypatch, capsys):
    """The warning's `dot` command, pasted into a shell, draws the picture: a folder with a
    space is quoted, and one whose name starts with a dash is not taken for an option."""
    model = tmp_path / "c.nn"
    model.write_text(CHAIN)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(render, "MAX_DRAWN", 7)  # the backward graph (8 nodes) is not drawn
    assert cli.main(["compile", str(model), f"-o={folder}"]) == 0
    hint = re.search(r"`(dot -Tsvg .+)` draws it", capsys.readouterr().err).group(1)
    subprocess.run(hint, shell=True, check=True, capture_output=True)
    assert (tmp_path / folder / "c.backward.svg").read_bytes().lstrip().startswith((b"<?xml", b"<svg"))


@needs_dot
def test_a_recompile_keeps_pictures_drawn_by_hand_from_its_dot_files(tmp_path, monkeypatch, capsys):
    """A picture drawn from graphc's .dot (as its warning about a graph too large suggests)
    has the name graphc would give it, and graphc's marks: only the .dot's list tells it apart."""
    model = tmp_path / "c.nn"
    model.write_text(CHAIN)
    out = tmp_path / "o"
    monkeypatch.setattr(render, "MAX_DRAWN", 7)  # the backward graph (8 nodes) is not drawn
    assert cli.main(["compile", str(model), "-o", str(out)]) == 0
    hint = re.search(r"`(dot -Tsvg \S+ -o \S+)` draws it", capsys.readouterr().err).group(1)
    subprocess.run(hint.split(), check=True)  # what the user does
    subprocess.run(["dot", "-Tpng", str(out / "c.forward.dot"), "-o", str(out / "c.forward.png")], check=True)
    drawn = {name: (out / name).read_bytes() for name in ("c.backward.svg", "c.forward.png")}
    assert cli.main(["compile", str(model), "-o", str(out)]) == 0
    assert {name: (out / name).read_bytes() for name in drawn} == drawn
    # --format png: graphc draws a forward.png of its own over the hand-drawn one of that name,
    # which the next compile in svg removes as graphc's; the hand-drawn backward.svg stays
    assert cli.main(["compile", str(model), "-o", str(out), "--format", "png"]) == 0
    assert (out / "c.backward.svg").read_bytes() == drawn["c.backward.svg"]
    assert cli.main(["compile", str(model), "-o", str(out)]) == 0
    assert sorted(p.name for p in out.iterdir()) == [
        "c.backward.dot",
        "c.backward.svg",
        "c.forward.dot",
        "c.forward.svg",
        "c.py",
    ]


@needs_dot
def test_the_command_that_draws_an_undrawn_graph_can_be_pasted_into_a_shell(tmp_path, monkeypatch, capsys):
    """The folder is the user's: a space or a quote in it must not split the suggested command."""
    model = tmp_path / "c.nn"
    model.write_text(CHAIN)
    out = tmp_path / "my graphs's folder"
    monkeypatch.setattr(render, "MAX_DRAWN", 7)  # the backward graph (8 nodes) is not drawn
    assert cli.main(["compile", str(model), "-o", str(out)]) == 0
    hint = re.search(r"`(dot -Tsvg .+?)` draws it", capsys.readouterr().err).group(1)
    subprocess.run(hint, shell=True, check=True, capture_output=True)
    assert (out / "c.backward.svg").read_bytes().startswith(b"<?xml")


@needs_dot
def test_a_pdf_is_the_same_bytes_whenever_it_is_drawn(tmp_path):
    """Graphviz's PDF carries the second it was drawn: two compiles of one model would differ.
    The date is blanked where it stands, so every offset the file's table gives still holds."""
    model = tmp_path / "c.nn"
    model.write_text(CHAIN)
    assert cli.main(["compile", str(model), "-o", str(tmp_path / "o"), "--format", "pdf"]) == 0
    for kind in ("forward", "backward"):
        pdf = (tmp_path / "o" / f"c.{kind}.pdf").read_bytes()
        assert pdf.startswith(b"%PDF-") and b"CreationDate" not in pdf
        table = pdf[int(pdf.rsplit(b"startxref", 1)[1].split()[0]) :]
        assert table.startswith(b"xref")
        offsets = [int(row.split()[0]) for row in table.splitlines()[2:] if row.endswith(b" n ")]
        assert offsets and all(re.match(rb"\d+ 0 obj", pdf[at:]) for at in offsets)


@needs_dot
def test_a_picture_opened_alone_shows_tooltips_in_the_users_words(tmp_path):
    """A browser shows an SVG's <title>s on hover; Graphviz fills them with DOT ids."""
    model = tmp_path / "c.nn"
    model.write_text("fn act(z) = tanh(z)\n" + LOOP.replace("h = h + tanh(h @ W{i})", "h = h + act(h @ W{i})"))
    assert cli.main(["compile", str(model), "-o", str(tmp_path / "o")]) == 0
    for kind in ("forward", "backward"):
        svg = (tmp_path / "o" / f"c.{kind}.svg").read_text()
        assert 'class="cluster"' in svg  # the loop's passes and the fn's calls are boxed
        titles = re.findall(r"<title>(.*?)</title>", svg)
        shown = [t for t in titles if t]
        assert shown and not [t for t in shown if re.fullmatch(r"[a-z]\d+(_\d+)*|.*&gt;.*|c_\w+|cluster_\w+", t)], (
            titles
        )
    backward = (tmp_path / "o" / "c.backward.svg").read_text()
    assert "<title>chain rule through " in backward and "<title>∂" in backward


def test_a_compile_never_deletes_files_it_did_not_make(tmp_path):
    model = tmp_path / "c.nn"
    model.write_text(CHAIN)
    out = tmp_path / "o"
    out.mkdir()
    mine = {"c.html": "<h1>my notes</h1>", "c.forward.png": "a picture", "c.backward.dot": "digraph mine {}"}
    for name, text in mine.items():
        (out / name).write_text(text)
    assert cli.main(["compile", str(model), "-o", str(out), "--no-render"]) == 0
    assert {name: (out / name).read_text() for name in mine} == mine


def test_the_library_draws_what_compile_writes(tmp_path: Path) -> None:
    """compile_source's pictures are graphviz.Source objects of the .dot files compile writes
    (which say on their first line which pictures compile drew from them)."""
    import graphviz

    import graphc

    model = tmp_path / "two_layer.nn"
    model.write_text(TWO_LAYER)
    assert cli.main(["compile", str(model), "-o", str(tmp_path)]) == 0
    compiled = graphc.compile_source(TWO_LAYER, str(model))
    for kind, picture in [("forward", compiled.forward_picture), ("backward", compiled.backward_picture)]:
        assert isinstance(picture, graphviz.Source)
        first, rest = (tmp_path / f"two_layer.{kind}.dot").read_text().split("\n", 1)
        assert picture.source == rest
        assert first == f"// graphc drew from this file: two_layer.{kind}.svg"


@needs_dot
def test_a_notebook_shows_the_library_picture_inline() -> None:
    import graphc

    picture = graphc.compile_source(CHAIN, "chain.nn").backward_picture
    svg = picture._repr_mimebundle_()["image/svg+xml"]  # what Jupyter calls to display it
    texts = re.findall(r"<text[^>]*>([^<]*)</text>", svg)
    assert ET.fromstring(svg.encode()).tag.endswith("svg")
    assert {"∂h/∂x", "∂h/∂g", "· 2g", "gradient d_x"} <= set(texts)


def test_the_page_points_a_value_made_in_a_fn_call_at_the_call_too():
    """A value made inside a fn is on the fn's line, but the user wrote it on the call's: the
    page highlights both and its title says which call and which pass."""
    from graphc import page

    text = "dim B\ninput x : [B, 3]\nparam M : [3, 3]\nfn res(a, W) = a + tanh(a @ W)\nh = x\n"
    text += "for i in 1..2 {\n  h = res(h, M)\n}\nloss = sum(h)\nminimize loss\n"
    c = compile_text(text, "m.nn")
    mapping = page.node_map(c.graph, c.code_lines, text)
    second = max(n for n in c.graph.order() if c.graph.op(n) == "add" and c.graph.node(n)["phase"] == "forward")
    assert mapping[f"f{second}"]["src"] == [4, 7]
    assert mapping[f"f{second}"]["title"] == "h₂ [B, 3] = add, line 4, in res() called at line 7, i = 2"


ALIASED = """\
dim B
input x : [B, 3]
input y : [B]
param w : [3]
fn lin(a, v) {
    z = a @ v
    return z
}
fn mse(p, t) {
    err = mean((p - t)^2)
    return err
}
pred = lin(x, w)
loss = mse(pred, y)
output pred
minimize loss
"""


def test_the_objective_and_an_output_keep_the_names_the_model_gives_them():
    """A value first named inside a fn (z, err) and then bound by the caller (pred, loss) keeps
    its first name; the pictures said 'minimize err' for `minimize loss`, marked z 'output'
    for `output pred`, and began the chain rule at ∂loss/∂err under a title saying
    ∂loss/∂loss = 1."""
    from graphc import page

    fwd, back = dots(ALIASED)
    assert "minimize err" not in fwd
    assert 'label="minimize loss\\nerr = mean\\n[]"' in fwd
    assert 'label="z = matmul\\n[B]\\noutput pred"' in fwd
    c = compile_text(ALIASED, "m.nn")
    top = c.graph.objective[1]
    assert f'a{top} [id="a{top}", label="∂loss/∂loss = ∂loss/∂err\\n[]"' in back
    assert page.node_map(c.graph, c.code_lines, ALIASED)[f"a{top}"]["title"].startswith("∂loss/∂loss = ∂loss/∂err:")
    # an output or objective that is the value's own name is drawn as before
    fwd, back = dots(TWO_LAYER)
    assert 'label="pred = add\\n[B, 1]\\noutput"' in fwd
    assert 'label="minimize loss\\nloss = mean\\n[]"' in fwd
    assert 'label="∂loss/∂loss\\n[]"' in back


def test_values_too_long_to_write_out_are_told_apart_by_what_they_add():
    """A value whose source text is too long for a box was drawn by its op alone: the
    partial sums of a loss of four terms were two boxes both saying ∂loss/∂add(…)."""
    text = (
        "param alpha : [3]\nparam beta : [3]\nparam gamma : [3]\nparam delta : [3]\n"
        "loss = sum(alpha * alpha) + sum(beta * beta) + sum(gamma * gamma) + sum(delta * delta)\n"
        "minimize loss\n"
    )
    _, back = dots(text)
    adjoints = re.findall(r'label="(∂loss/∂[^"]*)\\n\[\]', back)
    assert "∂loss/∂(… + sum(beta * beta))" in adjoints
    assert "∂loss/∂(… + sum(gamma * gamma))" in adjoints
    assert not any("add(…)" in a for a in adjoints)
    assert len(adjoints) == len(set(adjoints))


@needs_dot
def test_a_long_chain_is_drawn_as_a_column_not_a_diagonal():
    """A value read only at the end (y) beside a 24-layer chain pulled the chain over
    towards it, into a diagonal several times the width of one layer."""
    text = (
        "dim B\ninput x : [B, 4]\ninput y : [B, 4]\nh = x\n"
        "for i in 1..24 {\n    param W{i} : [4, 4]\n    h = tanh(h @ W{i})\n}\nloss = mean((h - y)^2)\nminimize loss\n"
    )

    def width(dot: str) -> float:
        return float(re.search(r'<svg width="([\d.]+)pt"', render.render(dot).decode())[1])

    deep, one = dots(text), dots(text.replace("24", "1"))
    assert width(deep[0]) < 1.5 * width(one[0]), (width(deep[0]), width(one[0]))  # 5.4x before
    # the backward chain still leans (its gradients and the forward values it reads sit beside
    # it), but less: 2.9x one layer's width before, 2.2x now
    assert width(deep[1]) < 2.5 * width(one[1]), (width(deep[1]), width(one[1]))
