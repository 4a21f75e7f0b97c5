"""For loops: unrolled pass by pass, each mistake of a pass shown once for all the passes
that make it, and how many ops a loop expands to before it is run."""

from __future__ import annotations

import math

from graphc import syntax as S
from graphc.lower_expr import MAX_NODES
from graphc.lower_fn import FnChecks
from graphc.ops import BUILTINS
from graphc.scope import KIND_WORDS, Binding, Scope, as_said, declare_size, keyword_of

MAX_UNROLL = 100_000
MAX_LOOP_DEPTH = 500  # loops inside loops; each level is a few frames of lowering's recursion


class Loops(FnChecks):
    """Unrolling a loop; the statements of its body are lowered by the program's own stmt()."""

    def unroll(self, stmt: S.ForLoop, scope: Scope) -> bool:
        """Run the loop's body once per value of its variable; False if it was refused (and reported)."""
        if len(self.passes) >= MAX_LOOP_DEPTH:
            # (without the note of the passes around it: 500 of them, and none is to blame)
            self.error(f"loops are nested too deeply (more than {MAX_LOOP_DEPTH} levels)", stmt.span, note="")
            return False
        whole = [self.written_whole(b, "a loop bound") for b in (stmt.start, stmt.stop)]
        if not all(whole):
            return False
        lo = self.constant(stmt.start, scope, "a loop bound")
        hi = self.constant(stmt.stop, scope, "a loop bound")
        if lo is None or hi is None:
            return False
        if not (float(lo).is_integer() and float(hi).is_integer()):
            self.error(
                f"loop bounds must be integers, but they are {as_said(stmt.start, lo)} and {as_said(stmt.stop, hi)}",
                stmt.start.span.to(stmt.stop.span),
            )
            return False
        if hi < lo:
            self.error(
                f"the range {as_said(stmt.start, lo)}..{as_said(stmt.stop, hi)} is empty (bounds are inclusive)",
                stmt.start.span.to(stmt.stop.span),
            )
            return False
        self.unrolled += int(hi - lo + 1)
        if self.unrolled > MAX_UNROLL:
            self.error(
                f"loops unroll to more than {MAX_UNROLL:,} iterations in all", stmt.start.span.to(stmt.stop.span)
            )
            return False
        ops = self.loop_cost(stmt)
        if self.g._next + ops > MAX_NODES:
            self.error(
                f"this loop unrolls to about {ops:,} ops, more than graphc allows ({MAX_NODES:,})",
                stmt.start.span.to(stmt.stop.span),
            )
            return False
        if stmt.var.index is not None:
            self.error(f"a loop variable is a plain name, not {stmt.var.text}", stmt.var.span)
            return False
        var = stmt.var.base
        taken = self.lookup(var, scope)
        if taken is not None or var in BUILTINS:
            if taken is None:  # as a builtin's name is refused wherever it would be bound
                self.error(f"'{var}' is a builtin function and cannot be a loop variable", stmt.var.span)
                return False
            what = KIND_WORDS[taken.kind]
            if taken.span is not None and taken.span.line != stmt.var.span.line:
                what += f" (line {taken.span.line})"
            letters = ("i", "j", "k", "l", "m", "n")  # the usual loop variables: another is offered for one
            free = [n for n in letters if n != var and self.lookup(n, scope) is None and n not in BUILTINS]
            fix = f", such as {free[0]}" if free and var in letters else ""
            self.error(
                f"'{var}' is already {what}, so it cannot be this loop's variable; use another name{fix}", stmt.var.span
            )
            return False
        self.unrolled_passes(stmt, scope, var, range(int(lo), int(hi) + 1))
        self.top.pop(var, None)
        return True

    def allowed_in_loop(self, stmt: S.Stmt) -> bool:
        """Whether a loop's body may hold stmt; if not, that is said once (no pass could allow it)."""
        if isinstance(stmt, (S.Assign, S.ParamDecl, S.ForLoop, S.InputDecl, S.ConstDecl)):
            return True
        message = f"{keyword_of(stmt)} is not allowed inside a for loop"
        if (message, stmt.span) not in self.reported:
            self.error(message, stmt.span, note="")
        self.refused_minimize |= isinstance(stmt, S.Minimize)
        return False

    def check_unrun(self, loop: S.ForLoop, scope: Scope) -> None:
        """A loop refused (and reported) runs no pass, but the plain names its body reads (an
        inner loop's range, values, sizes, an initializer's arguments) are still looked up, as
        a fn's body is: a misspelled one is a mistake of its own. The loop variable and the
        names the body defines are known there; a braced name depends on the passes, so it is
        left alone."""
        inner = Scope(dict(scope.locals), scope.fn, scope.frames)
        if loop.var.index is None:
            inner.locals[loop.var.base] = Binding("loopvar", None, loop.var.span)
        for s in loop.body:
            if not self.allowed_in_loop(s):
                continue
            if isinstance(s, (S.InputDecl, S.ParamDecl)):
                for d in s.type.dims:
                    self.check_plain_names(d, inner, size=isinstance(s, S.InputDecl))
                init = getattr(s, "init", None)  # (`he`, `normal` are no names: only the arguments are)
                for e in (*init.args, *(k.value for k in init.kwargs)) if isinstance(init, S.Call) else ():
                    self.check_plain_names(e, inner)
            elif isinstance(s, S.ForLoop):
                self.check_plain_names(s.start, inner)
                self.check_plain_names(s.stop, inner)
                self.check_unrun(s, inner)
            else:  # an assignment, a const
                self.check_plain_names(s.value, inner)
            target = getattr(s, "target", None)
            if isinstance(target, S.Name) and target.index is None:
                inner.locals[target.base] = Binding("value", None, target.span)

    def check_plain_names(self, e: S.Expr, scope: Scope, size: bool | None = None) -> None:
        """Report the unknown plain names in e; `size`: e is a size, where a dim may stand (True)
        or not (False), and an unknown name is told how to be declared as one, once."""
        for r in self.reads(e):
            if isinstance(r, S.Attr):
                self.no_library(r, scope)
            elif isinstance(r, S.Name):
                if r.index is not None or self.lookup(r.base, scope) is not None:
                    continue
                if size is None:
                    self.unknown(r.base, r.span, scope)
                else:  # (as Resolver.size says it, `[B*HIDEN]` being arithmetic)
                    self.unknown_size(r, scope, declare_size(r.base, size, arithmetic=r is not e))
            elif r.func not in BUILTINS and self.lookup(r.func, scope) is None:
                self.unknown(r.func, r.func_span, scope, "function")

    def unrolled_passes(self, stmt: S.ForLoop, scope: Scope, var: str, values: range):
        outer = self.call_note
        self.passes.append((id(stmt), values[0], values))
        try:
            for i in values:
                self.passes[-1] = (id(stmt), i, values)
                self.top[var] = Binding("loopvar", float(i), stmt.var.span)
                inner = Scope(scope.locals, scope.fn, scope.frames + (("loop", var, i, stmt.span.line),))
                # a mistake in the body names the iteration: most hold only for some values of var
                here = f"when {var} = {i} (the loop at line {stmt.span.line})"
                self.call_note = here + (f"; {outer}" if outer else "")
                for s in stmt.body:
                    self.stmt(s, inner, in_loop=True)
        finally:
            self.call_note = outer
            self.passes.pop()
            if not self.passes:  # the outermost loop is done: its places are no longer a pass's
                self.loop_places.clear()
                self.place_errors.clear()

    def loop_cost(self, loop: S.ForLoop, depth: int = 0) -> int:
        """About how many ops unrolling the loop makes (inner loops with literal bounds included).

        Kept per loop: each inner loop is asked again as it unrolls, which for loops nested
        deeply would walk the nest once per level; and the walk stops MAX_LOOP_DEPTH down,
        where unrolling is refused anyway."""
        if id(loop) not in self.loop_costs:
            per_iteration = 0
            for s in loop.body:
                if isinstance(s, S.Assign):
                    per_iteration += self.cost(s.value)
                elif isinstance(s, S.ForLoop) and depth < MAX_LOOP_DEPTH:
                    per_iteration += self.loop_cost(s, depth + 1)
            passes = 1
            if all(isinstance(b, S.Num) and math.isfinite(b.value) for b in (loop.start, loop.stop)):
                passes = max(0, int(loop.stop.value) - int(loop.start.value) + 1)
            self.loop_costs[id(loop)] = per_iteration * passes
        return self.loop_costs[id(loop)]
