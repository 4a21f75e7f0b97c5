"""Fn declarations: the static checks of a body, and how many ops one call expands to.

A fn body is checked when it is declared, whether or not it is ever called; its
calls are inlined by lower_expr.py.
"""

from __future__ import annotations

from collections.abc import Iterator

from graphc import syntax as S
from graphc.ops import BUILTINS
from graphc.scope import Binding, FnInfo, Resolver, Scope, keyword_of


class FnChecks(Resolver):
    """What a fn declaration is checked for, and how large its calls are."""

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
            if isinstance(stmt, S.FnDecl):  # a nested def, as Python allows; its calls are no unknown fns
                self.error(
                    f"a fn is declared at the top level, not inside another: move fn {stmt.name} above fn {decl.name}",
                    stmt.span,
                )
                scope.locals.setdefault(stmt.name, Binding("fn", None, stmt.name_span))
                continue
            if not isinstance(stmt, S.Assign):
                self.error(
                    f"{keyword_of(stmt)} is not allowed in a fn body, which holds only assignments and a final return",
                    stmt.span,
                )
                self.refused_minimize |= isinstance(stmt, S.Minimize)
                target = getattr(stmt, "target", None)
                if isinstance(target, S.Name):  # `param q : []`: later uses of q are not unknown names
                    scope.locals.setdefault(target.base, Binding("value", None, target.span))
                continue
            self.check_names(stmt.value, scope)
            name = self.resolve_name(stmt.target, scope)  # `t{n}`, n a const: t1, as at the top level
            if name in BUILTINS:
                self.error(f"'{name}' is a builtin function and cannot be redefined", stmt.target.span)
            scope.locals[name or stmt.target.base] = Binding("value", None, stmt.target.span)
        self.error(f"fn '{decl.name}' has no return; end its body with 'return EXPR'", decl.name_span)

    def check_names(self, e: S.Expr, scope: Scope) -> None:
        decl_line = scope.fn.decl.span.line
        for r in self.reads(e):
            if isinstance(r, S.Attr):
                self.no_library(r, scope)
            elif isinstance(r, S.Name):
                # `c{n}`, n a const, names c1 here as anywhere; a loop variable is none a fn sees
                name = self.resolve_name(r, scope)
                if name is not None and self.lookup(name, scope) is None:
                    self.unknown(name, r.span, scope, braced=r if r.index is not None else None)
            elif r.func not in BUILTINS and self.lookup(r.func, scope) is None:
                if r.func == scope.fn.decl.name:
                    self.error(f"fn '{r.func}' calls itself; recursion is not allowed", r.func_span)
                elif r.func in self.fn_lines and self.fn_lines[r.func] > decl_line:
                    self.error(
                        f"fn '{r.func}' is defined later (line {self.fn_lines[r.func]}); "
                        "a fn can only call fns defined before it",
                        r.func_span,
                    )
                else:
                    self.unknown(r.func, r.func_span, scope, "function")

        self.check_form(e, scope)

    def check_form(self, e: S.Expr, scope: Scope) -> None:
        """The mistakes in a fn body that no argument's shape makes or mends, said where the fn is
        declared, called or not: `a.foo`, true or a tuple as a value, a builtin given the wrong
        number of arguments, a keyword it lacks or a keyword's wrong value, an exponent that is
        no constant. A call says them again in the same words, which are not repeated."""
        stack = [e]
        while stack:
            e = stack.pop()
            if isinstance(e, S.Attr) and self.foreign(e, scope) is not None:
                continue  # `np.exp`, said by check_names
            wrong = self.misplaced(e)
            if wrong is not None:
                self.error(*wrong)
                if isinstance(e, S.Attr):
                    stack.append(e.value)
            elif isinstance(e, S.Binary) and e.op == "^":
                if not self.power_habit(e, scope):
                    self.constant(e.right, scope, "the exponent of ^")
                    stack.append(e.left)
            elif isinstance(e, S.Call) and e.func in BUILTINS:
                if len(e.args) != len(BUILTINS[e.func].args):
                    self.builtin(e, scope)  # (the count, which needs no shapes)
                    continue
                for kw in e.kwargs:
                    if not self.wrong_keyword(e, kw, scope, say=True):
                        self.keyword_value(kw, scope)  # keepdims=2, axis=[0, 1], axis=0.5
                stack.extend(e.args[:1] if e.func in ("reshape", "one_hot") else e.args)
            elif isinstance(e, S.Call):
                stack.extend(e.args)
            else:
                stack.extend(S.parts(e))

    def reads(self, e: S.Expr) -> Iterator[S.Name | S.Call | S.Attr]:
        """The names and the calls e reads, which the checks before lowering look up (a fn's
        body, a refused loop's), in the order the line reads them, so a mistake is said at its
        first use: of a call, what call_reads gives; and `np.pi` whole."""
        stack = [e]
        while stack:
            e = stack.pop()
            if isinstance(e, S.Name) or (isinstance(e, S.Attr) and S.library(e) is not None):
                yield e  # (`np.pi` whole: not the name np, which it is no use of)
            elif isinstance(e, S.Call):
                yield e
                stack.extend(reversed(self.call_reads(e)))
            elif isinstance(e, S.Binary) and e.op == "^" and isinstance(e.right, S.Name) and e.right.text == "T":
                stack.append(e.left)  # `a^T`, a transpose as mathematics writes it: check_form says so
            elif isinstance(e, S.Binary) and e.op == "^" and isinstance(e.left, S.Name) and e.left.text == "e":
                stack.append(e.right)  # `e^a`, an exponential as mathematics writes it: check_form says so
            else:
                stack.extend(reversed(S.parts(e)))

    def call_reads(self, e: S.Call) -> list[S.Expr]:
        """What of a call the checks before lowering look names up in: its arguments and
        keyword values, but not keepdims=True or axis=None, which lowering words for what they
        are ('not True (in lower case ...)', 'there is no None'), where an unknown name would be
        a second, wrong report of one mistake."""
        if e.func == "reshape":  # (it takes no keywords: lowering says so)
            return list(e.args)
        return [*e.args, *(k.value for k in e.kwargs if k.name != "keepdims" and not k.none_axis)]

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
            else:
                stack.extend(S.parts(e))
        return n
