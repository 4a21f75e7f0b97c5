"""Syntax errors in words: what was found, what would fit there, and the likely fix."""

from __future__ import annotations

import re

from lark import Token
from lark.exceptions import UnexpectedCharacters, UnexpectedInput, UnexpectedToken

from graphc.errors import Diagnostic, Span, nearest, without_comment
from graphc.lexer import RESERVED
from graphc.syntax_habits import habit
from graphc.syntax_hints import (
    NUMBER_BEFORE,
    SHORT,
    WORD,
    bad_number,
    call_end,
    character,
    closing,
    grouped,
    keyword_argument,
    library_statement,
    method_call,
    no_operator,
    spaced_braces,
    transpose,
    unused,
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


def _token_word(name: str, literals: dict[str, str]) -> str:
    """A terminal in words: TOKEN_WORDS, else its literal text from the grammar (`literals`)."""
    word = TOKEN_WORDS.get(name)
    if word is not None:
        return word
    if name in literals:
        return f"'{literals[name]}'"
    return f"'{name.lower()}'" if name.isupper() and name.isalpha() else name


def _expected(names, literals: dict[str, str]) -> str:
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
    if {"NAME", "NUMBER", "CONST"} <= names:  # after a param's '=', where const(c) is the one keyword
        words.append("an initializer, such as zeros or normal(0, 0.1)")
        names -= EXPRESSION_STARTS | {"CONST"}
    if {"NAME", "NUMBER"} <= names:
        words.append("an expression")
        names -= EXPRESSION_STARTS
    if "_NL" in names:  # to a reader the end of the file is one more end of line
        names.discard("$END")
    rank = {n: i for i, n in enumerate(EXPECTED_ORDER)}
    # end of line and end of file read best last
    for n in sorted(names, key=lambda n: (n in ("_NL", "$END"), rank.get(n, len(rank)), n)):
        w = _token_word(n, literals)
        if w not in words:
            words.append(w)
    if not words:
        return ""
    if len(words) > 6:
        words = words[:6] + ["..."]
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " or " + words[-1]


def diagnostic(
    e: UnexpectedInput, file: str, text: str, literals: dict[str, str], whole: str | None = None
) -> Diagnostic:
    """The message for lark's exception `e`; `literals` holds the text of each terminal spelled by one
    string, and `whole` the file's text where `text` has the lines before the error blanked (a
    restarted parse): a name a fix makes up must be new to all of it."""
    whole = text if whole is None else whole
    if isinstance(e, UnexpectedCharacters):
        op = no_operator(text, e.pos_in_stream)
        if op is not None:
            return Diagnostic(op[0], Span(file, e.line, e.column, e.line, e.column + op[1]))
        ch = text[e.pos_in_stream] if e.pos_in_stream < len(text) else ""
        said = transpose(text, e.pos_in_stream) if ch == "'" else None
        return Diagnostic(said or character(ch), Span(file, e.line, e.column, e.line, e.column + 1))
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
            bad = bad_number(text, tok.start_pos, file, tok.line, tok.column)
            if bad is not None:
                return bad
        if tok.type == "EQUAL":  # `a == b`: the first '=' may have been taken for an assignment's
            at = tok.start_pos - (text[tok.start_pos - 1 : tok.start_pos] == "=")
            op = no_operator(text, at) if text[at : at + 2] == "==" else None
            if op is not None:
                start = tok.column - (tok.start_pos - at)
                return Diagnostic(op[0], Span(file, tok.line, start, tok.line, start + op[1]))
        if tok.type in OPERATORS | {"COLON"} and text[tok.end_pos : tok.end_pos + 1] == "=":
            updated = _augmented(text, tok)  # `y += 1`, `z := x`
            if updated is not None:
                return Diagnostic(updated, Span(file, tok.line, tok.column, tok.line, tok.column + len(tok) + 1))
        accepts = set(e.expected or ())
        before = text[max(0, tok.start_pos - SHORT) : tok.start_pos].rstrip()
        if before.endswith("(") and not re.search(r"\w[ \t]*\($", before):
            accepts.discard("RPAR")  # `()` parses only to be refused as an empty axis: it is no fix to offer
        said = habit(text, tok, accepts, whole) if tok.type != "$END" else None
        if said is None and tok.type == "DOT" and accepts == {"EQUAL"}:  # `np.random.seed(0)` alone
            said = library_statement(text, tok, whole)
        if said is not None:  # a line as Python, NumPy or PyTorch writes it
            message, start, end = said
            line_start = tok.start_pos - tok.column + 1
            return Diagnostic(message, Span(file, tok.line, start - line_start + 1, tok.line, end - line_start + 1))
        if tok.type not in ("NAME", "BRACED_NAME") and str(tok) in RESERVED and accepts & {"NAME", "BRACED_NAME"}:
            keyword = keyword_argument(text, tok)
            if keyword is not None:
                return Diagnostic(keyword, span)
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
        if (
            tok.type == "LBRACE"
            and tok.start_pos > 0
            and (text[tok.start_pos - 1] in WORD or text[tok.start_pos - 1] == "}")
        ):
            braced = re.search(
                r"[A-Za-z_]\w*(?:\{[\w+\- \t]*\}\w*)+$", text[max(0, tok.start_pos - SHORT) : tok.start_pos]
            )
            if braced is not None:  # V{i}{j}: one braced index per name
                word = braced[0]
                close = text.find("}", tok.start_pos)
                end = (
                    close + 1
                    if 0 <= close < tok.start_pos + SHORT and "\n" not in text[tok.start_pos : close]
                    else tok.end_pos
                )
                whole_name = Span(file, tok.line, span.col - len(word), tok.line, span.col + end - tok.start_pos)
                written = text[tok.start_pos - len(word) : end]
                said = f"a name holds one braced index at most, as W{{i}} or W{{i+1}}_in does, and {written} has two"
                return Diagnostic(said, whole_name)
            spaced = spaced_braces(text, tok.start_pos)
            if spaced is not None:
                return Diagnostic(f"write {spaced}, without spaces inside the braces", span)
            literal = re.match(r"\{[ \t]*([0-9]+)[ \t]*\}(\w*)", text[tok.start_pos : tok.start_pos + SHORT])
            if literal is not None:  # h{1}: the name is h1, as written out
                word = re.search(r"\w+$", text[max(0, tok.start_pos - SHORT) : tok.start_pos])[0]
                name = word + literal[1] + literal[2]
                whole_name = Span(file, tok.line, span.col - len(word), tok.line, span.col + len(literal[0]))
                said = f"the braces in a name hold a loop variable or a const; a fixed number is part of the name: write {name}"
                return Diagnostic(said, whole_name)
            return Diagnostic(
                "unexpected '{': in a name like W{i} the braces hold a loop variable or an integer const, optionally with +N or -N",
                span,
            )
        if tok.type == "LPAR":
            line_start = text.rfind("\n", 0, tok.start_pos) + 1
            factor = NUMBER_BEFORE.search(text, max(line_start, tok.start_pos - SHORT), tok.start_pos)
            if factor is not None:
                close = closing(text, tok.start_pos)  # None past SHORT too
                inner = text[tok.start_pos : close + 1] if close is not None else "\n"
                inner = inner if "\n" not in inner and "#" not in inner else "(...)"
                return Diagnostic(f"unexpected '(' after a number; write {factor[0].rstrip()}*{inner}", span)
            method = method_call(text, tok, whole)
            if method is not None:  # under `.sum(axis=1)` or `np.exp(x)`, or `np.exp` where the call goes on
                message, dot = method
                start = tok.column - (tok.start_pos - dot)
                end = tok.column + (call_end(text, tok.start_pos) - tok.start_pos)
                return Diagnostic(message, Span(file, tok.line, start, tok.line, end))
        line_text = without_comment(text[tok.start_pos - tok.column + 1 : tok.start_pos])
        if tok.type == "_NL" and line_text.endswith(","):
            # `output a, b,`: outside brackets a list of names takes no trailing comma
            words = line_text.split()
            if words[0] in ("output", "dim", "minimize"):
                col = len(line_text)
                after = "wrt" if "wrt" in words else words[0]
                return Diagnostic(
                    f"unexpected ',' at the end of the line: the names after {after} take no trailing comma",
                    Span(file, tok.line, col, tok.line, col + 1),
                )
        at = tok.start_pos
        if str(tok) == "/" and "//" in text[max(0, at - 1) : at + 2]:  # `// note`, as in C
            start = col - (at > 0 and text[at - 1] == "/")  # (after an operand the first '/' was taken)
            return Diagnostic(
                "unexpected '//': a comment starts with #, and there is no floor division in .nn",
                Span(file, tok.line, start, tok.line, start + 2),
            )
        exp = _expected(accepts, literals)
        msg = f"unexpected {_describe(tok)}" + (f"; expected {exp}" if exp else "")
        if tok.type == "_NL" and "LBRACE" in accepts:
            msg += " on the same line"
        if tok.type in ("NAME", "BRACED_NAME") and accepts == {"EQUAL"}:
            # `minimise loss`: a line that starts with one name then another is a misspelled keyword
            first = text[tok.start_pos - tok.column + 1 : tok.start_pos].split()
            keyword = nearest(first[0], STATEMENT_WORDS) if len(first) == 1 else None
            if first[:1] in (["maximize"], ["maximise"]):  # the other way round: one objective, minimized
                start = text.index(first[0], tok.start_pos - tok.column + 1) - (tok.start_pos - tok.column)
                return Diagnostic(
                    f"there is no {first[0]} in .nn: {_negated(text, tok, whole)}",
                    Span(file, tok.line, start, tok.line, start + len(first[0])),
                )
            elif keyword is not None:
                msg += f" (is '{first[0]}' a misspelled '{keyword}'?)"
        if tok.type in OPERATORS | {"LPAR", "LSQB", "DOT"}:
            # `minimize sum(w)`, `output h + 1`: these take names, not expressions
            before = text[tok.start_pos - tok.column + 1 : tok.start_pos].split()
            first = before[:1] if "wrt" not in before else []  # (a wrong name after wrt has its own message)
            said = _not_a_name(text, tok, first[0], file, whole) if first in (["minimize"], ["output"]) else None
            if said is not None:
                return said
            if first == ["minimize"]:
                msg += "; minimize takes a name: compute the objective on a line of its own, such as "
                msg += "'loss = ...', then write 'minimize loss'"
            elif first == ["output"]:
                msg += "; output takes names: compute the value on a line of its own, such as "
                msg += "'y = ...', then write 'output y'"
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


_TARGET = re.compile(r"[ \t]*([A-Za-z_]\w*(?:\{[A-Za-z_]\w*(?:[+-]\d+)?\}\w*)?)[ \t]*")


def _augmented(text: str, tok: Token) -> str | None:
    """`y += 1` and `z := x`, Python's updates and walrus, in words with the assignment to write;
    else None (where the operator and its '=' do not follow a name alone on its line)."""
    line_start = tok.start_pos - tok.column + 1
    target = _TARGET.fullmatch(text, line_start, tok.start_pos)
    if target is None:
        return None
    name, op = target[1], f"{tok}="
    end = text.find("\n", tok.end_pos)
    rest = without_comment(text[tok.end_pos + 1 : end if end >= 0 else len(text)]).strip()
    if tok.type != "COLON":
        rest = grouped(rest)
    fix = f"{name} = {rest}" if tok.type == "COLON" else f"{name} = {name} {tok} {rest}"
    if not rest or len(fix) > SHORT:
        fix = f"{name} = ..." if tok.type == "COLON" else f"{name} = {name} {tok} ..."
    return f"there is no '{op}' operator in .nn: write {fix}"


def _not_a_name(text: str, tok: Token, keyword: str, file: str, whole: str) -> Diagnostic | None:
    """`minimize sum(w)`, `output h + 1`: an expression where a name belongs, with the lines
    to write in its place, under the whole expression; None where it is no whole expression
    (`minimize v0 +`) or too long to quote."""
    line_start = tok.start_pos - tok.column + 1
    end = text.find("\n", tok.start_pos)
    line = without_comment(text[line_start : end if end >= 0 else len(text)])
    m = re.match(rf"([ \t]*{keyword}[ \t]+)(.*?)([ \t]+wrt\b.*)?$", line)
    expr = m[2].rstrip() if m else ""
    wrt = " ".join(m[3].split()) if m and m[3] else ""
    lead, others = len(m[1]) if m else 0, []
    if keyword == "output" and m:  # `output h, h.T`: the item that holds the token, beside the others
        at = tok.start_pos - line_start - lead
        items, depth, last = [], 0, 0
        for i, c in enumerate(expr + ","):
            depth += (c in "([") - (c in ")]")
            if c == "," and depth == 0:
                items.append((last, i))
                last = i + 1
        a, b = next(((a, b) for a, b in items if a <= at <= b), (0, len(expr)))
        others = [expr[x:y].strip() if (x, y) != (a, b) else None for x, y in items]
        skip = len(expr[a:b]) - len(expr[a:b].lstrip())
        lead, expr = lead + a + skip, expr[a:b].strip()
    name = unused("loss" if keyword == "minimize" else "y", whole)
    what = "a name" if keyword == "minimize" else "names"
    depth = expr.count("(") + expr.count("[") - expr.count(")") - expr.count("]")
    if not expr or len(expr) > SHORT or depth or expr[-1] in "+-*/@^,.([":  # (no whole expression to quote)
        return None
    start = lead + 1
    names = ", ".join(name if o is None else o for o in others) if others else name
    said = f"{keyword} takes {what}: write '{name} = {expr}' on a line of its own, then '{keyword} {names}{' ' + wrt if wrt else ''}'"
    return Diagnostic(said, Span(file, tok.line, start, tok.line, start + len(expr)))


def _negated(text: str, tok: Token, whole: str) -> str:
    """`maximize acc wrt x`, whose objective starts at `tok`, as the lines graphc takes."""
    end = text.find("\n", tok.start_pos)
    line = without_comment(text[tok.start_pos : end if end >= 0 else len(text)])
    objective, *wrt = re.split(r"\bwrt\b", line, maxsplit=1)
    objective = " ".join(objective.split())
    names = " ".join(wrt[0].split()).rstrip(",").rstrip() if wrt else ""  # no trailing comma, no empty wrt
    wrt = f" wrt {names}" if names else ""
    wrt = wrt if len(wrt) <= SHORT else " wrt ..."
    neg = unused("neg", whole)
    if len(objective) > SHORT:
        return f"compute the objective on a line of its own, then write {neg} = -objective and minimize {neg}{wrt}"
    return f"write {neg} = -{grouped(objective)} and minimize {neg}{wrt}"


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


def never_closed(text: str, at: int) -> bool:
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
