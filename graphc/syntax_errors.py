"""Syntax errors in words: what was found, what would fit there, and the likely fix."""

from __future__ import annotations

import re
import unicodedata

from lark import Token
from lark.exceptions import UnexpectedCharacters, UnexpectedInput, UnexpectedToken

from graphc.errors import Diagnostic, Span, nearest
from graphc.lexer import BRACED, RESERVED
from graphc.ops import BUILTINS, Builtin

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
    "\\": "; lines continue only inside ( ) and [ ]",
}

# characters that look like ASCII ones, as a word processor or a paper types them
LOOK_ALIKES = {
    "\u2212": "-",  # minus sign
    "\u2013": "-",  # en dash
    "\u2014": "-",  # em dash
    "\u00b7": "*",  # middle dot
    "\u22c5": "*",  # dot operator
    "\u2217": "*",  # asterisk operator
    "\u2215": "/",  # division slash
    "\u2018": "'",
    "\u2019": "'",
    "\u201c": '"',
    "\u201d": '"',
    "\u00a0": " ",  # non-breaking space
    "\u2009": " ",  # thin space
    "\u3000": " ",  # ideographic space
    "\uff08": "(",
    "\uff09": ")",
    "\uff0c": ",",
    "\uff1d": "=",
}
# signs from school arithmetic, with the operator that does their job
SIGNS = {"\u00d7": "*", "\u00f7": "/", "\u00b2": "^2", "\u00b3": "^3"}


def _character(ch: str) -> str:
    """What is wrong with an unexpected character, in words."""
    shown = repr(ch)[1:-1] if not ch.isprintable() else ch
    quoted = f'"{shown}"' if ch == "'" else f"'{shown}'"
    code = f"{quoted} (U+{ord(ch):04X})"
    if ch in LOOK_ALIKES:
        same = LOOK_ALIKES[ch]
        hint = "; the language has no strings" if same in "'\"" else "; type the ASCII character"
        return f"{code} looks like {'a space' if same == ' ' else repr(same)}{hint}"
    if ch in SIGNS:
        return f"{code} is written {SIGNS[ch]!r} here"
    same = unicodedata.normalize("NFKC", ch).replace("\u2044", "/")  # fraction slash: ½ is 1⁄2
    if same != ch and same.isascii():  # fullwidth ＊, ½, an em space
        if same.isdigit() and unicodedata.name(ch, "").startswith("SUPERSCRIPT"):
            return f"{code} is written '^{same}' here"
        if not same.strip():
            return f"{code} looks like a space; type the ASCII character"
        if len(same) > 1:
            return f"{code} is written {same!r} here"
        return f"{code} looks like {same!r}; type the ASCII character"
    if ch.isalpha() and not ch.isascii():
        return f"unexpected character {quoted}: names use ASCII letters, digits and _"
    if unicodedata.category(ch) == "Cf":  # zero-width space, byte order mark
        return f"invisible character {code}; delete it"
    return f"unexpected character {quoted}{CHARACTER_HINTS.get(ch, '')}"


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


SHORT = 60  # the most source text a hint quotes: a longer receiver, argument list or number gets the general form
_WORD = frozenset("0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_.")
NUMBERS = "numbers are written like 3, 0.5, 1e-3 or 2.5E+4"
_NUMBER = re.compile(r"[0-9]+(\.[0-9]+)?([eE][+-]?[0-9]+)?")
_PRODUCT = re.compile(r"([0-9]+(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?)((?![eE])[A-Za-z_][\w{}+-]*)")
_BASED = re.compile(r"0[xXbBoO]\w*")
_DECIMAL = re.compile(r"0(?:[xX][0-9a-fA-F]+|[bB][01]+|[oO][0-7]+)")
_SUFFIX = re.compile(r"([0-9]+(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?)([fFjJlL])")
# `2(x + 1)`: a number just before the '(' (not the end of a name such as W1)
_NUMBER_BEFORE = re.compile(r"(?<![\w.])[0-9]+(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?[ \t]*$")


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
    braced = BRACED.match(text, a + len(_NUMBER.match(word).group()))  # `2W{i}`: the name runs on past `{`
    if braced is not None and braced.end() > b:
        word = text[a : braced.end()]
    return Diagnostic(
        f"malformed number '{word}'; {_number_fix(word)}" if len(word) <= SHORT else f"malformed number; {NUMBERS}",
        Span(file, line, start, line, start + len(word)),
    )


def _number_fix(word: str) -> str:
    """What to write for the malformed number `word`, as other languages spell numbers (`1_000`, `0x10`, `1j`)."""
    if _NUMBER.fullmatch(word.replace("_", "")):
        return f"numbers have no underscores: write {word.replace('_', '')}"
    if _BASED.fullmatch(word):
        return f"numbers are decimal here: write {int(word, 0)}" if _DECIMAL.fullmatch(word) else NUMBERS
    suffix = _SUFFIX.fullmatch(word)
    if suffix and suffix[2] in "jJ":
        return "graphc has no complex numbers"
    if suffix:
        return f"numbers take no suffix such as {suffix[2]}: write {suffix[1]}"
    product = _PRODUCT.fullmatch(word)  # `2x`: a number times a name
    return f"write {product[1]}*{product[2]}" if product else NUMBERS


_KWARG = re.compile(r"[ \t]*=(?!=)[ \t]*")
_VALUE = re.compile(r"-?[ \t]*\w+[ \t]*(?=[,)])")


def _keyword_argument(text: str, tok: Token) -> str | None:
    """`sum(x, dim=-1)`: a reserved word as a keyword argument, in words; else None."""
    m = _KWARG.match(text, tok.end_pos)
    if m is None or text[max(0, tok.start_pos - SHORT) : tok.start_pos].rstrip()[-1:] not in ("(", ","):
        return None
    call = _enclosing_call(text, tok.start_pos)
    if str(tok) == "dim" and call in BUILTINS and "axis" in dict(BUILTINS[call].keywords):
        close = _closing(text, m.end()) if text[m.end() : m.end() + 1] in ("(", "[") else None
        value = _VALUE.match(text, m.end())
        if close is not None:  # `dim=(0, 1)`, as written
            value = " ".join(text[m.end() : close + 1].split())
        else:
            value = "".join(value.group().split()) if value else "..."
        return f"'dim' is not a keyword of graphc's builtins; the axis is given as axis={value}"
    return f"'{tok}' is a reserved word and cannot be a keyword argument"


def _enclosing_call(text: str, at: int) -> str | None:
    """The name of the call whose parentheses hold offset `at` (looking back a bounded way), or None."""
    depth = 0
    for i in range(at - 1, max(-1, at - 20 * SHORT), -1):
        depth += (text[i] in ")]") - (text[i] in "([")
        if depth < 0:
            name = _NAME_BEFORE.search(text, max(0, i - SHORT), i) if text[i] == "(" else None
            return name.group() if name else None
    return None


_METHOD = re.compile(r"\.[ \t]*([A-Za-z_]\w*)[ \t]*$")
_NAME_BEFORE = re.compile(r"[A-Za-z_]\w*$")
_OPERAND = re.compile(r"(?:[A-Za-z_]\w*\{\w+(?:[+-]\d+)?\}\w*|\w+)$")


def _method_call(text: str, tok: Token) -> tuple[str, int] | None:
    """`x.sum(axis=1)`, `x.T()`: a '(' after `.NAME`, in words with the fix, and the
    offset of the dot; else None."""
    line_start = text.rfind("\n", 0, tok.start_pos) + 1
    m = _METHOD.search(text, max(line_start, tok.start_pos - SHORT), tok.start_pos)
    if m is None:
        return None
    method, receiver = m.group(1), _receiver(text, line_start, m.start())
    if method == "T":
        return f".T is not called: write {receiver or 'value'}.T", m.start()
    close = _closing(text, tok.start_pos)
    args = text[tok.start_pos + 1 : close].strip() if close is not None else "#"
    args = None if "#" in args else _split(re.sub(r"\s*\n\s*", " ", args))  # over several lines, on one
    if method in ("dot", "matmul"):
        if receiver is None or args is None or len(args) != 1 or _KEYWORD.match(args[0]):
            return "graphc has no methods: a matrix product is written a @ b", m.start()
        product = f"{receiver} @ {args[0] if len(_split(args[0], ' +-*/@^')) == 1 else f'({args[0]})'}"
        # `y / x.dot(W)` and `x.dot(W)^2` need the product in parentheses, as @ binds looser than / and ^
        before = text[max(line_start, m.start() - SHORT - 2) : m.start()].rstrip(" \t")
        before = before[: len(before) - len(receiver)].rstrip(" \t")[-1:]
        after = text[close + 1 : close + 3].lstrip(" \t")
        if before in ("*", "/", "@", "^") or after[:1] in ("^", ".") or after[:2] == "**":
            product = f"({product})"
        return f"graphc has no methods: write {product}", m.start()
    builtin = BUILTINS.get(method)
    if builtin is None:
        return f"graphc has no methods, and '{method}' is not one of its builtins", m.start()
    call = _builtin_call(method, builtin, receiver, args) if receiver is not None and args is not None else None
    if call is None:
        call = f"{method}({receiver or 'value'}, ...)"
    return f"graphc has no methods: write {call}", m.start()


_KEYWORD = re.compile(r"[A-Za-z_]\w*[ \t]*=(?!=)")


def _split(text: str, at: str = ",") -> list[str]:
    """`text` cut at the characters `at` outside brackets, each part stripped, empty ones dropped."""
    parts, depth, last = [], 0, 0
    for i, c in enumerate(text):
        depth += (c in "([{") - (c in ")]}")
        if depth == 0 and c in at:
            parts.append(text[last:i])
            last = i + 1
    parts.append(text[last:])
    return [p.strip() for p in parts if p.strip()]


def _builtin_call(name: str, builtin: Builtin, receiver: str, args: list[str]) -> str | None:
    """`x.mean(1)` as the builtin call graphc accepts, `mean(x, axis=1)`, or None where it has none."""
    if receiver.startswith("(") and _closing(receiver, 0) == len(receiver) - 1 and len(_split(receiver[1:-1])) == 1:
        receiver = receiver[1:-1]  # `(a + b).sum()` -> sum(a + b)
    positional = [a for a in args if not _KEYWORD.match(a)]
    keywords = [a for a in args if _KEYWORD.match(a)]
    if name == "reshape" and positional and not keywords:  # x.reshape(3, 4) -> reshape(x, [3, 4])
        shape = positional[0] if len(positional) == 1 else ""
        if shape.startswith("(") and shape.endswith(")"):
            shape = "[" + shape[1:-1].rstrip(" ,") + "]"
        args = [shape if shape.startswith("[") else f"[{', '.join(positional)}]"]
        positional = args
    names = [k for k, _ in builtin.keywords]
    if "axis" in names and len(builtin.args) == 1 and len(positional) == 1 and args[0] == positional[0]:
        args = [f"axis={positional[0]}", *args[1:]]  # x.mean(1) -> mean(x, axis=1)
        positional = []
    given = [_KEYWORD.match(k).group().rstrip(" \t=") for k in keywords]
    if len(positional) != len(builtin.args) - 1 or any(k not in names for k in given):
        return None
    return f"{name}({', '.join([receiver, *args])})"


def _receiver(text: str, line_start: int, end: int) -> str | None:
    """The source text of the operand that ends at offset `end` (`x`, `relu(x)`, `(a + b).T`), or None,
    also when it is longer than SHORT: the scan looks no further back, so a long line costs no more."""
    start = max(line_start, end - SHORT - 1)
    w = text[start:end]
    i = len(w)
    while True:
        while i > 0 and w[i - 1] in " \t":
            i -= 1
        if w[i - 1 : i] in (")", "]"):
            i = _opening(w, 0, i - 1)
            if i is None:
                return None
            m = _NAME_BEFORE.search(w, 0, i) if w[i] == "(" else None  # a call's name
            i = m.start() if m else i
        else:
            m = _OPERAND.search(w, 0, i)
            if m is None:
                return None
            i = m.start()
        j = i
        while j > 0 and w[j - 1] in " \t":
            j -= 1
        if w[j - 1 : j] != ".":
            return w[i:].strip() if i > 0 or start == line_start else None
        i = j - 1  # `a.T.sum()`: the receiver is a.T


def _closing(text: str, at: int, limit: int = SHORT) -> int | None:
    """The offset of the bracket that closes the one at `at`, or None, also when that is over `limit` on."""
    depth = 0
    for i in range(at, min(len(text), at + limit + 2)):
        depth += (text[i] in "([") - (text[i] in ")]")
        if depth == 0:
            return i
    return None


def _opening(text: str, start: int, at: int) -> int | None:
    """The offset of the bracket, at or after `start`, that the one at `at` closes, or None."""
    depth = 0
    for i in range(at, start - 1, -1):
        depth += (text[i] in ")]") - (text[i] in "([")
        if depth == 0:
            return i
    return None


_BRACES = re.compile(r"\{([^}\n]*)\}(\w*)")
_INDEX = re.compile(r"[A-Za-z_]\w*([+-]\d+)?")
_BASE = re.compile(r"[A-Za-z_]\w*$")


def _spaced_braces(text: str, at: int) -> str | None:
    """`W{i + 1}`: the braced name at the '{' at offset `at` written without its spaces, if
    that makes it one; else None."""
    m = _BRACES.match(text, at)
    inner = "".join(m.group(1).split()) if m else ""
    if not _INDEX.fullmatch(inner):
        return None
    line_start = text.rfind("\n", 0, at) + 1
    base = _BASE.search(text, max(line_start, at - SHORT), at)
    if base is None or base.start() == at - SHORT > line_start:  # none, or longer than a hint quotes
        return None
    return f"{base.group()}{{{inner}}}{m.group(2)}"


def diagnostic(e: UnexpectedInput, file: str, text: str, literals: dict[str, str]) -> Diagnostic:
    """The message for lark's exception `e`; `literals` holds the text of each terminal spelled by one string."""
    if isinstance(e, UnexpectedCharacters):
        ch = text[e.pos_in_stream] if e.pos_in_stream < len(text) else ""
        return Diagnostic(_character(ch), Span(file, e.line, e.column, e.line, e.column + 1))
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
            keyword = _keyword_argument(text, tok)
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
        if tok.type == "LBRACE" and tok.start_pos > 0 and text[tok.start_pos - 1] in _WORD:
            spaced = _spaced_braces(text, tok.start_pos)
            if spaced is not None:
                return Diagnostic(f"write {spaced}, without spaces inside the braces", span)
            return Diagnostic(
                "unexpected '{': in a name like W{i} the braces hold a loop variable, optionally with +N or -N",
                span,
            )
        if tok.type == "LPAR":
            line_start = text.rfind("\n", 0, tok.start_pos) + 1
            factor = _NUMBER_BEFORE.search(text, max(line_start, tok.start_pos - SHORT), tok.start_pos)
            if factor is not None:
                close = _closing(text, tok.start_pos)  # None past SHORT too
                inner = text[tok.start_pos : close + 1] if close is not None else "\n"
                inner = inner if "\n" not in inner and "#" not in inner else "(...)"
                return Diagnostic(f"unexpected '(' after a number; write {factor[0].rstrip()}*{inner}", span)
            method = _method_call(text, tok)
            if method is not None:  # under `.sum(`
                message, dot = method
                start = tok.column - (tok.start_pos - dot)
                return Diagnostic(message, Span(file, tok.line, start, tok.line, tok.column + 1))
        line_text = text[tok.start_pos - tok.column + 1 : tok.start_pos].split("#")[0].rstrip(" \t\r")
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
        exp = _expected(accepts, literals)
        msg = f"unexpected {_describe(tok)}" + (f"; expected {exp}" if exp else "")
        if tok.type == "_NL" and "LBRACE" in accepts:
            msg += " on the same line"
        if tok.type in ("NAME", "BRACED_NAME") and accepts == {"EQUAL"}:
            # `minimise loss`: a line that starts with one name then another is a misspelled keyword
            first = text[tok.start_pos - tok.column + 1 : tok.start_pos].split()
            keyword = nearest(first[0], STATEMENT_WORDS) if len(first) == 1 else None
            if first[:1] in (["maximize"], ["maximise"]):  # the other way round: one objective, minimized
                msg += f" (graphc only minimizes: {_negated(text, tok)})"
            elif keyword is not None:
                msg += f" (is '{first[0]}' a misspelled '{keyword}'?)"
        if tok.type in OPERATORS | {"LPAR", "LSQB", "DOT"}:
            # `minimize sum(w)`, `output h + 1`: these take names, not expressions
            before = text[tok.start_pos - tok.column + 1 : tok.start_pos].split()
            first = before[:1] if "wrt" not in before else []  # (a wrong name after wrt has its own message)
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


def _negated(text: str, tok: Token) -> str:
    """`maximize acc wrt x`, whose objective starts at `tok`, as the lines graphc takes."""
    end = text.find("\n", tok.start_pos)
    line = text[tok.start_pos : end if end >= 0 else len(text)].split("#")[0]
    objective, *wrt = re.split(r"\bwrt\b", line, maxsplit=1)
    objective = " ".join(objective.split())
    wrt = f" wrt {' '.join(wrt[0].split())}" if wrt else ""
    wrt = wrt if len(wrt) <= SHORT else " wrt ..."
    if len(objective) > SHORT:
        return f"compute the objective on a line of its own, then write neg = -objective and minimize neg{wrt}"
    if len(_split(objective, " +-*/@^")) > 1:
        objective = f"({objective})"
    return f"write neg = -{objective} and minimize neg{wrt}"


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
