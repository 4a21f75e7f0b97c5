"""Elementwise ops: arithmetic, the math functions, and the masks their derivatives use."""

from __future__ import annotations

import math
from dataclasses import replace

from graphc.ops.base import (
    AFFINE,
    CONCAVE,
    CONVEX,
    Facts,
    OpDef,
    ShapeError,
    V,
    binary,
    mask,
    nondifferentiable,
    op,
    show,
    unary,
)

INC, DEC = frozenset({"x"}), frozenset()


# x^p for these |p| by squares, square roots and products, written into `out` (never x
# itself: pow is not planned in place) or as a plain expression (one that spells x twice
# gets x as a variable, see statements.py); np.power calls the C library's pow on every element,
# 8 to 18 times slower. They agree with np.power but at x = -inf for fractional p (nan, as
# at every other negative x, where pow gives inf or 0) and for negative powers past the
# float range (1 / x^2 is 0 where pow gives a subnormal number).
_BY_PRODUCTS = {
    2: ("{xp}.square({x}, out={out})", "{xp}.square({x})"),
    3: ("{xp}.multiply({xp}.square({x}, out={out}), {x}, out={out})", "{xp}.square({x}) * {x}"),
    4: ("{xp}.square({xp}.square({x}, out={out}), out={out})", "{xp}.square({xp}.square({x}))"),
    0.5: ("{xp}.sqrt({x}, out={out})", "{xp}.sqrt({x})"),
    1.5: ("{xp}.multiply({xp}.sqrt({x}, out={out}), {x}, out={out})", "{xp}.sqrt({x}) * {x}"),
}


def _minus_zero_or_unknown(attrs) -> bool:
    """Whether pow's argument may be -0.0: anything but a number written out other than it."""
    value = attrs.get("known", (None,))[0]
    return value is None or (value == 0.0 and math.copysign(1.0, value) < 0)


def _pow_text(xp, p, x, out, minus_zero=True):
    forms = _BY_PRODUCTS.get(abs(p))
    if p == -0.5:  # sqrt(-0.0) is -0.0, and + 0.0 makes it +0.0: x^-0.5 is +inf there, as pow gives
        if out:
            return f"{xp}.divide(1.0, {xp}.add({xp}.sqrt({x}, out={out}), 0.0, out={out}), out={out})"
        # a number other than -0.0 (D^-0.5 at -O0, where consts are not folded) needs no + 0.0
        return f"1 / ({xp}.sqrt({x}) + 0.0)" if minus_zero else f"1 / {xp}.sqrt({x})"
    if p == -1:
        return f"{xp}.divide(1.0, {x}, out={out})" if out else f"1 / {x}"
    if forms is None:
        exponent = int(p) if p == int(p) else p
        return f"{xp}.power({x}, {exponent!r}, out={out})" if out else f"{x} ** {exponent!r}"
    if out:
        text = forms[0].format(xp=xp, x=x, out=out)
        return f"{xp}.divide(1.0, {text}, out={out})" if p < 0 else text
    text = forms[1].format(xp=xp, x=x)
    return text if p > 0 else f"1 / {text}" if "*" not in text else f"1 / ({text})"


def _pow_emit(xp, attrs, x):
    return _pow_text(xp, attrs["p"], x, None, _minus_zero_or_unknown(attrs))


def _pow_into(xp, attrs, out, x):
    return _pow_text(xp, attrs["p"], x, out)


def _sqrt_grad(g, out, x):
    # from the output, over its absolute value: sqrt(-0.0) is -0.0, and the derivative at
    # -0.0 is +inf as at 0.0, not -inf
    return g * 0.5 / op("abs", out)


def _pow_grad(g, out, x, p):
    # d/dx x^p = p x^(p-1)
    if p == 0:
        return g * 0.0  # not 0 * x^-1, which is nan at x = 0
    if p == 1:
        return g
    if p == 2:
        return g * (2 * x)
    if p == 0.5:  # as sqrt's: from the output, not a second square root (+inf at either zero)
        return _sqrt_grad(g, out, x)
    return g * (p * x ** (p - 1))


def _pow_shape(attrs, t):
    if t[1] != "float":
        raise ShapeError(f"^ needs float values, but its base is {show(*t)}")
    return t


def _pow_facts(p: float) -> Facts:
    """x^p: convex for p >= 1 only on x >= 0 unless p is an even integer."""
    if p == int(p) and int(p) % 2 == 0 and p > 0:
        return Facts(curvature=CONVEX)
    return Facts()


POW = OpDef(
    "pow",
    ("x",),
    _pow_shape,
    _pow_emit,
    {"x": _pow_grad},
    Facts(),  # depends on p: see _pow_facts
    atomic=False,
    formula={"x": "· {p}·x^({p}−1)"},
    into=_pow_into,
    inplace=False,  # x^3 reads x again after its square is written
)


def _picked(x: V, larger: V, smaller: V, a: V, b: V) -> V:
    """[larger > smaller] + ½[a = b], the mask of x in maximum(a, b) or minimum(a, b): 1 where the
    result is x, 0 where it is the other, and ties split the gradient evenly."""
    return mask(op("greater", larger, smaller) + 0.5 * op("equal", a, b), x)


_MAXIMUM_GRADS = {
    "a": lambda g, out, a, b: g * _picked(a, a, b, a, b),
    "b": lambda g, out, a, b: g * _picked(b, b, a, a, b),
}
_MINIMUM_GRADS = {
    "a": lambda g, out, a, b: g * _picked(a, b, a, a, b),
    "b": lambda g, out, a, b: g * _picked(b, a, b, a, b),
}


OPS: tuple[OpDef, ...] = (
    binary(
        "add",
        "{a} + {b}",
        "add",
        {"a": lambda g, out, a, b: g, "b": lambda g, out, a, b: g},
        Facts(AFFINE, frozenset({"a", "b"})),
        {"a": "· 1", "b": "· 1"},
        into="{xp}.add({a}, {b}, out={out})",
    ),
    binary(
        "sub",
        "{a} - {b}",
        "subtract",
        {"a": lambda g, out, a, b: g, "b": lambda g, out, a, b: -g},
        Facts(AFFINE, frozenset({"a"}), frozenset({"b"})),
        {"a": "· 1", "b": "· (−1)"},
        into="{xp}.subtract({a}, {b}, out={out})",
    ),
    binary(
        "mul",
        "{a} * {b}",
        "multiply",
        {"a": lambda g, out, a, b: g * b, "b": lambda g, out, a, b: g * a},
        formula={"a": "· b", "b": "· a"},
        into="{xp}.multiply({a}, {b}, out={out})",
    ),
    binary(
        "div",
        "{a} / {b}",
        "divide",
        # d/db a/b = -a/b^2 = -out/b: reuse the forward value
        {"a": lambda g, out, a, b: g / b, "b": lambda g, out, a, b: -(g * out) / b},
        formula={"a": "· 1/b", "b": "· (−a/b²)"},
        into="{xp}.divide({a}, {b}, out={out})",
    ),
    binary(
        "maximum",
        "{xp}.maximum({a}, {b})",
        "take the maximum of",
        _MAXIMUM_GRADS,
        Facts(CONVEX, frozenset({"a", "b"})),
        {"a": "· ([a > b] + ½[a = b])", "b": "· ([b > a] + ½[a = b])"},  # ties split evenly
        atomic=True,
        into="{xp}.maximum({a}, {b}, out={out})",
    ),
    binary(
        "minimum",
        "{xp}.minimum({a}, {b})",
        "take the minimum of",
        _MINIMUM_GRADS,
        Facts(CONCAVE, frozenset({"a", "b"})),
        {"a": "· ([a < b] + ½[a = b])", "b": "· ([b < a] + ½[a = b])"},
        atomic=True,
        into="{xp}.minimum({a}, {b}, out={out})",
    ),
    # masks for derivatives: 0/1 in the model's dtype, so float32 gradients stay float32
    nondifferentiable(
        binary(
            "greater",
            "{xp}.greater({a}, {b}).astype(DTYPE)",
            "compare",
            atomic=True,
            into="{xp}.greater({a}, {b}, out={out})",
        )
    ),
    nondifferentiable(
        binary(
            "equal",
            "{xp}.equal({a}, {b}).astype(DTYPE)",
            "compare",
            atomic=True,
            into="{xp}.equal({a}, {b}, out={out})",
        )
    ),
    unary(
        "neg",
        "-{x}",
        lambda g, out, x: -g,
        Facts(AFFINE, DEC, INC),
        "· (−1)",
        atomic=False,
        into="{xp}.negative({x}, out={out})",
    ),
    unary(
        "exp",
        "{xp}.exp({x})",
        lambda g, out, x: g * out,
        Facts(CONVEX, INC),
        "· exp(x)",
        into="{xp}.exp({x}, out={out})",
    ),
    # e^x - 1, accurate for small x; not a function of the language: softplus' derivative
    # is written with it (below)
    unary(
        "expm1",
        "{xp}.expm1({x})",
        lambda g, out, x: g * op("exp", x),
        Facts(CONVEX, INC),
        "· exp(x)",
        into="{xp}.expm1({x}, out={out})",
    ),
    unary(
        "log",
        "{xp}.log({x})",
        # over |x|: log(-0.0) is -inf as log(0.0) is, and its derivative there +inf as at 0.0 (and
        # as sqrt's), not 1 / -0.0 = -inf; below 0, where log is nan, the gradient says nothing anyway
        lambda g, out, x: g / op("abs", x),
        Facts(CONCAVE, INC),
        "· 1/x",
        into="{xp}.log({x}, out={out})",
    ),
    unary(
        "sqrt",
        "{xp}.sqrt({x})",
        _sqrt_grad,
        Facts(CONCAVE, INC),
        "· 1/(2√x)",
        into="{xp}.sqrt({x}, out={out})",
    ),
    unary(
        "abs",
        "{xp}.abs({x})",
        lambda g, out, x: g * mask(op("sign", x), x, "sign"),
        Facts(CONVEX),
        "· sign(x)",
        into="{xp}.abs({x}, out={out})",
    ),
    unary(
        "square",
        "{xp}.square({x})",
        lambda g, out, x: g * (2 * x),
        Facts(CONVEX),
        "· 2x",
        into="{xp}.square({x}, out={out})",
    ),
    unary(
        "relu",
        "{xp}.maximum({x}, 0)",
        lambda g, out, x: g * mask(op("greater", x, 0.0), x),
        Facts(CONVEX, INC),
        "· [x > 0]",
        # against an array of zeros: NumPy's maximum with a scalar skips its SIMD loop (3x slower)
        into="{xp}.maximum({x}, {constant}, out={out})",
        constant=lambda attrs, t: (t[0], 0.0),
    ),
    unary(
        "sigmoid",
        "_sigmoid({x})",
        lambda g, out, x: g * (out * (1 - out)),
        Facts(None, INC),
        "· y(1−y)",
        helpers=("_sigmoid",),
        # the clip bound as an array made once: NumPy's minimum with a scalar is slower
        into="_sigmoid({x}, out={out}, cap={constant})",
        constant=lambda attrs, t: (t[0], "_EXP_MAX"),
    ),
    unary(
        "tanh",
        "{xp}.tanh({x})",
        lambda g, out, x: g * (1 - op("square", out)),
        Facts(None, INC),
        "· (1−y²)",
        into="{xp}.tanh({x}, out={out})",
    ),
    unary(
        "softplus",
        "_softplus({x})",
        # softplus' = sigmoid(x) = 1 - e^-softplus(x) = -expm1(-out): from the forward value
        # alone, as accurate as it (sigmoid(-50) is 1.9e-22, not 0), never overflowing, and 1 at
        # x = +inf, where e^(x - out) was e^(inf - inf), nan. NumPy's expm1 is as fast as its exp
        # in float32 and a third slower in float64 (a logreg step on [1024, 100]: 3% less, 2.7% more)
        lambda g, out, x: g * -op("expm1", -out),
        Facts(CONVEX, INC),
        "· σ(x)",
        helpers=("_softplus",),
        # max(x, 0) against an array of zeros, as relu's (0.32 against 0.89 us on [1024] float32)
        into="_softplus({x}, out={out}, scratch={scratch}, zeros={constant})",
        scratch=True,
        constant=lambda attrs, t: (t[0], 0.0),
    ),
    unary(
        "sin", "{xp}.sin({x})", lambda g, out, x: g * op("cos", x), formula="· cos(x)", into="{xp}.sin({x}, out={out})"
    ),
    unary(
        "cos",
        "{xp}.cos({x})",
        lambda g, out, x: -(g * op("sin", x)),
        formula="· (−sin x)",
        into="{xp}.cos({x}, out={out})",
    ),
    # never over its argument: NumPy 2.4's np.sign(t, out=t) is 12 times slower than into another array
    replace(nondifferentiable(unary("sign", "{xp}.sign({x})", into="{xp}.sign({x}, out={out})")), inplace=False),
    POW,
)
