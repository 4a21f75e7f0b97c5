"""What lowering says beyond "this is wrong": a likely slip that still compiles (the
broadcast that pairs every entry with every other), the one change that makes a failed op
fit, and a number the model's dtype cannot hold."""

from __future__ import annotations

import math

import numpy as np

from graphc import syntax as S
from graphc.errors import Span
from graphc.ops import OPS, show
from graphc.ops.base import ShapeError, broadcast, product_text, size_name
from graphc.scope import Resolver, Scope

BINARY_OPS = {"+": "add", "-": "sub", "*": "mul", "/": "div", "@": "matmul"}
BINARY_SYMBOLS = {op: symbol for symbol, op in BINARY_OPS.items()}

# the ops a number computed from numbers alone goes through, in float64 as folding computes
# them (1 / 0 is inf and (-8)^0.5 nan there, as in the module)
ARITHMETIC = {
    "add": lambda attrs, a, b: np.add(a, b),
    "sub": lambda attrs, a, b: np.subtract(a, b),
    "mul": lambda attrs, a, b: np.multiply(a, b),
    "div": lambda attrs, a, b: np.divide(a, b),
    "neg": lambda attrs, a: np.negative(a),
    "pow": lambda attrs, a: np.power(a, attrs["p"]),
}


class Advice(Resolver):
    """Warnings and hints about values lowering has made; ExprLowerer makes them."""

    def check_pairing(self, op: str, node: int, args: list[int], exprs: list, span: Span) -> None:
        """Warn of the classic broadcasting slip: `pred - y` with pred [B, 1] and y [B] is
        [B, B], every prediction against every target, where rows were meant to pair.

        It shows as a dim that the result has twice and neither operand had twice,
        one operand having fewer axes than the result.
        """
        shape, shapes = self.g.shape(node), [self.g.shape(a) for a in args]
        if all(len(s) == len(shape) for s in shapes):  # `reshape(y, [1, -1])`: every pair, said outright
            return
        twice = [d for d in shape if isinstance(d, str) and shape.count(d) > 1]
        if not twice or any(s.count(d) > 1 for s in shapes for d in twice):
            return
        names = [e.text if isinstance(e, S.Name) else None for e in exprs]
        a, b = (f"{n} {show(s)}" if n else show(s) for n, s in zip(names, shapes))  # `pred [B, 1]`
        sym = BINARY_SYMBOLS.get(op)
        what = f"{a} {sym} {b}" if sym else f"{op} of {a} and {b}"
        low = 0 if len(shapes[0]) < len(shape) else 1
        ones = "1, " * (len(shape) - 1)  # the operand's one axis last, as many 1s before it as the result needs
        said = (
            f"reshape({names[low] or '...'}, [{ones}-1])"
            if len(shapes[low]) == 1
            else f"a reshape to {len(shape)} axes"
        )
        self.warn(
            f"{what} is {show(shape)}, every entry of one against every entry of the other; if entries are "
            f"meant to pair, give both one shape, and if every pair is meant, say so with {said}",
            span,
        )

    def transpose_of_a_vector(self, e: S.Attr, shape: tuple) -> None:
        """`u.T` of a vector or a scalar is u itself: a vector is no column, as mathematics
        writes one, so `u @ u.T` is a dot product, not the outer product it reads as."""
        name = e.value.text if isinstance(e.value, S.Name) else "(...)"
        what = "a scalar" if not shape else f"a vector, {show(shape)}"
        column = f"; for a column write reshape({name}, [{size_name(shape[0])}, 1])" if shape else ""
        self.warn(f"{name}.T is {name} itself: {name} is {what}, with no rows and columns to swap{column}", e.span)

    def shape_hint(self, op: str, args: list[int], exprs: list) -> str:
        """What would make a failed op fit, where one small change does: `q @ k` of two computed
        [T, 16] is q @ k.T, and `x - mean(x, axis=-1)` that does not broadcast takes keepdims=true."""
        if op == "matmul":
            a, b = (self.g.shape(n) for n in args)
            if len(a) > 2 and len(b) == 2 and a[-1] == b[0]:  # [B, T, 3] @ [3, 4], as batched matmul takes it
                name = exprs[0].text if isinstance(exprs[0], S.Name) else "x"
                rows = product_text(a[:-1])
                return f"; make it 2-D first: reshape({name}, [{rows}, {size_name(a[-1])}]) @ ..., then reshape back"
            if self.g.op(args[1]) == "param":
                return self.param_hint(a, args[1], exprs[1])
            if len(a) == len(b) == 2 and a[1] == b[1] and a[1] != b[0]:
                shown = (
                    f"{exprs[1].text}.T" if isinstance(exprs[1], S.Name) else "the right operand's transpose, (...).T,"
                )
                return f"; {shown} is {show((b[1], b[0]))}, which fits"
            return ""
        if not OPS[op].broadcasts or len(args) != 2:
            return ""
        for r, other in (args, args[::-1]):
            attrs = self.g.node(r)["attrs"]
            if attrs.get("keepdims") is not False or attrs.get("all"):
                continue
            source = self.g.shape(self.g.args(r)[0])
            kept = tuple(1 if i in attrs["axes"] else d for i, d in enumerate(source))
            try:
                broadcast(kept, self.g.shape(other), "combine")
            except ShapeError:
                continue
            return f"; with keepdims=true, {self.g.op(r)}(...) would keep the reduced axis as a 1 that broadcasts"
        return ""

    def swapped_arguments(self, op: str, args: list[int], exprs: list, attrs: dict, scope: Scope) -> str:
        """Where an op in a fn body that failed reads two of the fn's arguments, and would fit
        with them the other way round (`g(W, x)` for fn g(a, M) = a @ M), the call passed them
        swapped: what it meant, `; ... did you mean g(x, W)?`, else ""."""
        if scope.call is None or len(args) != 2 or not all(isinstance(e, S.Name) for e in exprs):
            return ""
        names = [e.text for e in exprs]
        params = [p.base for p in scope.fn.decl.params]
        if names[0] == names[1] or not all(n in scope.fn.kept and n in params for n in names):
            return ""
        if any(scope.locals[n].value != a for n, a in zip(names, args)):
            return ""
        types = [self.g.type(a) for a in args[::-1]]
        try:
            opdef = OPS[op]
            opdef.shape(opdef.prepare(dict(attrs), *types) if opdef.prepare else attrs, *types)
        except ShapeError:
            return ""
        i, j = (params.index(n) for n in names)
        texts = [_written(a) for a in scope.call.args]
        what = f"; its arguments for {names[0]} and {names[1]} look swapped"
        if "" in (texts[i], texts[j]):
            return f"{what}: swap them"
        texts[i], texts[j] = texts[j], texts[i]
        return f"{what}: did you mean {scope.call.func}({', '.join(t or '...' for t in texts)})?"

    def param_hint(self, a: tuple, param: int, e) -> str:
        """What fits a param on the right of a failed `a @ W`: another param of the right shape
        (`x @ W2` for x @ W1, as a copied line has it), else W declared the other way round
        (`param W : [out, in]`, where `x @ W` needs [in, out])."""
        name, b = self.g.node(param)["attrs"]["name"], self.g.shape(param)
        if len(a) not in (1, 2) or len(b) not in (1, 2):  # a rank @ does not take: no size to fit
            return ""
        # written as itself (`W1`, `W{i}`), not as a fn's argument, whose call passed it (a fn
        # sees params only so, even an argument named like the param it is given)
        direct = (
            not self.call_sites
            and isinstance(e, S.Name)
            and (e.text == name or (e.index is not None and name.startswith(e.base)))
        )
        # of W's own rank: a matrix in a vector's place would change the result's shape
        fitting = [n for n, p in self.g.params.items() if n != name and len(self.g.shape(p)) == len(b)]
        fitting = [n for n in fitting if self.g.shape(self.g.params[n])[0] == a[-1]]
        if direct and e.index is None and len(fitting) == 1:  # (W{i} is W2 on this pass, not W1 on all)
            return f"; did you mean '{fitting[0]}'? It is {show(self.g.shape(self.g.params[fitting[0]]))}, which fits"
        # (not where an earlier `@ W` took W as declared: turning it round would break that one)
        taken = any(self.g.op(u) == "matmul" and self.g.args(u)[1] == param for u in self.g.users(param))
        if len(b) == 2 and b[1] == a[-1] and b[0] != a[-1] and not taken:
            # (through a fn, in the fn's words: each call's param is in the note, and the calls
            # that pass one shape make one mistake, said once)
            who, also = (f"'{name}'", f", or write {e.text}.T") if direct else (f"the param passed as {_said(e)}", "")
            return f"; {who} is declared {show(b)}: declare it {show((b[1], b[0]))}, as @ takes [in, out]{also}"
        return ""

    def check_range(self, value: float, span: Span) -> bool:
        """A number the model's dtype cannot hold (past 3.4e38 in float32) is a mistake where it
        is written or computed from numbers alone (1e20 * 1e20): it would be inf in the module
        while folding, in float64, kept it finite."""
        # (inf in float64 too, as 2^2000 or 1 / 0, is NumPy's arithmetic in any dtype: the
        # folded value and the module's agree; past float32 alone they would not)
        if 3e38 < abs(value) < math.inf and not fits(value, self.dtype):
            largest = float(np.finfo(self.dtype).max)
            self.error(
                f"{value:.8g} is past {self.dtype}'s largest number, {largest:.8g}: the model computes in {self.dtype}",
                span,
            )
            return False
        return True


def _written(e) -> str:
    """A name or number as written (`x`, `W1`, `2`); "" for anything longer."""
    if isinstance(e, S.Name):
        return e.text
    return e.text if isinstance(e, S.Num) else ""


def _said(e) -> str:
    return f"'{e.text}'" if isinstance(e, S.Name) else "the right operand"


def fits(value: float, dtype: str) -> bool:
    """Whether the dtype holds the number: it is finite there (3.4028235e38 rounds to float32's largest)."""
    if dtype == "float64" and type(value) is float:  # a Python float is a float64: no array needed
        return math.isfinite(value)
    with np.errstate(over="ignore"):
        return bool(np.isfinite(np.asarray(value).astype(dtype)))
