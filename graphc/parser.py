"""Source text -> syntax.Program, with syntax errors explained in words."""

from __future__ import annotations

import re
import threading
from functools import lru_cache
from importlib import resources
from pathlib import Path

from lark import Lark, Token, Transformer, v_args
from lark.exceptions import UnexpectedCharacters, UnexpectedInput, UnexpectedToken

from graphc import syntax as S
from graphc.errors import Diagnostic, GraphcError, Span

MAX_DEPTH = 500  # deepest expression accepted; later stages recurse this far
MAX_SYNTAX_ERRORS = 10

# Token types in words, for "expected ..." messages.
TOKEN_WORDS = {
    "NAME": "a name",
    "BRACED_NAME": "a name",
    "NUMBER": "a number",
    "_NL": "end of line",
    "$END": "end of file",
    "LPAR": "'('",
    "RPAR": "')'",
    "LSQB": "'['",
    "RSQB": "']'",
    "LBRACE": "'{'",
    "RBRACE": "'}'",
    "COMMA": "','",
    "COLON": "':'",
    "EQUAL": "'='",
    "DOT": "'.'",
    "PLUS": "'+'",
    "MINUS": "'-'",
    "STAR": "'*'",
    "SLASH": "'/'",
    "AT": "'@'",
    "POW": "'^'",
    "INT": "'int'",
    "WRT": "'wrt'",
    "TRUE": "'true'",
    "FALSE": "'false'",
    "__ANON_0": "'..'",
}
EXPRESSION_STARTS = {"NAME", "BRACED_NAME", "NUMBER", "LPAR", "LSQB", "MINUS", "PLUS", "TRUE", "FALSE"}


def _grammar_text() -> str:
    try:
        return resources.files("graphc.grammar").joinpath("nn.lark").read_text()
    except (ModuleNotFoundError, FileNotFoundError):  # running from a source checkout
        return (Path(__file__).resolve().parent.parent / "grammar" / "nn.lark").read_text()


class _Brackets:
    """Post-lexer: drops newlines inside ( ) and [ ], so expressions may span lines.

    It remembers the innermost open bracket, so an unclosed one can be named.
    """

    always_accept = ("_NL",)

    def __init__(self):
        self.open: list[Token] = []

    def process(self, stream):
        self.open = []
        for tok in stream:
            if tok.type in ("LPAR", "LSQB"):
                self.open.append(tok)
            elif tok.type in ("RPAR", "RSQB"):
                if self.open:
                    self.open.pop()
            elif tok.type == "_NL" and self.open:
                continue
            yield tok


def _depth(*items) -> int:
    return 1 + max((getattr(i, "depth", 0) for i in items), default=0)


_BRACED = re.compile(r"([A-Za-z_]\w*)\{([A-Za-z_]\w*)([+-]\d+)?\}")


class _TooDeep(Exception):
    def __init__(self, span: Span):
        self.span = span


def _pos(item) -> Span | None:
    if isinstance(item, Token):
        return Span("", item.line, item.column, item.end_line, item.end_column)
    return getattr(item, "span", None)


_PUNCT = {"LPAR", "RPAR", "LSQB", "RSQB", "RBRACE", "COMMA", "EQUAL", "COLON", "DOT", "LBRACE"}


@v_args(inline=True)
class _Build(Transformer):
    """Callbacks per grammar rule, run during the LALR parse, so no parse tree is
    built and nothing recurses (5,000 nested parentheses are no problem)."""

    def __init__(self):
        super().__init__()
        self.file = "<model>"

    def _span(self, *items) -> Span:
        spans = [p for p in map(_pos, items) if p is not None]
        a, b = spans[0], spans[-1]
        return Span(self.file, a.line, a.col, b.end_line, b.end_col)

    def _tok(self, t: Token) -> Span:
        return Span(self.file, t.line, t.column, t.end_line, t.end_column)

    def _expr(self, cls, span, *args, kids=()):
        d = _depth(*kids)
        if d > MAX_DEPTH:
            raise _TooDeep(span)
        return cls(span, *args, depth=d)

    @staticmethod
    def _nodes(items):
        """The AST children, without punctuation tokens and empty placeholders."""
        return tuple(i for i in items if i is not None and not (isinstance(i, Token) and i.type in _PUNCT))

    # names and atoms
    def name(self, tok):
        m = _BRACED.fullmatch(tok)
        if m:
            base, index, off = m.groups()
            return S.Name(self._tok(tok), base, index, int(off or 0))
        return S.Name(self._tok(tok), str(tok))

    def number(self, tok):
        return S.Num(self._tok(tok), float(tok), re.fullmatch(r"[0-9]+", tok) is not None)

    def true(self, tok):
        return S.Bool(self._tok(tok), True)

    def false(self, tok):
        return S.Bool(self._tok(tok), False)

    def binary(self, left, op, right):
        sym = "^" if op in ("^", "**") else str(op)
        return self._expr(S.Binary, self._span(left, right), sym, left, right, self._tok(op), kids=(left, right))

    def unary(self, op, operand):
        return self._expr(S.Unary, self._span(op, operand), str(op), operand, kids=(operand,))

    def call(self, fname, *rest):
        args = self._nodes(rest)
        pos = tuple(a for a in args if not isinstance(a, S.Keyword))
        kws = tuple(a for a in args if isinstance(a, S.Keyword))
        kids = pos + tuple(k.value for k in kws)
        return self._expr(S.Call, self._span(fname, *rest), str(fname), self._tok(fname), pos, kws, kids=kids)

    def arg(self, e):
        return e

    def kwarg(self, key, *rest):
        (value,) = self._nodes(rest)
        return S.Keyword(str(key), value, self._span(key, value))

    def attr(self, value, *rest):
        (name,) = self._nodes(rest)
        return self._expr(S.Attr, self._span(value, name), value, str(name), self._tok(name), kids=(value,))

    def tuple(self, *rest):
        items = self._nodes(rest)
        return self._expr(S.TupleLit, self._span(*rest), items, kids=items)

    def list(self, *rest):
        items = self._nodes(rest)
        return self._expr(S.ListLit, self._span(*rest), items, kids=items)

    # statements
    def model_decl(self, kw, tok):
        return S.ModelDecl(self._span(kw, tok), str(tok))

    def dim_decl(self, kw, *names):
        names = self._nodes(names)
        return S.DimDecl(self._span(kw, *names), names)

    def const_decl(self, kw, *rest):
        target, value = self._nodes(rest)
        return S.ConstDecl(self._span(kw, value), target, value)

    def shape_type(self, int_kw, *rest):
        dims = self._nodes(rest)
        return S.ShapeType(dims, int_kw is not None, self._span(int_kw, *rest))

    def input_decl(self, kw, *rest):
        target, typ = self._nodes(rest)
        return S.InputDecl(self._span(kw, typ), target, typ)

    def param_decl(self, kw, *rest):
        target, typ, *init = self._nodes(rest)
        return S.ParamDecl(self._span(kw, typ, *init), target, typ, init[0] if init else None)

    def fn_expr(self, kw, fname, *rest):
        *params, body = self._nodes(rest)
        return S.FnDecl(self._span(kw, body), str(fname), self._tok(fname), tuple(params), (S.Return(body.span, body),))

    def fn_block(self, kw, fname, *rest):
        *params, (body, end) = self._nodes(rest)
        return S.FnDecl(self._span(kw, end), str(fname), self._tok(fname), tuple(params), body)

    def line(self, stmt=None, nl=None):
        return stmt if isinstance(stmt, S.Stmt) else None

    def lines(self, acc, line=None):
        if not isinstance(acc, list):  # the first line
            acc = [acc]
        else:
            acc.append(line)
        return acc

    def block(self, *rest):
        stmts = [s for s in rest if isinstance(s, S.Stmt)]
        for r in rest:
            if isinstance(r, list):
                stmts = [s for s in r if s is not None] + stmts
        return tuple(stmts), rest[-1]

    def assign(self, target, *rest):
        (value,) = self._nodes(rest)
        return S.Assign(self._span(target, value), target, value)

    def return_stmt(self, kw, value):
        return S.Return(self._span(kw, value), value)

    def output_decl(self, kw, *names):
        names = self._nodes(names)
        return S.OutputDecl(self._span(kw, *names), names)

    def minimize(self, kw, target, *rest):
        names = tuple(n for n in rest if isinstance(n, S.Name))
        return S.Minimize(self._span(kw, target, *names), target, names)

    def for_loop(self, kw, var, *rest):
        start, stop, (body, end) = self._nodes(rest)
        return S.ForLoop(self._span(kw, end), var, start, stop, body)

    def start(self, lines=None):
        return tuple(s for s in lines or () if s is not None)


_LOCK = threading.Lock()


@lru_cache(maxsize=None)
def _lark() -> tuple[Lark, _Build, _Brackets]:
    build, brackets = _Build(), _Brackets()
    lark = Lark(_grammar_text(), parser="lalr", postlex=brackets, maybe_placeholders=True, transformer=build)
    return lark, build, brackets


def _describe(tok: Token) -> str:
    if tok.type == "$END":
        return "end of file"
    if tok.type == "_NL":
        return "end of line"
    if tok.type in ("NAME", "BRACED_NAME"):
        return f"name '{tok}'"
    if tok.type == "NUMBER":
        return f"number {tok}"
    return f"'{tok}'"


def _expected(names) -> str:
    names = set(names)
    words = []
    if names & EXPRESSION_STARTS and len(names & EXPRESSION_STARTS) >= 3:
        words.append("an expression")
        names -= EXPRESSION_STARTS
    for n in sorted(names):
        w = TOKEN_WORDS.get(n)
        if w is None:
            w = f"'{n.lower()}'" if n.isupper() and n.isalpha() else n
        if w not in words:
            words.append(w)
    if not words:
        return ""
    if len(words) > 6:
        words = words[:6] + ["..."]
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " or " + words[-1]


def _syntax_diagnostic(e: UnexpectedInput, file: str, text: str) -> Diagnostic:
    if isinstance(e, UnexpectedCharacters):
        ch = text[e.pos_in_stream] if e.pos_in_stream < len(text) else ""
        shown = repr(ch)[1:-1] if not ch.isprintable() else ch
        if ch == "\n":
            shown = "end of line"
        return Diagnostic(f"unexpected character '{shown}'", Span(file, e.line, e.column, e.line, e.column + 1))
    if isinstance(e, UnexpectedToken):
        tok = e.token
        if tok.type == "$END":
            lines = text.split("\n")
            line = max(1, len(lines) - 1)
            col = len(lines[line - 1]) + 1
            span = Span(file, line, col, line, col + 1)
        else:
            width = max(1, len(str(tok))) if tok.type != "_NL" else 1
            span = Span(file, tok.line, tok.column, tok.line, tok.column + width)
        exp = _expected(e.expected)
        msg = f"unexpected {_describe(tok)}" + (f"; expected {exp}" if exp else "")
        if tok.type == "$END" and e.expected & {"RPAR", "RSQB"}:
            msg += " (an unclosed bracket?)"
        return Diagnostic(msg, span)
    return Diagnostic("syntax error", Span(file, e.line, e.column, e.line, e.column + 1))


def parse(text: str, file: str = "<model>") -> S.Program:
    """Parse a whole model file; raise GraphcError listing every syntax error found.

    After an error the parse restarts on the line after it (earlier lines are
    blanked, keeping line numbers), so one pass covers the file however many
    errors it has.
    """
    lark, build, brackets = _lark()
    errors: list[Diagnostic] = []
    source = text + "\n"
    while True:
        try:
            with _LOCK:
                build.file = file
                try:
                    stmts = lark.parse(source)
                finally:
                    unclosed = brackets.open[-1] if brackets.open else None
            break
        except UnexpectedInput as e:
            d = _syntax_diagnostic(e, file, source)
            if unclosed is not None and isinstance(e, UnexpectedToken) and e.token.type in ("$END",) or (
                unclosed is not None and d.span.line > unclosed.line
            ):
                d = Diagnostic(f"'{unclosed}' is never closed", Span(file, unclosed.line, unclosed.column, unclosed.line, unclosed.column + 1))
                errors.append(d)
                break
            errors.append(d)
            if len(errors) >= MAX_SYNTAX_ERRORS:
                break
            cut = _line_start(source, d.span.line + 1)
            if cut >= len(source):
                break
            source = "\n" * d.span.line + source[cut:]
        except _TooDeep as e:
            errors.append(Diagnostic(f"expression is nested too deeply (more than {MAX_DEPTH} levels)", e.span))
            break
    if errors:
        raise GraphcError(errors)
    return S.Program(file, stmts)


def _line_start(text: str, line: int) -> int:
    """Offset of the first character of a 1-based line (len(text) past the end)."""
    pos = 0
    for _ in range(line - 1):
        pos = text.find("\n", pos)
        if pos < 0:
            return len(text)
        pos += 1
    return pos
