"""Mutated models: graphc either accepts them or reports GraphcError, never anything else.

Valid models (and the error programs of tests/programs/err) are damaged at the character, token and byte level (deletions,
duplications, swaps, stray brackets and random bytes). Whatever comes out,
the front end must answer with a result or a GraphcError whose report formats,
and the command line must answer with exit status 0 or 1 and no traceback.
"""

from __future__ import annotations

import contextlib
import io
import re
import signal
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_parser import larks_loop, our_loop  # tests/ is on the path: pytest puts it there

from graphc import parser, tables
from graphc.cli import main
from graphc.errors import GraphcError
from graphc.pipeline import check, compile_text

SEEDS = [
    """model regression
dim B
input x : [B, 3]
input y : [B, 1]
param W1 : [3, 4] = normal(0, 0.5)
param b1 : [4] = zeros
param W2 : [4, 1] = glorot
fn dense(a, W, b) = a @ W + b
h = sigmoid(dense(x, W1, b1))
pred = dense(h, W2, b2)
loss = mean((pred - y)^2)
output pred
minimize loss
""".replace("b2)", "b1 @ W2)"),
    """# a classifier with a loop and labels
model classify
dim B
const H = 4
input x : [B, 3]
input k : int[B]
param W1 : [3, H] = he
fn block(a, M) {
  t = a @ M
  return tanh(t) + a
}
h = relu(x @ W1)
for i in 2..3 {
  param W{i} : [H, H] = uniform(-0.1, 0.1)
  h = block(h, W{i})
}
logits = reshape(h, [B, -1]).T.T
loss = mean(cross_entropy(logits, k)) + 0.1 * sum(softmax(logits, axis=1)^2, axis=(0, 1))
minimize loss wrt W1, W2
""",
    """param x : []
input k : int[]
g = 2*x + 1
h = g^2 - -x^-1 + maximum(x, 0.5) * logsumexp(one_hot(k, 3), axis=-1, keepdims=false)
minimize h
""",
]

# the error programs are near-models too, and their mutations reach the error paths
ERROR_PROGRAMS = [p.read_text() for p in sorted((Path(__file__).parent / "programs" / "err").glob("*.nn"))]
STARTS = SEEDS + ERROR_PROGRAMS

PIECES = ["(", ")", "[", "]", "{", "}", ",", "=", ":", "..", ".", "-1", "0", "1e9", "^", "**", "@", "#", "\n", " "]
PIECES += ["for", "fn", "in", "int", "return", "W{i}", "{i+1}", "axis=", "keepdims=true", "B", "T", "x", "sum("]
TOKEN = re.compile(r"[A-Za-z_]\w*(\{\w+([+-]\d+)?\})?|\d+(\.\d+)?([eE][+-]?\d+)?|\*\*|\.\.|\s+|.", re.S)

# keep every example small and quick; a hang shows up as a failure through the alarm below
FUZZ = settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)
HANG_SECONDS = 60
# graphc.cli.main raises the recursion limit; raising it first keeps hypothesis from
# seeing it change during a test
sys.setrecursionlimit(max(sys.getrecursionlimit(), 20000))


class Hang(Exception):
    pass


@contextlib.contextmanager
def no_hang() -> Iterator[None]:
    """Turn a run longer than HANG_SECONDS into a failure (where the platform has SIGALRM)."""
    if not hasattr(signal, "SIGALRM"):
        yield
        return

    def on_alarm(signum, frame):
        raise Hang(f"took more than {HANG_SECONDS} s")

    old = signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(HANG_SECONDS)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


@st.composite
def char_mutations(draw: st.DrawFn) -> str:
    text = draw(st.sampled_from(STARTS))
    for _ in range(draw(st.integers(1, 4))):
        i = draw(st.integers(0, len(text)))
        j = min(len(text), i + draw(st.integers(0, 8)))
        kind = draw(st.sampled_from(["delete", "duplicate", "swap", "insert"]))
        if kind == "delete":
            text = text[:i] + text[j:]
        elif kind == "duplicate":
            text = text[:j] + text[i:j] + text[j:]
        elif kind == "swap" and j - i >= 2:
            text = text[:i] + text[j - 1] + text[i + 1 : j - 1] + text[i] + text[j:]
        else:
            text = text[:i] + draw(st.sampled_from(PIECES)) + text[i:]
    return text


@st.composite
def token_mutations(draw: st.DrawFn) -> str:
    tokens = [m.group() for m in TOKEN.finditer(draw(st.sampled_from(STARTS)))]
    for _ in range(draw(st.integers(1, 4))):
        i = draw(st.integers(0, len(tokens) - 1))
        j = draw(st.integers(0, len(tokens) - 1))
        kind = draw(st.sampled_from(["delete", "duplicate", "swap", "move"]))
        if kind == "delete":
            del tokens[i]
        elif kind == "duplicate":
            tokens.insert(i, tokens[i])
        elif kind == "swap":
            tokens[i], tokens[j] = tokens[j], tokens[i]
        else:
            tokens.insert(j, tokens.pop(i))
        if not tokens:
            tokens = ["x"]
    return "".join(tokens)


@st.composite
def byte_mutations(draw: st.DrawFn) -> bytes:
    data = draw(st.sampled_from(STARTS)).encode()
    for _ in range(draw(st.integers(1, 3))):
        i = draw(st.integers(0, len(data)))
        junk = draw(st.one_of(st.binary(min_size=1, max_size=6), st.sampled_from([b"(((", b"]]", b"{", b"\x00"])))
        data = data[:i] + junk + data[i:]
    return data


def front_end_answers(text: str) -> None:
    """check() returns or raises GraphcError with a report that formats; nothing else."""
    with no_hang():
        try:
            check(text, "fuzz.nn")
        except GraphcError as e:
            report = e.format({"fuzz.nn": text})
            assert e.diagnostics
            assert report.count("error: ") >= len(e.diagnostics)


@FUZZ
@given(char_mutations())
def test_character_mutations(text: str) -> None:
    front_end_answers(text)


@FUZZ
@given(token_mutations())
def test_token_mutations(text: str) -> None:
    front_end_answers(text)


@FUZZ
@given(token_mutations())
def test_table_walk_matches_larks_own_loop_on_mutations(text: str) -> None:
    """The parser's own walk over lark's tables gives lark's tree, or fails at lark's token with its expectations."""
    with parser._LOCK:
        assert our_loop(text) == larks_loop(text)


@FUZZ
@given(token_mutations())
def test_compiled_statements_match_larks_own_loop_on_mutations(text: str) -> None:
    """A statement met again often runs as steps compiled for it (tables._compiled): with that
    from its first repeat on, a mutated model three times over gives lark's tree, or its error."""
    often, tables._COMPILED = tables._COMPILED, 1
    try:
        with parser._LOCK:
            assert our_loop(text * 3) == larks_loop(text * 3)
    finally:
        tables._COMPILED = often


@FUZZ
@given(st.sampled_from(STARTS), st.integers(0, 400), st.text(alphabet="()[]{},", min_size=1, max_size=30))
def test_stray_brackets(seed: str, at: int, brackets: str) -> None:
    at = min(at, len(seed))
    front_end_answers(seed[:at] + brackets + seed[at:])


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(byte_mutations())
def test_random_bytes_through_the_command_line(data: bytes) -> None:
    """Raw bytes go through file reading too: exit status 0 or 1, never a traceback."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "fuzz.nn"
        path.write_bytes(data)
        err = io.StringIO()
        with no_hang(), contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err):
            status = main(["check", str(path)])
        assert status in (0, 1)
        assert "Traceback" not in err.getvalue()
        if status == 1:
            assert "error: " in err.getvalue()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(char_mutations())
def test_mutations_that_check_also_compile(text: str) -> None:
    """A mutated model that passes check must compile; one that fails must fail the same way."""
    with no_hang():
        try:
            check(text, "fuzz.nn")
        except GraphcError:
            return
        compiled = compile_text(text, "fuzz.nn")
    assert "def loss_and_grad" in compiled.source


def test_the_seeds_are_valid() -> None:
    """The mutations start from models that compile, so the tests damage them rather than not-yet-models."""
    for seed in SEEDS:
        check(seed, "seed.nn")
