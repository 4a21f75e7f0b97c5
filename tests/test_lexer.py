"""The lexer's two ways of reading a text must agree: a stretch of statements at a time by
findall and NumPy (what `lines` does), and a token at a time (`exact`, and where the first
cannot go on). Same kinds, offsets, counts yielded, error and brackets left open; and the
leaves made of them are the lark Tokens' own fields.

Each text is read with the stretches of the real size and with tiny ones, so that stretch
ends fall inside tokens, runs of newlines and brackets laid over lines, and a stretch in
which no statement ends has to grow.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from array import array
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lark.exceptions import UnexpectedCharacters
from test_fuzz import STARTS, byte_mutations, char_mutations, token_mutations
from test_parser import BROKEN, CORNERS

from graphc import lexer as lexing
from graphc import parser, stretches
from graphc.lexer import Leaf, Reserved
from graphc.tables import Stuck

ROOT = Path(__file__).parent.parent
FILES = sorted((ROOT / "examples").glob("*.nn")) + sorted(
    p for p in (ROOT / "tests" / "programs").rglob("*") if p.is_file()
)
# what the stretches must leave to the exact reading, and what they must read themselves
ODD = [
    "",
    "\n",
    "   ",
    "x = 1",  # no newline at the end
    "x = 1   ",  # blanks alone at the end
    "x = 1\r\ny = 2\r\n",
    "x =\t1\f\n\n\n\t \ny = (1,\n\n  2)\n",
    "x = (1,\n2\n",  # never closed
    "x = 1)\ny = 2\n",  # closed, never opened
    "y = [1, 2]]\nz = 3\n",
    "x = for{i}\n",  # a reserved word before braces
    "W{i} = in{j+1}b\n",
    "param W{i-2}x : [3] # for{i}\n",
    "x = 1 $ 2\ny = 3\n",
    "x = 1 \x00 2\n",
    "x = 1 # caf\u00e9 \u2028 \U0001f600\ny = 2\n",
    "x = caf\u00e9\n",
    "x = \ud800\n",  # a lone surrogate, as a file read with errors='surrogateescape' may hold
    "minimize minimizer wrt wrtx, in, int, inx, true, truex, false_\n",
    "x = a ** b ^ c * d .. e . f\ny = 1..3 1.e3 2.5E+4 1e-3 7.T\n",
    "a_very_long_name_indeed = another_long_one + a_very_long_name_indeed\n",
    "x = abcdefg0 + abcdefg8 + abcdefg0 + abcdefg\n",  # 8 characters, the last ones a bit apart
    "x = y\n" * 50 + "z = (\n" + "  1,\n" * 50 + ")\n" + "w = 2\n" * 50,
    "x = y\n" * 40 + "z = (1\n" + "w = 2\n" * 40,
    "x = y\n" * 40 + "z = q{i}\nfor{j} = 1\n" + "w = 2\n" * 40,
]
TEXTS = [p.read_text() for p in FILES] + [CORNERS, CORNERS[: CORNERS.index("$")]] + BROKEN + ODD + STARTS


@contextlib.contextmanager
def sizes(stretch: int, batch: int) -> Iterator[None]:
    """Any text read by NumPy, in stretches of `stretch` characters (growing as they do), and
    its leaves made `batch` at a time."""
    old = lexing.LARGE, stretches._STRETCH, stretches._BATCH
    lexing.LARGE, stretches._STRETCH, stretches._BATCH = 0, stretch, batch
    try:
        yield
    finally:
        lexing.LARGE, stretches._STRETCH, stretches._BATCH = old


def read(text: str, exact: bool, flat: bool = True) -> tuple:
    """Everything `lines` gives and leaves behind, and the error it raises (as plain values)."""
    lexer = parser._front()[2]
    kinds: list[str] = []
    spans = array("q") if flat else []
    counts, error = [], None
    try:
        for count in lexer.lines(text, kinds, spans, exact=exact):
            counts.append(count)
    except UnexpectedCharacters as e:
        error = ("bad", e.pos_in_stream, e.line, e.column)
    except Reserved as e:
        error = ("reserved", e.start, e.end, e.word)
    return kinds, list(spans), counts, error, list(lexer.opened)


def agree(text: str) -> None:
    exact = read(text, exact=True)
    assert list(parser._front()[2].leaves(text, *exact[:2], parser._front()[3].dropped)) == from_tokens(text)
    for stretch, batch in ((stretches._STRETCH, stretches._BATCH), (1, 1), (7, 3), (64, 5)):
        with sizes(stretch, batch):
            assert read(text, exact=False) == exact
            assert read(text, exact=False, flat=False) == exact
            assert leaves(text) == from_tokens(text)


def leaves(text: str) -> list:
    _, _, lexer, tables = parser._front()
    kinds, spans = read(text, exact=False)[:2]
    made = list(lexer.leaves(text, kinds, array("q", spans), tables.dropped))
    # one string for each spelling, the interned one
    assert all(leaf.value is sys.intern(leaf.value) for leaf in made if leaf is not None)
    return made


def from_tokens(text: str) -> list:
    """The leaves as the lark Tokens of the same tokens give them."""
    _, _, lexer, tables = parser._front()
    kinds, spans = read(text, exact=True)[:2]
    return [
        None if t.type in tables.dropped else Leaf(t.type, t.value, t.line, t.column, t.end_line, t.end_column)
        for t in lexer.tokens(text, kinds, spans)
    ]


@pytest.mark.parametrize("text", TEXTS, ids=[f"{i}" for i in range(len(TEXTS))])
def test_stretches_read_as_a_token_at_a_time_does(text: str) -> None:
    with parser._LOCK:
        agree(text)
        agree(text + "\n")


def test_the_odd_texts_are_read_in_stretches_where_they_can_be() -> None:
    """The stretches give way to the exact reading only where they must: plain texts, CRLF,
    comments past ASCII and brackets over lines are theirs."""
    numpy = parser._front()[2].stretches()
    with parser._LOCK:
        for text in [ODD[5], ODD[6], ODD[15], ODD[19], ODD[21]]:
            assert numpy._stretch(text, 0, len(text)) not in (None, False)
        for text in [ODD[7], ODD[8], ODD[10], ODD[13], ODD[14]]:
            assert numpy._stretch(text, 0, len(text)) is None


FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FUZZ
@given(st.one_of(char_mutations(), token_mutations(), byte_mutations().map(lambda b: b.decode(errors="replace"))))
def test_stretches_read_mutated_models_as_a_token_at_a_time_does(text: str) -> None:
    with parser._LOCK:
        agree(text)


def test_an_error_in_the_first_lines_is_found_without_reading_the_rest() -> None:
    """parse reads the text again after each error, so the lexer must not read it all first."""
    _, _, lexer, tables = parser._front()
    text = "x = 1 2\n" + "y = a + b * c\n" * 100_000
    assert len(text) >= lexing.LARGE
    kinds: list[str] = []
    with parser._LOCK, pytest.raises(Stuck):
        tables.recognize(lexer.lines(text, kinds, array("q")), kinds)
    assert 3 < len(kinds) < 10_000


def test_a_small_text_is_parsed_without_numpy() -> None:
    """A syntax check of a small model loads no NumPy (a tenth of a second, more than the check)."""
    code = "import sys; from graphc.parser import parse; parse('x = 1\\n' * 1000); assert 'numpy' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
