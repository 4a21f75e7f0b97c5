"""Names while lowering: bindings and scopes, lookup and suggestions, compile-time constants and sizes.

`Resolver` holds what every part of lowering shares: the graph being built, the
errors collected so far and the top-level bindings. The expressions
(lower_expr.py), the fn checks (lower_fn.py) and the statements (lower.py)
build on it.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass, field, replace
from typing import Any

from graphc import syntax as S
from graphc.errors import Diagnostic, Span, did_you_mean, nearest
from graphc.ir import Graph
from graphc.ops import BUILTINS, Named
from graphc.syntax_hints import FUNCTIONS, SIZES
from graphc.util import number_text

TOO_LARGE = "this number is too large (it overflows to infinity)"
MAX_SIZE = 2**31  # of one axis: no array is so long, and larger sizes overflow the FLOP and size arithmetic
MAX_ERRORS = 50  # then graphc stops: a file with an error on every line is reported in seconds
KIND_WORDS = {
    "dim": "a dim",
    "const": "a const",
    "input": "an input",
    "param": "a param",
    "value": "a value",
    "fn": "a fn",
    "loopvar": "a loop variable",
}


# attributes of NumPy's and PyTorch's arrays, with what .nn has instead
_USED_AS_IT_IS = "a value is used as it is: write {value}"
ATTRIBUTES = {
    **dict.fromkeys(["shape", "size", "ndim", "dim"], SIZES),
    **dict.fromkeys(["data", "values", "item", "numpy"], _USED_AS_IT_IS),
    "grad": "graphc derives the gradients of the minimize target itself",
    "dtype": "values are floats, and inputs declared int[...] integer labels",
}


class StopLowering(Exception):
    """A mistake past which lowering cannot usefully go on (too many errors, a model too
    large or nested too deeply): the run ends with the errors so far and this one."""

    def __init__(self, message: str, span: Span | None = None):
        self.diagnostic = Diagnostic(message, span)


@dataclass(slots=True)
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
    # the params the body never rebinds: in a picture, the call's arguments may stand for them
    kept: frozenset[str] = field(init=False)

    def __post_init__(self):
        rebound = {s.target.base for s in self.decl.body if isinstance(s, S.Assign)}
        self.kept = frozenset(p.base for p in self.decl.params) - rebound


@dataclass
class Scope:
    locals: dict[str, Binding] = field(default_factory=dict)
    fn: FnInfo | None = None
    frames: tuple = ()
    call: S.Call | None = None  # the fn call whose body this is


class Resolver:
    """The shared state of lowering, its errors, and the names in scope."""

    def __init__(self, program: S.Program):
        self.file = program.file
        self.program = program
        self.lines: list[str] | None = None  # the file's lines, split where a message first quotes one
        self.g = Graph(unlinked=0)  # (its edges are added once it lowered without a mistake)
        self.errors: list[Diagnostic] = []
        self.warnings: list[Diagnostic] = []  # likely slips that still compile
        self.reported: dict[tuple[str, Span | None], int] = {}  # (message, place) -> its index in errors
        self.said: set[tuple] = set()  # warnings and redeclaration notes given, which count no passes
        self.repeats: Counter = Counter()  # an error's index -> how many more loop passes made it
        # while a loop unrolls: the place of each unknown name its passes met (its span and the
        # fn calls it is inside) -> that error's index, so `Wt{i}` (Wt1, Wt2, ...) is one error
        # and a later pass counts it without searching every name for a suggestion again
        self.loop_places: dict[tuple, tuple[int, str | None]] = {}
        self.call_sites: tuple[Span, ...] = ()  # the fn calls being inlined, outermost first
        self.last_error: int | None = None  # the index of the error reported last
        # the loops unrolling now, outermost first: (id of the loop, its variable's value, its values)
        self.passes: list[tuple[int, int, range]] = []
        self.loop_costs: dict[int, int] = {}  # id of a loop -> about how many ops it unrolls to
        self.made_on: dict[int, tuple] = {}  # an error made in a loop -> the passes it was last made on
        # a place in a loop (its span and the fn calls it is inside) -> the error made there first
        self.place_errors: dict[tuple, int] = {}
        self.unrun_seen: dict[str, bool] = {}  # names matched against `unrun` already
        self.numbers: dict[int, float] = {}  # each node computed from numbers alone -> its value
        self.top: dict[str, Binding] = {}
        self.dim_uses: dict[str, Span] = {}  # dim -> first use; each must be bound by an input
        # an undeclared name used as a size -> where it was reported: its other uses stay quiet,
        # as one declaration mends them all
        self.unknown_sizes: dict[str, Span] = {}
        # an unknown value's name, with the fn whose body uses it (None: the top level) -> its
        # first use there, that error's index, and the other lines using it there
        self.unknown_values: dict[tuple[str | None, str], tuple[Span, int, dict[int, None]]] = {}
        self.const_told: set[str] = set()  # values told to be declared const (`K = 10` used as a size)
        # float inputs told to be declared int: their other uses as labels stay quiet
        self.labels_told: set[str] = set()
        self.call_note: str | None = None
        # first line of every top-level fn and assigned or declared name, so a use
        # before the definition is reported as such rather than as unknown
        self.fn_lines: dict[str, int] = {}
        self.def_lines: dict[str, int] = {}
        self.later_sizes: dict[str, str] = {}  # each const and dim -> "a const" or "a dim"
        # the declarations in loops of names with {} (`param W{i}`), each with the loop it is in
        self.braced: list[tuple[S.Stmt, S.ForLoop]] = []
        # names a loop that failed before running would have defined, as patterns
        # (`h{i}` -> h<digits>): their later uses were not mistakes of their own
        self.unrun: list[re.Pattern] = []
        self.fn_locals: dict[str, tuple[str, int]] | None = None  # a name assigned in a fn's body -> the fn, the line
        self.refused_minimize = False  # a minimize in a loop or fn body: "no objective" would be noise
        self.broken_inputs = False  # an input declaration failed or never ran: "no input gives dim K" would be noise
        self.broken_params = False  # a param declaration failed or never ran: "no params" would be noise
        self.fn_decls: list[S.FnDecl] = []  # the top-level fns, in file order
        loops = []  # the top-level loops, in file order
        first_line = self.def_lines.setdefault  # (one attribute lookup for the whole file)
        for stmt in program.stmts:
            kind = type(stmt)
            if kind is S.Assign or kind is S.ParamDecl:  # nearly every statement: what _targets gives, without its call
                if stmt.target.index is None:
                    first_line(stmt.target.base, stmt.span.line)
                continue
            if isinstance(stmt, S.FnDecl):
                self.fn_lines.setdefault(stmt.name, stmt.span.line)
                self.fn_decls.append(stmt)
            elif isinstance(stmt, S.ForLoop):
                loops.append(stmt)
            for target in _targets(stmt):
                first_line(target, stmt.span.line)
                if isinstance(stmt, (S.ConstDecl, S.DimDecl)):
                    self.later_sizes[target] = KIND_WORDS["const" if isinstance(stmt, S.ConstDecl) else "dim"]
        self.loop_lines = {}  # loop variable -> the lines of the loops over it, for `W{i}` after its loop
        while loops:
            loop = loops.pop()
            self.loop_lines.setdefault(loop.var.base, []).append((loop.span.line, loop.span.end_line))
            for stmt in loop.body:
                if isinstance(stmt, S.ForLoop):
                    loops.append(stmt)
                target = getattr(stmt, "target", None)
                if isinstance(target, S.Name) and target.index is not None:
                    self.braced.append((stmt, loop))

    # ---------------------------------------------------------------- errors

    def source_line(self, number: int) -> str | None:
        """The file's line `number` (1-based), or None where the text is not known."""
        if self.lines is None:
            self.lines = self.program.text.split("\n") if self.program.text else []
        return self.lines[number - 1] if 1 <= number <= len(self.lines) else None

    def written(self, span: Span) -> str | None:
        """The source text of a span on one line, as the model writes it; None where it is not known."""
        line = self.source_line(span.line) if span.line == span.end_line else None
        return line[span.col - 1 : span.end_col - 1] if line is not None else None

    def error(self, message: str, span: Span | None, note: str | None = None) -> int | None:
        """Report a mistake once, with `note`, else (None) the call or pass it was made on ("":
        none). In a loop, a later pass making it again is counted on it, and so is a later
        pass failing at the same place in other words (`axis=i` out of range is axis 2, then
        axis 3; W{i} is [i, 4]): one mistake, said at its first pass, which cannot fill the
        error cap by itself."""
        index = self.last_error = self.reported.get((message, span))
        if index is not None:
            self.count_repeat(index)
            return index
        place = (span, self.call_sites)  # (a fn's line called at two places: two mistakes)
        first = self.place_errors.get(place) if self.passes else None
        if first is not None:
            self.count_repeat(first)
            return None
        index = self.last_error = self.reported[message, span] = len(self.errors)
        self.errors.append(Diagnostic(message, span, self.call_note if note is None else note or None))
        if self.passes:
            self.place_errors[place] = index
            self.made_on[index] = tuple(self.passes)
        if len(self.errors) >= MAX_ERRORS:
            raise StopLowering(f"graphc stopped after {MAX_ERRORS} errors; mend these and run it again")
        return index

    def count_repeat(self, index: int) -> None:
        """One more pass of the loop that made the error at `index` made it again (counted once
        per pass however often; not at all outside that loop, whose note names it)."""
        last = self.made_on.get(index)  # None: made outside any loop, where passes are no measure
        now = tuple(self.passes)
        if last is not None and now and now[0][0] == last[0][0] and now != last:
            self.made_on[index] = now
            self.repeats[index] += 1

    def repeated(self, span: Span | None, name: str | None = None) -> bool:
        """Whether an earlier pass of the loop unrolling now said what is wrong with the name at
        `span` (in the same fn calls): for any name there, or for this `name` only. If so it is
        counted, and need not be worded again."""
        seen = self.loop_places.get((span, self.call_sites))  # (empty outside loops)
        if seen is not None and seen[1] in (None, name):
            self.count_repeat(seen[0])
            return True
        return False

    def remember_place(self, span: Span, name: str | None = None) -> None:
        """After a name's mistake is reported in a loop, its later passes take repeated()'s
        shortcut: for any name (`Wt{i}` is Wt1, Wt2, ...) or, `name` given, that name alone."""
        if self.passes and self.last_error is not None:
            self.loop_places[span, self.call_sites] = (self.last_error, name)

    def note_repeats(self) -> None:
        """Each error a loop's later passes made again says on how many, and an unknown name's
        error the other lines that use it."""
        for index, more in self.repeats.items():
            self.add_note(index, f"it fails there on {more:,} more pass{'es' if more > 1 else ''} too")
        for _, index, lines in self.unknown_values.values():
            if lines:
                self.add_note(index, f"also used at line{'s' if len(lines) > 1 else ''} {_listed(list(lines))}")

    def add_note(self, index: int, said: str) -> None:
        d = self.errors[index]
        self.errors[index] = replace(d, note=f"{d.note}; {said}" if d.note else said)

    def warn(self, message: str, span: Span) -> None:
        # once for its text and place, and in a loop once for its place: its sizes may differ per pass
        place = ("warning", span, self.call_sites)
        if (message, span) in self.said or (self.passes and place in self.said):
            return
        self.said |= {(message, span), place}
        self.warnings.append(Diagnostic(message, span, self.call_note, "warning"))

    # ---------------------------------------------------------------- names

    def resolve_name(self, name: S.Name, scope: Scope) -> str | None:
        """`W{i}` -> `W3` inside the loop's third iteration."""
        if name.index is None:
            return name.base
        b = self.lookup(name.index, scope)
        if b is not None and b.kind == "const" and b.value is None:  # a broken const, already reported
            return None
        if b is None or b.kind not in ("loopvar", "const") or not float(b.value).is_integer():
            if self.repeated(name.span):  # said on an earlier pass: no fresh search for a hint
                return None
            hint = ""
            if b is None:  # a misspelling: the nearest const or loop variable, else the loop's own
                loops = [n for n, v in self.top.items() if v.kind == "loopvar"]  # loop variables live at the top
                hint = did_you_mean(name.index, [n for n, v in self.top.items() if v.kind == "const"] + loops)
                if not hint and loops:
                    hint = f"; the loop variable here is {' or '.join(map(repr, loops))}"
                if not hint:
                    hint = self.loop_ended(name, scope)
            self.error(f"'{name.index}' in {name.text} must be a loop variable or an integer const{hint}", name.span)
            self.remember_place(name.span)
            return None
        index = int(b.value) + name.offset
        if index < 0:
            self.error(
                f"{name.text} is '{name.base}{index}{name.suffix}' here, which is not a name: its index must not be negative",
                name.span,
            )
            return None
        return f"{name.base}{index}{name.suffix}"

    def loop_ended(self, name: S.Name, scope: Scope) -> str:
        """`W{i}` after the loop over i: which loop that was, and the names it made; else ""."""
        ended = [start for start, end in self.loop_lines.get(name.index, ()) if end < name.span.line]
        if not ended:
            return ""
        pattern = re.compile(re.escape(name.base) + r"(\d+)" + re.escape(name.suffix))
        made = sorted((int(m[1]), n) for n in self.visible(scope) if (m := pattern.fullmatch(n)))
        names = [n for _, n in made]
        listed = " or ".join(names) if len(names) <= 3 else f"{names[0]} to {names[-1]}"
        fix = f": name the one meant ({listed})" if names else ""
        return f"; the loop over {name.index} at line {max(ended)} has ended here{fix}"

    def binding(self, e: S.Name, scope: Scope) -> tuple[str, Binding] | None:
        """The name as resolved (`W{i}` -> `W3`) and what it is bound to; None after an error."""
        if e.index is None and scope.fn is None and e.base not in scope.locals:
            # a plain name outside fns, nearly every name read: what resolve_name and lookup
            # give, without their two calls
            name, b = e.base, self.top.get(e.base)
        else:
            name = self.resolve_name(e, scope)
            if name is None:
                return None
            b = self.lookup(name, scope)
        if b is None:
            self.unknown(name, e.span, scope, braced=e if e.index is not None else None)
            return None
        return name, b

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

    def visible(self, scope: Scope, functions: bool = False, dims: bool = True) -> list[str]:
        """The names a use in scope could mean: where a function is called, the builtins and the
        fns it sees; elsewhere its values, consts and dims (without dims: none that names a dim
        at the top, in one pass over a model's names however many it has)."""
        top = self.top
        if functions:
            names = list(BUILTINS)
        elif dims:
            names = list(scope.locals)
        else:
            names = [n for n in scope.locals if n not in top or top[n].kind != "dim"]
        fn = scope.fn
        # (one comprehension: a large model has a name for each of its statements)
        names += [
            n
            for n, b in top.items()
            if (b.kind == "fn") == functions
            and (dims or b.kind != "dim")
            and (fn is None or b.kind in ("const", "dim") or n in fn.visible)
        ]
        return names

    def foreign(self, e: S.Attr, scope: Scope) -> str | None:
        """The library `np.exp` or `np.linalg.norm` is read from (`np`, `np.linalg`), where the file
        defines no such name; else None."""
        library = S.library(e)
        return library if library is not None and self.lookup(library.split(".")[0], scope) is None else None

    def no_library(self, e: S.Attr, scope: Scope) -> bool:
        """`np.pi`, `math.e`: an attribute of a library the file does not define, said as that
        (not as an unknown name 'np'); else False."""
        library = self.foreign(e, scope)
        if library is None:
            return False
        constant = {"pi": "3.141592653589793", "e": "2.718281828459045"}.get(e.attr)
        own = self.lookup(e.attr, scope)
        if constant:
            fix = f": declare const {e.attr} = {constant} and write {e.attr}"
        elif e.attr in ("dot", "matmul"):
            fix = f": {FUNCTIONS['dot']}"
        elif e.attr in BUILTINS or (own is not None and own.kind == "fn"):  # as `np.exp(x)` is told, by the call
            fix = f": write {e.attr}(...)"
        else:
            fix = f", and no builtin '{e.attr}' in .nn"
        self.error(f"there is no {library} here{fix}", e.span)
        return True

    def misplaced(self, e: S.Expr) -> tuple[str, Span] | None:
        """What is wrong with e as a value whatever its operands are (`x.foo`, true, a tuple, a
        list), and where; else None."""
        if isinstance(e, S.Attr) and e.attr != "T":
            if isinstance(e.value, S.Name) and e.value.text == "self":  # a PyTorch module's self.W
                return f"there is no self in .nn: write {e.attr}, passed to the fn as an argument", e.span
            said = ATTRIBUTES.get(e.attr)
            if said is not None:
                value = e.value.text if isinstance(e.value, S.Name) else "the value itself"
                return f"there is no .{e.attr} in .nn: {said.format(value=value)}", e.attr_span
            return f"unknown attribute '.{e.attr}'; the only attribute is .T (transpose)", e.attr_span
        if isinstance(e, S.Bool):
            return "true and false are only allowed as keyword values (keepdims=true)", e.span
        if isinstance(e, S.TupleLit):
            return "a tuple is only allowed as an axis, as in sum(x, axis=(0, 1))", e.span
        if isinstance(e, S.ListLit):
            return "a list of sizes is only allowed as the shape in reshape(x, [d, ...])", e.span
        return None

    def skip_loop(self, loop: S.ForLoop) -> None:
        """The loop was reported and will not run: remember what its body defines."""
        for stmt in loop.body:
            if isinstance(stmt, S.ForLoop):
                self.skip_loop(stmt)
            self.broken_inputs |= isinstance(stmt, S.InputDecl)  # a dim it gives is given nowhere else
            self.broken_params |= isinstance(stmt, S.ParamDecl)  # "the model has no params" would be noise
            target = getattr(stmt, "target", None)
            if isinstance(target, S.Name):
                self.unrun.append(re.compile(re.escape(target.base)) if target.index is None else _pattern(target))
                self.unrun_seen.clear()

    def unknown(
        self, name: str, span: Span, scope: Scope, what: str = "name", braced: S.Name | None = None, size: str = ""
    ) -> None:
        if self.repeated(span, name):
            return
        self.last_error = None
        any_name = self.word_unknown(name, span, scope, what, braced, size)
        self.remember_place(span, None if any_name else name)

    def word_unknown(
        self, name: str, span: Span, scope: Scope, what: str, braced: S.Name | None = None, size: str = ""
    ) -> bool:
        """Report what is wrong with `name`; True where the words hold for any name at that
        place (`unknown name`, as Wt1, Wt2, ... are on a loop's passes), False where they hold
        for this name only ("used before it is defined"). `size`: how to declare the name, where
        it is used as a size and nothing nearer explains it."""
        if name not in self.unrun_seen:  # (once per name: a loop may ask on every pass)
            self.unrun_seen[name] = any(p.fullmatch(name) for p in self.unrun)
        if self.unrun_seen[name]:
            return False  # defined by a loop whose error was reported
        if scope.fn is not None and (name in self.top or name in self.def_lines):
            # defined, but outside what a fn may see: say so instead of guessing a typo
            b = self.top.get(name)
            line = self.def_lines.get(name, 0)
            # one argument of the fn, or one declaration moved up, mends every use in its body
            if self.said_before(scope, name, span):
                return False
            if b is None and name in self.later_sizes and line > scope.fn.decl.span.line:
                index = self.error(
                    f"fn '{scope.fn.decl.name}' uses '{name}', {self.later_sizes[name]} declared after it "
                    f"(line {line}); declare it before the fn",
                    span,
                )
                self.first_use(scope, name, span, index)
                return False
            kind = f"is {KIND_WORDS[b.kind]}" if b is not None else f"is defined at line {line}"
            index = self.error(
                f"fn '{scope.fn.decl.name}' cannot use '{name}': a fn sees only its arguments, consts, dims "
                f"and earlier fns, and '{name}' {kind}; pass it as an argument",
                span,
            )
            self.first_use(scope, name, span, index)
            return False
        if what == "name" and name in ("True", "False", "None"):  # Python's constants
            said = (
                f"; {name.lower()} (in lower case) is a keyword value only, as in keepdims=true"
                if name != "None"
                else ""
            )
            self.error(f"there is no {name} in .nn{said}", span)
            return False
        if what == "name" and name in BUILTINS:
            self.error(f"'{name}' is a builtin function, not a value; call it as {name}(...)", span)
            return False
        line = self.def_lines.get(name)
        if scope.fn is None and line is not None and line > span.line:
            self.error(f"'{name}' is used before it is defined (at line {line})", span)
            return False
        later = next((stmt for stmt, loop in self.braced if self.passes_declare(stmt.target, loop, name)), None)
        if what == "name" and later is not None and scope.fn is None:
            declared = "" if isinstance(later, S.Assign) else keyword_of(later) + " "
            self.error(
                f"'{name}' is not declared yet here: '{declared}{later.target.text}' (line {later.span.line}) "
                "declares one name per pass, and a pass can use only those of the passes before it",
                span,
            )
            return True
        if what == "function" and name in FUNCTIONS:
            own = [n for n in self.visible(scope, functions=True) if n not in BUILTINS]
            if not did_you_mean(name, own):  # (not `dot` for a fn dott)
                self.error(f"there is no function '{name}' in .nn: {FUNCTIONS[name].format(name=name)}", span)
                return False
        # an undeclared value is said at its first use at the top or in a fn's body, the lines
        # of the others there in a note: one declaration, or one argument of the fn, mends them
        once = what == "name" and braced is None and not size
        if once and self.said_before(scope, name, span):
            return True
        scoped = None
        if braced is not None:
            hint = self.one_off(name, braced, scope) or self.braced_nearest(name, braced, scope)
        elif size:  # a size is a misspelled dim or const, not a misspelled value
            hint = did_you_mean(name, [n for n, b in self.top.items() if b.kind in ("dim", "const", "loopvar")])
        else:  # (a dim is no value: offering B for Bx would only trade one error for another)
            scoped = self.out_of_its_scope(name, span) if what == "name" and scope.fn is None else None
            hint = did_you_mean(name, self.visible(scope, what == "function", dims=what != "name"))
        if not hint and scope.fn is not None and what != "function":  # a misspelled outer value
            outer = nearest(name, [n for n, b in self.top.items() if b.kind != "fn"])
            if outer is not None:
                hint = f"; did you mean '{outer}'? It is outside fn '{scope.fn.decl.name}': pass it as an argument"
        if size:
            self.unknown_sizes.setdefault(name, span)
        elif once and not hint and scope.fn is None:
            # a name like none defined (not a misspelling, which each use makes anew): one
            # declaration mends every use, so the later ones are listed under the first (see
            # above), and a model with no params was likely missing this one
            self.broken_params = True
        index = self.error(f"unknown {what} '{name}'{scoped or hint or size}", span)
        if once and not hint:
            self.first_use(scope, name, span, index)
        return True

    def out_of_its_scope(self, name: str, span: Span) -> str | None:
        """Where an unknown top-level name is defined out of reach: a loop's variable used after
        its loop, or a name assigned in a fn's body, which the fn does not give back; else None."""
        loops = [start for start, end in self.loop_lines.get(name, ()) if end < span.line]
        if loops:
            return f"; it is the variable of the loop at line {max(loops)}, and exists only inside that loop"
        if self.fn_locals is None:  # (made at the first unknown name: one pass over the fns)
            self.fn_locals = {}
            for stmt in self.fn_decls:
                for a in stmt.body:
                    if isinstance(a, S.Assign):
                        self.fn_locals.setdefault(a.target.text, (stmt.name, a.span.line))
        fn, line = self.fn_locals.get(name, (None, 0))
        if fn is not None and line < span.line:
            return (
                f"; it is assigned in fn {fn} (line {line}), and a fn gives back only "
                f"its return value: name that, as in {name} = {fn}(...)"
            )
        return None

    def said_before(self, scope: Scope, name: str, span: Span) -> bool:
        """Whether `name` was reported at an earlier use in the same fn body (or at the top
        level) as a mistake one declaration or argument mends at every use: if so, this use's
        line goes in that error's note, and it is not reported again."""
        first = self.unknown_values.get(_in_body(scope, name))
        if first is None or first[0] == span:  # (the same use again: a later call of the fn)
            return False
        if span.line != first[0].line:
            first[2][span.line] = None
        return True

    def first_use(self, scope: Scope, name: str, span: Span, index: int | None) -> None:
        """The error at `index` reported `name` at its first use in its fn body (or at the top
        level): said_before lists the other uses there under it."""
        if index is not None:
            self.unknown_values.setdefault(_in_body(scope, name), (span, index, {}))

    def one_off(self, name: str, braced: S.Name, scope: Scope) -> str:
        """The loop that runs one pass too many or starts one too low: `W{i+1}` is W4 when i = 3,
        and only W1 to W3 exist."""
        pattern = _pattern(braced)
        numbers = sorted(int(m[1]) for n in self.visible(scope) if (m := pattern.fullmatch(n)))
        index = int(pattern.fullmatch(name)[1])
        if not numbers or index not in (numbers[0] - 1, numbers[-1] + 1):
            return ""
        first, last = (f"{braced.base}{k}{braced.suffix}" for k in (numbers[0], numbers[-1]))
        if first == last:
            defined, them = f"only {first} is defined", "it"
        else:  # (two names are "W1 and W2", a run of more "W1 to W5")
            joint = "and" if len(numbers) == 2 else "to"
            defined, them = f"only {first} {joint} {last} are defined", "them"
        b = self.lookup(braced.index, scope)
        check = "the loop's range" if b is not None and b.kind == "loopvar" else f"the value of {braced.index}"
        if braced.offset:
            check += f" or the {braced.offset:+d}"
        side = "past" if index > numbers[-1] else "below"
        return f"; {defined}, and {braced.text} goes {side} {them}: check {check}"

    def braced_nearest(self, name: str, braced: S.Name, scope: Scope) -> str:
        """A misspelled braced name's likely meaning: a name of this pass whose base is near
        (`Wt{i}` -> W3), not any name near the whole (`b{i}` is b3, which is no misspelled W3)."""
        tail = name[len(braced.base) :]  # `3_in` of W{i}_in
        bases = [n[: -len(tail)] for n in self.visible(scope) if n.endswith(tail) and len(n) > len(tail)]
        base = nearest(braced.base, bases)
        return f"; did you mean '{base}{tail}'?" if base is not None else ""

    def passes_declare(self, target: S.Name, loop: S.ForLoop, name: str) -> bool:
        """Whether a braced declaration in `loop` makes `name` on some pass of it, the loop
        unrolling now and the braces naming its variable."""
        running = (values for lid, _, values in self.passes if lid == id(loop))
        values = next(running, ()) if target.index == loop.var.base else ()
        m = _pattern(target).fullmatch(name) if values else None
        return m is not None and int(m[1]) - target.offset in values

    def define(self, name: str, binding: Binding, index: str | None = None) -> bool:
        """Bind a new top-level name; False with an error if it is taken. `index` is the loop
        variable a braced declaration's name holds (`j` of W{j}), whose loop makes a new name."""
        if name in BUILTINS:
            self.error(f"'{name}' is a builtin function and cannot be redefined", binding.span)
            # a silent placeholder, so later uses of the name do not each report it again (a
            # dim or const stays one, so a size naming it is quiet too)
            kind = binding.kind if binding.kind in ("dim", "const") else "value"
            self.top.setdefault(name, Binding(kind, None, binding.span))
            return False
        old = self.top.get(name)
        if old is not None and not (binding.kind == "value" and old.kind == "value"):
            every = [n for n, v in self.top.items() if v.kind == "loopvar"]  # the innermost last
            loops = [n for n in every if n != index]  # those whose passes make the same name again
            if old.span == binding.span and binding.kind == old.kind and loops:  # one line, a loop's next pass
                if ("again", binding.span) in self.said:  # said at its first pass (W1), not for W2, W3
                    return False
                self.said.add(("again", binding.span))
                # a name holds one {}: in nested loops the declaration belongs outside the inner one
                if index in every[every.index(loops[-1]) :]:  # W{j} in a loop over i: its one {} names j
                    fix = f"its name changes with {index} alone: declare it in a loop over {index} outside that loop"
                elif len(every) == 1:
                    fix = f"write {name}{{{loops[0]}}} to declare one per pass"
                else:
                    fix = "declare it outside that loop"
                self.error(
                    f"{binding.kind} '{name}' is declared again on each pass of the loop over {loops[-1]}; {fix}",
                    binding.span,
                )
            else:
                number = self.number_of(binding.value) if binding.kind == "value" else None
                self.error(_redefinition(name, binding.kind, old, number), binding.span)
                if {old.kind, binding.kind} in ({"dim", "const"}, {"dim", "value"}):
                    # `dim N` then `const N = 3` or `N = 3`: which was meant is unknown, so from here
                    # on N is a broken const, whose uses (right for the one or the other) stay quiet
                    self.top[name] = Binding("const", None, old.span)
                    if name in self.g.dims:
                        self.g.dims.remove(name)
            return False
        self.top[name] = binding
        return True

    # ---------------------------------------------------------------- constants

    def number(self, e: S.Num) -> float | None:
        """A literal's value, or None (reported) if it overflowed to infinity."""
        if not math.isfinite(e.value):
            self.error(TOO_LARGE, e.span)
            return None
        return e.value

    def constant(self, e: S.Expr, scope: Scope, what: str) -> float | None:
        """Evaluate a compile-time number: literals, consts, loop variables, arithmetic."""
        try:
            return self._constant(e, scope, what)
        except (OverflowError, ZeroDivisionError, ValueError) as err:
            self.error(f"{what} cannot be computed: {err}", e.span)
            return None

    def _constant(self, e: S.Expr, scope: Scope, what: str) -> float | None:
        if isinstance(e, S.Num):
            return self.number(e)
        if isinstance(e, S.Name):
            found = self.binding(e, scope)  # `n{i}` names the const n1 in the first iteration
            if found is None:
                return None
            name, b = found
            if b.kind in ("const", "loopvar"):
                return b.value
            kind = KIND_WORDS[b.kind]
            if scope.fn is not None and name in {p.base for p in scope.fn.decl.params}:
                kind = (
                    f"an argument of fn {scope.fn.decl.name}, and a fn's arguments are arrays even where "
                    "a call passes a number; write the number in the fn, or use a const"
                )
            elif b.kind == "value" and b is self.top.get(name) and self.number_of(b.value) is not None:
                # `K = 10`: meant as a const; said at its first such use, as one const mends them all
                if name in self.const_told:
                    return None
                self.const_told.add(name)
                v = self.number_of(b.value)
                line = f" at line {b.span.line}" if b.span.line != e.span.line else ""
                kind += f"; declare it as one: write const {name} = {number_text(v)}{line}"
            self.error(f"{what} must be a compile-time constant, but '{name}' is {kind}", e.span)
            return None
        if isinstance(e, S.Unary):
            v = self._constant(e.operand, scope, what)
            return None if v is None else (-v if e.op == "-" else v)
        if isinstance(e, S.Binary) and e.op in "+-*/^":
            a, b = self._constant(e.left, scope, what), self._constant(e.right, scope, what)
            if a is None or b is None:
                return None
            r = {"+": a + b, "-": a - b, "*": a * b}.get(e.op) if e.op in "+-*" else None
            if (e.op == "/" and b == 0) or (e.op == "^" and a == 0 and b < 0):
                raise ZeroDivisionError("it divides by zero")
            if e.op == "/":
                r = a / b
            elif e.op == "^":
                try:
                    r = math.pow(a, b)
                except ValueError:  # a negative number to a fractional power: as written, (-8)^(1/3)
                    base, power = (S.arithmetic_text(x) for x in (e.left, e.right))
                    base = base if isinstance(e.left, (S.Num, S.Name)) or base is None else f"({base})"
                    power = power if isinstance(e.right, (S.Num, S.Name)) or power is None else f"({power})"
                    written = f"{base}^{power}" if base and power else f"({number_text(a)})^{number_text(b)}"
                    said = f" ({number_text(a)} to a fractional power)" if _names(e.left) else ""
                    raise ValueError(f"{written} is not a real number: its base is negative{said}") from None
                except OverflowError:
                    r = math.inf
            if not math.isfinite(r):
                raise OverflowError("the result is not a finite number")
            return r
        if isinstance(e, (S.ListLit, S.TupleLit)):
            self.error(f"{what} must be a number, not a {'list' if isinstance(e, S.ListLit) else 'tuple'}", e.span)
        elif isinstance(e, S.Bool):  # a constant, but no number
            self.error(f"{what} must be a number, not {str(e.value).lower()}", e.span)
        elif isinstance(e, S.Call) and e.func in BUILTINS:  # const c = sqrt(2): a number, but not by arithmetic
            fix = ""
            if e.func == "sqrt" and len(e.args) == 1 and not e.kwargs:
                arg = self.written(e.args[0].span)
                if arg is not None:
                    fix = f"; write {arg if isinstance(e.args[0], (S.Num, S.Name)) else f'({arg})'}^0.5"
            self.error(
                f"{what} must be a compile-time constant: + - * / ^ on numbers and consts, "
                f"not {e.func}(...), which runs with the model{fix}",
                e.span,
            )
        else:
            self.error(f"{what} must be a compile-time constant", e.span)
        return None

    def written_whole(self, e: S.Expr, what: str) -> bool:
        """False, said, where a number in `e` has a whole value written as a float (`[3.0]`,
        `axis=1.0`, `1..1e1`): NumPy and range() refuse a float there, and it reads as a value."""
        n = _fractional_whole(e)
        if n is None:
            return True
        self.error(
            f"{what} is written as a whole number, without a point or an exponent: write {int(n.value)}, not {n.text}",
            n.span,
        )
        return False

    def unknown_size(self, e: S.Name, scope: Scope, declare: str) -> None:
        """An undeclared name used as a size, said at its first use only: one declaration mends them all."""
        said = self.unknown_sizes.get(e.base)
        if said is None or said == e.span:  # (the same place again: a loop's later pass, counted)
            self.unknown(e.base, e.span, scope, size=declare)

    def number_of(self, node: int | None) -> float | None:
        """The number a value's node holds where it is computed from numbers alone (`K = 10`), else None."""
        if node is None:
            return None
        if node in self.numbers:
            return self.numbers[node]
        d = self.g.node(node)
        return d["attrs"]["value"] if d["op"] == "const" else None

    def size(self, e: S.Expr, scope: Scope, allow_dims: bool, what: str, infer: bool = False) -> int | str | None:
        """A size in a shape: an integer, a const integer, or (where allowed) a dim; with
        `infer` (reshape's target) also -1, however written (`-1`, `0 - 1`, a const)."""
        if type(e) is S.Num and e.is_int and 1 <= e.value <= MAX_SIZE and e.text == str(int(e.value)):
            # most sizes, [16, 16]: a whole number written plainly, which what follows would
            # take through each check for names and arithmetic to give back as it is
            return int(e.value)
        b = None
        if isinstance(e, S.Name) and e.index is None:
            b = self.lookup(e.base, scope)
            if b is None and scope.fn is None:  # (in a fn, check_fn said it where the fn is declared)
                self.unknown_size(e, scope, declare_size(e.base, allow_dims))
                return None
            if b is not None and b.kind == "dim":
                if b.value is None:  # its declaration failed and was reported
                    return None
                if not allow_dims:
                    self.error(
                        f"{what} must have fixed sizes, but '{e.base}' is a dim (known only at call time)", e.span
                    )
                    return None
                self.dim_uses.setdefault(e.base, e.span)
                return e.base
        elif scope.fn is None:
            # [B*HIDEN, 4]: each misspelled name is said as a size's, beside what else is wrong
            # with the arithmetic, and once (a declaration mends all its uses)
            names = _names(e)
            unknown = [n for n in names if self.lookup(n.base, scope) is None]
            for n in unknown:
                self.unknown_size(n, scope, declare_size(n.base, allow_dims, arithmetic=what != "reshape"))
            dim = next((n for n in names if getattr(self.lookup(n.base, scope), "kind", "") == "dim"), None)
            if dim is not None and self.lookup(dim.base, scope).value is None:  # its declaration failed, reported
                return None
            if dim is not None and allow_dims:  # [2*B]: what is wrong is the arithmetic, not the dim
                self.error(
                    f"'{dim.base}' is a dim, which a size may be alone but not in arithmetic "
                    f"(only reshape's sizes may multiply dims, as in reshape(x, [2*{dim.base}]))",
                    dim.span,
                )
                return None
            if dim is not None:
                self.error(
                    f"{what} must have fixed sizes, but '{dim.base}' is a dim (known only at call time)", dim.span
                )
                return None
            if unknown:
                return None
        if not self.written_whole(e, "a size"):
            return None
        v = self.constant(e, scope, f"a size in {what}")
        if v is None:
            return None
        if infer and v == -1:
            return -1
        if not float(v).is_integer() or v < 1:
            self.error(f"a size must be a positive integer, not {as_said(e, v)}", e.span)
            return None
        if v > MAX_SIZE:
            self.error(f"a size must be at most {MAX_SIZE:,}, not {as_said(e, v)}", e.span)
            return None
        if isinstance(e, S.Name):  # a const, shown by its name: [B, HIDDEN], [D1, D2] for [D{i}, D{i+1}]
            name = e.base if e.index is None else self.resolve_name(e, scope)
            if (b or self.lookup(name, scope)).kind == "const":
                return Named(int(v), name)
        # arithmetic on consts, shown as written ([2*HIDDEN]); not on a loop's variable, whose
        # value differs per pass ([2*i] is 2, then 4)
        text = S.arithmetic_text(e)
        if (
            text is not None
            and text != str(int(v))
            and all(getattr(self.lookup(n.base, scope), "kind", "") == "const" for n in _names(e))
        ):
            return Named(int(v), text)
        return int(v)


def declare_size(name: str, allow_dims: bool, arithmetic: bool = False) -> str:
    """How to declare an unknown name used as a size, or in `arithmetic` on sizes, as unknown() adds it."""
    if arithmetic:
        declare = f"const {name} = ... (arithmetic on sizes takes numbers and consts, not dims)"
    elif allow_dims:
        declare = f"dim {name}, or const {name} = ..."
    else:
        declare = f"const {name} = ... (a param's sizes are fixed numbers, not dims)"
    return f"; declare it: {declare}"


def _fractional_whole(e: S.Expr) -> S.Num | None:
    """The first number in a size's arithmetic written as a float with a whole value (`3.0`,
    `1e2`), or None: a fractional one (`0.5*N`) is arithmetic, whose result is checked."""
    if isinstance(e, S.Num):  # (past any size, 1e300 is told it is too large, in its own words)
        return e if not e.is_int and float(e.value).is_integer() and e.value <= MAX_SIZE else None
    if isinstance(e, (S.Unary, S.Binary)):
        return next((n for p in S.parts(e) if (n := _fractional_whole(p)) is not None), None)
    return None


def _names(e: S.Expr) -> list[S.Name]:
    """The plain names arithmetic reads, left to right: not those in a call, a list, a tuple or
    under .T, which are no sizes for a reason of their own (`[(B, 2)]` is a tuple)."""
    if isinstance(e, S.Name):
        return [e] if e.index is None else []
    if isinstance(e, (S.Unary, S.Binary)):
        return [n for p in S.parts(e) for n in _names(p)]
    return []


def _pattern(target: S.Name) -> re.Pattern:
    """The names a braced name may make: W{i}b -> W1b, W2b, ... (and W-1b for a negative index)."""
    return re.compile(re.escape(target.base) + r"(-?\d+)" + re.escape(target.suffix))


def keyword_of(stmt: S.Stmt) -> str:
    """The word a statement starts with, for messages."""
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


def _targets(stmt: S.Stmt) -> list[str]:
    """The plain names a top-level statement defines (names built with {} are skipped)."""
    if isinstance(stmt, (S.Assign, S.ConstDecl, S.InputDecl, S.ParamDecl)):
        return [stmt.target.base] if stmt.target.index is None else []
    if isinstance(stmt, S.DimDecl):
        return [n.base for n in stmt.names if n.index is None]
    if isinstance(stmt, S.FnDecl):
        return [stmt.name]
    return []


def _redefinition(name: str, kind: str, old: Binding, number: float | None = None) -> str:
    """What is wrong with declaring `name` as a `kind` where it is `old` already; `number`: the
    value assigned to it, where that is a number alone (`N = 3`)."""
    line = old.span.line
    if kind == old.kind:
        return f"{kind} '{name}' is already declared at line {line}"
    if kind == "value" and old.kind == "dim":
        said = f"cannot assign to '{name}': it is a dim (line {line}), a size the inputs give when the model runs"
        if number is None:
            return f"{said}; give this value another name"
        return f"{said}; for a fixed size write const {name} = {number_text(number)} in place of the dim"
    if kind == "value":
        why = {
            "input": "inputs are fed at call time: give the new value a name of its own",
            "param": "params change only by training: give the new value a name of its own",
            "const": "consts are fixed",
            "fn": "",
            "loopvar": "the loop sets it",
        }.get(old.kind, "")
        return f"cannot assign to '{name}': it is {KIND_WORDS[old.kind]} (line {line})" + (f"; {why}" if why else "")
    if {kind, old.kind} == {"dim", "const"}:
        return (
            f"'{name}' is already declared as {KIND_WORDS[old.kind]} at line {line}; a size is a dim (given by the "
            "inputs when the model runs) or a const (a fixed number), not both: keep one of the declarations"
        )
    return f"'{name}' is already defined as {KIND_WORDS[old.kind]} at line {line}"


def as_written(e: S.Expr, v: float) -> str:
    """A number the model wrote, as written (`1234567.5`, `-1e-5`); one it computes, whole."""
    if isinstance(e, S.Unary) and isinstance(e.operand, S.Num):
        return e.op + e.operand.text
    return e.text if isinstance(e, S.Num) else number_text(v)


def as_said(e: S.Expr, v: float) -> str:
    """A number in a sentence: as written where it is one (`2.5`), else what the model wrote
    with its value (`N (0)`, `H - 3 (-1)`), where only the value would leave the user to
    work out which name it is."""
    text = S.arithmetic_text(e)
    if text is None or not _names(e):
        return as_written(e, v)
    return f"{text} ({as_written(e, v)})"


def _listed(numbers: list[int], most: int = 5) -> str:
    """`4`, `4 and 5`, `4, 5 and 9`; past `most` numbers, `4, 5, 9, 12, 20 and 300 more`."""
    words = [str(n) for n in numbers[:most]] + ([f"{len(numbers) - most:,} more"] if len(numbers) > most else [])
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]


def _in_body(scope: Scope, name: str) -> tuple[str | None, str]:
    """`name` as it is used in one fn's body (its name) or at the top level (None)."""
    return scope.fn.decl.name if scope.fn is not None else None, name
