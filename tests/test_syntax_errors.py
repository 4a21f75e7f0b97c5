"""The hints in syntax errors: each suggested fix is one graphc accepts, and none costs more than the line."""

from __future__ import annotations

import subprocess
import sys

import pytest

from graphc.errors import GraphcError
from graphc.parser import parse


def errors(text: str) -> list[str]:
    with pytest.raises(GraphcError) as info:
        parse(text, "m.nn")
    return [f"{d.span.line}:{d.span.col}: {d.message}" for d in info.value.diagnostics]


LONG_LINES = [
    "y = x" + ".a" * 40_000 + "()\n",
    "y = x" + ". a" * 40_000 + "(\n",
    "y = " + "a" * 40_000 + ".{ i }\n",
    "y = (" + " + ".join(["x"] * 20_000) + ").sum()\n",
    "y = 2(" + " + ".join(["x"] * 20_000) + ")\n",
    "y = " + "1." * 20_000 + "x\n",
]


def test_a_long_line_costs_no_more_than_its_length() -> None:
    """The hints look back from the error a bounded way, and quote no more than a few dozen characters."""
    code = (
        "import sys\nfrom graphc.parser import parse\nfrom graphc.errors import GraphcError\n"
        "for text in sys.stdin.read().split('\\0'):\n"
        "    try:\n        parse(text, 'm.nn')\n"
        "    except GraphcError as e:\n        print(max(len(d.message) for d in e.diagnostics))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], input="\0".join(LONG_LINES), capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    lengths = [int(n) for n in proc.stdout.split()]
    assert len(lengths) == len(LONG_LINES) and max(lengths) < 200


def test_long_quoted_text_gives_the_general_form() -> None:
    assert errors("y = (" + " + ".join(["x"] * 100) + ").sum()\n") == [
        "1:404: graphc has no methods: write sum(value, ...)"
    ]
    assert errors("y = 2(" + " + ".join(["x"] * 100) + ")\n") == ["1:6: unexpected '(' after a number; write 2*(...)"]
    assert errors("y = " + "1." * 100 + "x\n")[0].endswith(
        "malformed number; numbers are written like 3, 0.5, 1e-3 or 2.5E+4"
    )
