"""What expressions mean: precedence, associativity, signs and numbers, as values.

Each expression is compiled into a module at -O0 and -O2 and its output is compared
with NumPy evaluating the same expression under Python's rules, which the language
shares: `^` (or `**`) binds tighter than a unary minus on its left and is
right-associative, `* / @` share a level and group to the left.
"""

from __future__ import annotations

import textwrap
import types

import numpy as np
import pytest

from graphc.errors import GraphcError
from graphc.pipeline import compile_text

RNG = np.random.default_rng(7)
INPUTS = {
    "x": RNG.uniform(0.5, 2.0, (3, 4)),
    "a": RNG.uniform(0.5, 2.0, (3, 4)),
    "b": RNG.uniform(0.5, 2.0, (3, 4)),
    "c": RNG.uniform(0.5, 2.0, (3, 4)),
    "W": RNG.normal(size=(4, 2)),
    "s": np.array(1.7),
}
DECLARED = "input x : [3, 4]\ninput a : [3, 4]\ninput b : [3, 4]\ninput c : [3, 4]\ninput W : [4, 2]\ninput s : []\n"


def module(text: str, opt: int) -> types.ModuleType:
    compiled = compile_text(textwrap.dedent(text), "model.nn", opt=opt)
    m = types.ModuleType(compiled.name)
    exec(compile(compiled.source, f"{compiled.name}.py", "exec"), m.__dict__)
    return m


def forward(expr: str, opt: int, consts: str = "") -> np.ndarray:
    m = module(f"model m\n{consts}{DECLARED}out = {expr}\nloss = sum(out)\noutput out\nminimize loss wrt x\n", opt)
    return m.forward(m.init_params(0), **INPUTS)


# the expression in .nn, and the same in Python (where ^ is **)
CASES = [
    ("-x^2", lambda x, **_: -(x**2)),
    ("-x**2", lambda x, **_: -(x**2)),
    ("(-x)^2", lambda x, **_: (-x) ** 2),
    ("-x^3", lambda x, **_: -(x**3)),
    ("2^-1 * x", lambda x, **_: 0.5 * x),
    ("x^-0.5", lambda x, **_: 1 / np.sqrt(x)),
    ("x**-0.5", lambda x, **_: 1 / np.sqrt(x)),
    ("x^-2", lambda x, **_: 1 / x**2),
    ("x^--2", lambda x, **_: x**2),
    ("x^+2", lambda x, **_: x**2),
    ("x^-(1 + 1)", lambda x, **_: 1 / x**2),
    ("x^2^3", lambda x, **_: x**8),
    ("x^0.5^2", lambda x, **_: x**0.25),
    ("x^2^-1", lambda x, **_: np.sqrt(x)),
    ("x ** -2 ** 2", lambda x, **_: x**-4.0),
    ("x^2 * 3", lambda x, **_: 3 * x**2),
    ("x^1/2", lambda x, **_: x / 2),
    ("exp(log(2) * x)", lambda x, **_: 2.0**x),  # what the error for 2^x says to write
    ("1 / x^2", lambda x, **_: 1 / x**2),
    ("a - b - c", lambda a, b, c, **_: (a - b) - c),
    ("a / b / c", lambda a, b, c, **_: (a / b) / c),
    ("a / b * c", lambda a, b, c, **_: (a / b) * c),
    ("a * -b", lambda a, b, **_: a * -b),
    ("a - -b", lambda a, b, **_: a + b),
    ("-(-x)", lambda x, **_: x),
    ("+x", lambda x, **_: x),
    ("-+-x", lambda x, **_: x),
    ("x.T.T", lambda x, **_: x),
    ("-x.T", lambda x, **_: -x.T),
    ("x.T^2", lambda x, **_: (x**2).T),
    ("exp(x).T", lambda x, **_: np.exp(x).T),
    ("exp(-x^2)", lambda x, **_: np.exp(-(x**2))),
    ("-a @ W", lambda a, W, **_: (-a) @ W),
    ("a @ -W", lambda a, W, **_: a @ -W),
    ("a @ b.T", lambda a, b, **_: a @ b.T),
    ("-a @ b.T", lambda a, b, **_: (-a) @ b.T),
    ("a^2 @ W", lambda a, W, **_: (a**2) @ W),
    ("(a @ W)^2", lambda a, W, **_: (a @ W) ** 2),
    ("s * a @ W", lambda a, W, s, **_: (s * a) @ W),
    ("a @ W * s", lambda a, W, s, **_: (a @ W) * s),
    ("a / s @ W", lambda a, W, s, **_: (a / s) @ W),
    ("a.T @ a @ W", lambda a, W, **_: (a.T @ a) @ W),
    ("1 - a @ W", lambda a, W, **_: 1 - a @ W),
    ("-s^2 * a", lambda a, s, **_: -(s**2) * a),
    ("sum(x, axis=-1, keepdims=true)", lambda x, **_: x.sum(axis=-1, keepdims=True)),
    ("sum(x, keepdims=true, axis=0,)", lambda x, **_: x.sum(axis=0, keepdims=True)),
    ("sum(x, axis=(-1, 0))", lambda x, **_: x.sum()),
    ("mean(x, axis=-1, keepdims=true) - x", lambda x, **_: x.mean(axis=-1, keepdims=True) - x),
    ("x * 2.5E+4 * 1E-3", lambda x, **_: x * 25.0),
    ("x * 007", lambda x, **_: x * 7),
    ("x * 3.14159265358979323846264338327950288", lambda x, **_: x * np.pi),
    ("x * 1e-400", lambda x, **_: x * 0.0),
]


@pytest.mark.parametrize("opt", [0, 2])
@pytest.mark.parametrize("expr, numpy", CASES, ids=[c[0] for c in CASES])
def test_an_expression_computes_what_numpy_computes(expr: str, numpy, opt: int) -> None:
    want = numpy(**INPUTS)
    got = forward(expr, opt)
    assert np.shape(got) == np.shape(want)
    np.testing.assert_allclose(got, want, rtol=1e-12)


@pytest.mark.parametrize(
    "const, want",
    [("-2^2", -4.0), ("2^-1", 0.5), ("2^3^2", 512.0), ("- -3", 3.0), ("10 - 3 - 2", 5.0), ("8 / 4 * 2", 4.0)],
)
def test_a_const_is_computed_with_the_same_precedence(const: str, want: float) -> None:
    got = forward("x * C", 0, consts=f"const C = {const}\n")
    np.testing.assert_allclose(got, INPUTS["x"] * want, rtol=1e-15)


def errors(text: str) -> list[str]:
    with pytest.raises(GraphcError) as e:
        compile_text(textwrap.dedent(text), "model.nn")
    return [f"{d.span.line}:{d.span.col}: {d.message}" for d in e.value.diagnostics]


@pytest.mark.parametrize("infer", ["-1", "-(1)", "0 - 1", "INFER", "-ONE"])
def test_reshape_infers_the_size_given_as_minus_one_however_it_is_written(infer: str) -> None:
    # there are no negative literals: -1 is an operator on 1, so any constant -1 is the one to infer
    got = forward(f"reshape(x, [{infer}, 2])", 0, consts="const INFER = -1\nconst ONE = 1\n")
    np.testing.assert_array_equal(got, INPUTS["x"].reshape(-1, 2))


def test_a_size_written_as_a_float_is_refused_at_the_number() -> None:
    # NumPy refuses reshape(x, (-1.0, 2)) and zeros(3.0); 1.0 is a value, a size is a whole number
    said = errors(
        "dim B\ninput x : [B, 2.0]\nparam p : [3e0]\nloss = sum(reshape(x, [-1.0, 2])) + sum(p)\nminimize loss\n"
    )
    assert said == [
        "2:15: a size is written as a whole number, without a point or an exponent: write 2, not 2.0",
        "3:12: a size is written as a whole number, without a point or an exponent: write 3, not 3e0",
        "4:25: a size is written as a whole number, without a point or an exponent: write 1, not 1.0",
    ]
    # arithmetic on a fraction is checked by its result, as before
    assert (
        "a size must be a positive integer, not 1.5" in errors("param p : [0.5*3]\nloss = sum(p)\nminimize loss\n")[0]
    )


def test_a_second_minus_one_by_value_is_refused_as_a_second() -> None:
    said = errors("const INFER = -1\nparam p : [6]\nloss = sum(reshape(p, [INFER, 0 - 1]))\nminimize loss\n")
    assert said == ["3:31: reshape allows one -1 (the size to infer), and this is a second"]


@pytest.mark.parametrize(
    "line, said",
    [
        ("loss = sum(x ^ true)", "3:16: the exponent of ^ must be a number, not true"),
        ("loss = sum(x, axis=false)", "3:20: an axis must be a number, not false"),
        ("loss = sum(reshape(x, [true, 4]))", "3:24: a size in reshape must be a number, not true"),
    ],
)
def test_true_or_false_where_a_number_goes_is_said_to_be_no_number(line: str, said: str) -> None:
    # true is a compile-time constant: 'must be a compile-time constant' would not say what is wrong
    assert errors(f"model m\ninput x : [2, 4]\n{line}\nminimize loss wrt x\n") == [said]


def test_a_const_of_true_is_said_to_be_no_number() -> None:
    assert errors("const C = true\ninput x : [2]\nloss = sum(x * C)\nminimize loss wrt x\n") == [
        "1:11: const C must be a number, not true"
    ]
