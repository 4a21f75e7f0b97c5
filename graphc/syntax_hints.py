"""What the text around a syntax error probably meant: a character that looks like an ASCII
one, a number as another language spells it, a method call, a reserved word as a keyword
argument, a braced name written with spaces. syntax_errors.py words the error around these."""

from __future__ import annotations

import ast
import math
import re
import unicodedata

from lark import Token

from graphc.errors import Diagnostic, Span, without_comment
from graphc.lexer import BRACED
from graphc.ops import BUILTINS, Builtin
from graphc.syntax import LIBRARIES

CHARACTER_HINTS = {
    "'": "; there are no strings in .nn",
    '"': "; there are no strings in .nn",
    ";": "; a statement ends at the end of its line",
    "\\": "; lines continue only inside ( ) and [ ]",
}

# operators of other languages, with what .nn has not that they stand for (the longest match is taken)
_LOGICAL = "bitwise or logical operators"
NO_OPERATORS = {
    **dict.fromkeys(["==", "!=", "<=", ">=", "<>", "<", ">"], "comparisons"),
    **dict.fromkeys(["&&", "||", "&", "|", "~", "<<", ">>"], _LOGICAL),
    "!": "logical operators",
    "%": "remainder",
    "?": "conditional expressions",
}
_NO_OPERATOR = re.compile("|".join(re.escape(op) for op in sorted(NO_OPERATORS, key=len, reverse=True)))
_BARS = re.compile(r"\|([^|#\n]+)\|")  # `|x - y|`, an absolute value as mathematics writes it
_OPERAND_START = re.compile(r"(?:^|[=(\[,+\-*/@^]|\breturn)[ \t]*$")


def no_operator(text: str, at: int) -> tuple[str, int] | None:
    """`a & b`, `a == b`, `x % 2`: an operator .nn has not, at offset `at`, in words, and its
    length; else None."""
    m = _NO_OPERATOR.match(text, at)
    if m is None:
        return None
    op = m.group()
    line_start = text.rfind("\n", 0, at) + 1
    if op == "|" and _OPERAND_START.search(text, max(line_start, at - SHORT), at):  # `|x|` where an operand starts
        bars = _BARS.match(text, at)
        inner = bars[1].strip() if bars is not None and len(bars[1]) <= SHORT else "x"
        return f"there is no '|' operator in .nn: |{inner}| is written abs({inner})", 1
    return f"there is no '{op}' operator in .nn: it has no {NO_OPERATORS[op]}", len(op)


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


def transpose(text: str, at: int) -> str | None:
    """`W'`, MATLAB's transpose, at offset `at`, in words with the fix; else None."""
    line_start = text.rfind("\n", 0, at) + 1
    if text[at] != "'" or not re.search(r"[\w)\]]$", text[line_start:at]) or "'" in text[at + 1 : at + 2]:
        return None
    receiver = _receiver(text, line_start, at)
    shown = receiver if receiver and not receiver.startswith("(") and " " not in receiver else f"({receiver or '...'})"
    return f"a transpose is written {shown}.T"


def character(ch: str) -> str:
    """What is wrong with an unexpected character, in words."""
    shown = repr(ch)[1:-1] if not ch.isprintable() else ch
    quoted = f'"{shown}"' if ch == "'" else f"'{shown}'"
    code = f"{quoted} (U+{ord(ch):04X})"
    if ch in LOOK_ALIKES:
        same = LOOK_ALIKES[ch]
        hint = "; there are no strings in .nn" if same in "'\"" else "; type the ASCII character"
        return f"{code} looks like {'a space' if same == ' ' else repr(same)}{hint}"
    if ch in SIGNS:
        return f"{code} is written {SIGNS[ch]!r} here"
    same = unicodedata.normalize("NFKC", ch).replace("\u2044", "/")  # fraction slash: ½ is 1⁄2
    if same != ch and same.isascii():  # fullwidth ＊, ½, an em space
        if same.isdigit() and unicodedata.name(ch, "").startswith("SUPERSCRIPT"):
            return f"{code} is written '^{same}' here"
        if not same.strip():
            return f"{code} looks like a space; type the ASCII character"
        if len(same) > 1:  # ½ in x^½ is (1/2): x^1/2 would be (x^1)/2
            return f"{code} is written {f'({same})' if '/' in same else same!r} here"
        return f"{code} looks like {same!r}; type the ASCII character"
    if ch.isalpha() and not ch.isascii():
        return f"unexpected character {quoted}: names use ASCII letters, digits and _"
    if unicodedata.category(ch) == "Cf":  # zero-width space, byte order mark
        return f"invisible character {code}; delete it"
    return f"unexpected character {quoted}{CHARACTER_HINTS.get(ch, '')}"


SHORT = 60  # the most source text a hint quotes: a longer receiver, argument list or number gets the general form
WORD = frozenset("0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_.")
NUMBERS = "numbers are written like 3, 0.5, 1e-3 or 2.5E+4"
_DIGITS = r"[0-9]+(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?"  # a number as the grammar's NUMBER spells it
_NUMBER = re.compile(_DIGITS)
_PRODUCT = re.compile(rf"({_DIGITS})((?![eE])[A-Za-z_][\w{{}}+-]*)")
_BASED = re.compile(r"0[xXbBoO]\w*")
_DECIMAL = re.compile(r"0(?:[xX][0-9a-fA-F]+|[bB][01]+|[oO][0-7]+)")
_SUFFIX = re.compile(rf"({_DIGITS})([fFjJlL])")
_BEFORE_SIGN = re.compile(r"[0-9][0-9.]*[eE]")  # a number up to its exponent's sign
# `1.e3`, Python's spelling of 1e3, and `1.e3x`, that times a name
_POINT_EXPONENT = re.compile(r"([0-9]+)\.([eE][+-]?[0-9]+)((?![eE])[A-Za-z_][\w{}+-]*)?")
_LEADING_DOT = re.compile(r"\.[0-9][\w.]*(?:(?<=[eE])[+-][0-9]*)?")  # `.5`, `.5e-3`, `.5x`: a number without its 0
# `2(x + 1)`: a number just before the '(' (not the end of a name such as W1)
NUMBER_BEFORE = re.compile(rf"(?<![\w.]){_DIGITS}[ \t]*$")


def bad_number(text: str, pos: int, file: str, line: int, col: int) -> Diagnostic | None:
    """`1e`, `1.2.3`, `3x`, `5.`, `.5`: a number glued to more letters, digits or dots.

    The lexer splits these into a valid number and a stray token, and the parser
    would complain about the stray part; the user wrote one bad number.
    """
    lead = _LEADING_DOT.match(text, pos)
    if lead is not None and text[pos - 1 : pos] not in WORD:  # not the point of `x.T`
        word = lead.group()
        fix = f"write 0{word}" if _NUMBER.fullmatch("0" + word) else _number_fix("0" + word)
        return Diagnostic(f"malformed number '{word}'; {fix}", Span(file, line, col, line, col + len(word)))
    end = pos
    while end > 0 and text[end - 1] in " \t":
        end -= 1
    if end == pos or text[end - 1 : end] != ".":  # else `5. * x`: a number ending in a dot, then blanks
        end = pos
    a = _word_start(text, end)
    b = end
    while b < len(text):  # `1.E-3x`: the exponent's sign and what follows it are the number's too
        if text[b] in WORD or (text[b] in "+-" and _exponent_sign(text, a, b)):
            b += 1
        else:
            break
    word = text[a:b]
    if a == end or not word[:1].isdigit() or _NUMBER.fullmatch(word):
        return None
    start = col - (pos - a)
    if ".." in word:  # `(1..2)`, `[1..2]`: a loop's range in brackets, not a number; `1..2..3` the parser says
        if not text[:a].rstrip(" \t").endswith(("(", "[")):
            return None
        whole = len(word) <= SHORT and text[b:].lstrip(" \t").startswith((")", "]"))  # (not `(1..N+1)`)
        range_ = word if whole else "first..last"
        return Diagnostic(
            f"a range is written only as a for loop's bounds, without brackets: for i in {range_} {{ ... }}",
            Span(file, line, start, line, start + len(word)),
        )
    braced = BRACED.match(text, a + len(_NUMBER.match(word).group()))  # `2W{i}`: the name runs on past `{`
    if braced is not None and braced.end() > b:
        word = text[a : braced.end()]
    return Diagnostic(
        f"malformed number '{word}'; {_number_fix(word)}" if len(word) <= SHORT else f"malformed number; {NUMBERS}",
        Span(file, line, start, line, start + len(word)),
    )


def _exponent_sign(text: str, start: int, at: int) -> bool:
    """True when the '+' or '-' at offset `at` is the sign of an exponent (`1.5E+3`) of the
    number that starts at offset `start`: digits follow it and the number's own text leads to it."""
    return text[at + 1 : at + 2].isdigit() and _BEFORE_SIGN.fullmatch(text, start, at) is not None


def _word_start(text: str, end: int) -> int:
    """The offset where the number-like word that ends at offset `end` starts: back over
    letters, digits, points and an exponent's sign (`1.5E+3x`), not into a range's `..`."""
    a = end
    while a > 0:
        if text[a - 1] in WORD and text[a - 2 : a] != "..":
            a -= 1
            continue
        if text[a - 1] not in "+-":
            break
        r = a - 1  # the word before the sign, which must be a number up to its exponent
        while r > 0 and text[r - 1] in WORD and text[r - 2 : r] != "..":
            r -= 1
        if not _exponent_sign(text, r, a - 1):
            break
        a = r
    return a


def _number_fix(word: str) -> str:
    """What to write for the malformed number `word`, as other languages spell numbers (`1_000`, `0x10`, `1j`)."""
    if _NUMBER.fullmatch(word.replace("_", "")):
        return f"numbers have no underscores: write {word.replace('_', '')}"
    if _BASED.fullmatch(word):
        return f"numbers are decimal here: write {int(word, 0)}" if _DECIMAL.fullmatch(word) else NUMBERS
    suffix = _SUFFIX.fullmatch(word)
    if suffix and suffix[2] in "jJ":
        return "there are no complex numbers in .nn"
    if suffix:
        return f"numbers take no suffix such as {suffix[2]}: write {suffix[1]}"
    point = _POINT_EXPONENT.fullmatch(word)
    if point:
        times = f"*{point[3]}" if point[3] else ""
        return f"a point needs digits on both sides: write {point[1]}{point[2]}{times} or {point[1]}.0{point[2]}{times}"
    product = _PRODUCT.fullmatch(word)  # `2x`: a number times a name
    return f"write {product[1]}*{product[2]}" if product else NUMBERS


_KWARG = re.compile(r"[ \t]*=(?!=)[ \t]*")
_VALUE = re.compile(r"-?[ \t]*\w+[ \t]*(?=[,)])")


def keyword_argument(text: str, tok: Token) -> str | None:
    """`sum(x, dim=-1)`: a reserved word as a keyword argument, in words; else None."""
    m = _KWARG.match(text, tok.end_pos)
    if m is None or text[max(0, tok.start_pos - SHORT) : tok.start_pos].rstrip()[-1:] not in ("(", ","):
        return None
    call = _enclosing_call(text, tok.start_pos)
    if str(tok) == "dim" and call in BUILTINS and "axis" in dict(BUILTINS[call].keywords):
        close = closing(text, m.end()) if text[m.end() : m.end() + 1] in ("(", "[") else None
        if close is not None:  # `dim=(0, 1)` and `dim=[0,1]` as the tuple axis takes, `(0, 1)`
            items = split_arguments(" ".join(text[m.end() + 1 : close].split()))
            value = f"({', '.join(items)}{',' if len(items) == 1 else ''})" if items else "..."
        else:
            single = _VALUE.match(text, m.end())
            value = "".join(single.group().split()) if single else "..."
        return f"there is no keyword 'dim' in .nn: the axis is given as axis={value}"
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


def method_call(text: str, tok: Token, whole: str | None = None) -> tuple[str, int] | None:
    """`x.sum(axis=1)`, `x.T()`: a '(' after `.NAME`, in words with the fix, and the
    offset of the dot (of the library's name, `np` of `np.exp(x)`); else None. `whole` is
    the file's text where `text` has the lines before the error blanked (a restarted parse)."""
    whole = text if whole is None else whole
    line_start = text.rfind("\n", 0, tok.start_pos) + 1
    m = _METHOD.search(text, max(line_start, tok.start_pos - SHORT), tok.start_pos)
    if m is None:
        return None
    method, receiver = m.group(1), _receiver(text, line_start, m.start())
    if method == "T":
        return f".T is not called: write {receiver or 'value'}.T", m.start()
    # a call longer than SHORT is still read where it closes on its line: a fix quoting a
    # part of it (the sizes of a maker's call) is given, one quoting all its arguments
    # (write exp(...)) only where they fit in SHORT
    close = closing(text, tok.start_pos)
    close = close if close is not None else closed_on_line(text, tok.start_pos)
    inside = text[tok.start_pos + 1 : close].strip() if close is not None else "#"
    inside = re.sub(r"\s*\n\s*", " ", inside)  # over several lines, on one
    read = None if "#" in inside else split_arguments(inside)
    args = read if len(inside) <= SHORT else None
    module = _module(whole, receiver)
    if module is not None:  # `np.exp(x)`: a library's function, as graphc's own builtin
        start = text.rfind(receiver, line_start, m.start())
        there = f"there is no {module} here"
        method = _SAME.get(method, method)  # np.amax(x), tf.reduce_mean(x): a builtin by another name
        args = _library_free(whole, args)  # the library's calls among the arguments, converted too
        if method in ("dot", "matmul"):
            if args is None or len(args) != 2 or any(_KEYWORD.match(a) for a in args):
                return f"{there}: {FUNCTIONS['dot']}", start
            return f"{there}: write {_product(text, line_start, start, close, *args)}", start
        factor = _factor(text, line_start, start, close) if method in _INITS else None
        made = _made(text, whole, line_start, factor[1], method, read, scale=factor[0]) if factor else None
        if made is None:
            made = _made(text, whole, line_start, (start, close), method, read)
        if made is not None:
            return f"{there}{made}", start
        if method == "mse_loss" and args is not None and len(args) == 2:
            return f"{there}: write mean(({args[0]} - {args[1]})^2)", start
        if method in FUNCTIONS and method not in BUILTINS:
            return f"{there}, and no function '{method}' in .nn: {FUNCTIONS[method].format(name=method)}", start
        if method not in BUILTINS and not re.search(rf"(?m)^[ \t]*fn[ \t]+{method}\b", text):
            return f"{there}, and no builtin '{method}' in .nn", start
        if args is None:
            return f"{there}: write {method}(...)", start
        return f"{there}: write {_library_builtin(method, args)}", start
    if method in ("dot", "matmul", "mm"):
        if receiver is None or args is None or len(args) != 1 or _KEYWORD.match(args[0]):
            return f"there are no methods in .nn: {FUNCTIONS['dot']}", m.start()
        product = _product(text, line_start, text.rfind(receiver, line_start, m.start()), close, receiver, args[0])
        return f"there are no methods in .nn: write {product}", m.start()
    builtin = BUILTINS.get(method)
    fix = _method_fix(method, receiver, args) if builtin is None else None
    if fix is not None:
        return f"there are no methods in .nn: {fix}", m.start()
    if builtin is None:
        return f"there are no methods in .nn, and no builtin '{method}'", m.start()
    call = _builtin_call(method, builtin, receiver, args) if receiver is not None and args is not None else None
    if call is None:
        call = f"{method}({receiver or 'value'}, ...)"
    return f"there are no methods in .nn: write {call}", m.start()


# functions of NumPy, PyTorch and TensorFlow that are a builtin of .nn under another name
_SAME = {
    "amax": "max",
    "average": "mean",
    **{f"reduce_{name}": name for name in ("sum", "mean", "max", "logsumexp")},
}

# functions of NumPy and PyTorch that .nn has no builtin for, with what it has instead
SIZES = "a size is written as its dim or its number"
_JOIN = "arrays are not joined: declare one param or input of the whole shape"
_INITIALIZER = "{name} is an initializer, given where a param is declared: param W : [3, 4] = {name}"
FUNCTIONS = {
    "min": "the smallest element is -max(-x), and the smaller of two values minimum(a, b)",
    **dict.fromkeys(["dot", "matmul", "mm", "inner"], "a matrix product is written a @ b"),
    **dict.fromkeys(["len", "size", "shape"], SIZES),
    **dict.fromkeys(["concat", "concatenate", "cat", "stack", "hstack", "vstack"], _JOIN),
    **dict.fromkeys(["clip", "clamp"], "write maximum(minimum(x, hi), lo)"),
    **dict.fromkeys(["pow", "power"], "a power is written x ^ p"),
    **dict.fromkeys(["zeros", "ones", "normal", "uniform", "glorot", "he", "const"], _INITIALIZER),
    "print": "'output NAME' has forward return it, for the caller to print",
    "mse_loss": "write mean((a - b)^2)",
}

# a library's ways to make an array of initial values, as the initializer that does it
_INITS = {
    **dict.fromkeys(["randn", "randn_like", "standard_normal"], "normal(0, 1)"),
    **dict.fromkeys(["rand", "rand_like", "random"], "uniform(0, 1)"),
    **dict.fromkeys(["zeros", "zeros_like", "empty", "zeros_"], "zeros"),
    **dict.fromkeys(["ones", "ones_like", "ones_"], "ones"),
    **dict.fromkeys(["full", "full_like"], "const"),
    **dict.fromkeys(["xavier_uniform_", "xavier_normal_", "glorot_uniform", "glorot_normal"], "glorot"),
    **dict.fromkeys(["kaiming_uniform_", "kaiming_normal_", "he_normal", "he_uniform"], "he"),
    "normal": "normal",
    "uniform": "uniform",
}
_SIZED = frozenset({"empty", "zeros", "ones", "randn", "rand"})  # makers whose arguments are the sizes alone
_SIZE = re.compile(r"[A-Za-z_]\w*|[0-9]+")
_FILL = re.compile(rf"-?[ \t]*(?:{_DIGITS}|[A-Za-z_]\w*)")  # a number or a const
_LEARNED = re.compile(r"requires_grad[ \t]*=[ \t]*True")


def _made(
    text: str,
    whole: str,
    line_start: int,
    call: tuple[int, int | None],
    method: str,
    args: list[str] | None,
    learned: bool = False,
    scale: str | None = None,
) -> str | None:
    """`torch.randn(3, 4)`, `nn.Linear(3, 4)`, `np.zeros(3)`, `torch.tensor([1.0, 2.0])`: an
    array made as a library makes it, said as .nn declares it: a param where it is learned
    (`learned`: inside nn.Parameter), an input where the caller passes it; else None. `call`
    holds the offsets where the call starts and of its ')' (None where that is not found).
    What it says follows the library's name: ": ..." or ", and ...". `scale`: the number
    the array is multiplied by (`torch.randn(3, 4) * 0.1`), said in its initializer; None
    where no initializer makes the scaled values."""
    if scale is not None and method not in _INITS:
        return None
    positional = _positional(args or ())
    if method == "Linear":
        if len(positional) >= 2 and all(_SIZE.fullmatch(a) for a in positional[:2]):
            i, o = positional[:2]
            return f": a layer is its params: declare param W : [{i}, {o}] and param b : [{o}], then write x @ W + b"
        return ": a layer is its params: declare param W : [in, out] and param b : [out], then write x @ W + b"
    if method == "Parameter":  # nn.Parameter(torch.randn(3, 4)): learned, made as the call inside it says
        found = _library_call(whole, positional[0] if len(positional) == 1 else "")
        if found is not None:
            method, args, scale = found
            made = _made(text, whole, line_start, call, method, args, True, scale)
            if made is not None:
                return made
        name, instead = _named(text, whole, line_start, call)
        return f": a learned array is a param: declare param {name} : [...] with its initializer{instead}"
    line = text[line_start : text.find("\n", line_start)]
    in_param = re.match(r"[ \t]*param\b[^=]*=", line) is not None  # the initializer of a declaration
    if method in _LISTED and not learned and args is not None and len(args) == 1:
        # torch.tensor(3.0), np.array(x): one number or one name, which is used as it is
        if re.fullmatch(_SIGNED, args[0]):
            return f": write const({args[0]})" if in_param else f": write {args[0]}"
        if re.fullmatch(r"[A-Za-z_]\w*", args[0]) and args[0] not in ("True", "False", "None") and not in_param:
            return f": write {args[0]}"
    if method in _LISTED and positional and positional[0][:1] in ("[", "("):  # np.array([[1, 2], [3, 4]])
        initializer = f"{NO_LITERALS}: a param's initial values are given by an initializer"
        if in_param:
            return f"{initializer}, such as zeros or normal(0, 1)"
        shape = _listed_shape(positional[0])
        name, instead = _named(text, whole, line_start, call)
        if learned:
            return f"{initializer}, as in param {name} : {shape} = zeros{instead}"
        return f"{NO_LITERALS}: declare {name} as input {name} : {shape}, which the caller passes{instead}"
    init = _INITS.get(method)
    if init is None:
        return None
    if method.endswith("_") and not in_param and scale is None:  # nn.init.xavier_uniform_(W)
        filled = _filled(whole, init, positional)
        if filled is not None:
            return filled
        # the array it fills is another call's: the sizes of one that takes only sizes
        # (nn.init.xavier_uniform_(torch.empty(3, 4))), none read from any other
        inner = _CALL.fullmatch(positional[0]) if positional else None
        sized = inner is not None and inner[2] in _SIZED and _module(whole, inner[1]) is not None
        positional = _positional(split_arguments(inner[3])) if sized else []
        learned = True
    found = _initializer(method, init, positional, scale)
    if found is None:
        return None
    init, sizes, shape = found
    if in_param:
        return f": write {init}"
    name, instead = _named(text, whole, line_start, call)
    dims = _dims(whole)
    if learned or any(_LEARNED.fullmatch(a) for a in args or ()):  # torch.zeros(3, requires_grad=True)
        if dims.intersection(sizes):
            shape, instead = "[...]", f"{NO_DIMS}{instead}"
        return f": a param's initial values are given where it is declared: param {name} : {shape} = {init}{instead}"
    if dims.intersection(sizes):  # torch.zeros(B, 4): no param has a dim in its shape
        return f": declare {name} as input {name} : {shape}, which the caller passes{NO_DIMS}{instead}"
    return (
        f": declare {name} as param {name} : {shape} = {init} if it is learned, "
        f"or as input {name} : {shape} if the caller passes it{instead}"
    )


def _initializer(method: str, init: str, positional: list[str], scale: str | None) -> tuple[str, list[str], str] | None:
    """The initializer that makes the array of a library's call `method` (its .nn name `init`,
    from _INITS) and the sizes that call gives, with the shape they make as a message writes
    it (`[...]` where they are no sizes); None where no initializer makes its values."""
    sizes = positional
    if init in ("normal", "uniform"):  # np.random.normal(0, 0.1, (3, 4)): the first two, then the shape
        given = positional[:2] if len(positional) >= 2 else ["0", "1"]
        if len(", ".join(given)) > SHORT:  # more than a message quotes: said as the initializer it is
            return None
        init, sizes = f"{init}({', '.join(given)})", positional[2:]
    if init == "const":  # np.full((3, 4), 0.5): the shape, then the value
        fill = positional[1] if len(positional) == 2 and _FILL.fullmatch(positional[1]) else "c"
        init, sizes = f"const({fill})", positional[:1]
    if method.endswith("_like"):  # np.zeros_like(x): the shape is x's
        sizes = []
    if len(sizes) == 1 and sizes[0][:1] in "([" and sizes[0][-1:] in ")]":
        sizes = split_arguments(sizes[0][1:-1])
    shape = f"[{', '.join(sizes)}]" if sizes and all(_SIZE.fullmatch(d) for d in sizes) else "[...]"
    shape = shape if len(shape) <= SHORT else "[...]"
    if scale is not None:
        init = _scaled(init, scale)
        if init is None:
            return None
    return init, sizes, shape


def declared(whole: str, value: str) -> str | None:
    """`torch.randn(3, 4) * 0.1` given as a param's value: the shape and the initializer .nn
    declares that param with, "[3, 4] = normal(0, 0.1)" (the shape "[d, ...]" where the call's
    sizes are none or hold a dim, which no param's shape does), else None (where no initializer
    makes its values)."""
    found = _library_call(whole, value)
    if found is None or found[0] not in _INITS or found[0].endswith("_"):  # (nn.init.zeros_ fills another's)
        return None
    method, args, scale = found
    found = _initializer(method, _INITS[method], _positional(args), scale)
    if found is None:
        return None
    init, sizes, shape = found
    if _dims(whole).intersection(sizes):
        return f"[d, ...] = {init}{NO_DIMS}"
    return f"{'[d, ...]' if shape == '[...]' else shape} = {init}"


def _library_call(whole: str, text: str) -> tuple[str, list[str], str | None] | None:
    """`torch.randn(3, 4)`, or times a number (`torch.randn(3, 4) * 0.1`): the library's function,
    its arguments and the number (None where there is none); else None (not one call of a library's:
    `f(x) * g(y)`, or a name the file defines)."""
    text = text.strip()
    scaled = _SCALED.fullmatch(text)
    call, scale = (scaled["call"], scaled["left"] or scaled["right"]) if scaled is not None else (text, None)
    inner = _CALL.fullmatch(call)  # (one call: its '(' closed by the last ')')
    if inner is None or closing(call, inner.start(3) - 1, len(call)) != len(call) - 1 or not _module(whole, inner[1]):
        return None
    return inner[2], split_arguments(inner[3]), scale


def _dims(whole: str) -> set[str]:
    """The dims the file declares."""
    return {d.strip() for d in ",".join(re.findall(r"(?m)^[ \t]*dim[ \t]+([^#\n]*)", whole)).split(",")}


def _scaled(init: str, factor: str) -> str | None:
    """The initializer that makes `init`'s values times the number `factor` (as the source
    writes it), or None where none does or its arguments are no numbers."""
    c = float(factor.replace(" ", "").replace("\t", ""))
    if not math.isfinite(c):  # (1e400 overflows)
        return None
    drawn = _DRAWN.fullmatch(init)
    if drawn is not None:
        return scaled_draw(drawn[1], c, float(drawn[2]), float(drawn[3]))
    return {"ones": f"const({c:g})", "zeros": "zeros"}.get(init)


def scaled_draw(init: str, factor: float, a: float, b: float) -> str:
    """normal(a, b) or uniform(a, b) with its values multiplied by `factor`, as the
    initializer that draws them: 0.01 * normal(0, 1) is normal(0, 0.01), -2 * uniform(0, 1)
    is uniform(-2, 0)."""
    c = factor
    # (+ 0.0: -2 * 0 is written 0, not -0)
    if init == "normal":
        return f"normal({c * a + 0.0:g}, {abs(c) * b + 0.0:g})"
    return f"uniform({min(c * a, c * b) + 0.0:g}, {max(c * a, c * b) + 0.0:g})"


_SIGNED = rf"-?[ \t]*{_DIGITS}"  # a literal number, as Python writes a negative one too
_DRAWN = re.compile(rf"(normal|uniform)\(({_SIGNED}), ({_SIGNED})\)")
_VALUE_OF = r"[ \t]*(?:param\b[^=\n]*|[A-Za-z_]\w*[ \t]*)=[ \t]*"  # `y = `, `param W : [3] = `
_LEFT_FACTOR = re.compile(rf"{_VALUE_OF}({_SIGNED})[ \t]*\*[ \t]*")
_RIGHT_FACTOR = re.compile(rf"[ \t]*\*[ \t]*({_SIGNED})[ \t]*")


def _factor(text: str, line_start: int, start: int, close: int | None) -> tuple[str, tuple[int, int]] | None:
    """`y = torch.randn(3, 4) * 0.1`, `y = 0.1 * torch.randn(3, 4)`: the number a call that
    runs from offset `start` to the ')' at `close` is multiplied by, where that product is the
    whole value the line gives, with the offsets where the product starts and ends; else None."""
    if close is None:
        return None
    line_end = text.find("\n", close)
    before, after = text[line_start:start], without_comment(text[close + 1 : len(text) if line_end < 0 else line_end])
    left = _LEFT_FACTOR.fullmatch(before)
    if left is not None and not after.strip():
        return left[1], (line_start + left.start(1), close)
    right = _RIGHT_FACTOR.fullmatch(after)
    if right is not None and re.fullmatch(_VALUE_OF, before):
        return right[1], (start, close + right.end(1))
    return None


def _named(text: str, whole: str, line_start: int, call: tuple[int, int | None]) -> tuple[str, str]:
    """The name a fix declares for the array a call makes: the name the line assigns it to
    (`y = np.zeros(3)`) and "", or, where the call is a part of a value, a name of its own and
    the words that have it stand for the call."""
    start, close = call
    line = text[line_start : text.find("\n", line_start)]
    target = re.fullmatch(r"[ \t]*([A-Za-z_]\w*)[ \t]*=[ \t]*", text[line_start:start])
    ends = close is None or not without_comment(text[close + 1 : line_start + len(line)]).strip()  # (None: unknown)
    if target is not None and ends:  # `y = np.zeros(3)`, not a part of y's value
        return target[1], ""
    name = unused("c", whole)
    return name, f", and write {name} for the call"


NO_LITERALS = ", and no array literals in .nn"
NO_DIMS = " (a param's shape has no dims)"
_LISTED = frozenset({"tensor", "array", "asarray", "as_tensor"})  # an array of the values written out
# a call multiplied by a number: `torch.randn(3, 4) * 0.1`, `0.1 * torch.randn(3, 4)`
_SCALED = re.compile(
    rf"(?:(?P<left>{_SIGNED})[ \t]*\*[ \t]*)?(?P<call>[A-Za-z_][^*]*\))(?(left)|[ \t]*\*[ \t]*(?P<right>{_SIGNED}))",
    re.S,
)
_CALL = re.compile(r"([A-Za-z_]\w*(?:[ \t]*\.[ \t]*[A-Za-z_]\w*)*)[ \t]*\.[ \t]*([A-Za-z_]\w*)[ \t]*\((.*)\)", re.S)


def _listed_shape(literal: str) -> str:
    """`[[1, 2], [3, 4]]` -> `[2, 2]`: the shape of values written out as nested lists of
    numbers, each level as long everywhere; `[...]` for anything else."""
    try:
        value = ast.literal_eval(literal)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return "[...]"
    sizes = _sizes(value) if isinstance(value, (list, tuple)) else None
    return f"[{', '.join(map(str, sizes))}]" if sizes else "[...]"


def _sizes(value) -> tuple[int, ...] | None:
    """The sizes of nested lists of numbers, or None where they are no array."""
    if isinstance(value, (list, tuple)):
        inner = {_sizes(v) for v in value}
        return (len(value), *inner.pop()) if len(inner) == 1 and None not in inner else None
    return () if isinstance(value, (int, float)) and not isinstance(value, bool) else None


_QUALIFIED = re.compile(r"([A-Za-z_]\w*)(?:[ \t]*\.[ \t]*[A-Za-z_]\w*)*")


def _module(text: str, receiver: str | None) -> str | None:
    """`np`, `np.linalg`: the receiver of a call as a library the file does not define, else None."""
    m = _QUALIFIED.fullmatch(receiver or "")
    if m is None or m[1] not in LIBRARIES:
        return None
    if re.search(rf"(?m)^[ \t]*(?:(?:param|input|const)[ \t]+)?{m[1]}[ \t]*[:=]", text):
        return None  # a name of the file's own, `np = ...`
    return re.sub(r"[ \t]", "", receiver)


def _filled(whole: str, init: str, positional: list[str]) -> str | None:
    """`nn.init.xavier_uniform_(W)`: W's initial values, made in place, said as W's declaration
    (with its declared shape); None where the array filled is no name."""
    target = positional[0] if positional and re.fullmatch(r"[A-Za-z_]\w*", positional[0]) else None
    if target is None:
        return None
    declared = re.search(rf"(?m)^[ \t]*param[ \t]+{target}[ \t]*:[ \t]*(\[[^\]\n]*\])", whole)
    shape = declared[1] if declared and len(declared[1]) <= SHORT else "[...]"
    return f": a param's initial values are given where it is declared: param {target} : {shape} = {init}"


# `np.exp(`, `x.sum(`: the receiver (a name, dotted or not) and the function's name, to its '('
_LIBRARY_CALL = re.compile(
    r"(?<![\w.])([A-Za-z_]\w*(?:[ \t]*\.[ \t]*[A-Za-z_]\w*)*)[ \t]*\.[ \t]*([A-Za-z_]\w*)[ \t]*\("
)
_STATEMENT_CALL = re.compile(r"[ \t]*" + _LIBRARY_CALL.pattern)  # such a call first on its line


def library_statement(text: str, tok: Token, whole: str) -> tuple[str, int, int] | None:
    """`np.random.seed(0)`, `nn.init.zeros_(W)`: a library's call alone on a line, as a script
    runs it for what it does; the message and the offsets its carets span, else None."""
    line_start = tok.start_pos - tok.column + 1
    m = _STATEMENT_CALL.match(text, line_start)
    module = _module(whole, m[1]) if m is not None else None
    if module is None:
        return None
    method, start, paren = m[2], m.start(1), m.end() - 1
    close = closed_on_line(text, paren)
    end = close + 1 if close is not None else paren
    there = f"there is no {module} here"
    if "seed" in method:
        return f"{there}: the compiled module's init_params(seed) takes the seed; delete this line", start, end
    read = split_arguments(text[paren + 1 : close]) if close is not None else []
    filled = _filled(whole, _INITS[method], read) if method.endswith("_") and method in _INITS else None
    if filled is not None:  # nn.init.zeros_(W): W's declaration says it
        return f"{there}{filled}", start, end
    return f"{there}, and a call alone on a line does nothing in .nn", start, end


def _product(text: str, line_start: int, start: int, close: int, a: str, b: str) -> str:
    """`a @ b` for a call of dot or matmul that runs from offset `start` to the ')' at `close`,
    each side in parentheses where it is more than one operand, and the whole where the
    text around it binds tighter than @ (`y / x.dot(W)`, `x.dot(W)^2`)."""
    product = f"{grouped(a)} @ {grouped(b)}"
    before = text[max(line_start, start - SHORT) : start].rstrip(" \t")[-1:]
    after = text[close + 1 : close + 1 + SHORT].lstrip(" \t")  # `x.dot(W)  ** 2`
    if before in ("*", "/", "@", "^") or after[:1] in ("^", ".") or after[:2] == "**":
        product = f"({product})"
    return product


_KEYWORD = re.compile(r"[A-Za-z_]\w*[ \t]*=(?!=)")
# a dtype passed by position, as NumPy's makers take it after the shape: np.zeros(3, float)
_DTYPE = re.compile(r"(?:(?:np|numpy|torch)[ \t]*\.[ \t]*)?(?:float|int|uint|bool|complex|double|half)\d*|(['\"]).*\1")


def _positional(args) -> list[str]:
    """The arguments passed by position, less a dtype among them."""
    return [a for a in args if not _KEYWORD.match(a) and not _DTYPE.fullmatch(a.strip())]


def grouped(expr: str) -> str:
    """`expr` as an operand of a fix's operator: in parentheses where it is more than one operand."""
    return f"({expr})" if len(split_arguments(expr, " +-*/@^")) > 1 else expr


_CALLED_METHOD = re.compile(r"[)\]][ \t]*\.[ \t]*[A-Za-z_]\w*[ \t]*\(")


def _library_free(whole: str, args: list[str] | None, depth: int = 3) -> list[str] | None:
    """`args` with each library call in them (`tf.square(p - y)`, `np.dot(x, W)`) written as
    .nn writes it (`square(p - y)`, `x @ W`), to `depth` calls deep; None where one has no
    builtin by its name or another, or is deeper."""
    if args is None:
        return None
    done = []
    for arg in args:
        out, at = "", 0
        for m in _LIBRARY_CALL.finditer(arg):
            if m.start() < at:
                continue
            close = closing(arg, m.end() - 1, len(arg))
            inner = split_arguments(arg[m.end() : close]) if close is not None and depth > 0 else None
            inner = _library_free(whole, inner, depth - 1)
            name = _SAME.get(m[2], m[2])
            if _module(whole, m[1]) is None:  # `x.sum(axis=1)`: a method, as the builtin call it is
                builtin = BUILTINS.get(m[2]) if re.fullmatch(r"[A-Za-z_]\w*", m[1]) else None
                call = _builtin_call(m[2], builtin, m[1], inner) if builtin and inner is not None else None
                if call is None:
                    return None
            elif (
                inner is not None
                and name in ("dot", "matmul")
                and len(inner) == 2
                and not any(map(_KEYWORD.match, inner))
            ):
                call = f"{grouped(inner[0])} @ {grouped(inner[1])}"
                call = call if (m.start(), close) == (0, len(arg) - 1) else f"({call})"
            elif inner is not None and name in BUILTINS:  # (dot and matmul are none)
                call = _library_builtin(name, inner)
            else:
                return None
            out, at = out + arg[at : m.start()] + call, close + 1
        done.append(out + arg[at:])
        if _CALLED_METHOD.search(done[-1]):  # `(a + b).sum()`, `f(x).mean()`: no method of .nn's
            return None
    return done


def _library_builtin(name: str, args: list[str]) -> str:
    """`np.sum(x, 0)` as the builtin call graphc accepts, as the method x.sum(0) is: the axis
    given by name, sum(x, axis=0), and NumPy's shape tuple as a list, reshape(x, [3, 4]).
    Keywords the builtin has no use for (dtype=, out=) are left out; where the arguments are
    still none it takes (np.transpose(x, (1, 0))), the builtin as it is called."""
    builtin = BUILTINS[name]
    if not args:
        return f"{name}({', '.join(builtin.args)})"
    call = _builtin_call(name, builtin, args[0], args[1:])
    if call is None:  # dtype=, out=: every value is a float, and a builtin makes its own array
        kept = [a for a in args[1:] if not (_KEYWORD.match(a) and a.split("=")[0].strip() in ("dtype", "out"))]
        call = _builtin_call(name, builtin, args[0], kept) if len(kept) < len(args) - 1 else None
    if call is not None:
        return call
    positional = _spelled([a for a in args if not _KEYWORD.match(a)])
    if len(positional) <= len(builtin.args):  # a keyword it lacks: said by the check that follows
        return f"{name}({', '.join(_spelled(args))})"
    # more than it takes (np.transpose(x, (1, 0)), np.maximum(x, 0, x)): the ones it takes
    alone = f" ({name} takes {len(builtin.args)} argument{'s' * (len(builtin.args) > 1)})"
    return f"{name}({', '.join(positional[: len(builtin.args)])}){alone}"


def split_arguments(text: str, at: str = ",") -> list[str]:
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
    if (
        receiver.startswith("(")
        and closing(receiver, 0) == len(receiver) - 1
        and len(split_arguments(receiver[1:-1])) == 1
    ):
        receiver = receiver[1:-1]  # `(a + b).sum()` -> sum(a + b)
    receiver, *args = _spelled([receiver, *args])  # before the keywords are read: dim= is axis= to them
    positional = [a for a in args if not _KEYWORD.match(a)]
    keywords = [a for a in args if _KEYWORD.match(a)]
    if name == "reshape" and positional and not keywords:  # x.reshape(3, 4) -> reshape(x, [3, 4])
        shape = positional[0] if len(positional) == 1 else ""
        if shape.startswith("(") and shape.endswith(")"):
            shape = "[" + shape[1:-1].rstrip(" ,") + "]"
        args = [shape if shape.startswith("[") else f"[{', '.join(positional)}]"]
        positional = args
    names = [k for k, _ in builtin.keywords]
    given = [_KEYWORD.match(k).group().rstrip(" \t=") for k in keywords]
    if "axis" in names and len(builtin.args) == 1 and len(positional) == 1 and args[0] == positional[0]:
        if "axis" in given:  # x.sum(1, axis=0): which is meant is unknown
            return None
        args = [f"axis={positional[0]}", *args[1:]]  # x.mean(1) -> mean(x, axis=1)
        positional = []
    if len(positional) != len(builtin.args) - 1 or any(k not in names for k in given):
        return None
    return f"{name}({', '.join([receiver, *args])})"


def _spelled(args: list[str]) -> list[str]:
    """Arguments as Python writes them, as graphc does: True and False in lower case, and
    PyTorch's dim= and keepdim= as axis= and keepdims=."""
    return [re.sub(r"\b(True|False)\b", lambda b: b[1].lower(), a) for a in _torch_keywords(args)]


_TORCH_KEYWORD = re.compile(r"(?<![\w.])(dim|keepdim)([ \t]*=(?!=))")  # (ndim= is not one)


def _torch_keywords(args: list[str]) -> list[str]:
    """PyTorch's `dim=1` and `keepdim=True` as NumPy names them, `axis=1` and `keepdims=True`."""
    return [_TORCH_KEYWORD.sub(lambda k: {"dim": "axis", "keepdim": "keepdims"}[k[1]] + k[2], a) for a in args]


# methods of PyTorch's and NumPy's arrays that .nn writes another way
_IDENTITY_METHODS = frozenset(
    {"detach", "item", "numpy", "cpu", "cuda", "clone", "contiguous", "float", "double", "tolist"}
)
_RESHAPED = frozenset({"squeeze", "unsqueeze", "view_as", "expand", "expand_dims", "permute", "ravel"})


def _method_fix(method: str, receiver: str | None, args: list[str] | None) -> str | None:
    """What to write for `x.pow(2)`, `x.t()`, `x.view(-1, 3)`, `x.clamp(min=0)`, `x.detach()`,
    `x.size(0)`, where .nn has a way; else None."""
    r = receiver or "x"
    whole = re.fullmatch(r"[\w.{}+-]+|\w+\(.*\)", r) or (r.startswith("(") and closing(r, 0) == len(r) - 1)
    operand = r if whole else f"({r})"
    if method == "view" and receiver is not None and args is not None:
        call = _builtin_call("reshape", BUILTINS["reshape"], receiver, args)
        return f"write {call}" if call is not None else f"write reshape({r}, [...])"
    if method == "t" and not args:
        return f"write {operand}.T"
    if method == "pow" and args is not None and len(args) == 1 and not _KEYWORD.match(args[0]):
        return f"write {operand} ^ {args[0]}"
    if method in ("clamp", "clip") and args in (["min=0"], ["0"], ["min=0.0"], ["0.0"]):
        return f"write relu({r})"
    if method in ("clamp", "clip"):
        return FUNCTIONS[method]
    if method in _IDENTITY_METHODS and not args:
        return f"write {r}"
    if method == "flatten" and not args:
        return f"write reshape({r}, [-1])"
    if method in _RESHAPED:
        return f"write reshape({r}, [...])"
    if method in ("size", "dim", "numel"):
        return SIZES
    return None


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
            i = _opening(w, i - 1)
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


def closing(text: str, at: int, limit: int = SHORT) -> int | None:
    """The offset of the bracket that closes the one at `at`, or None, also when that is over `limit` on."""
    depth = 0
    for i in range(at, min(len(text), at + limit + 2)):
        depth += (text[i] in "([") - (text[i] in ")]")
        if depth == 0:
            return i
    return None


def closed_on_line(text: str, at: int) -> int | None:
    """The offset of the bracket that closes the one at `at` on the same line, before any
    comment there, or None."""
    line_end = text.find("\n", at)
    line_end = len(text) if line_end < 0 else line_end
    comment = text.find("#", at, line_end)
    code_end = line_end if comment < 0 else comment
    close = closing(text, at, code_end - at)
    return close if close is not None and close < code_end else None


def call_end(text: str, at: int) -> int:
    """The offset just past the call whose '(' is at `at`: past its ')' where that is on the
    same line (`np.exp(x)`), else past the name before the '(' (`np.exp`)."""
    close = closed_on_line(text, at)
    return close + 1 if close is not None else len(text[:at].rstrip(" \t"))


def _opening(text: str, at: int) -> int | None:
    """The offset of the bracket that the one at `at` closes, or None."""
    depth = 0
    for i in range(at, -1, -1):
        depth += (text[i] in ")]") - (text[i] in "([")
        if depth == 0:
            return i
    return None


def unused(name: str, whole: str) -> str:
    """`name`, or with as many `_` after it as make a name the file's code does not use yet."""
    code = re.sub(r"#[^\n]*", "", whole)
    while re.search(rf"\b{name}\b", code):
        name += "_"
    return name


_BRACES = re.compile(r"\{([^}\n]*)\}(\w*)")
_INDEX = re.compile(r"[A-Za-z_]\w*([+-]\d+)?")


def spaced_braces(text: str, at: int) -> str | None:
    """`W{i + 1}`: the braced name at the '{' at offset `at` written without its spaces, if
    that makes it one; else None."""
    m = _BRACES.match(text, at)
    inner = "".join(m.group(1).split()) if m else ""
    if not _INDEX.fullmatch(inner) or inner == m.group(1):  # (without spaces already: another mistake)
        return None
    line_start = text.rfind("\n", 0, at) + 1
    base = _NAME_BEFORE.search(text, max(line_start, at - SHORT), at)
    if base is None or base.start() == at - SHORT > line_start:  # none, or longer than a hint quotes
        return None
    return f"{base.group()}{{{inner}}}{m.group(2)}"
