"""Lines written as Python, NumPy or PyTorch would write them (`def f(x):`, `print(loss)`,
`x[0]`, `for i in range(3)`, `param W : float[3]`), with what .nn has instead.
syntax_errors.py asks here before it words a syntax error as the tokens found and expected."""

from __future__ import annotations

import re

from lark import Token

from graphc.errors import without_comment
from graphc.syntax_hints import FUNCTIONS, SHORT, SIZES, closed_on_line, closing, declared, split_arguments

_FIRST = re.compile(r"[ \t]*([A-Za-z_]\w*)")
_DEF = re.compile(r"def[ \t]+([A-Za-z_]\w*)[ \t]*\(([^()]*)\)")
_LAMBDA = re.compile(r"[ \t]*([A-Za-z_]\w*)[ \t]*=[ \t]*lambda\b([^:]*):(.+)")
_RANGE = re.compile(r"for[ \t]+\w+[ \t]+in[ \t]+(range[ \t]*\(([^()]*)\))")
_HEADER = re.compile(r"for[ \t]+([A-Za-z_]\w*)[ \t]+in[ \t]+([^{}:]+?)[ \t]*(?:[:{].*)?$")  # `for i in 1..3`
_NAME_ALONE = re.compile(r"[ \t]*[A-Za-z_]\w*[ \t]*")
_STEP = re.compile(r"[ \t]*[A-Za-z_]\w*[ \t]*\.[ \t]*(backward|step|zero_grad)[ \t]*\(")
_OPERAND_END = re.compile(r"[\w)\]][ \t]*$")
_NOT = re.compile(r"(?:^|[=(\[,+\-*/@^]|\breturn)[ \t]*(not)[ \t]+$")  # `not` where an operand starts
_INT = re.compile(r"-?[0-9]+")
_DECLARED_SHAPE = re.compile(r"[ \t]*(param|input)[ \t]+\w+[ \t]*:[ \t]*(?:int)?[ \t]*((?:\[[^\[\]=]*\][ \t]*)+)")
_INIT_BEFORE = re.compile(r"=[ \t]*(zeros|ones|glorot|he|const|normal|uniform)[ \t]*$")  # `param W : [3] = zeros`

BRANCHES = "maximum, minimum and relu choose between values"
STATEMENTS = {
    **dict.fromkeys(["if", "elif", "else"], f"a model runs the same lines each time; {BRANCHES}"),
    "while": "a loop is written for i in 1..N { ... }, its bounds constant",
    "import": "the builtins need none: write exp(x), not np.exp(x)",
    "from": "the builtins need none: write exp(x), not np.exp(x)",
    "class": "the file is the model: declare its params with param and its functions with fn",
}
# a line that starts a statement of its own, not the rest of the one above
STATEMENT_START = re.compile(
    r"[ \t]*(?:[A-Za-z_]\w*[ \t]*=(?!=)|(?:model|dim|const|input|param|fn|output|minimize|for|return)\b|\})"
)
CONTINUED = "a statement goes on to the next line only inside ( ) or [ ]: put the expression in parentheses"
OPERATORS = "+-*/@^"  # the first character of each binary operator's token (** too)
BARE = {"pass", "break", "continue", "del", "assert", "raise", "try", "except", "finally", "with", "yield", "global"}
FLOATS = {"float", "float16", "float32", "float64", "double", "half"}
INTS = {"int8", "int16", "int32", "int64", "long", "uint8"}


def next_code_line(text: str, end: int) -> tuple[str, int]:
    """The line after the one that ends at offset `end` (its '\\n'), past lines that hold a
    comment alone, and how many lines on it is (1 for the very next); ("", ...) past the end."""
    count = 0
    while end >= 0:
        count += 1
        nxt = text.find("\n", end + 1)
        row = text[end + 1 : nxt if nxt >= 0 else len(text)]
        if not row.strip() or without_comment(row).strip():
            return row, count
        end = nxt
    return "", count


def ends_in_operator(line: str, following: str) -> str | None:
    """The operator `line` ends in, a comment after it or not, where `following`, the next
    code line, goes on with its operand (`h = a +` then `b`): one statement over two lines, as
    Python writes it inside brackets. None where the line ends otherwise, or the next is blank
    or starts a statement of its own. The wording of the error and the parser's count of the
    lines it covers both ask here, so the two cannot tell the lines apart differently."""
    code = without_comment(line).rstrip()
    if code and code[-1] in OPERATORS and following.strip() and not STATEMENT_START.match(following):
        return code[-1]
    return None


def starts_with_operator(line: str) -> bool:
    """True where `line` starts with a binary operator (`+ b` under `h = a`), the second line
    of one statement over two; `//` is C's comment, not one."""
    code = line.lstrip()
    return code != "" and code[0] in OPERATORS and not code.startswith("//")


def habit(text: str, tok: Token, accepts: set[str], whole: str) -> tuple[str, int, int] | None:
    """What the line around the unexpected `tok` meant, if it is written as another language
    writes it: the message, and the offsets where its span starts and ends; else None. `text`
    is what the parse reads (earlier lines blanked after an error), `whole` the file."""
    line_start = tok.start_pos - tok.column + 1
    end = text.find("\n", line_start)
    line = without_comment(text[line_start : end if end >= 0 else len(text)])
    before = text[line_start : tok.start_pos]
    first = _FIRST.match(line)
    word = first[1] if first else ""
    at = line_start + first.start(1) if first else tok.start_pos
    assigned = first is not None and re.match(r"[ \t]*=(?!=)", line[first.end() :]) is not None
    nl = tok.start_pos - (text[tok.start_pos - 1 : tok.start_pos] == "\r")  # where the line ends (a CRLF file)
    if tok.type == "_NL" and {"NAME", "NUMBER"} <= accepts and end >= 0:
        # `h = a +` then `b` on the next line, as Python continues a line in brackets only
        operator = ends_in_operator(before, next_code_line(text, end)[0])
        if operator is not None:
            return f"unexpected end of line after '{operator}'; {CONTINUED}", nl, nl + 1
    if not before.strip() and line_start > 0 and starts_with_operator(line):  # `h = a` then `+ b`
        return f"unexpected '{tok}' at the start of a line; {CONTINUED}", tok.start_pos, tok.end_pos
    if first is not None and not assigned and tok.start_pos >= line_start + first.end():
        said = _statement(word, line[first.start(1) :])
        if said is not None:
            return said, at, at + len(word)
    if tok.type == "LPAR" and _NAME_ALONE.fullmatch(before) and accepts == {"EQUAL"}:
        return _call_alone(text, line, tok, at, word)
    step = _STEP.match(line)
    if step is not None and tok.type == "DOT":
        if step[1] == "backward":
            said = "there is no .backward() in .nn: graphc derives the gradients of the minimize target itself"
        else:
            said = "there is no optimizer in .nn: the compiled module's sgd_step takes the steps"
        return f"{said}; delete this line", at, line_start + len(line.rstrip())
    lam = re.search(r"(?<![\w.])lambda\b(?=[ \t]*[\w, \t]*:)", line)  # (lambda alone may be a value's name)
    if lam is not None and line_start + lam.start() < tok.start_pos:
        whole = _LAMBDA.fullmatch(line)
        fix = "a function is written fn f(x) = EXPR"
        if whole is not None:
            args = ", ".join(a.strip() for a in whole[2].split(",") if a.strip())
            fn = f"fn {whole[1]}({args}) = {whole[3].strip()}"
            fix = f"write {fn}" if len(fn) <= SHORT else fix
        return f"there is no 'lambda' in .nn: {fix}", line_start + lam.start(), line_start + lam.end()
    if str(tok) == "if" and _OPERAND_END.search(before):
        return f"there are no conditional expressions in .nn; {BRANCHES}", tok.start_pos, tok.end_pos
    if str(tok) in ("and", "or", "is") and _OPERAND_END.search(before):  # Python's words for operators
        kind = "comparisons" if str(tok) == "is" else "logical operators"
        return f"there is no '{tok}' in .nn: it has no {kind}", tok.start_pos, tok.end_pos
    negation = _NOT.search(before)  # `y = not x`: the name after `not` is the token that fails
    if negation is not None and tok.type in ("NAME", "NUMBER", "LPAR"):
        start = line_start + negation.start(1)
        return "there is no 'not' in .nn: it has no logical operators", start, start + 3
    if tok.type == "FOR" and before.count("[") + before.count("(") > before.count("]") + before.count(")"):
        said = "there are no list comprehensions in .nn; a loop is written for i in 1..N { ... } on lines of its own"
        return said, tok.start_pos, tok.end_pos
    statement = without_comment(before).strip()
    if tok.type == "FOR" and statement and _HEADER.match(line[len(before) :]):  # as a comprehension reads
        return _trailing_loop(statement, line[len(before) :], tok)
    if tok.type == "NUMBER" and re.search(r"\w\.$", before):  # `x.0`, a tuple's field as Rust or Julia reads it
        return (
            "there is no indexing in .nn: a value is used whole, and .T is its only attribute",
            tok.start_pos - 1,
            tok.end_pos,
        )
    if tok.type == "RBRACE" and "RBRACE" not in accepts:  # a '}' too many, as a copied block leaves one
        return "this '}' closes no block: no fn or for loop is open here", tok.start_pos, tok.end_pos
    if tok.type in ("STAR", "SLASH", "POW") and before.endswith("."):  # MATLAB's `x .* y`
        op = f".{tok}"
        return f"there is no '{op}' operator in .nn: {tok} is elementwise already", tok.start_pos - 1, tok.end_pos
    if tok.type == "COLON" and accepts == {"EQUAL"} and _NAME_ALONE.fullmatch(before):  # `x : [B, 3]`
        rest = line[tok.start_pos - line_start :].strip()
        decl = f"{word} {rest}" if len(rest) <= SHORT else f"{word} : [...]"
        return f"a declaration starts with input or param: write input {decl}, or param {decl}", at, at + len(word)
    if word == "minimize" and tok.type == "COMMA" and "wrt" not in before.split():  # `minimize loss, acc`
        names = [n.strip() for n in line[first.end() :].split(",")]
        total = " + ".join(names) if all(re.fullmatch(r"[A-Za-z_]\w*", n) for n in names) else "..."
        said = f"a model has one objective; to minimize several, add them: total = {total}, then minimize total"
        return said, tok.start_pos, tok.end_pos
    if word == "input" and tok.type == "EQUAL":  # `input x : [3] = zeros`, as a param is initialized
        return (
            "an input takes no initializer: the caller passes its values; a trainable array is declared with param",
            tok.start_pos,
            line_start + len(line.rstrip()),
        )
    if word == "for":
        return _loop(line, line_start, tok, accepts)
    if word == "fn" and (tok.type == "COLON" or (tok.type == "RETURN" and before.rstrip().endswith("="))):
        sig = re.match(r"[ \t]*fn[ \t]+([^=:{]*\))", line)
        sig = sig[1].strip() if sig is not None and len(sig[1]) <= SHORT else "f(x)"
        if tok.type == "RETURN":  # `fn f(x) = return x`
            value = line[tok.end_pos - line_start :].strip()
            value = value if value and len(value) <= SHORT else "EXPR"
            said = f"a fn written with '=' is an expression alone: write fn {sig} = {value}, without return"
        else:  # `fn f(x):`, as Python's def
            said = (
                f"a fn's body follows '=' or is written in braces: fn {sig} = EXPR, or fn {sig} {{ ... return EXPR }}"
            )
        return said, tok.start_pos, tok.end_pos
    init = _INIT_BEFORE.search(before) if word == "param" else None
    if init is not None and tok.type in ("LSQB", "NUMBER", "NAME"):
        return _initializer(init[1], line, line_start, tok)
    if tok.type == "LSQB" and _OPERAND_END.search(before) and accepts & {"PLUS", "STAR", "POW"}:
        close = closed_on_line(text, tok.start_pos)
        stop = close + 1 if close is not None else tok.end_pos
        if re.search(r"\.[ \t]*(shape|size)[ \t]*$", before):
            return f"there is no .shape in .nn: {SIZES}", tok.start_pos, stop
        return "there is no indexing in .nn: a value is used whole", tok.start_pos, stop
    if accepts == {"LSQB", "INT"}:
        return _shape_type(text, line, line_start, tok)
    if word in ("param", "input") and tok.type in ("NUMBER", "NAME", "LSQB"):
        listed = _shape_list(line, line_start, tok)
        if listed is not None:
            return listed
    if (
        tok.type in ("NAME", "NUMBER", "BRACED_NAME")
        and "COMMA" in accepts
        and re.search(r"[\w)\]}][ \t]*$", before)  # (W{i} ends an operand too)
        and before.count("(") + before.count("[") > before.count(")") + before.count("]")
    ):  # `f(a b)`, `[B T]`: two operands side by side inside brackets
        depth, at = 0, len(before)
        while at > 0 and depth >= 0:  # the innermost bracket still open
            at -= 1
            depth += {")": 1, "]": 1, "(": -1, "[": -1}.get(before[at], 0)
        # a call's, a list's or axis=(0, 1)'s
        listed = before[at] == "[" or re.search(r"(?:\w|\baxis[ \t]*=)[ \t]*$", before[:at]) is not None
        missing = "a ','" if listed else "an operator or a ','"
        return f"{missing} is missing before {_quoted(tok)}", tok.start_pos, tok.end_pos
    if word == "dim" and tok.type == "EQUAL":
        name = before.split()[-1] if len(before.split()) > 1 else "N"
        value = line[tok.start_pos - line_start + 1 :].strip() or "..."
        said = (
            f"a dim takes its size from the inputs when the model runs; for a fixed size write const {name} = {value}"
        )
        return said, tok.start_pos, tok.end_pos
    if word in ("param", "input") and accepts == {"COLON"} and tok.type in ("_NL", "EQUAL"):
        parts = before.split()
        name = parts[1] if len(parts) > 1 else "NAME"
        value = line[tok.start_pos - line_start + 1 :].strip() if tok.type == "EQUAL" else ""
        made = declared(whole, without_comment(value)) if word == "param" and value else None
        if made is not None:  # param W = torch.randn(3, 4) * 0.1: the shape and initializer it means
            said = f"{word} {name} needs a shape: write {word} {name} : {made}"
        else:
            init = f" = {value}" if value else ""
            said = f"{word} {name} needs a shape: write {word} {name} : [d, ...]{init} ([] for a scalar)"
        start, stop = (tok.start_pos, tok.end_pos) if tok.type != "_NL" else (nl, nl + 1)
        return said, start, stop
    if tok.type in ("_NL", "$END") and re.search(r"\bwrt[ \t\r]*$", before):
        wrt = line_start + before.rstrip().rfind("wrt")
        said = (
            "wrt takes the names to differentiate with respect to, as in 'minimize loss wrt W'; without it, every param"
        )
        return said, wrt, wrt + 3
    return None


def _statement(word: str, rest: str) -> str | None:
    """A line that starts with a statement of another language, `rest` from that word on, in words."""
    if word == "def":
        m = _DEF.match(rest)
        sig = "f(x)"
        if m is not None:
            args = [a.split(":")[0].split("=")[0].strip() for a in m[2].split(",")]
            sig = f"{m[1]}({', '.join(a for a in args if a)})"
        return f"there is no 'def' in .nn: write fn {sig} = EXPR, or fn {sig} {{ ... return EXPR }}"
    if word in STATEMENTS:
        return f"there is no '{word}' in .nn: {STATEMENTS[word]}"
    if word == "print":
        inner = rest[len(word) :].strip()
        inner = inner[1:-1].strip() if inner.startswith("(") and inner.endswith(")") else inner
        name = inner if re.fullmatch(r"[A-Za-z_]\w*", inner) else "NAME"
        return f"there is no print in .nn: {FUNCTIONS['print'].replace('NAME', name)}"
    if word in ("let", "var", "val"):
        fix = rest[len(word) :].strip()
        return f"there is no '{word}' in .nn: write {fix}" if "=" in fix and len(fix) <= SHORT else None
    if word in BARE:
        return f"there is no '{word}' statement in .nn"
    return None


def _call_alone(text: str, line: str, tok: Token, at: int, name: str) -> tuple[str, int, int]:
    """`relu(x)` alone on a line, whose value goes nowhere; `f(x) = x^2`, a function as mathematics writes it."""
    close = closing(text, tok.start_pos)
    end = at + len(line.strip())
    if close is not None:
        after = text[close + 1 : text.find("\n", close) if "\n" in text[close:] else len(text)]
        if re.match(r"[ \t]*=(?!=)", after):
            fn = "fn " + line.strip()
            return (
                f"a function is declared with fn: write {fn if len(fn) <= SHORT else 'fn ' + name + '(...) = ...'}",
                at,
                at + len(name),
            )
        call = text[at : close + 1]
        if len(call) <= SHORT:
            return f"a call alone on a line does nothing in .nn: name its value, as in y = {call}", at, close + 1
    return "a call alone on a line does nothing in .nn: name its value, as in y = ...", at, end


def _loop(line: str, line_start: int, tok: Token, accepts: set[str]) -> tuple[str, int, int] | None:
    """`for i in range(3)`, `for i in 1..3:`: a loop as Python writes it."""
    m = _RANGE.search(line)
    if m is not None:
        ends = _first_last(m)
        fix = f"write {ends}" if ends else "range(n) is 0..n-1"
        said = f"a loop's range is written first..last, both ends included: {fix}"
        return said, line_start + m.start(1), line_start + m.end(1)
    if tok.type == "LBRACE" and "__ANON_0" in accepts:  # `for w in W {`
        said = "a loop runs over a range of integers, first..last, as in for i in 1..3; a value is used whole"
        return said, tok.start_pos, tok.end_pos
    if tok.type == "DOT" and line[: tok.start_pos - line_start].rstrip().endswith(".."):  # `1...3`, Ruby's range
        start = line_start + line.index("...", 0, tok.end_pos - line_start + 1)
        return "a loop's range is written first..last with two dots, both ends included", start, start + 3
    if tok.type == "COLON" and "LBRACE" in accepts:
        header = line[: tok.start_pos - line_start].strip()
        return f"a loop's body is written in braces: {header} {{ ... }}", tok.start_pos, tok.end_pos
    return None


def _first_last(m: re.Match) -> str | None:
    """`range(3)` as .nn writes it, 0..2; None where its arguments are not integer literals."""
    args = [a.strip() for a in m[2].split(",")]
    if 1 <= len(args) <= 2 and all(_INT.fullmatch(a) for a in args):
        lo, hi = (0, int(args[0])) if len(args) == 1 else (int(args[0]), int(args[1]))
        return f"{lo}..{hi - 1}"
    return None


def _trailing_loop(statement: str, clause: str, tok: Token) -> tuple[str, int, int]:
    """`h{i} = f(h{i-1}) for i in 1..3`: a statement with its loop (`clause`) after it."""
    header = _HEADER.match(clause)
    loop = f"for {header[1]} in {header[2]}"
    python = _RANGE.match(clause)
    if python is not None:  # Python's range: written as .nn writes a range
        loop = f"for {header[1]} in {_first_last(python) or 'first..last'}"
    fix = f"{loop} {{ {statement} }}"
    fix = f"write {fix}" if len(fix) <= 2 * SHORT else f"write {loop} {{ ... }} around it"
    said = f"a loop comes first and holds its statements in braces: {fix}"
    return said, tok.start_pos, tok.start_pos + len(clause.rstrip())


def _shape_type(text: str, line: str, line_start: int, tok: Token) -> tuple[str, int, int] | None:
    """`param W : float[3, 4]`, `input y : int64[B]`, `param W : (3, 4)`: a shape as NumPy or PyTorch writes it."""
    rest = line[tok.end_pos - line_start :].strip()
    rest = rest.split("=")[0].strip() if rest.startswith("[") else ""
    if str(tok) in FLOATS:
        fix = f": write {rest}" if rest and len(rest) <= SHORT else ""
        return f"values are floats unless declared int{fix}", tok.start_pos, tok.end_pos
    if str(tok) in INTS:
        fix = f": write int{rest}" if rest and len(rest) <= SHORT else ""
        return f"integer labels are declared int[...]{fix}", tok.start_pos, tok.end_pos
    if tok.type == "LPAR":
        close = closing(text, tok.start_pos)
        if close is not None and close < line_start + len(line):
            sizes = split_arguments(text[tok.start_pos + 1 : close])
            return f"a shape is written in brackets: [{', '.join(sizes)}]", tok.start_pos, close + 1
    if tok.type in ("NUMBER", "NAME"):  # `param W : 3, 4`: the sizes without their brackets
        start = tok.start_pos - line_start
        sizes = line[start:].split("=")[0].rstrip()
        # (a word alone, `param W : Tensor`, may be a type as another language writes one)
        if re.fullmatch(r"[\w \t,*+-]+", sizes) and ("," in sizes or tok.type == "NUMBER"):
            fix = f"[{', '.join(p.strip() for p in sizes.split(','))}]"
            return f"a shape is written in brackets: {fix}", tok.start_pos, line_start + start + len(sizes)
    return None


def _shape_list(line: str, line_start: int, tok: Token) -> tuple[str, int, int] | None:
    """`param W : [3 4]` or `[3][4]`, sizes as MATLAB or C writes them: one list with commas."""
    m = _DECLARED_SHAPE.match(line)
    if m is None or not (line_start + m.start(2) < tok.start_pos < line_start + m.end(2)):
        return None
    groups = re.findall(r"\[([^\[\]]*)\]", m[2])
    sizes = [p for g in groups for p in re.split(r"[ \t,]+", g.strip()) if p]
    if not sizes or not all(re.fullmatch(r"\w+", p) for p in sizes):
        return None
    fix = f"[{', '.join(sizes)}]"
    said = "a shape is one list of sizes" if len(groups) > 1 else "the sizes of a shape are separated by commas"
    return f"{said}: {fix}", line_start + m.start(2), line_start + m.end(2)


def _initializer(name: str, line: str, line_start: int, tok: Token) -> tuple[str, int, int]:
    """`= zeros[3]`, `= zeros 3` or `= const 1` after a param's shape: the sizes are the
    shape's, and an initializer's arguments go in parentheses."""
    close = closed_on_line(line, tok.start_pos - line_start) if tok.type == "LSQB" else None
    stop = line_start + (close + 1 if close is not None else len(line.rstrip()))
    if name in ("const", "normal", "uniform") and tok.type != "LSQB":
        written = line[tok.start_pos - line_start : stop - line_start].strip()
        fix = f"write {name}({written})" if len(written) <= SHORT else f"write {name}(...)"
        return f"an initializer's arguments go in parentheses: {fix}", tok.start_pos, stop
    fix = f"{name}(...)" if name in ("const", "normal", "uniform") else name
    return f"an initializer takes no sizes, the shape after ':' gives them: write = {fix}", tok.start_pos, stop


def _quoted(tok: Token) -> str:
    return f"the number {tok}" if tok.type == "NUMBER" else f"'{tok}'"
