"""Golden files: the generated module and both DOT pictures of every example, byte for byte.

A change to the generated code or the pictures shows up here as a diff to review.
To accept it on purpose, regenerate the files and commit them:

    GRAPHC_UPDATE_GOLDEN=1 python -m pytest tests/test_golden.py
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from graphc import render
from graphc.pipeline import compile_text

ROOT = Path(__file__).resolve().parent.parent
GOLDEN = Path(__file__).resolve().parent / "golden"
EXAMPLES = sorted((ROOT / "examples").glob("*.nn"))
UPDATE = os.environ.get("GRAPHC_UPDATE_GOLDEN") == "1"


def artifacts(path: Path) -> dict[str, str]:
    text = path.read_text()
    # the file name as a user would pass it, so the header does not depend on where the repo lives
    c = compile_text(text, f"examples/{path.name}")
    return {
        f"{path.stem}.py": c.source,
        f"{path.stem}.forward.dot": render.forward_dot(c.graph, text, c.name),
        f"{path.stem}.backward.dot": render.backward_dot(c.graph, text, c.name),
    }


def test_there_are_examples():
    assert len(EXAMPLES) >= 5


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_examples_give_no_warning(path: Path):
    """The bundled models are written as a user should write them."""
    assert compile_text(path.read_text(), path.name).lowered.warnings == []


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_example_matches_golden(path: Path):
    for name, text in artifacts(path).items():
        golden = GOLDEN / name
        if UPDATE:
            golden.write_text(text)
            continue
        assert golden.exists(), f"no golden file {name}; run with GRAPHC_UPDATE_GOLDEN=1 to create it"
        assert text == golden.read_text(), f"{name} changed; review the diff and update the golden files on purpose"


@pytest.mark.parametrize("opt", [0, 1, 2])
def test_generated_lines_fit_the_width(opt: int):
    """Every example's module reads without side-scrolling, at every level: the runtime, the
    metadata, the docstrings and the statements all keep to the code generator's width."""
    from graphc.codegen import WIDTH

    for path in EXAMPLES:
        source = compile_text(path.read_text(), f"examples/{path.name}", "float32", opt).source
        long = [(i, line) for i, line in enumerate(source.splitlines(), 1) if len(line) > WIDTH]
        assert not long, f"{path.name} -O{opt}: lines wider than {WIDTH}: {long[:3]}"


@pytest.mark.parametrize("opt", [0, 1, 2])
def test_every_gradient_statement_sits_under_a_backprop_comment(opt: int):
    """A gradient's statement is filed under the chain-rule step it comes from, at every level,
    even where a pass dropped the forward op that step went through (d_pred at -O2 stood
    under '# line 27: loss = ...', the forward comment)."""
    for path in EXAMPLES:
        source = compile_text(path.read_text(), path.name, opt=opt).source
        body = source[source.index("def loss_and_grad(") :]
        comment = None
        for line in body.splitlines():
            stripped = line.strip()
            if stripped.startswith("# line ") or stripped.startswith("# backprop") or "used more than once" in line:
                comment = stripped
            elif re.match(r"d_\w+ = ", stripped):
                assert comment and not comment.startswith("# line "), f"{path.name} -O{opt}: {stripped} under {comment}"
