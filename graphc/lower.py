"""syntax.Program -> ir.Graph: names resolved, shapes checked, fns inlined, loops unrolled.

Every mistake is collected with its span; an expression that failed yields None
and its users stay silent, so each independent error is reported once.

    scope.py       bindings and scopes, name lookup, compile-time constants and sizes
    lower_expr.py  expressions, builtin calls and their arguments, fn calls inlined
    lower_fn.py    fn declarations checked statically, and the op count of a call
    lower.py       the statements, the objective and outputs, and `lower` itself
"""

from __future__ import annotations

import keyword
import math
import os
import sys
import unicodedata
from dataclasses import dataclass, field

import numpy as np

from graphc import syntax as S
from graphc.errors import Diagnostic, GraphcError, Span, did_you_mean
from graphc.ir import Graph
from graphc.lower_advice import fits
from graphc.lower_expr import ExprLowerer, _arity, _by_name, _text
from graphc.lower_loop import Loops
from graphc.ops import BUILTINS, show
from graphc.ops.base import size_name
from graphc.scope import KIND_WORDS, Binding, FnInfo, Scope, StopLowering, as_said, as_written
from graphc.syntax_hints import scaled_draw
from graphc.util import gc_paused, recursion_room

MAX_PARAM_SIZE = 2**31
# each initializer with the names of its arguments (one with none may be written `zeros` or `zeros()`)
INITS = {
    "zeros": (),
    "ones": (),
    "glorot": (),
    "he": (),
    "const": ("c",),
    "normal": ("mean", "std"),
    "uniform": ("lo", "hi"),
}
_WRT_TARGETS = "gradients can be taken with respect to params and float inputs"


def _signature(init: str) -> str:
    """An initializer as a message names it: `normal(mean, std)`, `zeros`."""
    params = INITS[init]
    return f"{init}({', '.join(params)})" if params else init


def _extent(init: str, args: list[float]) -> tuple[float, float]:
    """The largest magnitude an initializer's values reach, and the largest number drawing
    them computes in float64: a normal draw lies within 10 std of its mean, and a uniform
    one is lo plus a fraction of hi - lo."""
    if init == "const":
        return abs(args[0]), abs(args[0])
    if init == "normal":
        return abs(args[0]) + 10 * args[1], abs(args[0]) + 10 * args[1]
    if init == "uniform":
        return max(abs(args[0]), abs(args[1])), args[1] - args[0]
    return 1.0, 1.0  # zeros, ones, glorot and he: a few units at most


@dataclass(slots=True)
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
    warnings: list[Diagnostic] = field(default_factory=list)  # likely slips that still compile


TOO_DEEP_INLINED = (
    "this statement nests too deeply once its fn calls are inlined (fns of deep expressions calling each other); "
    "split the expressions in the fns over several statements"
)


class ProgramLowerer(ExprLowerer, Loops):
    """The statements: declarations, assignments, loops, and the objective."""

    def __init__(self, program: S.Program, dtype: str = "float64"):
        super().__init__(program)
        self.dtype = dtype  # initial values must fit it
        # (name, line, node) of each value assigned, made NamedValues once the model lowered
        # without a mistake (one with a mistake shows none): a tuple costs no __init__ call
        self.values: list[tuple[str, int, int]] | list[NamedValue] = []
        self.inits: dict[str, tuple] = {}
        self.model_name: str | None = None
        self.outputs: list[S.Name] = []
        self.minimize: S.Minimize | None = None
        self.unrolled = 0

    def run(self) -> Lowered:
        top = Scope()  # one for all statements: nothing binds in it (fn calls and checks make their own)
        try:
            for i, stmt in enumerate(self.program.stmts):
                try:
                    self.stmt(stmt, top, i == 0)
                except RecursionError:  # each expression is shallow, but fns inlined into fns are not
                    raise StopLowering(TOO_DEEP_INLINED, stmt.span) from None
            self.finish()
        except StopLowering as stop:
            self.errors.append(stop.diagnostic)
        else:  # (a stop cut the counts short: none is said then)
            self.note_repeats()
        if self.errors:
            # in file order, as a reader goes through them (checks run in other orders)
            self.errors.sort(key=lambda d: (d.span is None, d.span.line if d.span else 0, d.span.col if d.span else 0))
            raise GraphcError(self.errors)
        name = self.model_name or _stem(self.file)
        self.g.link()
        nodes, values = self.g.nx._node, self.values
        for i, (named, line, node) in enumerate(values):  # (in place: no second list of them at once)
            d = nodes[node]
            values[i] = NamedValue(named, line, d["shape"], d["dtype"])
        return Lowered(name, self.g, values, self.inits, self.warnings)

    def stmt(self, stmt: S.Stmt, scope: Scope, first: bool = False, in_loop: bool = False) -> None:
        if type(stmt) is S.Assign:  # nearly every statement, and allowed anywhere: no method to look up by name
            self.stmt_Assign(stmt, scope)
            return
        if in_loop and not self.allowed_in_loop(stmt):
            return
        method = getattr(self, "stmt_" + type(stmt).__name__)
        method(stmt, scope) if not isinstance(stmt, S.ModelDecl) else method(stmt, first)

    def stmt_ModelDecl(self, stmt: S.ModelDecl, first: bool) -> None:
        if not first:
            self.error("'model NAME' must be the first statement of the file", stmt.span)
        self.model_name = stmt.name
        trouble = _module_name_trouble(stmt.name)
        if trouble:
            self.error(f"model name '{stmt.name}' {trouble}; choose another", stmt.span)

    def stmt_DimDecl(self, stmt: S.DimDecl, scope: Scope) -> None:
        for n in stmt.names:
            name = self.resolve_name(n, scope)
            if name and self.define(name, Binding("dim", name, n.span)):
                self.g.dims.append(name)

    def stmt_ConstDecl(self, stmt: S.ConstDecl, scope: Scope) -> None:
        name = self.resolve_name(stmt.target, scope)
        value = self.constant(stmt.value, scope, f"const {stmt.target.text}")
        if name and value is not None:
            self.define(name, Binding("const", value, stmt.target.span), stmt.target.index)
        else:
            self.placeholder(name, "const", stmt.target.span)

    def shape_of(self, typ: S.ShapeType, scope: Scope, allow_dims: bool, what: str) -> tuple | None:
        dims = [self.size(d, scope, allow_dims, what) for d in typ.dims]
        return None if None in dims else tuple(dims)

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
        if self.define(name, Binding("input", node, stmt.target.span), stmt.target.index):
            self.g.inputs[name] = node
        else:  # reported; the dims of its shape may be bound nowhere else
            self.broken_inputs = True

    def stmt_ParamDecl(self, stmt: S.ParamDecl, scope: Scope) -> None:
        name = self.resolve_name(stmt.target, scope)
        shape = self.shape_of(stmt.type, scope, False, f"param {stmt.target.text}")
        if stmt.type.is_int:
            self.error("params are float arrays; 'int' is only for inputs", stmt.type.span)
            self.placeholder(name, "param", stmt.target.span)
            return
        init = self.initializer(stmt.init, scope, shape)
        if name is None or shape is None:
            self.placeholder(name, "param", stmt.target.span)
            return
        if math.prod(shape) > MAX_PARAM_SIZE:
            self.error(
                f"param {name} {show(shape)} has {math.prod(shape):,} values, more than graphc allows "
                f"({MAX_PARAM_SIZE:,})",
                stmt.type.span,
            )
            self.placeholder(name, "param", stmt.target.span)
            return
        node = self.g.add("param", (), {"name": name, "shape": shape}, stmt.span, scope.frames, name=name)
        # a failed initializer was reported; the param still has its shape, so the
        # mistakes in its uses are found in this run too
        if self.define(name, Binding("param", node, stmt.target.span), stmt.target.index) and init is not None:
            self.g.params[name] = node
            self.inits[name] = init
        else:  # reported: the model is not missing params, it has a misnamed one
            self.broken_params = True

    def placeholder(self, name: str | None, kind: str, span: Span) -> None:
        """A declaration that failed still binds its name, silently, so its uses do not cascade;
        a name it could not have taken anyway (declared before, a builtin) is its own mistake."""
        if name is not None:
            self.define(name, Binding(kind, None, span))
        if kind == "param":
            self.broken_params = True
        if kind == "input":
            self.broken_inputs = True

    def initializer(self, e: S.Expr | None, scope: Scope, shape) -> tuple | None:
        if e is None:
            return ("glorot" if shape is not None and len(shape) >= 2 else "zeros", ())
        name, args = (e.base, ()) if isinstance(e, S.Name) and e.index is None else (None, ())
        if isinstance(e, S.Call):
            name, args = e.func, e.args
        if name not in INITS:
            known = "use zeros, ones, const(c), normal(mean, std), uniform(lo, hi), glorot or he"
            scaled = self.scaled_initializer(e, scope)
            if scaled is not None:
                self.error(f"an initializer is not scaled by arithmetic; write {scaled}", e.span)
            elif isinstance(e, (S.Num, S.Unary)) and _text(e) != "an expression":
                self.error(f"an initializer is not a number; write const({_text(e)}) for a constant", e.span)
            elif name is None:
                self.error(f"this is not an initializer; {known}", e.span)
            else:
                hint = did_you_mean(name, INITS)
                self.error(f"unknown initializer '{name}'{hint or '; ' + known}", e.span)
            self.init_arguments(e, scope, "an initializer's argument")  # (named apart from the misspelling)
            return None
        params, what = INITS[name], f"an argument of {name}"
        if isinstance(e, S.Call) and e.kwargs:
            # normal(mean=0, std=1), as PyTorch's init functions are called: the same arguments in order
            said = _by_name(name, params, args, e.kwargs)
            if said is not None:
                self.error(f"initializer {_signature(name)} {said}", e.span)
            else:
                self.error(f"initializer {_signature(name)} takes no keyword arguments", e.kwargs[0].span)
            self.init_arguments(e, scope, what)
            return None
        if len(args) != len(params):
            if not params:  # (whatever its arguments hold, the fix deletes them)
                sized = ""  # `ones(2, 3)` as NumPy makes an array: the declared shape gives the sizes
                if shape is not None and [_text(a) for a in args] == [size_name(d) for d in shape]:
                    sized = f" (the shape {show(shape)} after ':' gives the sizes)"
                self.error(f"initializer {name} takes no arguments{sized}; write '= {name}'", e.span)
            else:  # normal(): as a fn's call is told, by the names of what is missing
                self.error(f"initializer {_signature(name)} {_arity(params, len(args))}", e.span)
                self.init_arguments(e, scope, what)
            return None
        values = [self.constant(a, scope, what) for a in args]
        if None in values:
            return None
        if name == "normal" and values[1] < 0:
            self.error(f"normal(mean, std) needs std >= 0, but std is {as_said(args[1], values[1])}", args[1].span)
            return None
        if name == "uniform" and values[0] > values[1]:
            self.error(
                f"uniform(lo, hi) needs lo <= hi, but {as_said(args[0], values[0])} > {as_said(args[1], values[1])}",
                e.span,
            )
            return None
        reach, drawn = _extent(name, values)
        if fits(reach, self.dtype) and fits(drawn, "float64"):  # (init_params draws in float64, then casts)
            return name, tuple(values)
        shown = f"{name}({', '.join(as_written(a, v) for a, v in zip(args, values))})"
        if not fits(reach, self.dtype):
            largest = float(np.finfo(self.dtype).max)
            self.error(f"{shown} makes values past {self.dtype}'s largest number, {largest:.4g}", e.span)
        else:
            self.error(f"{shown} spans more than a float64 holds, so its values cannot be drawn", e.span)
        return None

    def scaled_initializer(self, e: S.Expr, scope: Scope) -> str | None:
        """`0.01 * normal(0, 1)`, as NumPy scales randn: the initializer that draws the same
        values (`normal(0, 0.01)`), where the factor and the arguments are numbers; else None."""
        if not (isinstance(e, S.Binary) and e.op == "*"):
            return None
        for factor, call in ((e.left, e.right), (e.right, e.left)):
            if isinstance(call, S.Call) and call.func in ("normal", "uniform") and len(call.args) == 2:
                numbers = [_number(a) for a in (factor, *call.args)]
                if None not in numbers and not call.kwargs:
                    return scaled_draw(call.func, *numbers)
        return None

    def init_arguments(self, e: S.Expr, scope: Scope, what: str) -> None:
        """The arguments and keyword values of an initializer call that failed, for their own
        mistakes: a misspelled name in normal(0, scal, 1) is one more, reported in this run too."""
        if isinstance(e, S.Call):
            for a in (*e.args, *(k.value for k in e.kwargs)):
                self.constant(a, scope, what)

    def stmt_FnDecl(self, stmt: S.FnDecl, scope: Scope) -> None:
        visible = frozenset(n for n, b in self.top.items() if b.kind == "fn")
        info = FnInfo(stmt, visible)
        info.cost = sum(self.cost(s.value) for s in stmt.body if isinstance(s, (S.Assign, S.Return)))
        self.check_fn(stmt, info)
        self.define(stmt.name, Binding("fn", info, stmt.name_span))

    def stmt_Assign(self, stmt: S.Assign, scope: Scope) -> None:
        target = stmt.target
        name = target.base if target.index is None else self.resolve_name(target, scope)
        node = self.expr(stmt.value, scope)
        if name is None:
            return
        old = self.top.get(name)
        if node is None:  # the name stays defined, silently, so later lines do not cascade
            if name in BUILTINS or (old is not None and old.kind != "value"):  # a name it cannot take anyway
                self.define(name, Binding("value", None, target.span))
            else:  # and a value it had before is out of date now
                self.top[name] = Binding("value", None, target.span)
            return
        if (old is None or old.kind == "value") and name not in BUILTINS:  # define's common case, without its call
            self.top[name] = Binding("value", node, target.span)
        elif not self.define(name, Binding("value", node, target.span)):
            return
        d = self.g.nx._node[node]  # (Graph.node is one more call per statement)
        if d["name"] is None and d["op"] != "const":
            d["name"] = name
        self.values.append((name, stmt.span.line, node))

    def stmt_Return(self, stmt: S.Return, scope: Scope) -> None:
        fix = ""
        if not any(isinstance(s, S.Minimize) for s in self.program.stmts) and isinstance(stmt.value, S.Name):
            # `return loss` as a script's last line, where the objective was meant: said so, once
            fix = f"; the objective is named by minimize: write minimize {stmt.value.text}"
            self.refused_minimize = True
        self.error(f"return is only allowed at the end of a fn body{fix}", stmt.span)

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
        if not self.unroll(stmt, scope):
            self.check_unrun(stmt, scope)
            self.skip_loop(stmt)

    def finish(self) -> None:
        """Resolve the objective, the wrt names and the outputs against the final bindings."""
        bound = {d for n in self.g.inputs.values() for d in self.g.shape(n) if isinstance(d, str)}
        for dim, span in self.dim_uses.items():
            if dim not in bound and not self.broken_inputs:  # a failed input declaration may have bound it
                self.error(
                    f"dim '{dim}' is not the size of any input, so its value is unknown when the model runs; "
                    "use it in an input's shape or use a const",
                    span,
                )
        if self.minimize is None:
            if not self.program.stmts:
                self.error(
                    "the file holds no statements; a model needs at least a param and a 'minimize NAME' line",
                    Span(self.file, 1, 1, 1, 2),
                )
            elif not self.refused_minimize:  # where the line is missing: after the last statement
                end = self.program.stmts[-1].span
                self.error(
                    "the model has no objective; add a line 'minimize NAME' naming a scalar value",
                    Span(self.file, end.end_line, end.end_col, end.end_line, end.end_col + 1),
                )
            for o in self.outputs:  # their mistakes are mistakes of their own
                self.final(o, "an output")
            return
        m = self.minimize
        objective, target = self.final(m.target, "the objective")
        if target is not None:
            shape, dtype = self.g.type(target)
            if dtype != "float":  # (mean or sum of labels would be refused too)
                self.error(
                    f"the objective '{objective}' is {show(shape, dtype)}, integer labels, which have no "
                    "gradient; minimize a float value computed from them, such as a cross_entropy",
                    m.target.span,
                )
            elif shape != ():
                self.error(
                    f"the objective '{objective}' must be a scalar, but it is {show(shape, dtype)}; "
                    + self.scalar_hint(target),
                    m.target.span,
                )
            else:
                self.g.objective = (objective, target)
        for w in m.wrt:
            name = self.resolve_name(w, Scope())  # `W{LAST}` is W32 after `const LAST = 32`
            if name is None:  # reported
                continue
            b = self.top.get(name)
            if b is None and name in BUILTINS:
                self.error(f"{_WRT_TARGETS}; '{name}' is a builtin function", w.span)
            elif b is None:  # the names it could mean: params and float inputs, less those the list has
                listed = {*self.g.wrt, *(x.base for x in m.wrt if x.index is None)}
                wanted = [
                    n
                    for n, x in self.top.items()
                    if n not in listed
                    and (
                        x.kind == "param"
                        or (x.kind == "input" and x.value is not None and self.g.node(x.value)["dtype"] == "float")
                    )
                ]
                self.error(f"unknown name '{name}' after wrt{did_you_mean(name, wanted)}", w.span)
            elif b.value is None and (b.kind in ("param", "input") or name in BUILTINS):
                continue  # its declaration failed and was reported (a builtin's name leaves a placeholder value)
            elif b.kind not in ("param", "input") or self.g.node(b.value)["dtype"] != "float":
                self.error(
                    f"{_WRT_TARGETS}; '{name}' is {KIND_WORDS[b.kind] if b.kind != 'input' else 'an int input'}",
                    w.span,
                )
            elif name in self.g.wrt:
                self.error(f"'{name}' is named twice after wrt", w.span)
            else:
                self.g.wrt.append(name)
        if not m.wrt:
            self.g.wrt = list(self.g.params)
            if not self.g.wrt and not self.broken_params:
                self.error(
                    "the model has no params to train; declare one with 'param' or name inputs after 'wrt'", m.span
                )
        if self.g.objective is not None and not self.errors:
            self.unused_params()
        # the objective is the default output; a broken one was reported just above
        named: set[str] = set()
        for o in self.outputs or ([m.target] if target is not None else []):
            name, node = self.final(o, "an output")
            if node is not None and name in named:
                self.error(f"'{name}' is named twice after output", o.span)
            elif node is not None:
                named.add(name)
                self.g.outputs.append((name, node))

    def unused_params(self) -> None:
        """Warn of a param (or an input after wrt) the objective never reads: its gradient is
        zero at every step, so training leaves a param as initialized, where it was most
        likely meant to be used."""
        objective, target = self.g.objective
        used = self.g.ancestors([target])
        for name in self.g.wrt:
            b = self.top.get(name)
            if b is not None and b.value not in used:
                self.warn(
                    f"{b.kind} '{name}' does not affect the objective '{objective}': its gradient is always zero"
                    + (", so training leaves it as initialized" if b.kind == "param" else ""),
                    b.span,
                )

    def scalar_hint(self, target: int) -> str:
        """How to make the objective a scalar: where it is a reduction already, what kept axes."""
        node = self.g.node(target)
        if node["op"] not in ("sum", "mean", "max", "logsumexp") or node["span"] is None:
            return "reduce it with mean(...) or sum(...)"
        attrs, op, line = node["attrs"], node["op"], node["span"].line
        if attrs["keepdims"] and attrs["axes"] == tuple(range(len(self.g.shape(self.g.args(target)[0])))):
            return f"its {op}(..., keepdims=true) at line {line} keeps the reduced axes as 1s: leave keepdims out"
        also = " and keepdims" if attrs["keepdims"] else ""
        return f"its {op}(..., axis=...) at line {line} reduces only the axes given: leave axis{also} out to reduce them all"

    def final(self, name: S.Name, role: str) -> tuple[str | None, int | None]:
        """The name after `output` or `minimize`, resolved, and the node it is bound to at the
        end of the file (None after an error, reported)."""
        text = self.resolve_name(name, Scope())  # `h{LAST}` names h32 after `const LAST = 32`
        b = self.top.get(text) if text is not None else None
        if b is None:
            if text is not None:
                self.unknown(text, name.span, Scope())
            return text, None
        if b.kind not in ("value", "input", "param"):
            self.error(f"{role} must be a value, but '{text}' is {KIND_WORDS[b.kind]}", name.span)
            return text, None
        return text, b.value


# what the generated module imports: a module of the same name would hide it
_IMPORTED = frozenset({"numpy", "threading"})
# what graphc itself imports besides numpy and the standard library (its other dependencies)
_GRAPHC_IMPORTS = frozenset({"networkx", "lark", "graphviz"})


def _module_name_trouble(name: str) -> str | None:
    """Why NAME.py could not be imported as a module, or would break one; None if it is fine."""
    if keyword.iskeyword(name):
        return f"is a Python keyword, so the generated {name}.py could not be imported"
    if name in _IMPORTED:
        return f"would make {name}.py, which hides the {name} module the generated module imports"
    if name == "graphc":
        return "would make graphc.py, which hides graphc itself from code run in the same folder"
    if name in _GRAPHC_IMPORTS:  # graphc run in that folder would import the model instead, and crash
        return f"would make {name}.py, which hides the {name} module graphc itself imports when run in the same folder"
    if name in sys.stdlib_module_names:
        return f"is the name of Python's own {name} module, which `import {name}` may find instead of {name}.py"
    if name.startswith("__") and name.endswith("__"):  # __main__ is the running script, __init__ a package
        return f"is a name Python keeps for itself, so {name}.py could not be imported as the model"
    return None


def _stem(path: str) -> str:
    """The model name from a file name: `1-net.nn` -> `model_1_net`, always importable."""
    base = os.path.basename(path)
    stem = base.rsplit(".", 1)[0] if "." in base else base
    # as Python reads an import: NFKC-normalized (`ﬁle` is `file`), each character one that may
    # continue a name (`²` is a digit to isalnum, not to Python)
    stem = unicodedata.normalize("NFKC", stem)
    stem = "".join(c if ("_" + c).isidentifier() else "_" for c in stem) or "model"
    if stem[0].isdigit():
        stem = "model_" + stem
    return stem + "_model" if _module_name_trouble(stem) else stem


def lower(program: S.Program, dtype: str = "float64") -> Lowered:
    """Check a parsed program and build its forward graph; GraphcError lists every mistake.
    `dtype` is the float type it will be compiled to, which its initial values must fit."""
    with gc_paused(), recursion_room():
        return ProgramLowerer(program, dtype).run()


def _number(e: S.Expr) -> float | None:
    """The value of a number as written, `0.01` or `-2`; else None."""
    if isinstance(e, S.Unary) and isinstance(e.operand, S.Num):
        return -e.operand.value if e.op == "-" else e.operand.value
    return e.value if isinstance(e, S.Num) else None
