"""Source text -> token kinds and offsets, by the grammar's terminals run as one regular expression."""

from __future__ import annotations

import re
from collections.abc import MutableSequence
from itertools import chain
from sys import intern
from typing import NamedTuple

from lark import Token
from lark.exceptions import UnexpectedCharacters
from lark.lexer import PatternStr

LARGE = 1 << 18  # the characters from which a text is read by NumPy (graphc.stretches)
RESERVED = frozenset("model dim input param const fn return output minimize wrt for in int true false".split())
# a braced name's parts: W{i+1}b -> base W, loop variable i, offset +1, suffix b
BRACED = re.compile(r"([A-Za-z_]\w*)\{([A-Za-z_]\w*)([+-]\d+)?\}(\w*)")


class Lexer:
    """The grammar's terminals as one regular expression run with finditer.

    It orders the terminals and turns a NAME that spells a keyword into that
    keyword as lark's basic lexer does, so a reserved word is never a name; and
    it drops newlines inside ( ) and [ ] (they never reach the grammar) and keeps
    the brackets still open where it stopped in `opened`, innermost last, so an
    unclosed one can be named. `lines` gives kinds and offsets only, which is all
    the automaton needs; `leaves` and `tokens` make the tree's tokens of them.
    """

    def __init__(self, conf):
        patterns = [t for t in conf.terminals if not isinstance(t.pattern, PatternStr)]
        # the terminals spelled by one string, by name, for messages: {"LPAR": "(", "MODEL": "model", ...}
        self.literals = {t.name: t.pattern.value for t in conf.terminals if isinstance(t.pattern, PatternStr)}
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
        # the kinds `lines` takes as they come: no keyword, bracket, newline, error or blank to see to
        special = {"_NL", "LPAR", "LSQB", "RPAR", "RSQB", "BRACED_NAME", "_BAD", *self.ignore, *self.keywords}
        self.plain = frozenset(t.name for t in kept) - special
        self.opened: list[int] = []  # offsets of the ( and [ still open
        self._numpy = None  # graphc.stretches.Stretches, made for the first large text
        self._grammar = kept, blanks, conf.g_regex_flags

    def lines(self, text: str, kinds: list[str], spans: MutableSequence[int], exact: bool = False):
        """Find the tokens a statement at a time: append the kind of each to `kinds` and its start
        and end offsets to `spans` (two numbers per token, kept flat: a 200,000-line file has 1.6
        million tokens, and a tuple per token held 150 MB more), and yield len(kinds) after each
        newline that ends a statement (none inside brackets), and at the end of the text.

        A statement at a time, not a token: the automaton steps over a line it has seen before
        in one go (Tables.recognize). A character no token starts with, or a reserved word
        before braces, is raised only after the tokens before it are yielded, so a syntax
        error earlier on its line is still found first.

        A text of LARGE characters or more is read a stretch of whole statements at a time, by
        findall and NumPy (graphc.stretches: a Python step per token took 1.6 s on 200,000
        lines); from the first stretch that holds more than plain tokens on (a character no
        token starts with, a reserved word before braces, a bracket closed that was never
        opened or one never closed), and all of it where `exact` is set, it is read a token at
        a time (`_exact`), which raises the error, or leaves in `opened` the brackets open
        where it stopped."""
        self.opened.clear()
        if exact or len(text) < LARGE or self.stretches().cuts is None:
            return self._exact(text, kinds, spans, 0)
        return chain.from_iterable(self.stretches().lines(text, kinds, spans))

    def stretches(self):
        """The reading of large texts by NumPy (graphc.stretches), made the first time one comes."""
        if self._numpy is None:
            from graphc.stretches import Stretches

            self._numpy = Stretches(self, *self._grammar)
        return self._numpy

    def _exact(self, text: str, kinds: list[str], spans: MutableSequence[int], pos: int):
        """`lines` from offset `pos` on (no bracket is open there), a token at a time."""
        opened = self.opened
        plain, ignore, keywords, add, note = self.plain, self.ignore, self.keywords, spans.append, kinds.append
        for m in self.regex.finditer(text, pos):
            kind = m.lastgroup
            # names, operators, punctuation, numbers: nearly every token, with nothing to check
            # but whether a name spells a keyword
            if kind in plain or kind in keywords:
                start, end = m.span(kind)
                if kind in keywords:
                    kind = keywords[kind].get(text[start:end], kind)
                add(start)
                add(end)  # (two appends: cheaper than extending an array by a tuple)
                note(kind)
                continue
            if kind in ignore:
                continue
            span = m.span(kind)
            if kind == "_NL":
                if opened:
                    continue
                spans.extend(span)
                note(kind)
                yield len(kinds)
                continue
            if kind == "LPAR" or kind == "LSQB":
                opened.append(span[0])
            elif kind == "RPAR" or kind == "RSQB":
                if opened:
                    opened.pop()
            elif kind == "BRACED_NAME":
                word = BRACED.match(text, span[0]).group(1)  # the name before the braces
                if word in RESERVED:
                    yield len(kinds)
                    raise Reserved(span[0], span[1], word)
            elif kind == "_BAD":
                yield len(kinds)
                raise UnexpectedCharacters(text, span[0], *line_col(text, span[0]))
            spans.extend(span)
            note(kind)
        yield len(kinds)

    def reopen(self, kinds: list[str], spans: MutableSequence[int], start: int, at: int) -> None:
        """Set `opened` to the brackets open just past the at-th token, counting from the start-th,
        the first of its statement (none is open before it): `lines` scanned on to the end of
        that statement."""
        opened = self.opened
        opened.clear()
        for i in range(start, at + 1):
            kind = kinds[i]
            if kind == "LPAR" or kind == "LSQB":
                opened.append(spans[2 * i])
            elif (kind == "RPAR" or kind == "RSQB") and opened:
                opened.pop()

    @staticmethod
    def tokens(text: str, kinds: list[str], spans: MutableSequence[int]):
        """The tokens `lines` found, as lark Tokens with their lines and columns."""
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

    def leaves(self, text: str, kinds: list[str], spans: MutableSequence[int], dropped: frozenset[str]):
        """The tokens `lines` found as the tree's leaves: a Leaf for each token a rule keeps and
        None for a kind in `dropped`, which none keeps (a lark Token costs twice a Leaf to make,
        and a third of the tokens are "=" and newlines). A batch at a time by NumPy for a large
        text (graphc.stretches)."""
        if len(text) >= LARGE:
            return chain.from_iterable(self.stretches().leaves(text, kinds, spans, dropped))
        return self._leaves(text, kinds, spans, dropped)

    @staticmethod
    def _leaves(text: str, kinds: list[str], spans: MutableSequence[int], dropped: frozenset[str]):
        """`leaves` a token at a time."""
        new, count, rfind = tuple.__new__, text.count, text.rfind
        line, line_start, pos = 1, 0, 0
        offsets = iter(spans)
        for kind, start, end in zip(kinds, offsets, offsets):
            if kind in dropped:
                yield None
                continue
            breaks = count("\n", pos, start)  # the newlines of the dropped tokens since the last leaf too
            if breaks:
                line += breaks
                line_start = rfind("\n", pos, start) + 1
            # one string for each name however often it is written (W0 three times a block):
            # 30 MB less in a 200,000-line model, and the lookups of names find the same object
            value = intern(text[start:end])
            col = start - line_start + 1
            # (a leaf is on one line: newlines, the only tokens spanning lines, are never kept)
            yield new(Leaf, (kind, value, line, col, line, col + end - start))
            pos = end


class Leaf(NamedTuple):
    """A token as the tree's callbacks read it: the fields of a lark Token they use."""

    type: str
    value: str
    line: int
    column: int
    end_line: int
    end_column: int


def line_col(text: str, pos: int) -> tuple[int, int]:
    return text.count("\n", 0, pos) + 1, pos - text.rfind("\n", 0, pos)


def token_at(text: str, kind: str, start: int, end: int) -> Token:
    line, col = line_col(text, start)
    return Token(kind, text[start:end], start, line, col, line, col + end - start, end)


class Reserved(Exception):
    """A reserved word as the base of a braced name (`for{i}`), which lexes as one
    BRACED_NAME; found by the lexer, at offsets start..end."""

    def __init__(self, start: int, end: int, word: str):
        self.start, self.end, self.word = start, end, word
