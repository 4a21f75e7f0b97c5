"""Shape of the generated code itself: what a reader sees, and work not done twice."""

from __future__ import annotations

import re

from graphc.pipeline import compile_text

MODEL = """\
dim B
input x : [B, 3]
input y : [B, 1]
param W : [3, 1]
pred = x @ W
loss = mean((pred - y)^2)
minimize loss
"""


def function(source: str, name: str) -> str:
    return re.search(rf"^def {name}\(.*?(?=^def |\Z)", source, re.S | re.M).group(0)


def test_an_argument_spelled_twice_by_an_emission_is_computed_once():
    # mean(v) is emitted as sum(v) / v.size: v must be a variable, not an expression copied twice
    for opt in (1, 2):
        loss = function(compile_text(MODEL, "m.nn", opt=opt).source, "loss")
        assert loss.count("np.square(") == 1, loss


def test_o0_writes_one_statement_per_op_and_o2_folds_single_uses():
    o0 = function(compile_text(MODEL, "m.nn", opt=0).source, "loss")
    o2 = function(compile_text(MODEL, "m.nn", opt=2).source, "loss")
    statements = lambda text: [line for line in text.splitlines() if re.match(r"    \w+ = ", line)]  # noqa: E731
    assert len(statements(o0)) > len(statements(o2))
    assert all(line.count("(") <= 2 for line in statements(o0) if "checked[" not in line)
