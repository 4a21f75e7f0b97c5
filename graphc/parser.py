"""Source text -> syntax.Program, with syntax errors explained in words."""

from __future__ import annotations

import re
import threading
from array import array
from collections.abc import MutableSequence
from dataclasses import replace
from functools import cache
from importlib import resources
from itertools import chain
from pathlib import Path

from lark import Lark, Token, Transformer
from lark.exceptions import UnexpectedCharacters, UnexpectedInput, UnexpectedToken
from lark.lexer import PatternStr
from lark.parse_tree_builder import ExpandSingleChild
from lark.parsers.lalr_analysis import Shift

from graphc import syntax as S
from graphc.errors import Diagnostic, GraphcError, Span, nearest
from graphc.util import gc_paused

MAX_DEPTH = 500  # deepest expression accepted; later stages recurse this far
MAX_SYNTAX_ERRORS = 10
TOO_DEEP = (
    f"expression is nested too deeply (more than {MAX_DEPTH} levels; each operator of a long chain "
    "such as a + b + c + ... is one level): split it over several statements"
)

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
    "IN": "'in'",
    "__ANON_0": "'..'",
}
EXPRESSION_STARTS = {"NAME", "BRACED_NAME", "NUMBER", "LPAR", "LSQB", "MINUS", "PLUS", "TRUE", "FALSE"}
OPERATORS = {"PLUS", "MINUS", "STAR", "SLASH", "AT", "POW"}
STATEMENT_KEYWORDS = {"MODEL", "DIM", "CONST", "INPUT", "PARAM", "FN", "RETURN", "OUTPUT", "MINIMIZE", "FOR"}
STATEMENT_WORDS = sorted(k.lower() for k in STATEMENT_KEYWORDS)
# where several tokens would fit, the closing ones are the likeliest fix, so they come first
EXPECTED_ORDER = ["RPAR", "RSQB", "RBRACE", "COMMA", "COLON", "EQUAL", "LPAR", "LSQB", "LBRACE", "DOT"]
# characters people bring from other languages, with what to write instead
CHARACTER_HINTS = {
    "'": "; the language has no strings",
    '"': "; the language has no strings",
    ";": "; a statement ends at the end of its line",
    "%": "; there is no remainder operator",
    "!": "; there are no comparisons or logical operators",
    "<": "; there are no comparisons",
    ">": "; there are no comparisons",
}
RESERVED = frozenset("model dim input param const fn return output minimize wrt for in int true false".split())


def _grammar_text() -> str:
    try:
        return resources.files("graphc.grammar").joinpath("nn.lark").read_text()
    except (ModuleNotFoundError, FileNotFoundError):  # running from a source checkout
        return (Path(__file__).resolve().parent.parent / "grammar" / "nn.lark").read_text()


class _Lexer:
    """The grammar's terminals as one regular expression run with finditer.

    It orders the terminals and turns a NAME that spells a keyword into that
    keyword as lark's basic lexer does, so a reserved word is never a name; and
    it drops newlines inside ( ) and [ ] (they never reach the grammar) and keeps
    the brackets still open where it stopped in `opened`, innermost last, so an
    unclosed one can be named. `scan` gives kinds and offsets only, which is all
    the automaton needs; `tokens` makes lark Tokens of them for the tree.
    """

    def __init__(self, conf):
        patterns = [t for t in conf.terminals if not isinstance(t.pattern, PatternStr)]
        self.keywords: dict[str, dict[str, str]] = {}  # {"NAME": {"model": "MODEL", ...}}
        kept = []
        for t in conf.terminals:
            word = t.pattern.value
            owner = isinstance(t.pattern, PatternStr) and next(
                (p.name for p in patterns if p.priority == t.priority and re.fullmatch(p.pattern.to_regexp(), word)),
                None,
            )
            if owner:
                self.keywords.setdefault(owner, {})[word] = t.name
            else:
                kept.append(t)
        kept.sort(key=lambda t: (-t.priority, -t.pattern.max_width, -len(t.pattern.value), t.name))
        groups = [f"(?P<{t.name}>{t.pattern.to_regexp()})" for t in kept]
        # each match takes the blanks before its token along (half as many matches)
        blanks = [
            t.pattern.to_regexp() for t in kept if t.name in conf.ignore and re.fullmatch(t.pattern.to_regexp(), " ")
        ]
        alternatives = "|".join([*groups, r"(?P<_BAD>[\s\S])"])
        self.regex = re.compile(f"(?:{'|'.join(blanks)})?(?:{alternatives})", conf.g_regex_flags)
        self.ignore = frozenset(conf.ignore)
        self.opened: list[int] = []  # offsets of the ( and [ still open

    def scan(self, text: str, kinds: list[str], spans: MutableSequence[int]):
        """The kind of each token, lazily; each is also appended to `kinds` and its start
        and end offsets to `spans` (two numbers per token, kept flat: a 200,000-line file
        has 1.6 million tokens, and a tuple per token held 150 MB more)."""
        opened = self.opened
        opened.clear()
        ignore, keywords, add, note = self.ignore, self.keywords, spans.extend, kinds.append
        for m in self.regex.finditer(text):
            kind = m.lastgroup
            if kind in ignore:
                continue
            span = m.span(kind)
            if kind in keywords:
                kind = keywords[kind].get(text[span[0] : span[1]], kind)
            elif kind == "_NL":
                if opened:
                    continue
            elif kind == "LPAR" or kind == "LSQB":
                opened.append(span[0])
            elif kind == "RPAR" or kind == "RSQB":
                if opened:
                    opened.pop()
            elif kind == "BRACED_NAME":
                word = _BRACED.match(text, span[0]).group(1)  # the name before the braces
                if word in RESERVED:
                    raise _Reserved(span[0], span[1], word)
            elif kind == "_BAD":
                raise UnexpectedCharacters(text, span[0], *_line_col(text, span[0]))
            add(span)
            note(kind)
            yield kind

    @staticmethod
    def tokens(text: str, kinds: list[str], spans: MutableSequence[int]):
        """The tokens `scan` found, as lark Tokens with their lines and columns."""
        new, count, rfind = str.__new__, text.count, text.rfind
        line, line_start, pos = 1, 0, 0
        offsets = iter(spans)
        for kind, start, end in zip(kinds, offsets, offsets):
            breaks = count("\n", pos, start)
            if breaks:
                line += breaks
                line_start = rfind("\n", pos, start) + 1
            value = text[start:end]
            col = start - line_start + 1
            tok = new(Token, value)
            tok.type, tok.value, tok.start_pos, tok.end_pos = kind, value, start, end
            tok.line, tok.column, tok.end_line, tok.end_column = line, col, line, col + end - start
            if kind == "_NL":  # blank lines too, and the blanks that start the next line
                line += value.count("\n")
                line_start = start + value.rfind("\n") + 1
                tok.end_line, tok.end_column = line, end - line_start + 1
            pos = end
            yield tok


def _line_col(text: str, pos: int) -> tuple[int, int]:
    return text.count("\n", 0, pos) + 1, pos - text.rfind("\n", 0, pos)


def _token_at(text: str, kind: str, start: int, end: int) -> Token:
    line, col = _line_col(text, start)
    return Token(kind, text[start:end], start, line, col, line, col + end - start, end)


def _depth(*items) -> int:
    return 1 + max((getattr(i, "depth", 0) for i in items), default=0)


_BRACED = re.compile(r"([A-Za-z_]\w*)\{([A-Za-z_]\w*)([+-]\d+)?\}(\w*)")


class _TooDeep(Exception):
    def __init__(self, span: Span):
        self.span = span


class _Reserved(Exception):
    """A reserved word as the base of a braced name (`for{i}`), which lexes as one
    BRACED_NAME; found by the lexer, at offsets start..end."""

    def __init__(self, start: int, end: int, word: str):
        self.start, self.end, self.word = start, end, word


def _pos(item) -> Span | None:
    if isinstance(item, Token):
        return Span("", item.line, item.column, item.end_line, item.end_column)
    return getattr(item, "span", None)


_PUNCT = {"LPAR", "RPAR", "LSQB", "RSQB", "RBRACE", "COMMA", "EQUAL", "COLON", "DOT", "LBRACE"}


class _Build(Transformer):
    """Callbacks per grammar rule, run during the LALR parse, so no parse tree is
    built and nothing recurses (5,000 nested parentheses are no problem).

    Each gets the rule's children as one list: anonymous tokens such as "=" are
    already dropped, and an absent [optional] part is None. The callbacks for
    names, binary operators, assignments and lines run for nearly every token,
    so they build their spans directly.
    """

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
    def name(self, c):
        (tok,) = c
        span = Span(self.file, tok.line, tok.column, tok.end_line, tok.end_column)
        if tok.type != "BRACED_NAME":  # never a reserved word: the lexer made those keywords (or refused them)
            return S.Name(span, tok.value)
        base, index, off, suffix = _BRACED.fullmatch(tok.value).groups()
        return S.Name(span, base, index, int(off or 0), suffix)

    def number(self, c):
        (tok,) = c
        return S.Num(self._tok(tok), float(tok.value), tok.value.isdigit())

    def true(self, c):
        return S.Bool(self._tok(c[0]), True)

    def false(self, c):
        return S.Bool(self._tok(c[0]), False)

    def binary(self, c):
        left, op, right = c
        a, b = left.span, right.span
        span = Span(self.file, a.line, a.col, b.end_line, b.end_col)
        depth = 1 + max(left.depth, right.depth)
        if depth > MAX_DEPTH:
            raise _TooDeep(span)
        sym = "^" if op.type == "POW" else op.value
        return S.Binary(span, sym, left, right, self._tok(op), depth=depth)

    def unary(self, c):
        op, operand = c
        return self._expr(S.Unary, self._span(op, operand), op.value, operand, kids=(operand,))

    def call(self, c):
        fname, *rest = c
        args = self._nodes(rest)
        pos = tuple(a for a in args if not isinstance(a, S.Keyword))
        kws = tuple(a for a in args if isinstance(a, S.Keyword))
        kids = pos + tuple(k.value for k in kws)
        return self._expr(S.Call, self._span(*c), fname.value, self._tok(fname), pos, kws, kids=kids)

    def kwarg(self, c):
        key, value = c
        return S.Keyword(key.value, value, self._span(key, value))

    def attr(self, c):
        value, name = c
        return self._expr(S.Attr, self._span(value, name), value, name.value, self._tok(name), kids=(value,))

    def paren(self, c):
        """`(e)` is e, spanning its brackets, so a caret under `(w + 1) * v` starts at the `(`."""
        lpar, e, rpar = c
        return replace(e, span=self._span(lpar, rpar))

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
        int_kw, *rest = c
        return S.ShapeType(self._nodes(rest), int_kw is not None, self._span(*c))

    def input_decl(self, c):
        kw, target, typ = c
        return S.InputDecl(self._span(kw, typ), target, typ)

    def const_init(self, c):
        """`const(c)`: the initializer shares its spelling with the keyword."""
        kw, *rest = c
        (value,) = [x for x in rest if isinstance(x, S.Expr)]
        span = self._span(*c)
        return S.Call(span, "const", self._tok(kw), (value,), (), depth=value.depth + 1)

    def param_decl(self, c):
        kw, target, typ, *init = c
        return S.ParamDecl(self._span(*c), target, typ, init[0] if init else None)

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


class _Tables:
    """lark's LALR(1) tables for the grammar, laid out for graphc's own two-step walk.

    lark builds the tables and the per-rule callbacks (which drop punctuation and
    call _Build). `recognize` runs the automaton over token kinds alone and keeps
    a trace of its steps; `build` replays the trace with the real tokens, calling
    the callbacks. A syntax error is thus found before any token object or tree
    node is made (a 200,000-line file with an error on its last line: about 3 s,
    against 15 s for lark's own loop with the tree built as it goes, which also
    hashes each rule in Python at every reduction).
    """

    def __init__(self, conf):
        states = conf.parse_table.states
        size = max(states) + 1
        # actions[state][terminal]: the next state (a shift) or (length, rule name, callback) (a reduce)
        self.actions: list[dict[str, object]] = [{} for _ in range(size)]
        self.gotos: list[dict[str, int]] = [{} for _ in range(size)]  # gotos[state][rule name]
        for state, row in states.items():
            for symbol, (action, arg) in row.items():
                symbol = str(symbol)  # lark's keys are Tokens, whose == is Python code; plain str is faster
                if not symbol.isupper():
                    self.gotos[state][symbol] = arg
                elif action is Shift:
                    self.actions[state][symbol] = arg
                else:
                    callback = conf.callbacks[arg]
                    # `?rule: other` with one child: the value passes through unchanged
                    keep = isinstance(callback, ExpandSingleChild) and len(arg.expansion) == 1
                    self.actions[state][symbol] = (len(arg.expansion), str(arg.origin.name), None if keep else callback)
        self.start, self.end = conf.start_state, conf.end_state

    def recognize(self, kinds) -> list:
        """Run the automaton over token kinds alone and return its trace: per step
        None for a shift or the reduce action taken. Raise _Stuck at the first
        token that does not fit, before anything is built."""
        actions, gotos, end = self.actions, self.gotos, self.end
        states, trace = [self.start], []
        step = trace.append
        for kind in chain(kinds, ("$END",)):
            while True:
                act = actions[states[-1]].get(kind)
                if act.__class__ is int:  # never for $END, which only reduces
                    states.append(act)
                    step(None)
                    break
                if act is None:
                    raise _Stuck(trace.count(None), self.accepts(states))
                step(act)
                size, rule, _ = act
                if size:
                    del states[-size:]
                states.append(gotos[states[-1]][rule])
                if states[-1] == end:  # the start rule, reduced at $END: the file parses
                    return trace
        raise AssertionError("the automaton ran out of input without accepting or failing")

    @staticmethod
    def build(trace: list, tokens) -> object:
        """Replay a trace: shift the next token, or call the rule's callback on its children."""
        values: list = []
        push, take = values.append, iter(tokens).__next__
        for act in trace:
            if act is None:
                push(take())
                continue
            size, _, callback = act
            if callback is None:  # the value passes through
                continue
            if size:
                children = values[-size:]
                del values[-size:]
            else:
                children = []
            push(callback(children))
        return values[-1]

    def accepts(self, states: list[int]) -> set[str]:
        """The terminals that could come next after the states on the stack.

        LALR's own `expected` set merges states, so it lists tokens that cannot come
        next (`x = 1 2` would 'expect' '{' and ','); trying each one is exact.
        """
        return {t for t in self.actions[states[-1]] if self._fits(list(states), t)}

    def _fits(self, states: list[int], terminal: str) -> bool:
        while True:
            act = self.actions[states[-1]].get(terminal)
            if act is None:
                return False
            if act.__class__ is int:
                return True
            size, rule, _ = act
            if size:
                del states[-size:]
            states.append(self.gotos[states[-1]][rule])
            if terminal == "$END" and states[-1] == self.end:
                return True


class _Stuck(Exception):
    """The automaton met a token it cannot take: the `at`-th (counting from 0), or the end
    of the file when all were taken, where it would have accepted `accepts`."""

    def __init__(self, at: int, accepts: set[str]):
        self.at, self.accepts = at, accepts


@cache
def _front() -> tuple[Lark, _Build, _Lexer, _Tables]:
    """The grammar compiled once: lark itself, the AST callbacks, the lexer and the tables."""
    build = _Build()
    lark = Lark(_grammar_text(), parser="lalr", lexer="basic", maybe_placeholders=True, transformer=build)
    tables = _Tables(lark.parse_interactive("").parser_state.parse_conf)
    return lark, build, _Lexer(lark.lexer_conf), tables


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


def _token_word(name: str) -> str:
    """A terminal in words: TOKEN_WORDS, else its literal text from the grammar."""
    word = TOKEN_WORDS.get(name)
    if word is not None:
        return word
    try:
        pattern = _front()[0].get_terminal(name).pattern
        if pattern.type == "str":
            return f"'{pattern.value}'"
    except KeyError:  # a terminal the grammar does not define: show its name
        pass
    return f"'{name.lower()}'" if name.isupper() and name.isalpha() else name


def _expected(names) -> str:
    names = set(names)
    words = []
    if len(names & STATEMENT_KEYWORDS) >= 4:
        words.append("a statement")
        names -= STATEMENT_KEYWORDS | {"NAME", "BRACED_NAME"}
    if len(names & OPERATORS) >= 3:
        words.append("an operator")
        names -= OPERATORS | {"DOT"}  # `.T` is a postfix operator
    # after a complete operand '+', '-' and '(' are operators and calls, so an
    # expression is expected only where a name or number could start one
    if {"NAME", "NUMBER"} <= names:
        words.append("an expression")
        names -= EXPRESSION_STARTS
    if "_NL" in names:  # to a reader the end of the file is one more end of line
        names.discard("$END")
    rank = {n: i for i, n in enumerate(EXPECTED_ORDER)}
    # end of line and end of file read best last
    for n in sorted(names, key=lambda n: (n in ("_NL", "$END"), rank.get(n, len(rank)), n)):
        w = _token_word(n)
        if w not in words:
            words.append(w)
    if not words:
        return ""
    if len(words) > 6:
        words = words[:6] + ["..."]
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " or " + words[-1]


_WORD = frozenset("0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_.")
_NUMBER = re.compile(r"[0-9]+(\.[0-9]+)?([eE][+-]?[0-9]+)?")


def _bad_number(text: str, pos: int, file: str, line: int, col: int) -> Diagnostic | None:
    """`1e`, `1.2.3`, `3x`, `5.`: a number glued to more letters, digits or dots.

    The lexer splits these into a valid number and a stray token, and the parser
    would complain about the stray part; the user wrote one bad number.
    """
    end = pos
    while end > 0 and text[end - 1] in " \t":
        end -= 1
    if end == pos or text[end - 1 : end] != ".":  # else `5. * x`: a number ending in a dot, then blanks
        end = pos
    a = end
    while a > 0 and text[a - 1] in _WORD and text[a - 2 : a] != "..":
        a -= 1
    b = end
    while b < len(text) and text[b] in _WORD:
        b += 1
    word = text[a:b]
    if a == end or not word[:1].isdigit() or _NUMBER.fullmatch(word):
        return None
    start = col - (pos - a)
    return Diagnostic(
        f"malformed number '{word}'; numbers are written like 3, 0.5, 1e-3 or 2.5E+4",
        Span(file, line, start, line, start + len(word)),
    )


def _syntax_diagnostic(e: UnexpectedInput, file: str, text: str) -> Diagnostic:
    if isinstance(e, UnexpectedCharacters):
        ch = text[e.pos_in_stream] if e.pos_in_stream < len(text) else ""
        shown = repr(ch)[1:-1] if not ch.isprintable() else ch
        quoted = f'"{shown}"' if ch == "'" else f"'{shown}'"
        hint = CHARACTER_HINTS.get(ch, "")
        return Diagnostic(f"unexpected character {quoted}{hint}", Span(file, e.line, e.column, e.line, e.column + 1))
    if isinstance(e, UnexpectedToken):
        tok = e.token
        if tok.type == "$END":
            lines = text.split("\n")
            line = max(1, len(lines) - 1)
            col = len(lines[line - 1]) + 1
            span = Span(file, line, col, line, col + 1)
        else:
            width = max(1, len(str(tok))) if tok.type != "_NL" else 1
            col = tok.column
            if tok.type == "_NL" and text[tok.start_pos - 1 : tok.start_pos] == "\r":
                col -= 1  # a CRLF file: the line ends before its '\r', which is lexed as space
            span = Span(file, tok.line, col, tok.line, col + width)
            bad = _bad_number(text, tok.start_pos, file, tok.line, tok.column)
            if bad is not None:
                return bad
        accepts = set(e.expected or ())
        if tok.type not in ("NAME", "BRACED_NAME") and str(tok) in RESERVED and accepts & {"NAME", "BRACED_NAME"}:
            return Diagnostic(f"'{tok}' is a reserved word and cannot be used as a name", span)
        if tok.type == "EQUAL":
            # `for = 1`: the lexer took the reserved word as a keyword, so '=' is what failed
            before = text[tok.start_pos - tok.column + 1 : tok.start_pos]
            word = before.strip()
            if word in RESERVED:
                start = before.index(word) + 1
                return Diagnostic(
                    f"'{word}' is a reserved word and cannot be used as a name",
                    Span(file, tok.line, start, tok.line, start + len(word)),
                )
        if tok.type == "LBRACE" and tok.start_pos > 0 and text[tok.start_pos - 1] in _WORD:
            return Diagnostic(
                "unexpected '{': in a name like W{i} the braces hold a loop variable, optionally with +N or -N",
                span,
            )
        exp = _expected(accepts)
        msg = f"unexpected {_describe(tok)}" + (f"; expected {exp}" if exp else "")
        if tok.type == "_NL" and "LBRACE" in accepts:
            msg += " on the same line"
        if tok.type in ("NAME", "BRACED_NAME") and accepts == {"EQUAL"}:
            # `minimise loss`: a line that starts with one name then another is a misspelled keyword
            first = text[tok.start_pos - tok.column + 1 : tok.start_pos].split()
            keyword = nearest(first[0], STATEMENT_WORDS) if len(first) == 1 else None
            if keyword is not None:
                msg += f" (is '{first[0]}' a misspelled '{keyword}'?)"
        if tok.type == "$END" and accepts & {"RPAR", "RSQB"}:
            msg += " (an unclosed bracket?)"
        if tok.type == "$END" and "RBRACE" in accepts:
            brace = _unclosed_brace(text)
            if brace is not None:
                return Diagnostic("'{' is never closed", Span(file, brace[0], brace[1], brace[0], brace[1] + 1))
        return Diagnostic(msg, span)
    line = e.line if isinstance(e.line, int) and e.line >= 1 else 1
    col = e.column if isinstance(e.column, int) and e.column >= 1 else 1
    return Diagnostic("syntax error", Span(file, line, col, line, col + 1))


def _unclosed_brace(text: str) -> tuple[int, int] | None:
    """(line, col) of the last '{' that no '}' closes (comments skipped)."""
    open_at: list[tuple[int, int]] = []
    line, line_start, i, n = 1, 0, 0, len(text)
    while i < n:
        c = text[i]
        if c == "#":
            i = text.find("\n", i)
            if i < 0:
                break
            continue
        if c == "\n":
            line, line_start = line + 1, i + 1
        elif c == "{":
            open_at.append((line, i - line_start + 1))
        elif c == "}" and open_at:
            open_at.pop()
        i += 1
    return open_at[-1] if open_at else None


def _never_closed(text: str, at: int) -> bool:
    """True when no bracket after the one at offset `at` closes it (comments skipped)."""
    depth, i, n = 1, at + 1, len(text)
    while i < n:
        c = text[i]
        if c == "#":
            i = text.find("\n", i)
            if i < 0:
                return True
        elif c in "([":
            depth += 1
        elif c in ")]":
            depth -= 1
            if depth == 0:
                return False
        i += 1
    return True


def parse(text: str, file: str = "<model>") -> S.Program:
    """Parse a whole model file; raise GraphcError listing every syntax error found.

    After an error the parse restarts on the line after it (earlier lines are
    blanked, keeping line numbers), so one pass covers the file however many
    errors it has.
    """
    _, build, lexer, tables = _front()
    errors: list[Diagnostic] = []
    source = text + "\n"
    blocks = 0  # `{` opened before an error that the restart cut off: their `}` is no new error
    brace_due = False  # the last error was a line that ended where its block's `{` belonged
    while True:
        try:
            with _LOCK, gc_paused():
                build.file = file
                kinds: list[str] = []
                spans = array("q")  # start and end of each token in turn
                try:
                    # the automaton first, over token kinds alone, so a syntax error is
                    # found before a single node is built; then the tree from its trace
                    trace = tables.recognize(lexer.scan(source, kinds, spans))
                except _Stuck as stuck:
                    raise UnexpectedToken(_stuck_token(source, kinds, spans, stuck.at), stuck.accepts) from None
                finally:
                    opened = lexer.opened[-1] if lexer.opened else None
                stmts = tables.build(trace, lexer.tokens(source, kinds, spans))
            break
        except UnexpectedInput as e:
            d = _syntax_diagnostic(e, file, source)
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
                line, col = _line_col(source, opened)
                at_end = isinstance(e, UnexpectedToken) and e.token.type == "$END"
                if (at_end or d.span.line > line) and _never_closed(source, opened):
                    errors.append(
                        Diagnostic(f"'{source[opened]}' is never closed", Span(file, line, col, line, col + 1))
                    )
                    break
        except _Reserved as e:
            line, col = _line_col(source, e.start)
            span = Span(file, line, col, line, col + e.end - e.start)
            d = Diagnostic(f"'{e.word}' is a reserved word and cannot be used as a name", span)
        except _TooDeep as e:
            errors.append(Diagnostic(TOO_DEEP, e.span))
            break
        if d is not None:
            errors.append(d)
            if len(errors) >= MAX_SYNTAX_ERRORS:
                break
        line = d.span.line if d is not None else _line_col(source, at)[0]  # else after the `}`
        cut = _line_start(source, line + 1)
        if cut >= len(source):
            break
        source = "\n" * line + source[cut:]
    if errors:
        raise GraphcError(errors)
    return S.Program(file, stmts)


def _opens(kinds: list[str]) -> int:
    """How many more blocks the tokens open than close."""
    return kinds.count("LBRACE") - kinds.count("RBRACE")


def _stuck_token(text: str, kinds: list[str], spans: MutableSequence[int], at: int) -> Token:
    """The token the automaton stopped at: the at-th, or the end of the file after the last."""
    if at < len(kinds):
        return _token_at(text, kinds[at], spans[2 * at], spans[2 * at + 1])
    if not kinds:
        return Token("$END", "", 0, 1, 1)
    return Token.new_borrow_pos("$END", "", _token_at(text, kinds[-1], spans[-2], spans[-1]))


def _line_start(text: str, line: int) -> int:
    """Offset of the first character of a 1-based line (len(text) past the end)."""
    pos = 0
    for _ in range(line - 1):
        pos = text.find("\n", pos)
        if pos < 0:
            return len(text)
        pos += 1
    return pos
