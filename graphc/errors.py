"""Source spans, the one error type every stage raises (with one formatter), the error for a
file that is no model text at all, and the one for an option or output folder."""

from __future__ import annotations

import re
from dataclasses import dataclass, replace


@dataclass(slots=True, unsafe_hash=True)
class Span:
    """A region of a source file: 1-based line and column, end column exclusive.

    Never changed once made; not frozen for speed, as the syntax tree (graphc.syntax).
    """

    file: str
    line: int
    col: int
    end_line: int
    end_col: int

    def to(self, other: Span) -> Span:
        """The span from the start of self to the end of other."""
        return Span(self.file, self.line, self.col, other.end_line, other.end_col)

    @property
    def start(self) -> tuple[int, int]:
        """(line, col) of the first character, for ordering spans."""
        return self.line, self.col

    def where(self) -> str:
        return f"{self.file}:{self.line}:{self.col}"


class UserError(Exception):
    """A problem with the output folder or an option that no line of the model is to blame for."""


class ModelFileError(Exception):
    """A model file that cannot be read as a model: missing, a folder, too large, not UTF-8 text.

    Its message names the file (with line and column where one byte is to blame).
    """


@dataclass(frozen=True)
class Diagnostic:
    message: str
    span: Span | None = None
    note: str | None = None
    severity: str = "error"  # or "warning": the model compiles, but likely not as meant


class GraphcError(Exception):
    """One or more mistakes in the user's model; never a bug in graphc."""

    def __init__(self, diagnostics: list[Diagnostic] | Diagnostic | str, span: Span | None = None):
        if isinstance(diagnostics, str):
            diagnostics = [Diagnostic(diagnostics, span)]
        elif isinstance(diagnostics, Diagnostic):
            diagnostics = [diagnostics]
        self.diagnostics = list(diagnostics)
        self.sources: dict[str, str] = {}  # file -> text, for the source lines under str(e)
        super().__init__(self.diagnostics[0].message if self.diagnostics else "error")

    def __str__(self) -> str:
        """Every mistake as the command line reports it: `file:line:col: error: ...`, and the
        source line with a caret where the text is known (compile_source gives it)."""
        return self.format(self.sources) if self.diagnostics else "error"

    def format(self, sources: dict[str, str] | None = None) -> str:
        lines = {file: text.split("\n") for file, text in (sources or {}).items()}  # once, not per error
        return "\n".join(format_diagnostic(d, lines) for d in self.diagnostics)


def _display(line: str) -> str:
    """The source line as a terminal can show it: tabs kept, control bytes escaped."""
    return "".join(c if c == "\t" or c.isprintable() else "?" for c in line)


def _without_cr(line: str) -> str:
    """The line without the \\r of a \\r\\n end; another \\r before it is a space in the line."""
    return line[:-1] if line.endswith("\r") else line


MAX_SHOWN = 160  # a longer source line is shown as a window around the error


def _window(line: str, col: int) -> tuple[str, str, str, int]:
    """(prefix, piece, suffix, start): the part of a long line around 1-based col.

    Without it a caret past the shown part of a minified or generated line would
    point at nothing.
    """
    if len(line) <= MAX_SHOWN:
        return "", line, "", 0
    start = max(0, min(col - 1 - MAX_SHOWN // 2, len(line) - MAX_SHOWN))
    prefix = "..." if start > 0 else ""
    suffix = "..." if start + MAX_SHOWN < len(line) else ""
    return prefix, line[start : start + MAX_SHOWN], suffix, start


_LONG_QUOTE = re.compile(r"'([^'\s]{40})[^'\s]{21,}([^'\s]{10})'")  # a quoted name of over 70 characters


def _brief(text: str) -> str:
    """text with each quoted name of over 70 characters cut to its ends: 'abc...xyz'."""
    return _LONG_QUOTE.sub(r"'\1...\2'", text)


def format_diagnostic(d: Diagnostic, sources: dict[str, list[str]]) -> str:
    """`file:line:col: error: msg` (or `warning:`), then the source line and a caret under
    the span; `sources` holds each file's text split into lines. A name the message quotes
    is cut short past 70 characters, as the source line is past MAX_SHOWN."""
    d = replace(d, message=_brief(d.message), note=d.note and _brief(d.note))
    if d.span is None:
        out = f"{d.severity}: {d.message}"
        return out + (f"\n      = note: {d.note}" if d.note else "")
    s = d.span
    out = [f"{s.where()}: {d.severity}: {d.message}"]
    lines = sources.get(s.file)
    if lines is not None:
        if 1 <= s.line <= len(lines):
            line = _without_cr(lines[s.line - 1])
            prefix, piece, suffix, start = _window(line, s.col)
            piece = _display(piece)
            # columns within the piece, 1-based; an end-of-line error sits just past it
            col = min(max(1, s.col - start), len(piece) + 1)
            # a span over several lines: its first line's code, to the comment if one follows
            end = (s.end_col if s.end_line == s.line else len(without_comment(line)) + 1) - start
            width = max(1, min(end, len(piece) + 1) - col)
            gutter = f"{s.line:>5} | "
            pad = " " * len(prefix) + "".join(c if c == "\t" else " " for c in piece[: col - 1])
            out.append(gutter + prefix + piece + suffix)
            out.append(" " * (len(gutter) - 2) + "| " + pad + "^" * width)
            out += _later_lines(s, lines)
    if d.note:
        out.append(f"      = note: {d.note}")
    return "\n".join(out)


MAX_SPAN_LINES = 4  # a span over more lines shows its first ones, then "..."


def without_comment(line: str) -> str:
    """A source line without its comment (the language has no strings to hold a #)."""
    return line.split("#")[0].rstrip()


def _later_lines(s: Span, lines: list[str]) -> list[str]:
    """The lines after the first of a span over several (`(x` then `@ W)`), each with
    carets under its text: the whole operation, not its first operand alone."""
    out, shown = [], 1
    for number in range(s.line + 1, min(s.end_line, len(lines)) + 1):
        line = _display(_without_cr(lines[number - 1]))
        code = without_comment(line)  # carets under the code, not a comment after it
        if not code.strip():  # a blank or comment-only line inside the brackets
            continue
        if shown == MAX_SPAN_LINES:
            out.append("      | ...")
            break
        shown += 1
        if len(line) > MAX_SHOWN:
            line, code = line[:MAX_SHOWN] + "...", code[:MAX_SHOWN]
        first = len(code) - len(code.lstrip())
        end = min(s.end_col - 1, len(code)) if number == s.end_line else len(code)
        out.append(f"{number:>5} | {line}")
        if end > first:
            pad = "".join(c if c == "\t" else " " for c in line[:first])
            out.append("      | " + pad + "^" * (end - first))
    return out


MAX_SUGGESTED = 64  # longest name that gets a "did you mean"


def nearest(name: str, candidates) -> str | None:
    """The candidate closest to name by edit distance, if it is plausibly a typo.

    Ties go to the candidate that also matches the letter case (`bb` -> `b`, not
    `B`), and a candidate that shares no letter with a short name is no typo of
    it (`Q` is not a misspelled `B`).
    """
    best, best_key = None, None
    if len(name) > MAX_SUGGESTED:  # nobody types that; the distance costs its length squared
        return None
    most = max(1, len(name) // 3)  # edits a typo may have
    lower = name.lower()
    letters = set(lower)
    for c in set(candidates):
        if c == name or abs(len(c) - len(name)) > 3:  # _distance would refuse it, at a call's cost
            continue
        c_lower = c.lower()
        if abs(len(c_lower) - len(lower)) > most:  # as many edits at least: no typo, known without a call
            continue
        # each letter one name has and the other lacks takes an edit of its own: a bound as cheap,
        # which spares the distance for nearly every name of a large model (175,000 names: 0.8 s)
        if len(letters.difference(c_lower)) > most or len(set(c_lower).difference(letters)) > most:
            continue
        d = _distance(lower, c_lower, limit=min(3, most))
        if d is None or d > most or d >= max(len(name), len(c)):
            continue
        key = (d, _distance(name, c, limit=len(name) + len(c)), c)
        if best_key is None or key < best_key:
            best, best_key = c, key
    return best


def _distance(a: str, b: str, limit: int) -> int | None:
    """Edit distance counting a swap of two neighbours as one edit (`lsos` -> `loss`), or None past limit."""
    if abs(len(a) - len(b)) > limit:
        return None
    before: list[int] = []
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            d = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb))
            if i > 1 and j > 1 and ca == b[j - 2] and a[i - 2] == cb:
                d = min(d, before[j - 2] + 1)
            cur.append(d)
        if min(cur) > limit:  # rows never get smaller, so nothing later can come back under
            return None
        before, prev = prev, cur
    return prev[-1] if prev[-1] <= limit else None


def did_you_mean(name: str, candidates) -> str:
    n = nearest(name, candidates)
    return f"; did you mean '{n}'?" if n else ""
