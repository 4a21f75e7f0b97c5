"""Source spans and the one error type every stage raises, with one formatter."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Span:
    """A region of a source file: 1-based line and column, end column exclusive."""

    file: str
    line: int
    col: int
    end_line: int
    end_col: int

    def to(self, other: Span) -> Span:
        """The span from the start of self to the end of other."""
        return Span(self.file, self.line, self.col, other.end_line, other.end_col)

    def where(self) -> str:
        return f"{self.file}:{self.line}:{self.col}"


@dataclass(frozen=True)
class Diagnostic:
    message: str
    span: Span | None = None
    note: str | None = None


class GraphcError(Exception):
    """One or more mistakes in the user's model; never a bug in graphc."""

    def __init__(self, diagnostics: list[Diagnostic] | Diagnostic | str, span: Span | None = None):
        if isinstance(diagnostics, str):
            diagnostics = [Diagnostic(diagnostics, span)]
        elif isinstance(diagnostics, Diagnostic):
            diagnostics = [diagnostics]
        self.diagnostics = list(diagnostics)
        super().__init__(self.diagnostics[0].message if self.diagnostics else "error")

    def format(self, sources: dict[str, str] | None = None) -> str:
        return "\n".join(format_diagnostic(d, sources or {}) for d in self.diagnostics)


def _display(line: str) -> str:
    """The source line as a terminal can show it: tabs kept, control bytes escaped."""
    return "".join(c if c == "\t" or c.isprintable() else "?" for c in line)


def format_diagnostic(d: Diagnostic, sources: dict[str, str]) -> str:
    """`file:line:col: error: msg`, then the source line and a caret under the span."""
    if d.span is None:
        out = f"error: {d.message}"
        return out + (f"\n  note: {d.note}" if d.note else "")
    s = d.span
    out = [f"{s.where()}: error: {d.message}"]
    text = sources.get(s.file)
    if text is not None:
        lines = text.split("\n")
        if 1 <= s.line <= len(lines):
            line = lines[s.line - 1].rstrip("\r")
            shown = _display(line[:300])
            end = s.end_col if s.end_line == s.line else len(line) + 1
            width = max(1, min(end, len(shown) + 1) - s.col)
            gutter = f"{s.line:>5} | "
            pad = "".join(c if c == "\t" else " " for c in shown[: s.col - 1])
            out.append(gutter + shown)
            out.append(" " * (len(gutter) - 2) + "| " + pad + "^" * width)
    if d.note:
        out.append(f"      = note: {d.note}")
    return "\n".join(out)


def nearest(name: str, candidates) -> str | None:
    """The candidate closest to name by edit distance, if it is plausibly a typo."""
    best, best_d = None, None
    for c in sorted(set(candidates)):
        d = _distance(name.lower(), c.lower(), limit=3)
        if d is not None and (best_d is None or d < best_d):
            best, best_d = c, d
    if best is None or best_d > max(1, len(name) // 3):
        return None
    return best


def _distance(a: str, b: str, limit: int) -> int | None:
    """Levenshtein distance, or None when it exceeds limit."""
    if abs(len(a) - len(b)) > limit:
        return None
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        if min(cur) > limit:
            return None
        prev = cur
    return prev[-1] if prev[-1] <= limit else None


def did_you_mean(name: str, candidates) -> str:
    n = nearest(name, candidates)
    return f"; did you mean '{n}'?" if n else ""
