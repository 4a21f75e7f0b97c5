"""Expressions -> graph nodes: operators, names, builtin calls and their arguments, fn calls inlined.

Every mistake is reported where it is made; an expression that failed yields
None and its users stay silent.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np

from graphc import syntax as S
from graphc.errors import Span, did_you_mean
from graphc.ir import READS_KEPT
from graphc.lower_advice import ARITHMETIC, BINARY_OPS, Advice
from graphc.ops import BUILTINS, OPS, ShapeError, show
from graphc.ops.base import Named, Written, product_text
from graphc.scope import KIND_WORDS, Binding, FnInfo, Scope, StopLowering, as_written
from graphc.util import number_text, plural

QUOTED = 30  # the longest operand a message quotes as the file writes it
MAX_NODES = 2_000_000  # a model that expands past this is refused, not attempted
_LABELS = {"one_hot": 0, "cross_entropy": 1}  # the builtins taking integer labels: which argument
_SPECIAL = frozenset({"reshape", *_LABELS})  # the builtins with an argument that is no value, or labels
_BROADCASTING = frozenset(name for name, opdef in OPS.items() if opdef.broadcasts)  # (each of two arguments)
_KEYWORDS = {name: dict(b.keywords) for name, b in BUILTINS.items()}  # each builtin's keywords -> their defaults


class ExprLowerer(Advice):
    """Expressions to graph nodes; a fn call is inlined here, its body lowered in a scope of its own."""

    def make(
        self, op: str, args: Sequence, exprs: Sequence, attrs: dict, span: Span, scope: Scope, allow_int=(), kwargs=()
    ) -> int | None:
        """The node op(*args), or None where an argument failed or the op does not fit (said).
        `args` is best a tuple: the node keeps it as it is (a list is copied)."""
        g = self.g
        nodes = g.nx._node  # the node dicts themselves: Graph.node costs a call each time
        for a in args:  # (one look at each: labels are rare, and only they need misused_labels' loop)
            if a is not None and nodes[a]["dtype"] == "int":
                if self.misused_labels(op, args, exprs, allow_int):
                    return None
                break
        if None in args:
            return None
        if g._next > MAX_NODES:
            # (loops and fn calls are refused before they expand, by their estimated cost)
            raise StopLowering(f"the model grows past {MAX_NODES:,} ops here; graphc refuses models that large", span)
        try:
            node = g.add(op, args, attrs, span, scope.frames)
        except ShapeError as err:
            swapped = self.swapped_arguments(op, args, exprs, attrs, scope)
            if swapped:  # the call's mistake, said there: the fn is right
                self.error(f"{err}, in fn {scope.fn.decl.name} at line {span.line}{swapped}", scope.call.span)
            else:
                at = next((k.value.span for k in kwargs if k.name == err.keyword), span)
                self.error(str(err) + self.shape_hint(op, args, exprs), at)
            return None
        shape = nodes[node]["shape"]
        # (a number is a scalar: a result with axes is made of arrays, known without a look at its arguments)
        if not shape and op in ARITHMETIC and self.from_numbers(args):
            # computed from numbers alone, as folding will (a const's number is its value)
            values = (self.numbers.get(a, nodes[a]["attrs"].get("value")) for a in args)
            with np.errstate(all="ignore"):
                value = float(ARITHMETIC[op](attrs, *(np.float64(v) for v in values)))
            if self.check_range(value, span):  # (once past the range, the ops using it stay quiet)
                self.numbers[node] = value
        if len(shape) > 1 and op in _BROADCASTING and len(set(shape)) < len(shape):  # a size twice: rare
            self.check_pairing(op, node, args, exprs, span)
        return node

    def misused_labels(self, op: str, args: Sequence, exprs: Sequence, allow_int) -> bool:
        """Whether an argument is integer labels where op takes none, said at the first; labels
        used as floats are wrong beside an operand that failed too."""
        for i, a in enumerate(args):
            if a is not None and self.g.node(a)["dtype"] == "int" and i not in allow_int:
                e = exprs[i]
                where = (
                    f"{op} takes them only as argument {allow_int[0] + 1}"
                    if allow_int
                    else "only one_hot and cross_entropy accept them"
                )
                self.error(f"{self.src(e)} is {show(*self.g.type(a))}, integer labels; {where}", e.span)
                return True
        return False

    def from_numbers(self, args: list[int]) -> bool:
        """Whether every argument is a number: a const, or computed from numbers alone."""
        nodes, numbers = self.g.nx._node, self.numbers
        for a in args:
            if a not in numbers and nodes[a]["op"] != "const":
                return False
        return True

    def const_node(self, value: float, span: Span, scope: Scope) -> int:
        if not -3e38 <= value <= 3e38:  # (check_range's own first test, without its call for every number)
            self.check_range(value, span)
        return self.g.add("const", [], {"value": float(value)}, span, scope.frames)

    def expr(self, e: S.Expr, scope: Scope) -> int | None:
        kind = type(e)  # (the most common first: each kind of expression is its own class)
        if kind is S.Name:
            return self.name_value(e, scope)
        if kind is S.Binary:
            if e.op == "^":
                if self.power_habit(e, scope):
                    return None
                x = self.expr(e.left, scope)
                said = len(self.errors)
                p = self.constant(e.right, scope, "the exponent of ^")
                if p is None:
                    if isinstance(e.left, S.Num) and e.left.value > 0 and len(self.errors) > said:
                        # 2^x, as mathematics writes an exponential of base 2
                        power = _text(e.right).replace("an expression", "(...)")
                        self.add_note(said, f"a number to a varying power is written exp(log({e.left.text}) * {power})")
                    return None
                return self.make("pow", (x,), (e.left,), {"p": p}, e.span, scope)
            if (
                e.op == "/"
                and isinstance(e.right, S.Name)
                and getattr(self.lookup(e.right.text, scope), "kind", "") == "dim"
            ):
                # `sum(x) / B`: a count as a value, which a mean is
                self.expr(e.left, scope)  # for its own mistakes
                self.error(
                    f"'{e.right.text}' is a dim (a size), not a value; a sum divided by a count is a mean: write mean(...)",
                    e.right.span,
                )
                return None
            a, b = self.expr(e.left, scope), self.expr(e.right, scope)
            return self.make(BINARY_OPS[e.op], (a, b), (e.left, e.right), {}, e.span, scope)
        if kind is S.Call:
            return self.call(e, scope)
        if kind is S.Num:
            v = self.number(e)
            return None if v is None else self.const_node(v, e.span, scope)
        if kind is S.Unary:
            x = self.expr(e.operand, scope)
            if e.op == "+":
                return x
            return self.make("neg", (x,), (e.operand,), {}, e.span, scope)
        if isinstance(e, S.Attr):
            if self.no_library(e, scope):
                return None
            if e.attr != "T":
                self.error(*self.misplaced(e))
                self.expr(e.value, scope)  # for its own mistakes
                return None
            x = self.expr(e.value, scope)
            if x is not None and len(self.g.shape(x)) < 2:  # NumPy leaves it as it is; PyTorch warns too
                self.transpose_of_a_vector(e, self.g.shape(x))
            return self.make("transpose", (x,), (e.value,), {}, e.span, scope)
        wrong = self.misplaced(e)
        if wrong is not None:
            self.error(*wrong)
        return None

    def power_habit(self, e: S.Binary, scope: Scope) -> bool:
        """`W^T` and `e^x`, a transpose and an exponential as mathematics writes them, said with
        what .nn writes (where the file defines no T or e); else False."""
        if isinstance(e.right, S.Name) and e.right.text == "T" and self.lookup("T", scope) is None:
            op = self.written(e.op_span) or "^"  # (** as the file spells it)
            self.error(f"a transpose is written {_text(e.left).replace('an expression', '(...)')}.T, not {op}T", e.span)
            return True
        if isinstance(e.left, S.Name) and e.left.text == "e" and self.lookup("e", scope) is None:
            power = _text(e.right)
            fix = "e^x is written exp(x)" if power == "an expression" else f"write exp({power})"
            self.error(f"there is no e in .nn: {fix}", e.span)
            return True
        return False

    def name_value(self, e: S.Name, scope: Scope) -> int | None:
        # a plain name outside fns, nearly every name read, is looked up at the top directly:
        # binding's own first case, without its call (any other, or a miss, goes through binding)
        b = self.top.get(e.base) if e.index is None and scope.fn is None and e.base not in scope.locals else None
        if b is not None:
            name = e.base
        else:
            found = self.binding(e, scope)
            if found is None:
                return None
            name, b = found
        if b.value is None and b.kind != "dim":  # a definition that failed and was reported
            return None
        if b.kind in ("value", "input", "param"):
            reads = self.g.reads
            if reads is not None:
                reads[e.span.line, e.span.col, scope.frames] = b.value
                if len(reads) > READS_KEPT:
                    self.g.reads = None
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
            # (not a value whose definition failed and was reported: `f = np.tanh` meant a function)
            if b.value is not None or b.kind == "dim":
                self.error(f"'{e.func}' is {KIND_WORDS[b.kind]}, not a function", e.func_span)
            self.check_args(e.args, scope)
            return None
        return self.inline(b.value, e, scope)

    def axis_text(self, e: S.Expr, scope: Scope) -> str | None:
        """An argument that reads as an axis given by position, as written (`1`, `-1`, `(0, 1)`,
        a const's name); None for anything else (`max(x, y)` meant the larger of two)."""
        items = e.items if isinstance(e, S.TupleLit) else (e,)
        for item in items:
            if isinstance(item, S.Unary) and item.op == "-":
                item = item.operand
            if isinstance(item, S.Num) and item.is_int:
                continue
            b = self.lookup(item.text, scope) if isinstance(item, S.Name) and item.index is None else None
            if b is None or b.kind not in ("const", "loopvar") or not float(b.value).is_integer():
                return None
        texts = [_text(item) for item in items]
        return f"({', '.join(texts)}{',' if len(texts) == 1 else ''})" if isinstance(e, S.TupleLit) else texts[0]

    def check_args(self, args: tuple[S.Expr, ...], scope: Scope) -> None:
        """Lower the arguments of a call that failed, for their own independent mistakes.

        Shapes, axis tuples and true/false are only wrong in the wrong place, and
        the place is unknown when the call itself is, so they are left alone.
        """
        for a in args:
            if not isinstance(a, (S.ListLit, S.TupleLit, S.Bool)):
                self.expr(a, scope)

    # ---------------------------------------------------------------- builtins

    def builtin(self, e: S.Call, scope: Scope) -> int | None:
        spec = BUILTINS[e.func]
        if not e.kwargs and e.func not in _SPECIAL and len(e.args) == len(spec.args):
            # most calls, tanh(z) or maximum(a, b): arguments by position, all of them values,
            # so none of the checks below on keywords, shapes and labels applies
            # (one argument, tanh(z), as a tuple at once: the node keeps it as it is)
            args = (self.expr(e.args[0], scope),) if len(e.args) == 1 else [self.expr(a, scope) for a in e.args]
            return self.make(spec.op, args, e.args, {}, e.span, scope)
        if len(e.args) != len(spec.args):
            names = ", ".join(spec.args)
            # `softmax(x, -1)`, as NumPy's positional axis would have it
            extra = len(e.args) == len(spec.args) + 1 and "axis" in _KEYWORDS[e.func] and not e.kwargs
            last = self.axis_text(e.args[-1], scope) if extra else None
            axis = f"; give the axis by name: {e.func}(..., axis={last})" if last else ""
            if e.func == "max" and len(e.args) == 2 and not e.kwargs:  # Python's max(a, b): the larger of two
                pair = _written("maximum", e.args) or "maximum(a, b)"
                axis += f"{', or' if axis else ';'} for the larger of two values elementwise write {pair}"
            said = f"takes {plural(len(spec.args), 'argument')}, but {_given(len(e.args))}{axis}" if axis else None
            # (PyTorch's one_hot(y, num_classes=3) names K so)
            named = {_ALIASES.get(k.name, k.name): k for k in e.kwargs}
            named = {a: k for a, k in named.items() if a in spec.args[len(e.args) :]}
            others = [k for k in e.kwargs if k not in named.values()]
            if named and not said:  # sum(x=v): Python would take it so; here arguments go by position
                said = _by_position(spec.args, named)
                # the other keywords need no operand to be checked, and are; the fix is offered
                # whole or not at all, never holding a keyword wrong itself (sum(w, axs=0))
                right = [
                    not self.wrong_keyword(e, k, scope, say=True) and self.keyword_value(k, scope) is not _BAD
                    for k in others
                ]
                if len(e.args) + len(named) == len(spec.args) and all(right):
                    call = _written(e.func, [*e.args, *(named[a].value for a in spec.args[len(e.args) :]), *others])
                    if call is not None:
                        said += f": write {call}"
            self.error(f"{e.func}({names}) {said or _arity(spec.args, len(e.args))}", e.span)
            self.check_args(e.args + tuple(k.value for k in named.values()), scope)
            return None
        attrs: dict[str, Any] = {}
        # a call written wrongly (a keyword, reshape's shape, one_hot's K) is one mistake;
        # what it is applied to is still lowered, for mistakes of its own
        ok = True
        for kw in e.kwargs:
            if self.wrong_keyword(e, kw, scope, say=True):
                ok = False
            elif kw.name in attrs:
                self.error(f"keyword '{kw.name}' is given twice", kw.span)
                ok = False
            else:
                attrs[kw.name] = self.keyword_value(kw, scope, e.args[0] if e.args else None)
                ok = ok and attrs[kw.name] is not _BAD
        first_keyword = e.kwargs[0].span.start if e.kwargs else None  # (the parser keeps them in file order)
        late = [a for a in e.args if a.span.start > first_keyword] if e.kwargs else []
        if late:  # as in Python: sum(axis=0, x) is no way to write sum(x, axis=0)
            self.error(
                f"a positional argument cannot follow a keyword argument; put {e.func}'s keywords last", late[0].span
            )
            self.check_args(e.args[:1] if e.func in ("reshape", "one_hot") else e.args, scope)  # the operands
            return None
        allow_int = ()
        if e.func == "reshape":
            shape = self.reshape_target(e, scope)
            ok = ok and shape is not None
            attrs["shape"], e_args = shape, e.args[:1]
        elif e.func == "one_hot":
            # one_hot(10, labels); not one_hot(labels, labels), which no order mends
            if self.labels_input(e.args[1], scope) and not self.labels_input(e.args[0], scope):
                self.error(
                    f"one_hot(labels, K) takes the labels first, and '{_text(e.args[1])}' is integer labels: "
                    + _swapped("one_hot", e.args),
                    e.args[0].span.to(e.args[1].span),
                )
                return None
            k = self.size(e.args[1], scope, True, "one_hot's K")
            ok = ok and k is not None
            attrs["k"], e_args, allow_int = k, e.args[:1], (0,)
        else:
            e_args = e.args
            allow_int = (1,) if e.func == "cross_entropy" else ()
        args, exprs = [self.expr(a, scope) for a in e_args], e_args
        if e.func == "reshape" and ok and args[0] is not None:
            attrs["shape"] = self.fill_reshape(self.g.shape(args[0]), attrs["shape"], e)
            if attrs["shape"] is None:
                return None
        if attrs.get("axis", _BAD) is not _BAD and args[0] is not None:
            kw = next(k for k in e.kwargs if k.name == "axis")
            if not self.check_axes(attrs["axis"], self.g.shape(args[0]), kw, exprs[0]):
                return None
        if not ok:
            return None
        labels = _LABELS.get(e.func)
        if labels is not None and args[labels] is not None and self.g.node(args[labels])["dtype"] != "int":
            if labels == 1 and args[0] is not None and self.g.node(args[0])["dtype"] == "int":
                # cross_entropy(labels, logits): one mistake, not one for each argument
                self.error(
                    f"cross_entropy(logits, labels) takes the logits first, and {self.src(exprs[0])} is "
                    f"{show(*self.g.type(args[0]))}, integer labels: " + _swapped("cross_entropy", exprs),
                    exprs[0].span.to(exprs[1].span),
                )
                return None
            # said here, at the argument, rather than by the op's shape rule at the whole call
            shape = self.g.shape(args[labels])
            if labels == 1 and args[0] is not None and self.g.shape(args[0]):  # as the logits want them
                shape = self.g.shape(args[0])[:-1]
            # (not for an input already used as floats: as labels it would break that use)
            given = self.input_named(exprs[labels], scope)
            declare = (
                f"; declare it as input {exprs[labels].text} : int{show(shape)}"
                if given is not None and not self.g.users(given.value)
                else ""
            )
            if declare and exprs[labels].text in self.labels_told:  # one declaration mends each such use
                return None
            if declare:
                self.labels_told.add(exprs[labels].text)
            self.error(
                f"{e.func}({', '.join(spec.args)}) needs integer labels (an input declared int[...]), "
                f"but {self.src(exprs[labels])} is {show(*self.g.type(args[labels]))}{declare}",
                exprs[labels].span,
            )
            return None
        return self.make(spec.op, args, exprs, attrs, e.span, scope, allow_int, e.kwargs)

    def wrong_keyword(self, e: S.Call, kw: S.Keyword, scope: Scope, say: bool = False) -> bool:
        """Whether a builtin cannot take kw at all, whatever it is applied to: a keyword it
        does not have, or NumPy's axis=None; with `say`, that is reported."""
        allowed = _KEYWORDS[e.func]
        if kw.name not in allowed:
            known = f"; it takes {', '.join(allowed)}" if allowed else "; it takes none"
            message = f"{e.func}() got an unexpected keyword '{kw.name}'{did_you_mean(kw.name, allowed) or known}"
            span = kw.span
        elif kw.none_axis and self.lookup("None", scope) is None:  # (a const named None is one)
            default = "every axis" if allowed["axis"] is None else f"axis={allowed['axis']}"
            message, span = f"there is no None in .nn; leave axis out for its default, {default}", kw.value.span
        elif kw.name == "axis" and isinstance(kw.value, (S.TupleLit, S.ListLit)) and not kw.value.items:
            # `axis=()`, which NumPy reads as reducing nothing
            default = "to reduce every axis" if allowed["axis"] is None else f"for its default, axis={allowed['axis']}"
            call = _written(e.func, [*e.args, *(k for k in e.kwargs if k is not kw)])
            message = f"an empty axis list is not allowed; leave axis out {default}" + (
                f": write {call}" if call else ""
            )
            span = kw.value.span
        else:
            return False
        if say:
            self.error(message, span)
        return True

    def labels_input(self, e: S.Expr, scope: Scope) -> bool:
        """Whether e names an input of integer labels."""
        b = self.input_named(e, scope)
        return b is not None and b.value is not None and self.g.node(b.value)["dtype"] == "int"

    def input_named(self, e: S.Expr, scope: Scope) -> Binding | None:
        """The input e is, written by its own name (not `y{i}`, whose base may be another)."""
        b = self.lookup(e.base, scope) if isinstance(e, S.Name) and e.index is None else None
        return b if b is not None and b.kind == "input" else None

    def src(self, e: S.Expr) -> str:
        """An operand as a message names it: `'x'` for a name, the result of a call, and
        another as the file writes it (`'h @ W'`) where that is one short line."""
        if isinstance(e, S.Name):
            return f"'{e.text}'"
        if isinstance(e, S.Call):
            return f"the result of {e.func}(...)"
        s = e.span
        if s is not None and s.line == s.end_line and 0 < s.end_col - s.col <= QUOTED:
            line = self.source_line(s.line)
            if line is not None:
                return f"'{' '.join(line[s.col - 1 : s.end_col - 1].split())}'"
        return "this operand"

    def check_axes(self, axis: int | tuple, shape: tuple, kw: S.Keyword, operand: S.Expr) -> bool:
        """Range and repetition of axis=..., reported at the offending axis."""
        rank = len(shape)
        if type(axis) is int and -rank <= axis < rank:  # one axis, in range: most reductions
            return True
        axes = (axis,) if isinstance(axis, int) else tuple(axis)
        items = kw.value.items if isinstance(kw.value, S.TupleLit) else (kw.value,)
        seen: dict[int, int] = {}
        for a, item in zip(axes, items):
            if not -rank <= a < rank:
                valid = f"its axes are 0..{rank - 1} or -{rank}..-1" if rank else "it has no axes"
                written = as_written(item, a) if abs(a) >= 1e16 else a  # (axis=-1e300 as written, not 301 digits)
                self.error(
                    f"axis {written} is out of range for {self.src(operand)}, which is {show(shape)}; {valid}",
                    item.span,
                )
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

    def dim_as_axis(self, item: S.Expr, operand: S.Expr | None, scope: Scope) -> bool:
        """`mean(x, axis=B)`: a dim, the size of an axis, given for its position; said with the
        axis it is where the operand is a name whose shape has it. False where item is no dim."""
        if not (isinstance(item, S.Name) and getattr(self.lookup(item.text, scope), "kind", "") == "dim"):
            return False
        fix = "; give its position, such as axis=0 or axis=-1"
        b = self.lookup(operand.text, scope) if isinstance(operand, S.Name) and operand.index is None else None
        if b is not None and b.kind in ("input", "param", "value") and isinstance(b.value, int):
            shape = self.g.shape(b.value)
            if shape.count(item.text) == 1:
                fix = f": '{operand.text}' is {show(shape)}, so {item.text} is axis={shape.index(item.text)}"
        self.error(f"'{item.text}' is a dim, a size, and an axis is a position{fix}", item.span)
        return True

    def keyword_value(self, kw: S.Keyword, scope: Scope, operand: S.Expr | None = None):
        if kw.name == "keepdims":
            if not isinstance(kw.value, S.Bool):
                written = _text(kw.value)
                case = f" (in lower case: keepdims={written.lower()})" if written in ("True", "False") else ""
                if scope.fn is not None and written in {p.base for p in scope.fn.decl.params}:
                    case = (
                        f": '{written}' is an argument of fn {scope.fn.decl.name}, and a fn's arguments are arrays; "
                        "write true or false in the fn"
                    )
                self.error(f"keepdims must be true or false, not {written}{case}", kw.value.span)
                return _BAD
            return kw.value.value
        if type(kw.value) is S.Num and kw.value.is_int and math.isfinite(kw.value.value):
            return int(kw.value.value)  # axis=1, as most are given: what the checks below give it
        if isinstance(kw.value, S.ListLit):
            self.error("several axes are written as a tuple, as in axis=(0, 1), not a list", kw.value.span)
            return _BAD
        items = kw.value.items if isinstance(kw.value, S.TupleLit) else (kw.value,)
        axes = []
        for item in items:
            if not self.written_whole(item, "an axis") or self.dim_as_axis(item, operand, scope):
                return _BAD
            v = self.constant(item, scope, "an axis")
            if v is None:
                return _BAD
            if not float(v).is_integer():
                self.error(f"an axis must be an integer, not {number_text(v)}", item.span)
                return _BAD
            axes.append(int(v))
        return tuple(axes) if isinstance(kw.value, S.TupleLit) else axes[0]

    def reshape_target(self, e: S.Call, scope: Scope) -> list | None:
        target = e.args[1]
        if not isinstance(target, S.ListLit):
            fix = ", as in reshape(x, [B, -1])"
            sizes = [_text(d) for d in target.items] if isinstance(target, S.TupleLit) else ["an expression"]
            if "an expression" not in sizes:  # NumPy's shape tuple, `reshape(x, (3, 1))`
                fix = f": write [{', '.join(sizes)}]"
            self.error(f"reshape needs the new shape as a list of sizes{fix}", target.span)
            return None
        out = []
        for item in target.items:
            d = self.reshape_size(item, scope)
            if d is None:
                return None
            if d == -1 and -1 in out:
                self.error("reshape allows one -1 (the size to infer), and this is a second", item.span)
                return None
            out.append(d)
        return out

    def reshape_size(self, e: S.Expr, scope: Scope) -> int | str | None:
        """A size of reshape's target: as any size, or a product of dims and numbers (`B*T`),
        the size the -1 of reshape(z, [-1, 8]) gives a [B, T, 8] z."""
        factors, todo = [], [e]
        while todo:
            f = todo.pop()
            if isinstance(f, S.Binary) and f.op == "*":
                todo += [f.right, f.left]
            else:
                factors.append(f)

        def dims_in(f: S.Expr) -> list[str]:
            if isinstance(f, S.Name):
                return [f.text] if getattr(self.lookup(f.text, scope), "kind", "") == "dim" else []
            if isinstance(f, S.Binary):
                return dims_in(f.left) + dims_in(f.right)
            return dims_in(f.operand) if isinstance(f, S.Unary) else []

        if not any(isinstance(f, S.Name) and dims_in(f) for f in factors):
            if dims_in(e):  # B + T, B / 2: graphc keeps sizes as products of dims only
                self.error("a size in reshape may only multiply dims, together or by numbers, as in B*T or 2*B", e.span)
                return None
            return self.size(e, scope, True, "reshape", infer=True)  # numbers and consts alone: (N / 2) * 2, -1
        sizes = [self.size(f, scope, True, "reshape") for f in factors]
        if None in sizes:
            return None
        product = _size_from(*_product(sizes))
        # shown as written, [B*T*D], where the product is kept as 4*B*T
        written = _count_text(sizes)
        return Written(product, written) if isinstance(product, str) and written != product else product

    def fill_reshape(self, shape: tuple, target: list, e: S.Call) -> tuple | None:
        have, want = _product(shape), _product([d for d in target if d != -1])
        if -1 in target:
            coef, rest = have[0] / want[0], have[1] - want[1]
            if coef != int(coef) or want[1] - have[1]:
                total, known = _count_text(shape), _count_text([d for d in target if d != -1])
                always = " for every value of the dims" if have[1] or want[1] else ""
                self.error(
                    f"cannot reshape {show(shape)} to {show(target)}: "
                    f"its {total} values do not divide by {known}{always}",
                    e.span,
                )
                return None
            size = _size_from(int(coef), rest)
            # shown as the sizes it stands for where the others are the shape's own: reshape of
            # [B, T, D] to [-1, D] is [B*T, D], of [B, K] to [-1] is [B*K], not [5*B]
            left = list(shape)
            for d in target:
                if d != -1 and d in left:
                    left.remove(d)
            written = _count_text(left)
            if left and _product(left) == (int(coef), rest) and written != str(size):
                size = Written(size, written) if isinstance(size, str) else Named(size, written)
            return tuple(size if d == -1 else d for d in target)
        if have != want:
            self.error(
                f"cannot reshape {show(shape)} to {show(target)}: "
                f"it holds {_count_text(shape)} values, and {show(target)} holds {_count_text(target)}",
                e.span,
            )
            return None
        return tuple(target)

    # ---------------------------------------------------------------- fn calls

    def inline(self, info: FnInfo, e: S.Call, scope: Scope) -> int | None:
        decl = info.decl
        if e.kwargs:
            params = [p.base for p in decl.params]
            said = _by_name(decl.name, params, e.args, e.kwargs)
            if said is not None:
                self.error(f"fn {decl.name}({', '.join(params)}) {said}", e.span)
            else:
                self.error(f"fn '{decl.name}' takes no keyword arguments", e.kwargs[0].span)
            self.check_args(e.args, scope)
            return None
        if len(e.args) != len(decl.params):
            names = [p.base for p in decl.params]
            if len(set(names)) < len(names):  # `fn f(a, a)`, reported where it is declared: how many
                self.check_args(e.args, scope)  # arguments were meant is unknown, so no call is wrong
                return None
            params = ", ".join(names)
            self.error(f"fn {decl.name}({params}) {_arity(names, len(e.args))}", e.span)
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
        inner = Scope(fn=info, frames=scope.frames + (("fn", decl.name, info.calls, e.span.line),), call=e)
        for p, a in zip(decl.params, args):
            inner.locals[p.base] = Binding("value", a, p.span)
        self.g.calls[inner.frames] = {p.base: a for p, a in zip(decl.params, args) if p.base in info.kept}
        # a shape error inside the body names this call and the shapes it passed, since
        # one fn serves several shapes; calls from inside fns chain outwards
        where = ", ".join(f"{p.base}: {show(*self.g.type(a))}" for p, a in zip(decl.params, args))
        here = f"in the call of {decl.name} at line {e.span.line}" + (f" ({where})" if where else "")
        note, self.call_note = self.call_note, here + (f"; {self.call_note}" if self.call_note else "")
        self.call_sites += (e.span,)
        try:
            for stmt in decl.body:
                if isinstance(stmt, S.Return):
                    return self.expr(stmt.value, inner)
                if not isinstance(stmt, S.Assign):  # check_fn reported it: the body is broken, say no more
                    return None
                node = self.expr(stmt.value, inner)
                if node is None:
                    return None
                name = self.resolve_name(stmt.target, inner)  # `t{n}` is t1 (check_fn said a bad index)
                if name is None:
                    return None
                if self.g.node(node)["name"] is None:
                    self.g.node(node)["name"] = name
                inner.locals[name] = Binding("value", node, stmt.target.span)
        finally:
            self.call_note = note
            self.call_sites = self.call_sites[:-1]
        return None


class _Bad:
    pass


_BAD = _Bad()


def _text(e: S.Expr) -> str:
    """A short rendering of a simple expression, for 'not X' in messages."""
    if isinstance(e, S.Num):
        return e.text
    if isinstance(e, S.Name):
        return e.text
    if isinstance(e, S.Unary) and isinstance(e.operand, (S.Num, S.Name)):
        return e.op + _text(e.operand)
    return "an expression"


def _value_text(e: S.Expr) -> str:
    """A keyword's value as written: `true`, `-1`, `x`."""
    return ("true" if e.value else "false") if isinstance(e, S.Bool) else _text(e)


_ALIASES = {"num_classes": "K"}  # a builtin's argument as another library names it -> its name here


def _written(func: str, values) -> str | None:
    """A call as a fix writes it, from its arguments and keywords, or None where one is more
    than a name or a number (`sum(w, keepdims=true)`)."""
    texts = [f"{v.name}={_value_text(v.value)}" if isinstance(v, S.Keyword) else _argument_text(v) for v in values]
    return None if any(t.endswith("an expression") for t in texts) else f"{func}({', '.join(texts)})"


def _argument_text(e: S.Expr) -> str:
    """An argument as a fix writes it: a name, a number, short arithmetic on them, or a list of
    those (reshape's `[B*T, 2]`); "an expression" for anything longer."""
    if isinstance(e, S.ListLit):
        items = [_argument_text(i) for i in e.items]
        return "an expression" if "an expression" in items else f"[{', '.join(items)}]"
    return S.arithmetic_text(e) or _text(e)


def _by_name(func: str, params, args, kwargs) -> str | None:
    """`takes a and b by position, not by name: write f(x, W)`, for a fn or an initializer
    given params by name, as Python may (`f(a=x, b=W)`); the fix where every param is given
    and no other keyword is; None where no keyword names a param."""
    named = {k.name: k.value for k in kwargs if k.name in params[len(args) :]}
    if not named:
        return None
    said = _by_position(params, named)
    if len(args) + len(named) == len(params) == len(args) + len(kwargs):
        call = _written(func, [*args, *(named[p] for p in params[len(args) :])])
        if call is not None:
            said += f": write {call}"
    return said


def _by_position(params, named) -> str:
    """`takes a and b by position, not by name`, of the params among `named`, in their order."""
    listed = [p for p in params if p in named]
    listed = f"{', '.join(listed[:-1])} and {listed[-1]}" if len(listed) > 1 else listed[0]
    return f"takes {listed} by position, not by name"


def _swapped(func: str, args) -> str:
    """The fix for a call of two arguments given the wrong way round: the call to write."""
    texts = [_text(x) for x in args[::-1]]
    return "swap them" if "an expression" in texts else f"write {func}({', '.join(texts)})"


def _given(n: int) -> str:
    return f"{n} {'was' if n == 1 else 'were'} given"


def _arity(params, given: int) -> str:
    """`takes 3 arguments, but 2 were given; b is missing`: the params left without an
    argument by name, or how many arguments are too many."""
    said = f"takes {plural(len(params), 'argument')}, but {_given(given)}"
    missing = list(params[given:])
    if missing:
        names = " and ".join([", ".join(missing[:-1]), missing[-1]] if len(missing) > 1 else missing)
        return f"{said}; {names} {'is' if len(missing) == 1 else 'are'} missing"
    return f"{said}, {given - len(params)} too many"


def _count_text(sizes) -> str:
    """How many values sizes hold, as the model writes them: `B*T*D`, `(H + 1)*2`, `B` for
    [B, 1]; `12` for [3, 4], sizes written as numbers alone."""
    if all(type(d) is int for d in sizes):
        return str(math.prod(sizes))
    sizes = [d for d in sizes if not (type(d) is int and d == 1)]  # [B, 1] holds B values, not B*1
    return product_text(sizes)


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
