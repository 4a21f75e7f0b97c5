"""syntax.Program -> ir.Graph: names resolved, shapes checked, fns inlined, loops unrolled.

Every mistake is collected with its span; an expression that failed yields None
and its users stay silent, so each independent error is reported once.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from graphc import syntax as S
from graphc.errors import Diagnostic, GraphcError, Span, did_you_mean
from graphc.ir import Graph
from graphc.ops import BUILTINS, ShapeError, show

MAX_NODES = 2_000_000  # a model that expands past this is refused, not attempted
MAX_UNROLL = 100_000
MAX_PARAM_SIZE = 2**31
INIT_SIGNATURES = {"const": "const(c)", "normal": "normal(mean, std)", "uniform": "uniform(lo, hi)"}
TOO_LARGE = "this number is too large (it overflows to infinity)"
INITS = {"zeros": 0, "ones": 0, "glorot": 0, "he": 0, "const": 1, "normal": 2, "uniform": 2}
BINARY_OPS = {"+": "add", "-": "sub", "*": "mul", "/": "div", "@": "matmul"}
KIND_WORDS = {
    "dim": "a dim",
    "const": "a const",
    "input": "an input",
    "param": "a param",
    "value": "a value",
    "fn": "a fn",
    "loopvar": "a loop variable",
}


class _TooBig(Exception):
    def __init__(self, span: Span | None = None):
        self.span = span


@dataclass
class Binding:
    kind: str  # dim const input param value fn loopvar
    value: Any  # node id, number, or FnInfo
    span: Span


@dataclass
class FnInfo:
    decl: S.FnDecl
    visible: frozenset[str]  # fns defined before it
    calls: int = 0
    cost: int = 0  # about how many ops one call expands to, nested calls included


@dataclass
class Scope:
    locals: dict[str, Binding] = field(default_factory=dict)
    fn: FnInfo | None = None
    frames: tuple = ()


@dataclass
class NamedValue:
    name: str
    line: int
    shape: tuple
    dtype: str


@dataclass
class Lowered:
    """What the front end knows about a model: its graph and what `check` shows."""

    name: str
    graph: Graph
    values: list[NamedValue]
    inits: dict[str, tuple]  # param -> (initializer, args)


class Lowerer:
    def __init__(self, program: S.Program):
        self.file = program.file
        self.program = program
        self.g = Graph()
        self.errors: list[Diagnostic] = []
        self.top: dict[str, Binding] = {}
        self.values: list[NamedValue] = []
        self.inits: dict[str, tuple] = {}
        self.model_name: str | None = None
        self.outputs: list[S.Name] = []
        self.minimize: S.Minimize | None = None
        self.unrolled = 0
        self.dim_uses: dict[str, Span] = {}  # dim -> first use; each must be bound by an input
        self.call_note: str | None = None
        self.broken_params = False  # a param declaration failed: "no params" would be noise
        # first line of every top-level fn and assigned or declared name, so a use
        # before the definition is reported as such rather than as unknown
        self.fn_lines: dict[str, int] = {}
        self.def_lines: dict[str, int] = {}
        for stmt in program.stmts:
            if isinstance(stmt, S.FnDecl):
                self.fn_lines.setdefault(stmt.name, stmt.span.line)
            for target in _targets(stmt):
                self.def_lines.setdefault(target, stmt.span.line)

    # ---------------------------------------------------------------- errors

    def error(self, message: str, span: Span | None, note: str | None = None) -> None:
        d = Diagnostic(message, span, note or self.call_note)
        if all((e.message, e.span) != (d.message, d.span) for e in self.errors):
            self.errors.append(d)

    # ---------------------------------------------------------------- names

    def resolve_name(self, name: S.Name, scope: Scope) -> str | None:
        """`W{i}` -> `W3` inside the loop's third iteration."""
        if name.index is None:
            return name.base
        b = self.lookup(name.index, scope)
        if b is not None and b.kind == "const" and b.value is None:  # a broken const, already reported
            return None
        if b is None or b.kind not in ("loopvar", "const") or not float(b.value).is_integer():
            self.error(f"'{name.index}' in {name.text} must be a loop variable or an integer const", name.span)
            return None
        return f"{name.base}{int(b.value) + name.offset}"

    def lookup(self, name: str, scope: Scope) -> Binding | None:
        if name in scope.locals:
            return scope.locals[name]
        b = self.top.get(name)
        if b is None or scope.fn is None:
            return b
        # a fn sees its arguments, consts, dims, builtins and earlier fns only
        if b.kind in ("const", "dim") or (b.kind == "fn" and name in scope.fn.visible):
            return b
        return None

    def visible(self, scope: Scope) -> list[str]:
        names = list(scope.locals) + list(BUILTINS)
        for n, b in self.top.items():
            if scope.fn is None or b.kind in ("const", "dim") or (b.kind == "fn" and n in scope.fn.visible):
                names.append(n)
        return names

    def unknown(self, name: str, span: Span, scope: Scope, what: str = "name") -> None:
        if scope.fn is not None and (name in self.top or name in self.def_lines):
            # defined, but outside what a fn may see: say so instead of guessing a typo
            b = self.top.get(name)
            kind = f"is {KIND_WORDS[b.kind]}" if b is not None else f"is defined at line {self.def_lines[name]}"
            self.error(
                f"fn '{scope.fn.decl.name}' cannot use '{name}': a fn sees only its arguments, consts, dims "
                f"and earlier fns, and '{name}' {kind}; pass it as an argument",
                span,
            )
            return
        line = self.def_lines.get(name)
        if scope.fn is None and line is not None and line > span.line:
            self.error(f"'{name}' is used before it is defined (at line {line})", span)
            return
        self.error(f"unknown {what} '{name}'{did_you_mean(name, self.visible(scope))}", span)

    def define(self, name: str, binding: Binding, scope: Scope | None = None) -> bool:
        """Bind a new top-level (or local) name; False with an error if it is taken."""
        if name in BUILTINS:
            self.error(f"'{name}' is a builtin function and cannot be redefined", binding.span)
            # a silent placeholder, so later uses of the name do not each report it again
            (scope.locals if scope else self.top).setdefault(name, Binding("value", None, binding.span))
            return False
        old = (scope.locals if scope else self.top).get(name) or self.top.get(name)
        if old is not None and not (binding.kind == "value" and old.kind == "value"):
            self.error(_redefinition(name, binding.kind, old), binding.span)
            return False
        (scope.locals if scope else self.top)[name] = binding
        return True

    # ---------------------------------------------------------------- constants

    def constant(self, e: S.Expr, scope: Scope, what: str) -> float | None:
        """Evaluate a compile-time number: literals, consts, loop variables, arithmetic."""
        try:
            return self._constant(e, scope, what)
        except (OverflowError, ZeroDivisionError, ValueError) as err:
            self.error(f"{what} cannot be computed: {err}", e.span)
            return None

    def _constant(self, e: S.Expr, scope: Scope, what: str) -> float | None:
        if isinstance(e, S.Num):
            if not math.isfinite(e.value):
                self.error(TOO_LARGE, e.span)
                return None
            return e.value
        if isinstance(e, S.Name):
            name = self.resolve_name(e, scope)  # `n{i}` names the const n1 in the first iteration
            if name is None:
                return None
            b = self.lookup(name, scope)
            if b is None:
                self.unknown(name, e.span, scope)
                return None
            if b.kind in ("const", "loopvar"):
                return b.value
            self.error(f"{what} must be a compile-time constant, but '{name}' is {KIND_WORDS[b.kind]}", e.span)
            return None
        if isinstance(e, S.Unary):
            v = self._constant(e.operand, scope, what)
            return None if v is None else (-v if e.op == "-" else v)
        if isinstance(e, S.Binary) and e.op in "+-*/^":
            a, b = self._constant(e.left, scope, what), self._constant(e.right, scope, what)
            if a is None or b is None:
                return None
            r = {"+": a + b, "-": a - b, "*": a * b}.get(e.op) if e.op in "+-*" else None
            if e.op == "/":
                r = a / b
            elif e.op == "^":
                r = math.pow(a, b)
            if not math.isfinite(r):
                raise OverflowError("the result is not a finite number")
            return r
        self.error(f"{what} must be a compile-time constant", e.span)
        return None

    def size(self, e: S.Expr, scope: Scope, allow_dims: bool, what: str) -> int | str | None:
        """A size in a shape: an integer, a const integer, or (where allowed) a dim."""
        if isinstance(e, S.Name) and e.index is None:
            b = self.lookup(e.base, scope)
            if b is not None and b.kind == "dim":
                if not allow_dims:
                    self.error(
                        f"{what} must have fixed sizes, but '{e.base}' is a dim (known only at call time)", e.span
                    )
                    return None
                self.dim_uses.setdefault(e.base, e.span)
                return e.base
        v = self.constant(e, scope, f"a size in {what}")
        if v is None:
            return None
        if not float(v).is_integer() or v < 1:
            self.error(f"a size must be a positive integer, not {v:g}", e.span)
            return None
        return int(v)

    # ---------------------------------------------------------------- expressions

    def make(self, op: str, args: list, exprs: list, attrs: dict, span: Span, scope: Scope, allow_int=()) -> int | None:
        if any(a is None for a in args):
            return None
        for i, (a, e) in enumerate(zip(args, exprs)):
            if self.g.node(a)["dtype"] == "int" and i not in allow_int:
                self.error(
                    f"{_src(e)} is {show(*self.g.type(a))}, integer labels; only one_hot and cross_entropy accept them",
                    e.span,
                )
                return None
        if self.g._next > MAX_NODES:
            raise _TooBig(span)
        try:
            return self.g.add(op, args, attrs, span=span, scope=scope.frames)
        except ShapeError as err:
            self.error(str(err), span)
            return None

    def const_node(self, value: float, span: Span, scope: Scope) -> int:
        return self.g.add("const", [], {"value": float(value)}, span=span, scope=scope.frames)

    def expr(self, e: S.Expr, scope: Scope) -> int | None:
        if isinstance(e, S.Num):
            if not math.isfinite(e.value):
                self.error(TOO_LARGE, e.span)
                return None
            return self.const_node(e.value, e.span, scope)
        if isinstance(e, S.Name):
            return self.name_value(e, scope)
        if isinstance(e, S.Unary):
            x = self.expr(e.operand, scope)
            if e.op == "+":
                return x
            return self.make("neg", [x], [e.operand], {}, e.span, scope)
        if isinstance(e, S.Binary):
            if e.op == "^":
                x = self.expr(e.left, scope)
                p = self.constant(e.right, scope, "the exponent of ^")
                if p is None:
                    return None
                return self.make("pow", [x], [e.left], {"p": p}, e.span, scope)
            a, b = self.expr(e.left, scope), self.expr(e.right, scope)
            return self.make(BINARY_OPS[e.op], [a, b], [e.left, e.right], {}, e.span, scope)
        if isinstance(e, S.Attr):
            if e.attr != "T":
                self.error(f"unknown attribute '.{e.attr}'; the only attribute is .T (transpose)", e.attr_span)
                return None
            x = self.expr(e.value, scope)
            return self.make("transpose", [x], [e.value], {}, e.span, scope)
        if isinstance(e, S.Call):
            return self.call(e, scope)
        if isinstance(e, S.Bool):
            self.error("true and false are only allowed as keyword values (keepdims=true)", e.span)
        elif isinstance(e, S.TupleLit):
            self.error("a tuple is only allowed as an axis, as in sum(x, axis=(0, 1))", e.span)
        elif isinstance(e, S.ListLit):
            self.error("a list of sizes is only allowed as the shape in reshape(x, [d, ...])", e.span)
        return None

    def name_value(self, e: S.Name, scope: Scope) -> int | None:
        name = self.resolve_name(e, scope)
        if name is None:
            return None
        b = self.lookup(name, scope)
        if b is None:
            self.unknown(name, e.span, scope)
            return None
        if b.value is None and b.kind != "dim":  # a definition that failed and was reported
            return None
        if b.kind in ("value", "input", "param"):
            return b.value
        if b.kind in ("const", "loopvar"):
            return self.const_node(b.value, e.span, scope)
        if b.kind == "dim":
            self.error(f"'{name}' is a dim (a size), not a value", e.span)
        else:
            self.error(f"'{name}' is a fn; call it as {name}(...)", e.span)
        return None

    def call(self, e: S.Call, scope: Scope) -> int | None:
        if e.func in BUILTINS:
            return self.builtin(e, scope)
        b = self.lookup(e.func, scope)
        if b is None:
            if scope.fn is not None:
                # check_fn reported the body's unknown names when the fn was declared
                return None
            self.unknown(e.func, e.func_span, scope, "function")
            self.check_args(e.args, scope)
            return None
        if b.kind != "fn":
            self.error(f"'{e.func}' is {KIND_WORDS[b.kind]}, not a function", e.func_span)
            return None
        return self.inline(b.value, e, scope)

    def check_args(self, args: tuple[S.Expr, ...], scope: Scope) -> None:
        """Lower the arguments of a call that failed, for their own independent mistakes.

        Shapes, axis tuples and true/false are only wrong in the wrong place, and
        the place is unknown when the call itself is, so they are left alone.
        """
        for a in args:
            if not isinstance(a, (S.ListLit, S.TupleLit, S.Bool)):
                self.expr(a, scope)

    def builtin(self, e: S.Call, scope: Scope) -> int | None:
        spec = BUILTINS[e.func]
        if len(e.args) != len(spec.args):
            names = ", ".join(spec.args)
            self.error(
                f"{e.func}({names}) takes {_plural(len(spec.args), 'argument')}, but {_given(len(e.args))}", e.span
            )
            self.check_args(e.args, scope)
            return None
        attrs: dict[str, Any] = {}
        allowed = dict(spec.keywords)
        for kw in e.kwargs:
            if kw.name not in allowed:
                known = f"; it takes {', '.join(allowed)}" if allowed else "; it takes none"
                hint = did_you_mean(kw.name, allowed)
                self.error(f"{e.func}() got an unexpected keyword '{kw.name}'{hint or known}", kw.span)
                return None
            if kw.name in attrs:
                self.error(f"keyword '{kw.name}' is given twice", kw.span)
                return None
            attrs[kw.name] = self.keyword_value(kw, scope)
            if attrs[kw.name] is _BAD:
                return None
        args, exprs, allow_int = [], [], ()
        if e.func == "reshape":
            shape = self.reshape_target(e, scope)
            if shape is None:
                return None
            attrs["shape"], e_args = shape, e.args[:1]
        elif e.func == "one_hot":
            k = self.size(e.args[1], scope, True, "one_hot's K")
            if k is None:
                return None
            attrs["k"], e_args, allow_int = k, e.args[:1], (0,)
        else:
            e_args = e.args
            allow_int = (1,) if e.func == "cross_entropy" else ()
        for a in e_args:
            args.append(self.expr(a, scope))
            exprs.append(a)
        if e.func == "reshape" and args[0] is not None:
            attrs["shape"] = self.fill_reshape(self.g.shape(args[0]), attrs["shape"], e)
            if attrs["shape"] is None:
                return None
        if "axis" in attrs and args[0] is not None:
            kw = next(k for k in e.kwargs if k.name == "axis")
            if not self.check_axes(attrs["axis"], self.g.shape(args[0]), kw, exprs[0]):
                return None
        labels = {"one_hot": 0, "cross_entropy": 1}.get(e.func)
        if labels is not None and args[labels] is not None and self.g.node(args[labels])["dtype"] != "int":
            # said here, at the argument, rather than by the op's shape rule at the whole call
            self.error(
                f"{e.func}({', '.join(spec.args)}) needs integer labels (an input declared int[...]), "
                f"but {_src(exprs[labels])} is {show(*self.g.type(args[labels]))}",
                exprs[labels].span,
            )
            return None
        return self.make(spec.op, args, exprs, attrs, e.span, scope, allow_int)

    def check_axes(self, axis: int | tuple, shape: tuple, kw: S.Keyword, operand: S.Expr) -> bool:
        """Range and repetition of axis=..., reported at the offending axis."""
        rank = len(shape)
        axes = (axis,) if isinstance(axis, int) else tuple(axis)
        items = kw.value.items if isinstance(kw.value, S.TupleLit) else (kw.value,)
        seen: dict[int, int] = {}
        for a, item in zip(axes, items):
            if not -rank <= a < rank:
                valid = f"its axes are 0..{rank - 1} or -{rank}..-1" if rank else "it has no axes"
                self.error(f"axis {a} is out of range for {_src(operand)}, which is {show(shape)}; {valid}", item.span)
                return False
            if a % rank in seen:
                first = seen[a % rank]
                what = (
                    f"axis {a} is repeated"
                    if first == a
                    else f"axes {first} and {a} are the same axis of {show(shape)}"
                )
                self.error(what, item.span)
                return False
            seen[a % rank] = a
        return True

    def keyword_value(self, kw: S.Keyword, scope: Scope):
        if kw.name == "keepdims":
            if not isinstance(kw.value, S.Bool):
                self.error(f"keepdims must be true or false, not {_text(kw.value)}", kw.value.span)
                return _BAD
            return kw.value.value
        items = kw.value.items if isinstance(kw.value, S.TupleLit) else (kw.value,)
        axes = []
        for item in items:
            v = self.constant(item, scope, "an axis")
            if v is None:
                return _BAD
            if not float(v).is_integer():
                self.error(f"an axis must be an integer, not {v:g}", item.span)
                return _BAD
            axes.append(int(v))
        return tuple(axes) if isinstance(kw.value, S.TupleLit) else axes[0]

    def reshape_target(self, e: S.Call, scope: Scope) -> list | None:
        target = e.args[1]
        if not isinstance(target, S.ListLit):
            self.error("reshape needs the new shape as a list of sizes, as in reshape(x, [B, -1])", target.span)
            return None
        out = []
        for item in target.items:
            if (
                isinstance(item, S.Unary)
                and item.op == "-"
                and isinstance(item.operand, S.Num)
                and item.operand.value == 1
            ):
                if -1 in out:
                    self.error("reshape allows one -1 (the size to infer), and this is a second", item.span)
                    return None
                out.append(-1)
                continue
            d = self.size(item, scope, True, "reshape")
            if d is None:
                return None
            out.append(d)
        return out

    def fill_reshape(self, shape: tuple, target: list, e: S.Call) -> tuple | None:
        have, want = _product(shape), _product([d for d in target if d != -1])
        if -1 in target:
            coef, rest = have[0] / want[0], have[1] - want[1]
            if coef != int(coef) or want[1] - have[1]:
                self.error(f"cannot reshape {show(shape)} to {_show_target(target)}: the sizes do not divide", e.span)
                return None
            size = _size_from(int(coef), rest)
            return tuple(size if d == -1 else d for d in target)
        if have != want:
            self.error(f"cannot reshape {show(shape)} to {_show_target(target)}: the sizes differ", e.span)
            return None
        return tuple(target)

    def inline(self, info: FnInfo, e: S.Call, scope: Scope) -> int | None:
        decl = info.decl
        if e.kwargs:
            self.error(f"fn '{decl.name}' takes no keyword arguments", e.kwargs[0].span)
            return None
        if len(e.args) != len(decl.params):
            params = ", ".join(p.base for p in decl.params)
            self.error(
                f"fn {decl.name}({params}) takes {_plural(len(decl.params), 'argument')}, but {_given(len(e.args))}",
                e.span,
            )
            self.check_args(e.args, scope)
            return None
        args = [self.expr(a, scope) for a in e.args]
        if any(a is None for a in args):
            return None
        if self.g._next + info.cost > MAX_NODES:
            # refused before expanding: fns that call fns twice grow exponentially, and
            # building millions of ops only to give up would take minutes
            self.error(
                f"this call of {decl.name} expands to about {info.cost:,} ops, more than graphc allows "
                f"({MAX_NODES:,}); fns calling fns several times grow exponentially",
                e.span,
            )
            return None
        info.calls += 1
        # a frame is (kind, name, index, line of the call): the renderer groups by it
        inner = Scope(fn=info, frames=scope.frames + (("fn", decl.name, info.calls, e.span.line),))
        for p, a in zip(decl.params, args):
            inner.locals[p.base] = Binding("value", a, p.span)
        # a shape error inside the body names this call and the shapes it passed, since
        # one fn serves several shapes; calls from inside fns chain outwards
        where = ", ".join(f"{p.base}: {show(*self.g.type(a))}" for p, a in zip(decl.params, args))
        here = f"in the call of {decl.name} at line {e.span.line}" + (f" ({where})" if where else "")
        note, self.call_note = self.call_note, here + (f"; {self.call_note}" if self.call_note else "")
        try:
            for stmt in decl.body:
                if isinstance(stmt, S.Return):
                    return self.expr(stmt.value, inner)
                if not isinstance(stmt, S.Assign):  # check_fn reported it
                    continue
                node = self.expr(stmt.value, inner)
                if node is None:
                    return None
                if self.g.node(node)["name"] is None:
                    self.g.node(node)["name"] = stmt.target.base
                inner.locals[stmt.target.base] = Binding("value", node, stmt.target.span)
        finally:
            self.call_note = note
        return None

    # ---------------------------------------------------------------- size estimates

    def cost(self, e: S.Expr) -> int:
        """About how many ops lowering e makes, each fn call counted with its whole expansion."""
        n, stack = 0, [e]
        while stack:
            e = stack.pop()
            n += 1
            if isinstance(e, S.Call):
                b = self.top.get(e.func)
                if e.func not in BUILTINS and b is not None and b.kind == "fn":
                    n += b.value.cost
                stack.extend(e.args)
                stack.extend(k.value for k in e.kwargs)
            elif isinstance(e, S.Unary):
                stack.append(e.operand)
            elif isinstance(e, S.Binary):
                stack.extend((e.left, e.right))
            elif isinstance(e, S.Attr):
                stack.append(e.value)
            elif isinstance(e, (S.TupleLit, S.ListLit)):
                stack.extend(e.items)
        return n

    def loop_cost(self, loop: S.ForLoop) -> int:
        """About how many ops unrolling the loop makes (inner loops with literal bounds included)."""
        per_iteration = 0
        for s in loop.body:
            if isinstance(s, S.Assign):
                per_iteration += self.cost(s.value)
            elif isinstance(s, S.ForLoop):
                per_iteration += self.loop_cost(s)
        bounds = (loop.start, loop.stop)
        if all(isinstance(b, S.Num) and math.isfinite(b.value) for b in bounds):
            return per_iteration * max(0, int(loop.stop.value) - int(loop.start.value) + 1)
        return per_iteration

    # ---------------------------------------------------------------- fns

    def check_fn(self, decl: S.FnDecl, info: FnInfo) -> None:
        """Names in a fn body must resolve now, whether or not it is ever called."""
        scope = Scope(fn=info, locals={p.base: Binding("value", None, p.span) for p in decl.params})
        seen = set()
        for p in decl.params:
            if p.index is not None:
                self.error(
                    f"argument '{p.text}' of fn '{decl.name}': names with {{}} are only built inside for loops", p.span
                )
            elif p.base in seen:
                self.error(f"fn '{decl.name}' has two arguments named '{p.base}'", p.span)
            elif p.base in BUILTINS:
                self.error(f"'{p.base}' is a builtin function and cannot be an argument name", p.span)
            seen.add(p.base)
        for i, stmt in enumerate(decl.body):
            if isinstance(stmt, S.Return):
                self.check_names(stmt.value, scope)
                if i != len(decl.body) - 1:
                    self.error("statements after return are never run", decl.body[i + 1].span)
                return
            if not isinstance(stmt, S.Assign):
                self.error(
                    f"{_keyword(stmt)} is not allowed in a fn body, which holds only assignments and a final return",
                    stmt.span,
                )
                continue
            self.check_names(stmt.value, scope)
            if stmt.target.index is not None:
                self.error(f"'{stmt.target.text}': names with {{}} are only built inside for loops", stmt.target.span)
            elif stmt.target.base in BUILTINS:
                self.error(f"'{stmt.target.base}' is a builtin function and cannot be redefined", stmt.target.span)
            scope.locals[stmt.target.base] = Binding("value", None, stmt.target.span)
        self.error(f"fn '{decl.name}' has no return; end its body with 'return EXPR'", decl.name_span)

    def check_names(self, e: S.Expr, scope: Scope) -> None:
        decl_line = scope.fn.decl.span.line
        stack = [e]
        while stack:
            e = stack.pop()
            if isinstance(e, S.Name):
                if e.index is not None:
                    self.error(f"'{e.text}': names with {{}} are only built inside for loops", e.span)
                elif self.lookup(e.base, scope) is None:
                    self.unknown(e.base, e.span, scope)
            elif isinstance(e, S.Call):
                if e.func not in BUILTINS and self.lookup(e.func, scope) is None:
                    if e.func == scope.fn.decl.name:
                        self.error(f"fn '{e.func}' calls itself; recursion is not allowed", e.func_span)
                    elif e.func in self.fn_lines and self.fn_lines[e.func] > decl_line:
                        self.error(
                            f"fn '{e.func}' is defined later (line {self.fn_lines[e.func]}); "
                            "a fn can only call fns defined before it",
                            e.func_span,
                        )
                    else:
                        self.unknown(e.func, e.func_span, scope, "function")
                stack.extend(e.args)
                if e.func not in ("reshape",):
                    stack.extend(k.value for k in e.kwargs if k.name != "keepdims")
            elif isinstance(e, S.Unary):
                stack.append(e.operand)
            elif isinstance(e, S.Binary):
                stack.extend((e.left, e.right))
            elif isinstance(e, S.Attr):
                stack.append(e.value)
            elif isinstance(e, (S.TupleLit, S.ListLit)):
                stack.extend(e.items)


class _Bad:
    pass


_BAD = _Bad()


def _src(e: S.Expr) -> str:
    """An operand as the message names it: `'x'` for a name, else a description."""
    if isinstance(e, S.Name):
        return f"'{e.text}'"
    if isinstance(e, S.Call):
        return f"the result of {e.func}(...)"
    return "this operand"


def _text(e: S.Expr) -> str:
    """A short rendering of a simple expression, for 'not X' in messages."""
    if isinstance(e, S.Num):
        return f"{e.value:g}"
    if isinstance(e, S.Name):
        return e.text
    if isinstance(e, S.Unary) and isinstance(e.operand, (S.Num, S.Name)):
        return e.op + _text(e.operand)
    return "an expression"


def _given(n: int) -> str:
    return f"{n} {'was' if n == 1 else 'were'} given"


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def _targets(stmt: S.Stmt) -> list[str]:
    """The plain names a top-level statement defines (names built with {} are skipped)."""
    if isinstance(stmt, (S.Assign, S.ConstDecl, S.InputDecl, S.ParamDecl)):
        return [stmt.target.base] if stmt.target.index is None else []
    if isinstance(stmt, S.DimDecl):
        return [n.base for n in stmt.names if n.index is None]
    if isinstance(stmt, S.FnDecl):
        return [stmt.name]
    return []


def _redefinition(name: str, kind: str, old: Binding) -> str:
    line = old.span.line
    if kind == old.kind:
        return f"{kind} '{name}' is already declared at line {line}"
    if kind == "value":
        why = {
            "input": "inputs are fed at call time",
            "param": "params change only by training",
            "const": "consts are fixed",
            "dim": "dims are sizes",
            "fn": "",
            "loopvar": "the loop sets it",
        }.get(old.kind, "")
        return f"cannot assign to '{name}': it is {KIND_WORDS[old.kind]} (line {line})" + (f"; {why}" if why else "")
    return f"'{name}' is already defined as {KIND_WORDS[old.kind]} at line {line}"


def _product(shape) -> tuple[int, Counter]:
    coef, names = 1, Counter()
    for d in shape:
        for part in str(d).split("*"):
            if part.isdigit():
                coef *= int(part)
            else:
                names[part] += 1
    return coef, names


def _size_from(coef: int, names: Counter) -> int | str:
    parts = ([str(coef)] if coef != 1 or not names else []) + sorted(names.elements())
    return int(parts[0]) if len(parts) == 1 and parts[0].isdigit() else "*".join(parts)


def _show_target(target) -> str:
    return "[" + ", ".join(str(d) for d in target) + "]"


class ProgramLowerer(Lowerer):
    """The statements: declarations, assignments, loops, and the objective."""

    def run(self) -> Lowered:
        try:
            for i, stmt in enumerate(self.program.stmts):
                self.stmt(stmt, Scope(), first=(i == 0))
            self.finish()
        except _TooBig as big:
            self.error(
                f"the model expands to more than {MAX_NODES:,} ops (fns calling fns?); graphc refuses it", big.span
            )
        if self.errors:
            # in file order, as a reader goes through them (checks run in other orders)
            self.errors.sort(key=lambda d: (d.span is None, d.span.line if d.span else 0, d.span.col if d.span else 0))
            raise GraphcError(self.errors)
        name = self.model_name or _stem(self.file)
        return Lowered(name, self.g, self.values, self.inits)

    def stmt(self, stmt: S.Stmt, scope: Scope, first: bool = False, in_loop: bool = False) -> None:
        if in_loop and not isinstance(stmt, (S.Assign, S.ParamDecl, S.ForLoop, S.InputDecl, S.ConstDecl)):
            self.error(f"{_keyword(stmt)} is not allowed inside a for loop", stmt.span)
            return
        method = getattr(self, "stmt_" + type(stmt).__name__)
        method(stmt, scope) if not isinstance(stmt, S.ModelDecl) else method(stmt, first)

    def stmt_ModelDecl(self, stmt: S.ModelDecl, first: bool) -> None:
        if not first:
            self.error("'model NAME' must be the first statement of the file", stmt.span)
        self.model_name = stmt.name

    def stmt_DimDecl(self, stmt: S.DimDecl, scope: Scope) -> None:
        for n in stmt.names:
            name = self.resolve_name(n, scope)
            if name and self.define(name, Binding("dim", name, n.span)):
                self.g.dims.append(name)

    def stmt_ConstDecl(self, stmt: S.ConstDecl, scope: Scope) -> None:
        name = self.resolve_name(stmt.target, scope)
        value = self.constant(stmt.value, scope, f"const {stmt.target.text}")
        if name and value is not None:
            self.define(name, Binding("const", value, stmt.target.span))
        elif name and name not in BUILTINS:  # bound silently, so its uses do not cascade
            self.top.setdefault(name, Binding("const", None, stmt.target.span))

    def shape_of(self, typ: S.ShapeType, scope: Scope, allow_dims: bool, what: str) -> tuple | None:
        dims = [self.size(d, scope, allow_dims, what) for d in typ.dims]
        return None if any(d is None for d in dims) else tuple(dims)

    def stmt_InputDecl(self, stmt: S.InputDecl, scope: Scope) -> None:
        name = self.resolve_name(stmt.target, scope)
        shape = self.shape_of(stmt.type, scope, True, f"input {stmt.target.text}")
        if name is None or shape is None:
            self.placeholder(name, "input", stmt.target.span)
            return
        dtype = "int" if stmt.type.is_int else "float"
        node = self.g.add(
            "input", [], {"name": name, "shape": shape, "dtype": dtype}, name=name, span=stmt.span, scope=scope.frames
        )
        if self.define(name, Binding("input", node, stmt.target.span)):
            self.g.inputs[name] = node

    def stmt_ParamDecl(self, stmt: S.ParamDecl, scope: Scope) -> None:
        name = self.resolve_name(stmt.target, scope)
        shape = self.shape_of(stmt.type, scope, False, f"param {stmt.target.text}")
        if stmt.type.is_int:
            self.error("params are float arrays; 'int' is only for inputs", stmt.type.span)
            self.placeholder(name, "param", stmt.target.span)
            return
        init = self.initializer(stmt.init, scope, shape)
        if name is None or shape is None or init is None:
            self.placeholder(name, "param", stmt.target.span)
            return
        if math.prod(shape) > MAX_PARAM_SIZE:
            self.error(
                f"param {name} {show(shape)} has {math.prod(shape):,} values, more than graphc allows", stmt.type.span
            )
            self.placeholder(name, "param", stmt.target.span)
            return
        node = self.g.add("param", [], {"name": name, "shape": shape}, name=name, span=stmt.span, scope=scope.frames)
        if self.define(name, Binding("param", node, stmt.target.span)):
            self.g.params[name] = node
            self.inits[name] = init

    def placeholder(self, name: str | None, kind: str, span: Span) -> None:
        """A declaration that failed still binds its name, silently, so its uses do not cascade."""
        if name is not None and name not in BUILTINS:
            self.top.setdefault(name, Binding(kind, None, span))
        if kind == "param":
            self.broken_params = True

    def initializer(self, e: S.Expr | None, scope: Scope, shape) -> tuple | None:
        if e is None:
            return ("glorot" if shape is not None and len(shape) >= 2 else "zeros", ())
        name, args = (e.base, ()) if isinstance(e, S.Name) and e.index is None else (None, ())
        if isinstance(e, S.Call):
            name, args = e.func, e.args
        if name not in INITS:
            known = "use zeros, ones, const(c), normal(mean, std), uniform(lo, hi), glorot or he"
            if isinstance(e, (S.Num, S.Unary)) and _text(e) != "an expression":
                self.error(f"an initializer is not a number; write const({_text(e)}) for a constant", e.span)
            elif name is None:
                self.error(f"this is not an initializer; {known}", e.span)
            else:
                self.error(f"unknown initializer '{name}'{did_you_mean(name, INITS)}; {known}", e.span)
            return None
        signature = INIT_SIGNATURES.get(name, name)
        if isinstance(e, S.Call) and e.kwargs:
            self.error(f"initializer {signature} takes no keyword arguments", e.kwargs[0].span)
            return None
        if len(args) != INITS[name]:
            if INITS[name] == 0:
                self.error(f"initializer {name} takes no arguments; write '= {name}'", e.span)
            else:
                self.error(
                    f"initializer {signature} takes {_plural(INITS[name], 'argument')}, but {_given(len(args))}", e.span
                )
            return None
        values = [self.constant(a, scope, f"an argument of {name}") for a in args]
        if any(v is None for v in values):
            return None
        if name == "normal" and values[1] < 0:
            self.error(f"normal(mean, std) needs std >= 0, but std is {values[1]:g}", args[1].span)
            return None
        if name == "uniform" and values[0] > values[1]:
            self.error(f"uniform(lo, hi) needs lo <= hi, but {values[0]:g} > {values[1]:g}", e.span)
            return None
        return name, tuple(values)

    def stmt_FnDecl(self, stmt: S.FnDecl, scope: Scope) -> None:
        visible = frozenset(n for n, b in self.top.items() if b.kind == "fn")
        info = FnInfo(stmt, visible)
        info.cost = sum(self.cost(s.value) for s in stmt.body if isinstance(s, (S.Assign, S.Return)))
        self.check_fn(stmt, info)
        self.define(stmt.name, Binding("fn", info, stmt.name_span))

    def stmt_Assign(self, stmt: S.Assign, scope: Scope) -> None:
        name = self.resolve_name(stmt.target, scope)
        node = self.expr(stmt.value, scope)
        if name is None:
            return
        if node is None:  # keep the name defined so later lines do not cascade
            self.top.setdefault(name, Binding("value", None, stmt.target.span))
            return
        if not self.define(name, Binding("value", node, stmt.target.span)):
            return
        d = self.g.node(node)
        if d["name"] is None and d["op"] != "const":
            d["name"] = name
        self.values.append(NamedValue(name, stmt.span.line, d["shape"], d["dtype"]))

    def stmt_Return(self, stmt: S.Return, scope: Scope) -> None:
        self.error("return is only allowed at the end of a fn body", stmt.span)

    def stmt_OutputDecl(self, stmt: S.OutputDecl, scope: Scope) -> None:
        self.outputs.extend(stmt.names)

    def stmt_Minimize(self, stmt: S.Minimize, scope: Scope) -> None:
        if self.minimize is not None:
            self.error(
                f"a model has one objective; minimize is already given at line {self.minimize.span.line}", stmt.span
            )
            return
        self.minimize = stmt

    def stmt_ForLoop(self, stmt: S.ForLoop, scope: Scope) -> None:
        lo = self.constant(stmt.start, scope, "a loop bound")
        hi = self.constant(stmt.stop, scope, "a loop bound")
        if lo is None or hi is None:
            return
        if not (float(lo).is_integer() and float(hi).is_integer()):
            self.error("loop bounds must be integers", stmt.start.span.to(stmt.stop.span))
            return
        if hi < lo:
            self.error(
                f"the range {int(lo)}..{int(hi)} is empty (bounds are inclusive)", stmt.start.span.to(stmt.stop.span)
            )
            return
        self.unrolled += int(hi - lo + 1)
        if self.unrolled > MAX_UNROLL:
            self.error(
                f"loops unroll to more than {MAX_UNROLL:,} iterations in all", stmt.start.span.to(stmt.stop.span)
            )
            return
        ops = self.loop_cost(stmt)
        if self.g._next + ops > MAX_NODES:
            self.error(
                f"this loop unrolls to about {ops:,} ops, more than graphc allows ({MAX_NODES:,})",
                stmt.start.span.to(stmt.stop.span),
            )
            return
        var = stmt.var.base
        if self.lookup(var, scope) is not None or var in BUILTINS:
            self.error(f"loop variable '{var}' hides an existing name", stmt.var.span)
            return
        for i in range(int(lo), int(hi) + 1):
            self.top[var] = Binding("loopvar", float(i), stmt.var.span)
            inner = Scope(scope.locals, scope.fn, scope.frames + (("loop", var, i, stmt.span.line),))
            for s in stmt.body:
                self.stmt(s, inner, in_loop=True)
        self.top.pop(var, None)

    def finish(self) -> None:
        """Resolve the objective, the wrt names and the outputs against the final bindings."""
        bound = {d for n in self.g.inputs.values() for d in self.g.shape(n) if isinstance(d, str)}
        for dim, span in self.dim_uses.items():
            if dim not in bound and not self.errors:  # a failed input declaration would bind it
                self.error(
                    f"dim '{dim}' is not the size of any input, so its value is unknown when the model runs; "
                    "use it in an input's shape or use a const",
                    span,
                )
        if self.minimize is None:
            span = Span(self.file, 1, 1, 1, 2)
            if not self.program.stmts:
                self.error(
                    "the file holds no statements; a model needs at least a param and a 'minimize NAME' line", span
                )
            else:
                self.error("the model has no objective; add a line 'minimize NAME' naming a scalar value", span)
            return
        m = self.minimize
        target = self.final(m.target, "the objective")
        if target is not None:
            shape, dtype = self.g.type(target)
            if shape != () or dtype != "float":
                self.error(
                    f"the objective '{m.target.text}' must be a scalar, but it is {show(shape, dtype)}; "
                    "reduce it with mean(...) or sum(...)",
                    m.target.span,
                )
            else:
                self.g.objective = (m.target.text, target)
        for w in m.wrt:
            b = self.top.get(w.base) if w.index is None else None
            if w.index is not None:
                self.error(f"'{w.text}': names with {{}} are only built inside for loops", w.span)
            elif b is None:
                wanted = [
                    n
                    for n, x in self.top.items()
                    if x.kind == "param"
                    or (x.kind == "input" and x.value is not None and self.g.node(x.value)["dtype"] == "float")
                ]
                self.error(f"unknown name '{w.base}' after wrt{did_you_mean(w.base, wanted)}", w.span)
            elif b.kind in ("param", "input") and b.value is None:  # its declaration failed and was reported
                continue
            elif b.kind not in ("param", "input") or self.g.node(b.value)["dtype"] != "float":
                self.error(
                    f"gradients can be taken with respect to params and float inputs; '{w.base}' is {KIND_WORDS[b.kind] if b.kind != 'input' else 'an int input'}",
                    w.span,
                )
            elif w.base in self.g.wrt:
                self.error(f"'{w.base}' is named twice after wrt", w.span)
            else:
                self.g.wrt.append(w.base)
        if not m.wrt:
            self.g.wrt = list(self.g.params)
            if not self.g.wrt and not self.broken_params:
                self.error(
                    "the model has no params to train; declare one with 'param' or name inputs after 'wrt'", m.span
                )
        # the objective is the default output; a broken one was reported just above
        for o in self.outputs or ([m.target] if target is not None else []):
            node = self.final(o, "an output")
            if node is not None:
                self.g.outputs.append((o.text, node))

    def final(self, name: S.Name, role: str) -> int | None:
        b = self.top.get(name.text) if name.index is None else None
        if b is None:
            self.unknown(name.text, name.span, Scope())
            return None
        if b.kind not in ("value", "input", "param"):
            self.error(f"{role} must be a value, but '{name.text}' is {KIND_WORDS[b.kind]}", name.span)
            return None
        return b.value


def _keyword(stmt: S.Stmt) -> str:
    return {
        "ModelDecl": "model",
        "DimDecl": "dim",
        "FnDecl": "fn",
        "OutputDecl": "output",
        "Minimize": "minimize",
        "Return": "return",
        "ForLoop": "for",
        "ParamDecl": "param",
        "InputDecl": "input",
        "ConstDecl": "const",
    }.get(type(stmt).__name__, "this statement")


def _stem(path: str) -> str:
    import os

    base = os.path.basename(path)
    stem = base.rsplit(".", 1)[0] if "." in base else base
    return "".join(c if c.isalnum() or c == "_" else "_" for c in stem) or "model"


def lower(program: S.Program) -> Lowered:
    """Check a parsed program and build its forward graph; GraphcError lists every mistake."""
    return ProgramLowerer(program).run()
