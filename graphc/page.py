"""NAME.html: the model source, both graphs and the generated code on one offline page.

Hovering or clicking a graph node highlights the source line it comes from and
the generated lines that compute it. Everything is inline (no network). Opening
the page as `NAME.html#select=ID` selects node ID on load, which is how the
end-to-end test drives it in a headless browser.
"""

from __future__ import annotations

import html
import json
import re

from graphc.ir import Graph
from graphc.ops.base import show
from graphc.render import Labels, adjoint_text, factor_text, op_text, xml_safe

_SCRIPT = r"""
const MAP = JSON.parse(document.getElementById('map').textContent);
function clear() {
  document.querySelectorAll('.hl').forEach(e => e.classList.remove('hl'));
}
let selected = null;
function select(id) {
  const m = MAP[id];
  if (!m) return;
  clear();
  selected = id;
  // one value is drawn up to three times: computed (f), read by a factor (r), its adjoint (a)
  const value = /^[fra](\d+)$/.exec(id);
  const same = value ? ['f', 'r', 'a'].map(p => p + value[1]) : [id];
  same.forEach(s => document.querySelectorAll('[id="' + s + '"]').forEach(e => e.classList.add('hl')));
  for (const [pane, lines] of [['src', m.src], ['code', m.code]]) {
    lines.forEach((n, i) => {
      const row = document.getElementById(pane + '-' + n);
      if (!row) return;
      row.classList.add('hl');
      if (i === 0) row.scrollIntoView({block: 'nearest'});
    });
  }
  document.getElementById('status').textContent = m.title;
}
// the picture in `section` scrolls to the selected node's drawing there, if it has one lit
function reveal(section) {
  const g = section.querySelector('g.node[id="' + selected + '"]') || section.querySelector('g.node.hl');
  if (g) g.scrollIntoView({block: 'center', inline: 'center'});
}
document.querySelectorAll('g.node').forEach(g => {
  const title = g.querySelector('title');
  if (!MAP[g.id]) return;
  if (title) title.textContent = MAP[g.id].title;  // Graphviz's own is the DOT id
  g.addEventListener('mouseenter', () => select(g.id));
  g.addEventListener('click', () => select(g.id));
});
document.querySelectorAll('g.edge > title').forEach(t => { t.textContent = ''; });
document.querySelectorAll('button.size').forEach(b => b.addEventListener('click', () => {
  const full = b.closest('section').classList.toggle('full');
  b.textContent = full ? 'fit to pane' : 'full size';
  reveal(b.closest('section'));
}));
const want = /#select=([\w]+)/.exec(location.hash);
if (want) {
  select(want[1]);
  document.querySelectorAll('section.graph').forEach(reveal);
} else {  // the code pane opens at the model's own functions, past the argument checks
  const start = [...document.querySelectorAll('[id^="code-"]')].find(r => r.textContent.includes('def forward('));
  if (start) start.closest('section').scrollTop = start.offsetTop - start.closest('section').offsetTop;
}
"""

_STYLE = """
body { font-family: Helvetica, Arial, sans-serif; margin: 0; color: #111827;
  display: flex; flex-direction: column; height: 100vh; }
/* one line, however long the hover text: a second would push the panes below the window */
header { padding: 8px 14px; background: #f3f4f6; border-bottom: 1px solid #d1d5db;
  white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }
header h1 { font-size: 17px; margin: 0; display: inline; }
#status { margin-left: 18px; color: #6d28d9; font-family: monospace; }
main { display: grid; grid-template-columns: 0.9fr 1.4fr 1.4fr 1.1fr; flex: 1; min-height: 0; }
section { overflow: auto; border-right: 1px solid #e5e7eb; padding: 6px; }
section h2 { font-size: 13px; color: #6b7280; margin: 4px 0; }
/* a picture scrolls under its heading, so the size button stays in view */
section.graph { overflow: hidden; display: flex; flex-direction: column; }
section.graph div.picture { overflow: auto; flex: 1; min-height: 0; }
/* as wide as the longest line, so a highlighted row is lit where the pane is scrolled to */
div.listing { font-family: monospace; font-size: 12px; line-height: 1.35; width: max-content; min-width: 100%; }
div.listing div { white-space: pre; padding: 0 4px; }
div.listing div span.n { color: #9ca3af; display: inline-block; width: 3.2em; user-select: none; }
div.listing div.hl { background: #fde68a; }
svg { max-width: 100%; height: auto; }
section.full svg { max-width: none; }
button.size { font-size: 11px; margin-left: 8px; }
g.node { cursor: pointer; }
g.node.hl polygon, g.node.hl ellipse, g.node.hl path { stroke: #f59e0b; stroke-width: 3; }
"""


def _numbered(text: str, pane: str) -> str:
    rows = []
    for i, line in enumerate(text.split("\n"), 1):
        rows.append(f'<div id="{pane}-{i}"><span class="n">{i}</span>{html.escape(line)}</div>')
    return '<div class="listing">' + "".join(rows) + "</div>"  # rows: a <pre> may hold no <div>


def _inline_svg(svg: str, pane: str) -> str:
    """The <svg> element alone, without the XML prologue and doctype. Graphviz numbers the
    ids it makes up (`graph0`, `edge1`) in each picture afresh: on one page they get the
    pane as a prefix, so no id is used twice; the nodes' own ids are unique already."""
    start = svg.find("<svg")
    if start < 0:
        return ""
    svg = re.sub(r"<!--.*?-->", "", svg[start:], flags=re.S)
    return re.sub(r'\bid="((?:graph|clust|edge|node)\d+)"', rf'id="{pane}-\1"', svg)


def node_map(graph: Graph, code_lines: dict[int, list[int]], source: str) -> dict[str, dict]:
    """Picture id -> source lines, generated lines and a title in the user's names, for
    every drawn node."""
    labels = Labels(graph, source)

    def src(n: int) -> list[int]:
        """The value's line and, inside fn calls, the lines that called them."""
        d = graph.node(n)
        calls = [frame[3] for frame in d.get("scope", ()) if frame[0] == "fn"]
        return sorted({d["span"].line, *calls}) if d.get("span") else []

    def value(n: int) -> str:
        d = graph.node(n)
        line = f", line {d['span'].line}" if d.get("span") else ""
        for kind, name, i, at in reversed(d.get("scope", ())):  # the innermost first
            line += f", in {name}() called at line {at}" if kind == "fn" else f", {name} = {i}"
        made = "" if d["op"] in ("input", "param", "const") else f" = {op_text(d)}"
        return f"{labels.name(n)} {show(d['shape'], d['dtype'])}{made}{line}"

    out: dict[str, dict] = {}
    by_adjoint: dict[int, list[int]] = {}
    by_origin: dict[tuple, list[int]] = {}
    for n in graph.order():
        d = graph.node(n)
        if d["phase"] == "forward":
            out[f"f{n}"] = out[f"r{n}"] = {"src": src(n), "code": code_lines.get(n, []), "title": value(n)}
        else:
            if d.get("adjoint_of") is not None:
                by_adjoint.setdefault(d["adjoint_of"], []).extend(code_lines.get(n, []))
            if d.get("origin") is not None:
                by_origin.setdefault(d["origin"], []).extend(code_lines.get(n, []))
    # every adjoint the picture draws: one passed through unchanged (that of `a + b` is
    # also `a`'s) has no statement of its own, but still its source line
    drawn = set(by_adjoint) | {v for a, n, _ in graph.chain for v in (a, n)}
    drawn |= {graph.params.get(w, graph.inputs.get(w)) for w in graph.grads}  # results, with a path or not
    for v in sorted(drawn):
        lines = by_adjoint.get(v, [])
        out[f"a{v}"] = {
            "src": src(v),
            "code": sorted(set(lines)),
            "title": f"{adjoint_text(graph, labels, v)}: the gradient at {value(v)}",
        }
    for a, n, pos in graph.chain:
        lines = by_origin.get((a, n, pos), [])
        out[f"e{a}_{n}_{pos}"] = {
            "src": src(n),
            "code": sorted(set(lines)),
            "title": f"chain rule through {value(n)}: {factor_text(graph, labels, a, n, pos)}".replace("\n", ", "),
        }
    return out


_TITLED = re.compile(rb'(<g id="([^"]+)" class="(node|edge|cluster|graph)"[^>]*>\n<title>)(.*?)(</title>)')


def titled(svg: bytes, mapping: dict) -> bytes:
    """The SVG with each drawing's tooltip in the user's words: Graphviz's is its DOT id
    (`a8`, `n0->n6`, `cluster_loop_i_1_38`), which a browser shows on hover. Edges, the
    boxes around loop passes and fn calls (which carry their own label), and the
    background get none."""

    def one(m: re.Match) -> bytes:
        entry = mapping.get(m.group(2).decode()) if m.group(3) == b"node" else None
        return m.group(1) + (html.escape(xml_safe(entry["title"])).encode() if entry else b"") + m.group(5)

    return _TITLED.sub(one, svg)


def _picture(svg: str, pane: str) -> str:
    return f'<div class="picture">{_inline_svg(svg, pane)}</div>'


_SIZE = '<button class="size" type="button">full size</button>'  # a large graph is squeezed to its pane


def make_page(model: str, source: str, code: str, forward_svg: str, backward_svg: str, mapping: dict) -> str:
    data = json.dumps(mapping, sort_keys=True).replace("</", "<\\/")
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(model)}: graphc</title>
<style>{_STYLE}</style></head>
<body>
<header><h1>{html.escape(model)}</h1><span id="status">hover or click a node</span></header>
<main>
<section><h2>model source</h2>{_numbered(source, "src")}</section>
<section class="graph"><h2>forward graph{_SIZE}</h2>{_picture(forward_svg, "forward")}</section>
<section class="graph"><h2>backward graph{_SIZE}</h2>{_picture(backward_svg, "backward")}</section>
<section><h2>generated code</h2>{_numbered(code, "code")}</section>
</main>
<script type="application/json" id="map">{data}</script>
<script>{_SCRIPT}</script>
</body></html>
"""
