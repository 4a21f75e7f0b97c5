"""Source text -> syntax.Program, with syntax errors explained in words.

lexer.py finds the tokens, tables.py runs the LALR automaton over them, this
module builds the tree from its run and restarts after each syntax error, and
syntax_errors.py words the messages.
"""

from __future__ import annotations

import re
import threading
from array import array
from collections.abc import MutableSequence
from functools import cache
from importlib import resources
from operator import attrgetter
from pathlib import Path

from lark import Lark, Token, Transformer
from lark.exceptions import UnexpectedInput, UnexpectedToken

from graphc import syntax as S
from graphc.errors import Diagnostic, GraphcError, Span, without_comment
from graphc.lexer import BRACED, Leaf, Lexer, Reserved, line_col, token_at
from graphc.tables import Stuck, Tables
from graphc.util import gc_paused

MAX_DEPTH = 500  # deepest expression accepted; later stages recurse this far
MAX_SYNTAX_ERRORS = 10
STOPPED = f"graphc stopped after {MAX_SYNTAX_ERRORS} syntax errors; mend these and run it again"
TOO_DEEP = (
    f"expression is nested too deeply (more than {MAX_DEPTH} levels; each operator of a long chain "
    "such as a + b + c + ... is one level): split it over several statements"
)


def _grammar_text() -> str:
    try:
        return resources.files("graphc.grammar").joinpath("nn.lark").read_text()
    except (ModuleNotFoundError, FileNotFoundError):  # running from a source checkout
        return (Path(__file__).resolve().parent.parent / "grammar" / "nn.lark").read_text()


_DEPTH = attrgetter("depth")


def _depth(*items) -> int:
    """One more than the deepest of the expressions `items`."""
    return 1 + max(map(_DEPTH, items), default=0)


class _TooDeep(Exception):
    def __init__(self, span: Span):
        self.span = span


def _pos(item) -> Span | None:
    if isinstance(item, (Leaf, Token)):
        return Span("", item.line, item.column, item.end_line, item.end_column)
    return getattr(item, "span", None)


_PUNCT = {"LPAR", "RPAR", "LSQB", "RSQB", "RBRACE", "COMMA", "EQUAL", "COLON", "DOT", "LBRACE"}


class _Build(Transformer):
    """Callbacks per grammar rule, run during the LALR parse, so no parse tree is
    built and nothing recurses (5,000 nested parentheses are no problem).

    Each gets the rule's children as one sequence (a list, or a tuple where some
    between them were dropped): anonymous tokens such as "=" are already dropped,
    and an absent [optional] part is None. Tokens are lexer.Leaf tuples (lark
    Tokens when lark's own loop runs them, in the tests). The callbacks for
    names, binary operators, assignments and lines run for nearly every token,
    so they build their spans directly.
    """

    def __init__(self):
        super().__init__()
        self.file = "<model>"

    def _span(self, *items) -> Span:
        """From the start of the first item that has a place to the end of the last (None and
        any other item without one skipped), looking at those two only."""
        a = next(filter(None, map(_pos, items)))
        b = next(filter(None, map(_pos, reversed(items))))
        return Span(self.file, a.line, a.col, b.end_line, b.end_col)

    def _tok(self, t: Leaf | Token) -> Span:
        return Span(self.file, t.line, t.column, t.end_line, t.end_column)

    def _expr(self, cls, span, *args, kids=()):
        d = _depth(*kids)
        if d > MAX_DEPTH:
            raise _TooDeep(span)
        node = cls(span, *args)
        node.depth = d  # (set after: depth=d to the constructor costs as much as making a Span)
        return node

    @staticmethod
    def _nodes(items):
        """The AST children, without punctuation tokens and empty placeholders."""
        return tuple(i for i in items if i is not None and not (isinstance(i, (Leaf, Token)) and i.type in _PUNCT))

    # names and atoms
    def name(self, c):
        (tok,) = c
        span = Span(self.file, tok.line, tok.column, tok.end_line, tok.end_column)
        if tok.type != "BRACED_NAME":  # never a reserved word: the lexer made those keywords (or refused them)
            return S.Name(span, tok.value)
        base, index, off, suffix = BRACED.fullmatch(tok.value).groups()
        return S.Name(span, base, index, int(off or 0), suffix)

    def number(self, c):
        (tok,) = c
        text = tok.value
        span = Span(self.file, tok.line, tok.column, tok.end_line, tok.end_column)
        return S.Num(span, float(text), text.isdigit(), text)

    def true(self, c):
        return S.Bool(self._tok(c[0]), True)

    def false(self, c):
        return S.Bool(self._tok(c[0]), False)

    def binary(self, c):
        left, op, right = c
        a, b, file = left.span, right.span, self.file
        span = Span(file, a.line, a.col, b.end_line, b.end_col)
        depth = left.depth  # (max() and depth= to the constructor would cost a third of the call)
        if right.depth > depth:
            depth = right.depth
        if depth >= MAX_DEPTH:
            raise _TooDeep(span)
        sym = op.value
        if sym == "**":  # `^` spelled as Python does
            sym = "^"
        node = S.Binary(span, sym, left, right, Span(file, op.line, op.column, op.end_line, op.end_column))
        node.depth = depth + 1
        return node

    def unary(self, c):
        op, operand = c
        b = operand.span
        span = Span(self.file, op.line, op.column, b.end_line, b.end_col)
        if operand.depth >= MAX_DEPTH:
            raise _TooDeep(span)
        node = S.Unary(span, op.value, operand)
        node.depth = operand.depth + 1
        return node

    def call(self, c):
        return self._call(c[0].value, c)

    def _call(self, name: str, c) -> S.Call:
        """A call of `name`: `c` is the token that spells it, the arguments (None where absent) and
        the closing bracket, so the span runs from the first token to the last."""
        tok, end = c[0], c[-1]
        # (the commas were dropped; a node is never false, so filter(None) drops only the Nones)
        args = tuple(filter(None, c[1:-1]))
        file = self.file
        span = Span(file, tok.line, tok.column, end.end_line, end.end_column)
        func_span = Span(file, tok.line, tok.column, tok.end_line, tok.end_column)
        # a call has a few arguments: one loop over them finds whether one is a keyword and the
        # deepest, in half the time of set(map(type, args)) and max(map(...)) (a 200,000-line model
        # makes 200,000 calls)
        depth = 0
        for arg in args:
            if arg.__class__ is S.Keyword:
                break
            if arg.depth > depth:
                depth = arg.depth
        else:  # no keyword
            if depth >= MAX_DEPTH:
                raise _TooDeep(span)
            node = S.Call(span, name, func_span, args, ())
            node.depth = depth + 1
            return node
        kws = tuple(a for a in args if isinstance(a, S.Keyword))
        pos = tuple(a for a in args if not isinstance(a, S.Keyword))
        kids = pos + tuple(k.value for k in kws)
        return self._expr(S.Call, span, name, func_span, pos, kws, kids=kids)

    def kwarg(self, c):
        key, value = c
        b = value.span
        return S.Keyword(key.value, value, Span(self.file, key.line, key.column, b.end_line, b.end_col))

    def attr(self, c):
        value, name = c
        return self._expr(S.Attr, self._span(value, name), value, name.value, self._tok(name), kids=(value,))

    def paren(self, c):
        """`(e)` is e, spanning its brackets, so a caret under `(w + 1) * v` starts at the `(`."""
        lpar, e, rpar = c
        # e is the node just made for the inside, which nothing else holds: it takes the new span
        # itself rather than being copied (a copy through dataclasses.replace costs ten times more)
        e.span = Span(self.file, lpar.line, lpar.column, rpar.end_line, rpar.end_column)
        return e

    def tuple(self, c):
        items = self._nodes(c)
        return self._expr(S.TupleLit, self._span(*c), items, kids=items)

    def list(self, c):
        items = self._nodes(c)
        return self._expr(S.ListLit, self._span(*c), items, kids=items)

    # statements
    def model_decl(self, c):
        kw, tok = c
        return S.ModelDecl(self._span(kw, tok), tok.value)

    def dim_decl(self, c):
        kw, *names = c
        return S.DimDecl(self._span(*c), tuple(names))

    def const_decl(self, c):
        kw, target, value = c
        return S.ConstDecl(self._span(kw, value), target, value)

    def shape_type(self, c):
        # `[INT] LSQB [expr ("," expr)* ","?] RSQB`: the dims are the nodes between the brackets
        # (None where absent); taken apart so, rather than by _nodes and _span, it costs a
        # quarter (a 200,000-line model declares 50,000 params)
        int_kw, lsqb, *dims, rsqb = c
        a = lsqb if int_kw is None else int_kw
        span = Span(self.file, a.line, a.column, rsqb.end_line, rsqb.end_column)
        return S.ShapeType(tuple(filter(None, dims)), int_kw is not None, span)

    def input_decl(self, c):
        kw, target, typ = c
        return S.InputDecl(self._span(kw, typ), target, typ)

    def const_init(self, c):
        """`const(c)`: the initializer shares its spelling with the keyword; a call otherwise.
        A bare `const` is the initializer's name without its argument, told as `= normal` is."""
        if len(c) == 1:
            return S.Name(self._tok(c[0]), "const")
        return self._call("const", c)

    def param_decl(self, c):
        kw, target, typ, *init = c
        b = c[-1].span  # (the type or the initializer, both nodes)
        return S.ParamDecl(
            Span(self.file, kw.line, kw.column, b.end_line, b.end_col), target, typ, init[0] if init else None
        )

    def fn_expr(self, c):
        kw, fname, *params, body = c
        params = tuple(p for p in params if p is not None)
        return S.FnDecl(self._span(kw, body), fname.value, self._tok(fname), params, (S.Return(body.span, body),))

    def fn_block(self, c):
        kw, fname, *params, (body, end) = c
        params = tuple(p for p in params if p is not None)
        return S.FnDecl(self._span(kw, end), fname.value, self._tok(fname), params, body)

    def lines(self, c):
        """`lines? stmt? _NL`: the statements so far, one list appended to in place."""
        acc = c[0] if c and type(c[0]) is list else []
        if c and isinstance(c[-1], S.Stmt):
            acc.append(c[-1])
        return acc

    def block(self, c):
        *stmts, end = c  # `"{" lines? stmt? RBRACE`
        if stmts and type(stmts[0]) is list:
            stmts = stmts[0] + stmts[1:]
        return tuple(stmts), end

    def assign(self, c):
        target, value = c
        a, b = target.span, value.span
        return S.Assign(Span(self.file, a.line, a.col, b.end_line, b.end_col), target, value)

    def return_stmt(self, c):
        kw, value = c
        return S.Return(self._span(kw, value), value)

    def output_decl(self, c):
        kw, *names = c
        return S.OutputDecl(self._span(*c), tuple(names))

    def minimize(self, c):
        kw, target, *rest = c
        names = tuple(n for n in rest if isinstance(n, S.Name))
        return S.Minimize(self._span(kw, target, *names), target, names)

    def for_loop(self, c):
        kw, var, start, stop, (body, end) = c
        return S.ForLoop(self._span(kw, end), var, start, stop, body)

    def start(self, c):
        return tuple(c[0]) if c else ()


_LOCK = threading.Lock()


@cache
def _front() -> tuple[Lark, _Build, Lexer, Tables]:
    """The grammar compiled once: lark itself, the AST callbacks, the lexer and the tables."""
    build = _Build()
    lark = Lark(_grammar_text(), parser="lalr", lexer="basic", maybe_placeholders=True, transformer=build)
    tables = Tables(lark.parse_interactive("").parser_state.parse_conf)
    return lark, build, Lexer(lark.lexer_conf), tables


def parse(text: str, file: str = "<model>") -> S.Program:
    """Parse a whole model file; raise GraphcError listing every syntax error found.

    After an error the parse restarts on the line after it (earlier lines are
    blanked, keeping line numbers), so one pass covers the file however many
    errors it has: after the lines its statement goes on over, too, so that the
    rest of a call laid out over several lines is no second error. A bracket
    that nothing closes is an error of its own, and the lines indented under it
    go with it.
    """
    _, build, lexer, tables = _front()
    errors: list[Diagnostic] = []
    source = text + "\n"
    blocks = 0  # `{` opened before an error that the restart cut off: their `}` is no new error
    brace_due = False  # the last error was a line that ended where its block's `{` belonged
    while True:
        continued = 0
        resume = None  # the line the parse restarts on, where the error's own lines do not say it
        first = None
        try:
            with _LOCK, gc_paused():
                build.file = file
                kinds: list[str] = []
                spans = array("q")  # start and end of each token in turn
                try:
                    # the automaton first, over token kinds alone, so a syntax error is
                    # found before a single node is built; then the tree from its trace
                    trace = tables.recognize(lexer.lines(source, kinds, spans), kinds)
                except Stuck as stuck:
                    if stuck.at < len(kinds):  # (the lexer went on to the end of that statement)
                        lexer.reopen(kinds, spans, stuck.start, stuck.at)
                    raise UnexpectedToken(_stuck_token(source, kinds, spans, stuck.at), stuck.accepts) from None
                finally:
                    opened = lexer.opened[-1] if lexer.opened else None
                    first = lexer.opened[0] if lexer.opened else None  # the outermost
                stmts = tables.build(trace, lexer.leaves(source, kinds, spans, tables.dropped))
            break
        except UnexpectedInput as e:
            # the wording of syntax errors and their hints, loaded only for a file that has one
            from graphc.syntax_errors import diagnostic, never_closed

            d = diagnostic(e, file, source, lexer.literals, text)
            continued = _continued(source, getattr(e, "pos_in_stream", None))
            token = getattr(e, "token", None)
            at = getattr(token, "start_pos", None)
            before = [k for k, start in zip(kinds, spans[::2]) if (at is None or start < at) and k != "_NL"]
            kind = getattr(token, "type", None)
            end = len(source) if at is None else source.find("\n", at)
            rest = [] if at is None else [m.lastgroup for m in lexer.regex.finditer(source, at, end)]
            if blocks and kind == "RBRACE" and _opens(before) == 0 and opened is None:
                # a `}` at the top level since the restart closes a block whose opening line was cut off
                blocks -= 1
                d = None
            else:  # the restart skips the rest of the line too
                if brace_due and kind == "LBRACE" and not before:
                    d = None  # `for i in 1..3` then `{` alone on the next line: reported at the first
                blocks = max(0, blocks + _opens(before + rest))
            brace_due = kind == "_NL" and "LBRACE" in (getattr(e, "expected", None) or ())
            if opened is not None:
                # an error past the line of an open bracket is its fault only if nothing closes it
                line, col = line_col(source, opened)
                at_end = isinstance(e, UnexpectedToken) and e.token.type == "$END"
                if (at_end or d.span.line > line) and never_closed(source, opened):
                    errors.append(
                        Diagnostic(f"'{source[opened]}' is never closed", Span(file, line, col, line, col + 1))
                    )
                    if at_end:
                        break
                    # the statement ran on until a token that cannot go on with it: where that
                    # starts its line it is the next statement's first, so the parse restarts there
                    pos = e.pos_in_stream
                    resume, col = line_col(source, pos)
                    if source[pos - col + 1 : pos].strip():
                        resume += 1
                    else:  # the restart reads the rest of this line again: its brackets count then
                        blocks = max(0, blocks - _opens(rest))
                    d = None
        except Reserved as e:
            line, col = line_col(source, e.start)
            span = Span(file, line, col, line, col + e.end - e.start)
            d = Diagnostic(f"'{e.word}' is a reserved word and cannot be used as a name", span)
        except _TooDeep as e:
            errors.append(Diagnostic(TOO_DEEP, e.span))
            break
        if d is not None:
            errors.append(d)
        if resume is not None:
            line = resume - 1
        elif d is None:
            line = line_col(source, at)[0] + continued  # after the `}`
        else:
            line = d.span.line + continued  # `loss = a \` then `+ b`: the lines it continues are its error's too
            line += _python_block(source, line)  # `def f(x):` and its indented body are one mistake
            # `h = a +` and the `b` on the next line, and the lines of a bracket opened and not
            # closed by the error's line (`y = np.exp(` then `x)`), too
            start = first if first is not None else _line_start(source, d.span.line)
            line, unclosed = _statement_end(source, start, line)
            if unclosed is not None:  # a bracket that is never closed, and the lines indented under it
                at_line, at_col = line_col(source, unclosed)
                line = _indented(source, max(line, at_line), _indent(source, line_col(source, start)[0]))
                if (d.span.line, d.span.col) != (at_line, at_col):  # (else that bracket is the error already)
                    never = Diagnostic(
                        f"'{source[unclosed]}' is never closed", Span(file, at_line, at_col, at_line, at_col + 1)
                    )
                    # in the order of the file: `exp(x $ 2` says the '(' first
                    errors.insert(len(errors) - ((at_line, at_col) < (d.span.line, d.span.col)), never)
        if len(errors) >= MAX_SYNTAX_ERRORS:
            del errors[MAX_SYNTAX_ERRORS:]  # (a statement may give two: its own and a bracket never closed)
            if _more_tokens(lexer, source, _line_start(source, line + 1)):  # more it did not read
                errors.append(Diagnostic(STOPPED))
            break
        cut = _line_start(source, line + 1)
        if cut >= len(source):
            break
        source = "\n" * line + source[cut:]
    if errors:
        raise GraphcError(errors)
    return S.Program(file, stmts, text)


def _continued(text: str, at: int | None) -> int:
    """How many lines the '\\' at offset `at` continues: one, and one more for each next line
    that ends in '\\' too (a comment may follow); 0 when it is no '\\' that ends its line."""
    count = 0
    while at is not None and text[at : at + 1] == "\\":
        end = text.find("\n", at)
        if end < 0 or without_comment(text[at + 1 : end]).strip():
            break
        count += 1
        nxt = text.find("\n", end + 1)
        line = without_comment(text[end + 1 : nxt if nxt >= 0 else len(text)])  # the next line
        at = end + len(line) if line.endswith("\\") else None
    return count


_BLOCK_HEADER = re.compile(
    r"([ \t]*)(?:def|class|if|elif|else|while|for|with|try|except|finally)\b[^#\n]*:[ \t\r]*(?:#.*)?"
)
_IMPORT = re.compile(r"[ \t]*(?:import|from)[ \t]+[A-Za-z_]")
_BLOCK_MORE = re.compile(r"[ \t]*(?:elif|else|except|finally)\b[^#\n]*:[ \t\r]*(?:#.*)?")


def _python_block(text: str, line: int) -> int:
    """How many lines after `line` belong to the Python block it opens (`def f(x):`, `if c:`):
    its more indented body, and the `else:` and `elif ...:` parts that follow it with theirs;
    after an import, the imports that follow it; 0 where the line opens none. The header was
    reported, so the body is no mistake of its own."""
    start = _line_start(text, line)
    end = text.find("\n", start)
    if _IMPORT.match(text, start):  # the imports after the first are the same mistake
        rows = text[end + 1 :].split("\n") if end >= 0 else []
        return next((i for i, row in enumerate(rows) if row.strip() and not _IMPORT.match(row)), len(rows))
    header = _BLOCK_HEADER.fullmatch(text, start, end if end >= 0 else len(text))
    if header is None:
        return 0
    return _indented(text, line, len(header[1].expandtabs()), _BLOCK_MORE) - line


def _indent(text: str, line: int) -> int:
    """How far a line is indented, tabs expanded."""
    return _width(text[_line_start(text, line) :].split("\n", 1)[0])


def _width(row: str) -> int:
    """How far `row` is indented, tabs expanded."""
    return len(row[: len(row) - len(row.lstrip())].expandtabs())


def _indented(text: str, line: int, indent: int, more: re.Pattern[str] | None = None) -> int:
    """The last line of the run from `line` on whose next lines are indented deeper than
    `indent` (or as deep, where `more` matches the whole line), blank lines and comments
    among them; `line` where the next line is not."""
    rows = text[_line_start(text, line + 1) :].split("\n")
    count = 0
    for row in rows:
        code = row.split("#", 1)[0]
        if code.strip():
            depth = _width(code)
            if depth < indent or (depth == indent and not (more and more.fullmatch(row))):
                break
        count += 1
    while count and not rows[count - 1].split("#", 1)[0].strip():
        count -= 1  # (blank lines after the run are no part of it)
    return line + count


def _continued_by(text: str, line: int) -> int:
    """How many lines after `line` its statement goes on over, as Python writes one in
    brackets: to the next line of code (past comment lines) where `line` ends in an operator
    and that line goes on with its operand (`h = a +` then `b`), or where that line starts
    with one (`h = a` then `+ b`); and so on from there, a run of such lines being one
    statement. 0 where the next line is a statement of its own."""
    # an error path's, loaded with it; the error's wording asks the same questions
    from graphc.syntax_habits import ends_in_operator, next_code_line, starts_with_operator

    start, total = _line_start(text, line), 0
    while True:
        end = text.find("\n", start)
        if end < 0:
            return total
        following, count = next_code_line(text, end)
        if ends_in_operator(text[start:end], following) is None and not starts_with_operator(following):
            return total
        total += count
        for _ in range(count):  # on to the start of that line
            start = text.find("\n", start) + 1


def _statement_end(text: str, start: int, line: int) -> tuple[int, int | None]:
    """The last line of a statement that starts at offset `start` (or before it, outside any
    bracket) and that a syntax error on `line` cut short: `line`, or a later one where the
    statement goes on past it, after an operator (`_continued_by`) or inside a bracket opened
    from `start` on and not closed by the end of `line` (`y = np.exp(` then `x)`); and the
    offset of the outermost bracket that is never closed, if one is not (else None)."""
    while True:
        line += _continued_by(text, line)
        end = text.find("\n", _line_start(text, line))
        if end < 0:
            return line, None
        close, unclosed = _closed_at(text, start, end)
        if unclosed is not None or close == end:
            return line, unclosed
        line += text.count("\n", end, close)


_BRACKETS = re.compile(r"#[^\n]*|[()\[\]\n]")


def _closed_at(text: str, start: int, end: int) -> tuple[int, int | None]:
    """The offset of the first line end at or past offset `end` where every bracket opened
    from offset `start` on is closed (comments skipped; a closing bracket with none open is
    passed over), and None; or, where one never is, the end of the text and the offset of
    the outermost that is not."""
    opened = []
    for m in _BRACKETS.finditer(text, start):
        c = m.group()
        if c == "\n":
            if not opened and m.start() >= end:
                return m.start(), None
        elif c in ("(", "["):
            opened.append(m.start())
        elif c in (")", "]") and opened:
            opened.pop()
    return len(text), opened[0] if opened else None


def _more_tokens(lexer: Lexer, text: str, start: int) -> bool:
    """True when the text from offset `start` holds a token other than a '}' (comments and blank lines are none)."""
    skip = lexer.ignore | {"_NL", "RBRACE"}
    return any(m.lastgroup not in skip for m in lexer.regex.finditer(text, start))


def _opens(kinds: list[str]) -> int:
    """How many more blocks the tokens open than close."""
    return kinds.count("LBRACE") - kinds.count("RBRACE")


def _stuck_token(text: str, kinds: list[str], spans: MutableSequence[int], at: int) -> Token:
    """The token the automaton stopped at: the at-th, or the end of the file after the last."""
    if at < len(kinds):
        return token_at(text, kinds[at], spans[2 * at], spans[2 * at + 1])
    if not kinds:
        return Token("$END", "", 0, 1, 1)
    return Token.new_borrow_pos("$END", "", token_at(text, kinds[-1], spans[-2], spans[-1]))


def _line_start(text: str, line: int) -> int:
    """Offset of the first character of a 1-based line (len(text) past the end)."""
    pos = 0
    for _ in range(line - 1):
        pos = text.find("\n", pos)
        if pos < 0:
            return len(text)
        pos += 1
    return pos
