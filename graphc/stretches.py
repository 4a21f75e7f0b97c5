"""The lexer's reading of a large text by NumPy, a stretch of whole statements at a time.

Lexer.lines and Lexer.leaves take a Python step for each token: 1.6 s and 1 s on a
200,000-line model of 2.5 million tokens. For a text that long they hand it here: one
findall cuts a stretch of text into tokens, and NumPy finds their kinds, the newlines
inside brackets and where statements end; the leaves are made a batch at a time. Both
readings give the same kinds, offsets and leaves (tests/test_lexer.py). A small text is
read a token at a time, so that a syntax check loads no NumPy.
"""

from __future__ import annotations

import re
from array import array
from collections.abc import MutableSequence
from itertools import repeat
from string import ascii_letters
from sys import intern

import numpy as np

from graphc.lexer import BRACED, RESERVED, Leaf

_STRETCH, _LONGEST = 1 << 14, 1 << 17  # the characters `lines` reads at once: first, and at most
_BATCH = 1 << 15  # the tokens `leaves` makes at once


class Stretches:
    """A lexer's reading of a large text, a stretch of statements at a time."""

    def __init__(self, lexer, kept: list, blanks: list[str], flags: int):
        """The tables token kinds are read by, as small numbers (codes), for `lexer`'s grammar
        (its terminals `kept`, in its order, and the `blanks` a match takes along).

        `_stretch`'s rule for a token's kind, and its regular expression (`cuts`), are taken
        from the lexer's: each character's kind and the spellings with a kind of their own are
        found by matching `lexer.regex`. Where the grammar would break the rule (a blank that
        is not a run of single characters, a spelling of its own longer than 8, a character
        past ASCII that starts a token) `cuts` is None, and the lexer reads a token at a time."""
        self.lexer = lexer
        names = sorted({*(t.name for t in kept), "_BAD", *(k for w in lexer.keywords.values() for k in w.values())})
        self.code = {name: i for i, name in enumerate(names)}
        self.kinds = np.array([intern(name) for name in names], object)
        # the one spelling of each kind that has one, for its leaves: {"LPAR": "(", ...}
        self.spelling = np.array([intern(lexer.literals[n]) if n in lexer.literals else None for n in names], object)
        self.cuts = None
        # `cuts` only cuts the text: the kinds are found apart, so alternatives that cut alike
        # are one (findall then takes a quarter less time)
        parts = {t.name: _ungrouped(t.pattern.to_regexp()) for t in kept}
        order = [t.name for t in kept]
        # a braced name is a name and then braces: the name read once, not twice
        name, braced = parts.get("NAME", ""), parts.get("BRACED_NAME", "")
        if name and braced.startswith(name + "\\{") and order.index("BRACED_NAME") < order.index("NAME"):
            between = order[order.index("BRACED_NAME") + 1 : order.index("NAME")]
            if not any(re.match(parts[n], c) for n in between for c in ascii_letters + "_"):
                parts["BRACED_NAME"] = f"{name}(?:{braced[len(name) :]})?"
                order.remove("NAME")
        # the last alternatives, of one character each: the catch-all [\s\S] cuts those alike
        while order and len(lexer.literals.get(order[-1], "..")) == 1:
            order.pop()
        blank_re = "|".join(blanks)
        lead = f"(?:{blank_re})?"
        if len(blanks) == 1 and re.fullmatch(r"\[[^\]]*\]\+", blanks[0]):
            # C* for (?:C+)?, the same; and blanks alone (only ever at the end) are cut by the catch-all
            lead = blanks[0][:-1] + "*"
            order = [n for n in order if parts[n] != blanks[0]]
        cuts = re.compile(f"{lead}(?:{'|'.join(parts[n] for n in order)}|[\\s\\S])", flags)

        def kind(word: str) -> str | None:  # the kind of `word` read alone; None if it is not one token
            m = lexer.regex.match(word)
            if m.end() != len(word):
                return None
            return lexer.keywords.get(m.lastgroup, {}).get(word, m.lastgroup)

        blank = [chr(c) for c in range(128) if blanks and re.fullmatch(blank_re, chr(c))]
        if cuts.groups or any(kind(a + b) not in lexer.ignore for a in blank for b in ["", *blank]):
            return
        if {kind(c) for c in "\x7f\x80\xa0\u2028\U0001f600"} != {"_BAD"}:  # (_chars reads past ASCII as DEL)
            return
        if kind("a{b}") != "BRACED_NAME" or any(re.match(name, w).end() != len(w) - 1 for w in ("a{", "a0{", "_{")):
            return
        first = np.array([self.code[kind(chr(c))] for c in range(128)], np.uint8)
        special = {w: k for words in lexer.keywords.values() for w, k in words.items()}
        special |= {w: kind(w) for w in lexer.literals.values()}
        starters = [a for a in map(chr, range(128)) if not a.isalnum() and a not in blank]
        special |= {a + chr(b): kind(a + chr(b)) for a in starters for b in range(128)}
        special = {w: k for w, k in special.items() if k is not None and len(w) > 1 and w.isascii()}
        special = {w: k for w, k in special.items() if self.code[k] != first[ord(w[0])]}
        if not special or any(len(w) > 8 for w in special):
            return
        lengths = np.array([len(w) for w in special])
        keys = _words(_chars("".join(special)), np.cumsum(lengths) - lengths, lengths)
        order = np.argsort(keys)  # (for searchsorted)
        self.special = keys[order], np.array([self.code[k] for k in special.values()], np.uint8)[order]
        self.alone = self.code[kind(blank[0])] if blank else 0  # the kind of blanks matched alone
        self.first, self.blank = first, np.array([chr(c) in blank for c in range(128)])
        self.delta = np.array([(n in ("LPAR", "LSQB")) - (n in ("RPAR", "RSQB")) for n in names], np.int8)
        self.ignored = np.array([n in lexer.ignore for n in names])
        self.cuts = cuts

    def lines(self, text: str, kinds: list[str], spans: MutableSequence[int]):
        """Lexer.lines a stretch at a time, as a list of the counts of each: short stretches
        first (an error in the first lines is found without reading the rest, and parse reads
        the text again after each error), and from the first stretch `_stretch` cannot read
        on, the lexer's reading a token at a time."""
        pos, size, end = 0, _STRETCH, len(text)
        flat = isinstance(spans, array) and spans.typecode == "q"
        while pos < end:
            found = self._stretch(text, pos, min(end, pos + size))
            size *= 2
            if found is None:
                yield self.lexer._exact(text, kinds, spans, pos)
                return
            if found is False:  # no statement ends in it: a longer one
                continue
            codes, offsets, stops, pos = found
            size = min(size, _LONGEST)
            stops += len(kinds)
            kinds += self.kinds[codes].tolist()
            if flat:
                spans.frombytes(offsets.tobytes())
            else:
                spans.extend(offsets.tolist())
            yield stops.tolist()
        yield (len(kinds),)

    def _stretch(self, text: str, pos: int, cut: int):
        """The tokens of text[pos:cut] up to the end of the last statement that ends in it, or
        all of them where `cut` is the end of the text: the codes of their kinds, their start
        and end offsets side by side, the number of them up to each statement's end, and the
        offset past the last; blanks, comments and newlines inside brackets left out. False
        when no statement ends in it; None when it holds more than plain tokens.

        A token's kind is its first character's (`first`) but for the spellings of several
        characters that have one of their own (`special`: keywords, ** and ..), and a name
        with a '{' in it is a braced name."""
        chars = _chars(text[pos:cut])
        if not chars.all():  # a NUL, which would be taken for one of the marks below
            return None
        # where each piece ends: the pieces joined with a NUL after each, found there
        found = self.cuts.findall(text, pos, cut)
        ends = np.flatnonzero(_chars("\0".join(found)) == 0) - np.arange(len(found) - 1)
        ends = np.append(ends, len(chars))
        size = len(chars)
        # each match takes the blanks before its token along: the token starts at the next other character
        after = np.where(self.blank[chars], size, np.arange(size))
        after = np.minimum.accumulate(after[::-1])[::-1]
        starts = np.minimum(after[np.append(0, ends[:-1])], ends)
        lengths = ends - starts
        codes = self.first[chars[np.minimum(starts, size - 1)]]
        codes[lengths == 0] = self.alone  # blanks alone, at the end of the text
        several = np.flatnonzero((lengths > 1) & (lengths <= 8))
        codes[several] = self._spelled(chars, starts[several], lengths[several], codes[several])
        names = np.flatnonzero(codes == self.code["NAME"])
        braces = np.append(0, np.cumsum(chars == ord("{")))
        codes[names[braces[ends[names]] > braces[starts[names]]]] = self.code["BRACED_NAME"]
        depth = np.cumsum(self.delta[codes])
        newline = codes == self.code["_NL"]
        stops = np.flatnonzero(newline & (depth == 0))
        if cut < len(text):  # the last tokens may be cut short, a run of newlines too: whole statements only
            stops = stops[ends[stops] < size]
            if not len(stops):
                return False
            last = stops[-1] + 1
        else:
            last = len(codes)
            if depth[-1]:  # a bracket never closed: `opened` is to name it
                return None
        codes, depth, newline, starts, ends = codes[:last], depth[:last], newline[:last], starts[:last], ends[:last]
        if depth.min() < 0 or (codes == self.code["_BAD"]).any():
            return None
        for at in np.flatnonzero(codes == self.code["BRACED_NAME"]).tolist():
            if BRACED.match(text, pos + int(starts[at])).group(1) in RESERVED:
                return None
        keep = ~(self.ignored[codes] | (newline & (depth > 0)))
        offsets = np.empty(2 * int(keep.sum()), np.int64)
        offsets[0::2], offsets[1::2] = starts[keep] + pos, ends[keep] + pos
        return codes[keep], offsets, np.cumsum(keep)[stops], pos + int(ends[-1])

    def _spelled(self, chars: np.ndarray, starts: np.ndarray, lengths: np.ndarray, codes: np.ndarray) -> np.ndarray:
        """`codes`, with the code of each word chars[start:start + length] (2 to 8 characters)
        whose spelling has a kind of its own in its place."""
        words, kinds = self.special
        keys = _words(chars, starts, lengths)
        at = np.minimum(np.searchsorted(words, keys), len(words) - 1)
        hit = words[at] == keys
        return np.where(hit, kinds[at], codes)

    def leaves(self, text: str, kinds: list[str], spans: MutableSequence[int], dropped: frozenset[str]):
        """Lexer.leaves a batch of tokens at a time, as a list for each: their lines and
        columns found by NumPy, and the value of a kind with one spelling (an operator, a
        keyword) taken from `spelling`."""
        line, line_start, pos = 1, 0, 0  # the line at offset pos, and the offset it starts at
        kept = np.array([name not in dropped for name in self.kinds.tolist()])
        spelled = np.equal(self.spelling, None)  # the kinds spelled more than one way: names, numbers
        new = tuple.__new__
        for first in range(0, len(kinds), _BATCH):
            some = kinds[first : first + _BATCH]
            codes = np.fromiter(map(self.code.__getitem__, some), np.uint8, len(some))
            keep = kept[codes]
            offsets = np.asarray(spans[2 * first : 2 * (first + len(some))], np.int64)
            starts, ends, codes = offsets[0::2][keep], offsets[1::2][keep], codes[keep]
            a, b = int(offsets[0]), int(offsets[-1])
            breaks = text.count("\n", pos, a)
            if breaks:
                line += breaks
                line_start = text.rfind("\n", pos, a) + 1
            region = text[a:b]
            chars = _chars(region)
            newlines = np.flatnonzero(chars == ord("\n")) + a
            before = np.searchsorted(newlines, starts)  # the newlines of the batch before each token
            # one number for each line, as the tree keeps them: 50 MB less than one for each token
            rows = np.arange(line, line + len(newlines) + 1).astype(object)[before].tolist()
            columns = starts - np.append(line_start - 1, newlines)[before]  # (from the newline before)
            lengths = ends - starts
            values = self.spelling[codes]
            at = np.flatnonzero(spelled[codes])
            values[at] = _spellings(text, starts[at], ends[at], chars if region.isascii() else None, a)
            # (a leaf is on one line: newlines, the only tokens spanning lines, are never kept)
            fields = self.kinds[codes].tolist(), values.tolist(), rows, columns.tolist(), rows
            made = map(new, repeat(Leaf), zip(*fields, (columns + lengths).tolist()))
            out = np.full(len(some), None, object)
            out[keep] = np.fromiter(made, object, len(starts))
            yield out.tolist()
            if len(newlines):
                line += len(newlines)
                line_start = int(newlines[-1]) + 1
            pos = b


def _chars(text: str) -> np.ndarray:
    """The characters of `text` as bytes, one each, those past ASCII as DEL (none starts a token)."""
    if text.isascii():
        return np.frombuffer(text.encode("ascii"), np.uint8)
    codes = np.frombuffer(text.encode("utf-32-le", "surrogatepass"), np.uint32)
    return np.minimum(codes, 127).astype(np.uint8)


_MASKS = np.array([(1 << 8 * n) - 1 for n in range(9)], np.uint64)


def _words(chars: np.ndarray, starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Each word chars[start:start + length] of at most 8 characters as one number, its
    characters as bytes, the first lowest (the same number for "in" and "in\\0": no token of a
    stretch holds a NUL)."""
    padded = np.concatenate([chars, np.zeros(8, np.uint8)])
    eights = np.ndarray((len(chars),), "<u8", padded, 0, (1,))  # the 8 bytes from each offset
    return eights[starts] & _MASKS[lengths]


def _spellings(text: str, starts: np.ndarray, ends: np.ndarray, chars: np.ndarray | None, at: int) -> np.ndarray:
    """The words text[start:end], each spelling one string however often it is written (W0
    three times a block: 30 MB less in a 200,000-line model, and the lookups of names find the
    same object), made once: a word of up to 7 characters is told by its characters as one
    number (`chars`: the ASCII text from offset `at` on; None where it is not ASCII)."""
    lengths = ends - starts
    if chars is None:
        keys = np.arange(len(starts), dtype=np.uint64) | np.uint64(1 << 63)  # each its own
    else:
        short = np.minimum(lengths, 7)
        keys = _words(chars, starts - at, short) | short.astype(np.uint64) << np.uint64(56)
        long = np.flatnonzero(lengths > 7)  # each its own, as no short one is: the top bit set
        keys[long] = long.astype(np.uint64) | np.uint64(1 << 63)
    _, first, index = np.unique(keys, return_index=True, return_inverse=True)
    words = map(text.__getitem__, map(slice, starts[first].tolist(), ends[first].tolist()))
    return np.fromiter(map(intern, words), object, len(first))[index]


def _ungrouped(pattern: str) -> str:
    """`pattern` with each of its groups made one that captures nothing: findall then gives
    the whole matches."""
    out, i, in_class = [], 0, False
    while i < len(pattern):
        c = pattern[i]
        if c == "\\":
            out.append(pattern[i : i + 2])
            i += 2
            continue
        if in_class:
            in_class = c != "]"
        elif c == "[":
            in_class = True
            out.append(c)
            i += 1
            for lead in "^]":  # `[^]...]` and `[]...]`: that ] is one of the characters
                if pattern[i : i + 1] == lead:
                    out.append(lead)
                    i += 1
            continue
        elif c == "(" and pattern.startswith("?P<", i + 1):
            i = pattern.index(">", i) + 1
            out.append("(?:")
            continue
        elif c == "(" and not pattern.startswith("?", i + 1):
            out.append("(?:")
            i += 1
            continue
        out.append(c)
        i += 1
    return "".join(out)
