"""The parser: lark's LALR tables for grammar/nn.lark, walked by graphc and fed by its own lexer.

The lexer must cut every text exactly as lark's basic lexer cuts it (less the
newlines inside brackets); the grammar must stay free of conflicts, which lark
would otherwise resolve silently; and the flattened expression levels must
keep the precedence, associativity and spans of the language.
"""

from __future__ import annotations

import gc
import logging
from pathlib import Path

import pytest
from lark import Lark
from lark.exceptions import UnexpectedCharacters, UnexpectedToken

from graphc import parser, tables
from graphc import syntax as S
from graphc.errors import GraphcError, Span
from graphc.lexer import Lexer
from graphc.parser import MAX_DEPTH, parse
from graphc.tables import Stuck

EXAMPLES = sorted((Path(__file__).parent.parent / "examples").glob("*.nn"))

# every lexical corner in one text: keywords and names that start like them,
# braced names, numbers and ranges, both power spellings, comments, CRLF,
# tabs, runs of blank lines, and newlines inside ( ) [ ] but not { }
CORNERS = (
    "model m  # a comment\r\n"
    "dim B\n\n\n   \n"
    "input x : [B,\n  3]\n"
    "param W{i} : int[3] = normal(0,\n\n 1)\n"
    "modelx = inx + for_ + W{i+1}x + W{i-2} + 2.5E+4 + 1e-3 + 0.5 + 7\n"
    "for i in 1..3 {\n\ty = x ** 2 ^ -x.T @ (1, 2) / [3]\n}\n"
    "minimize y wrt W1, x\r\n"
    "z = (a\n  + b)  # continued\n"
    "$ ~ ]) \x1b\n"
)


def ours(text: str) -> list:
    lexer = Lexer(parser._front()[0].lexer_conf)
    kinds: list[str] = []
    spans: list[int] = []
    try:
        for _ in lexer.lines(text, kinds, spans):
            pass
        return [_fields(t) for t in lexer.tokens(text, kinds, spans)]
    except Exception as e:  # an unexpected character: compare where it is
        return [type(e).__name__, e.line, e.column]


def larks(text: str) -> list:
    """lark's basic lexer over the same grammar, newlines inside ( ) and [ ] dropped."""
    lark = Lark(parser._grammar_text(), parser="lalr", lexer="basic")
    out, depth = [], 0
    try:
        for t in lark.lex(text):
            if t.type in ("LPAR", "LSQB"):
                depth += 1
            elif t.type in ("RPAR", "RSQB") and depth:
                depth -= 1
            elif t.type == "_NL" and depth:
                continue
            out.append(_fields(t))
    except Exception as e:
        return [type(e).__name__, e.line, e.column]
    return out


def _fields(t) -> tuple:
    return (t.type, str(t), t.start_pos, t.end_pos, t.line, t.column, t.end_line, t.end_column)


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_lexer_cuts_the_examples_as_lark_does(path: Path) -> None:
    text = path.read_text()
    assert ours(text) == larks(text)


@pytest.mark.parametrize("cut", [None, CORNERS.index("$")], ids=["whole", "up-to-bad-character"])
def test_lexer_cuts_the_corners_as_lark_does(cut: int | None) -> None:
    text = CORNERS if cut is None else CORNERS[:cut] + "\n"
    assert ours(text) == larks(text)


def test_lexer_drops_newlines_only_inside_parentheses_and_brackets() -> None:
    types = [t[0] for t in ours("a = (1,\n2)\nb = [3,\n4]\nfn f() {\n}\n")]
    assert types.count("_NL") == 4  # after ), after ], after {, after }


ERR_PROGRAMS = sorted((Path(__file__).parent / "programs" / "err").glob("*.nn"))
# one statement at every depth of blocks, which the automaton steps over in one go where it
# met it before on the same states (Tables.recognize), then a mistake after such repeats
REPEATS = (
    "y = a + b * c\nfor i in 1..2 {\n  y = a + b * c\n  y = a + b * c\n  for j in 1..2 {\n    y = a + b * c\n"
    "    y = a + b * c\n  }\n  y = a + b * c\n}\nfn f(a, b) {\n  y = a + b * c\n  return y\n}\ny = a + b * c\n"
)
BROKEN = [
    "x = 1 2\n",
    "loss = (a +\n",
    "fn f(a = a\n",
    "param w : [3\nminimize w\n",
    "for i in 1..3 {\n",
    "x = )\n",
    REPEATS,
    REPEATS.replace("    y = a + b * c\n  }", "    y = a + b * c)\n  }"),
    REPEATS.replace("  return y", "  y = a + b * c\n  y = (a + b * c\n  return y"),
]


def larks_loop(text: str):
    """lark's own LALR loop over our tokens: the value, or (token, accepted terminals) at an error."""
    lark, _, lexer, _ = parser._front()
    ip, tok = lark.parse_interactive(""), None
    kinds, spans = [], []
    tokens = lexer.tokens(text, kinds, spans)  # made one by one as `lines` appends, so an error stops both
    try:
        for _ in _one_at_a_time(lexer.lines(text, kinds, spans)):
            tok = next(tokens)
            ip.feed_token(tok)
        return ip.feed_eof(tok)
    except UnexpectedToken as e:
        return str(e.token), e.token.line, e.token.column, ip.accepts()
    except UnexpectedCharacters as e:
        return e.line, e.column


def _one_at_a_time(lines):
    """A step for each token `lines` finds, as lark's loop takes them."""
    done = 0
    for count in lines:
        yield from range(done, count)
        done = count


def our_loop(text: str):
    _, _, lexer, tables = parser._front()
    kinds, spans = [], []
    try:
        trace = tables.recognize(lexer.lines(text, kinds, spans), kinds)
    except Stuck as e:
        token = parser._stuck_token(text, kinds, spans, e.at)
        return str(token), token.line, token.column, e.accepts
    except UnexpectedCharacters as e:
        return e.line, e.column
    return tables.build(trace, lexer.tokens(text, kinds, spans))


@pytest.mark.parametrize(
    "text",
    [p.read_text() for p in EXAMPLES + ERR_PROGRAMS] + [CORNERS[: CORNERS.index("$")]] + BROKEN,
    ids=[p.name for p in EXAMPLES + ERR_PROGRAMS] + ["corners"] + [f"broken{i}" for i in range(len(BROKEN))],
)
def test_table_walk_matches_larks_own_loop(text: str) -> None:
    """tables.Tables steps through lark's tables itself for speed, first over token
    kinds, then building the tree from the trace: the tree, or the failing token
    and what would have been accepted there, must be lark's."""
    with parser._LOCK:
        assert our_loop(text) == larks_loop(text)


# those with no syntax error: their tree is a tuple of statements (a syntax error is a tuple too, of where it is)
TREES = [p for p in EXAMPLES + ERR_PROGRAMS if all(isinstance(s, S.Stmt) for s in our_loop(p.read_text()))]


@pytest.mark.parametrize(
    "text", [p.read_text() for p in TREES] + [CORNERS[: CORNERS.index("$")]], ids=[p.name for p in TREES] + ["corners"]
)
def test_leaves_build_the_tree_that_lark_tokens_build(text: str) -> None:
    """parse builds the tree from lexer.Leaf tuples, with None for the tokens no rule keeps
    ("=", ",", newlines): it must be the tree that full lark Tokens build."""
    _, _, lexer, walk = parser._front()
    kinds, spans = [], []
    with parser._LOCK:
        trace = walk.recognize(lexer.lines(text, kinds, spans), kinds)
        leaves = list(lexer.leaves(text, kinds, spans, walk.dropped))
        assert walk.build(trace, leaves) == walk.build(trace, lexer.tokens(text, kinds, spans))
    assert {leaf.type for leaf in leaves if leaf is not None} & walk.dropped == set()
    assert {"EQUAL", "COMMA", "_NL"} <= walk.dropped


@pytest.mark.parametrize(
    "text",
    [p.read_text() for p in EXAMPLES] + [CORNERS[: CORNERS.index("$")] * 2, REPEATS],
    ids=[p.name for p in EXAMPLES] + ["corners twice", "repeats"],
)
def test_repeated_statements_run_as_compiled_steps_build_larks_tree(text: str, monkeypatch) -> None:
    """A statement whose steps the automaton took before runs them as a function written for
    them once it is met often enough (tables._compiled), not step by step: written from its
    first repeat on, every repeat of each text runs that way, and the tree must be lark's."""
    monkeypatch.setattr(tables, "_COMPILED", 1)
    _, _, lexer, walk = parser._front()
    kinds, spans = [], []
    with parser._LOCK:
        trace = walk.recognize(lexer.lines(text, kinds, spans), kinds)
        built = walk.build(trace, lexer.leaves(text, kinds, spans, walk.dropped))
        assert built == larks_loop(text)
    repeats = [act for act in trace if isinstance(act, tables._Replay)]
    assert repeats and all(act.run is not None for act in repeats)


def test_grammar_has_no_conflicts(caplog: pytest.LogCaptureFixture) -> None:
    """lark settles a shift/reduce conflict by shifting and only logs it; the flat levels must have none."""
    with caplog.at_level(logging.DEBUG, logger="lark"):
        Lark(parser._grammar_text(), parser="lalr", maybe_placeholders=True, debug=True)
    assert not [r.getMessage() for r in caplog.records if "onflict" in r.getMessage()]


def show(e: S.Expr) -> str:
    """The expression fully parenthesized."""
    if isinstance(e, S.Name):
        return e.text
    if isinstance(e, S.Num):
        return repr(int(e.value)) if e.is_int else repr(e.value)
    if isinstance(e, S.Bool):
        return str(e.value).lower()
    if isinstance(e, S.Unary):
        return f"({e.op}{show(e.operand)})"
    if isinstance(e, S.Binary):
        return f"({show(e.left)} {e.op} {show(e.right)})"
    if isinstance(e, S.Attr):
        return f"{show(e.value)}.{e.attr}"
    if isinstance(e, S.Call):
        args = [show(a) for a in e.args] + [f"{k.name}={show(k.value)}" for k in e.kwargs]
        return f"{e.func}({', '.join(args)})"
    if isinstance(e, S.TupleLit):
        return "(" + ", ".join(show(i) for i in e.items) + ",)"
    if isinstance(e, S.ListLit):
        return "[" + ", ".join(show(i) for i in e.items) + "]"
    raise AssertionError(e)


def value(expr: str) -> S.Expr:
    (stmt,) = parse(f"y = {expr}\n", "m.nn").stmts
    return stmt.value


@pytest.mark.parametrize(
    "expr, tree",
    [
        ("a + b - c", "((a + b) - c)"),
        ("a - b * c", "(a - (b * c))"),
        ("a * b / c @ d", "(((a * b) / c) @ d)"),
        ("-a * b", "((-a) * b)"),
        ("a * -b", "(a * (-b))"),
        ("-x^2", "(-(x ^ 2))"),
        ("x^-1", "(x ^ (-1))"),
        ("a ^ b ** c", "(a ^ (b ^ c))"),
        ("--+a", "(-(-(+a)))"),
        ("a.T.T @ b", "(a.T.T @ b)"),
        ("f(a, axis=1).T ^ 2", "(f(a, axis=1).T ^ 2)"),
        ("(a + b) * c", "((a + b) * c)"),
        ("(a, (b), [c, d])", "(a, b, [c, d],)"),
        ("[]", "[]"),
        ("sum(x * W{i+1}, axis=(0, 1), keepdims=true)", "sum((x * W{i+1}), axis=(0, 1,), keepdims=true)"),
        ("2.5E+4 * 1e-3 + 3 - 0.5", "(((25000.0 * 0.001) + 3) - 0.5)"),
        ("f() + g(h(1))", "(f() + g(h(1)))"),
        ("false * true", "(false * true)"),
    ],
)
def test_precedence_and_associativity(expr: str, tree: str) -> None:
    assert show(value(expr)) == tree


def test_spans_of_every_node() -> None:
    e = value("-x^2 + f(a,\n  k=1).T")
    assert e.span == Span("m.nn", 1, 5, 2, 9)
    assert e.op_span == Span("m.nn", 1, 10, 1, 11)
    neg, attr = e.left, e.right
    assert neg.span == Span("m.nn", 1, 5, 1, 9)
    assert neg.operand.span == Span("m.nn", 1, 6, 1, 9)  # x^2
    assert neg.operand.left.span == Span("m.nn", 1, 6, 1, 7)
    assert attr.span == Span("m.nn", 1, 12, 2, 9) and attr.attr_span == Span("m.nn", 2, 8, 2, 9)
    call = attr.value
    assert call.span == Span("m.nn", 1, 12, 2, 7) and call.func_span == Span("m.nn", 1, 12, 1, 13)
    assert call.kwargs[0].span == Span("m.nn", 2, 3, 2, 6)


def test_statement_spans_and_lines_after_blank_runs() -> None:
    stmts = parse("model m\n\n\n\n   \ndim B, T\r\n\r\ny = 1\n", "m.nn").stmts
    assert [(s.span.line, s.span.col, s.span.end_col) for s in stmts] == [(1, 1, 8), (6, 1, 9), (8, 1, 6)]


def test_braced_names() -> None:
    a, b, c = (value(x) for x in ("W{i}", "W{i+1}", "b{k-2}"))
    assert (a.base, a.index, a.offset) == ("W", "i", 0)
    assert (b.base, b.index, b.offset) == ("W", "i", 1)
    assert (c.base, c.index, c.offset) == ("b", "k", -2)


def test_for_loop_range_and_block() -> None:
    (loop,) = parse("for i in 1..3 {\n  h = h @ W{i}\n  g = h\n}\n", "m.nn").stmts
    assert isinstance(loop, S.ForLoop) and (loop.start.value, loop.stop.value) == (1, 3)
    assert [type(s).__name__ for s in loop.body] == ["Assign", "Assign"]


def test_fn_forms() -> None:
    f, g = parse("fn f(a, b) = a @ b\nfn g() {\n  t = 1\n  return t }\n", "m.nn").stmts
    assert [p.base for p in f.params] == ["a", "b"] and isinstance(f.body[0], S.Return)
    assert g.params == () and [type(s).__name__ for s in g.body] == ["Assign", "Return"]


def errors(text: str) -> list[str]:
    with pytest.raises(GraphcError) as info:
        parse(text, "m.nn")
    return [f"{d.span.line}:{d.span.col}: {d.message}" for d in info.value.diagnostics]


def test_names_that_start_with_a_keyword_are_names() -> None:
    (stmt,) = parse("modelx = inx + for_ + int2\n", "m.nn").stmts
    assert stmt.target.base == "modelx"


@pytest.mark.parametrize(
    "text, where",
    [
        ("in = 1\n", "1:1"),
        ("y = 1 + true\nx = in\n", "2:5"),
        ("minimize loss wrt for\n", "1:19"),
        # a braced name is one token: its reserved base is refused before the
        # statement around it could fail (`param{i} : ...` is no assignment)
        ("for i in 1..2 {\n    param{i} : [3]\n}\n", "2:5"),
        ("x = for{i} + 1\n", "1:5"),
    ],
)
def test_reserved_words_are_never_names(text: str, where: str) -> None:
    assert any(e.startswith(where) and "reserved word" in e for e in errors(text)), errors(text)


def test_a_keyword_is_not_split_off_a_longer_name() -> None:
    assert errors("minimize loss wrth\n") == ["1:15: unexpected name 'wrth'; expected 'wrt' or end of line"]


def test_newline_inside_braces_still_ends_a_statement() -> None:
    assert errors("fn f(a) {\n  y = a return y\n}\n")[0].startswith("2:9: unexpected 'return'")


def test_errors_on_later_lines_after_blank_runs() -> None:
    text = "a = 1 +\n\n\n\nb = (2\n\n, 3,, 4)\n" + "\n" * 1000 + "c = $\n"
    assert errors(text) == [
        "1:8: unexpected end of line; expected an expression",
        "7:5: unexpected ','; expected an expression or ')'",
        "1008:5: unexpected character '$'",
    ]


CHAIN = "each operator of a long chain such as a + b + c + ... is one level): split it over several statements"


def test_nesting_limit() -> None:
    assert show(value("(" * 5000 + "w" + ")" * 5000)) == "w"  # parentheses add no depth
    assert value("-" * (MAX_DEPTH - 1) + "w").depth == MAX_DEPTH
    for deep in ("-" * MAX_DEPTH + "w", "w" + "^w" * MAX_DEPTH, "w" + " + w" * MAX_DEPTH):
        assert errors(f"y = {deep}\n")[0].endswith(f"nested too deeply (more than {MAX_DEPTH} levels; {CHAIN}")


def test_garbage_collection_is_back_on_after_a_parse() -> None:
    parse("y = 1\n", "m.nn")
    assert gc.isenabled()
    errors("y = (\n")
    assert gc.isenabled()
    gc.disable()
    try:
        parse("y = 1\n", "m.nn")
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_braced_names_may_carry_a_suffix():
    from graphc.pipeline import check

    lowered = check(
        "dim B\ninput x : [B, 2]\nh = x\nfor i in 1..2 {\n  param W{i}_w : [2, 2]\n  h = h @ W{i}_w\n}\nloss = sum(h)\nminimize loss\n",
        "m.nn",
    )
    assert list(lowered.graph.params) == ["W1_w", "W2_w"]


def test_a_non_breaking_space_is_named() -> None:
    assert errors("y = x\u00a0+ 1\n") == ["1:6: '\\xa0' (U+00A0) looks like a space; type the ASCII character"]


@pytest.mark.parametrize(
    "expr, tree",
    [
        ("f(a, b,)", "f(a, b)"),
        ("sum(x, axis=(0, 1,),)", "sum(x, axis=(0, 1,))"),
        ("reshape(x, [B, -1,])", "reshape(x, [B, (-1)])"),
        ("(a,)", "(a,)"),
        ("(a)", "a"),
        ("[a,]", "[a]"),
    ],
)
def test_a_trailing_comma_inside_brackets_is_accepted(expr: str, tree: str) -> None:
    assert show(value(expr)) == tree


def test_a_trailing_comma_in_shapes_and_fn_parameters() -> None:
    p, f = parse("param w : [3, 4,]\nfn f(a, b,) = a\n", "m.nn").stmts
    assert len(p.type.dims) == 2 and [a.base for a in f.params] == ["a", "b"]


def test_a_trailing_comma_after_names_outside_brackets_is_named() -> None:
    assert errors("output a, b,  # both\n") == [
        "1:12: unexpected ',' at the end of the line: the names after output take no trailing comma"
    ]


def test_the_syntax_error_cap_is_said() -> None:
    with pytest.raises(GraphcError) as info:
        parse("x = $\n" * (parser.MAX_SYNTAX_ERRORS + 2), "m.nn")
    *found, last = info.value.diagnostics
    assert len(found) == parser.MAX_SYNTAX_ERRORS and last.span is None
    assert last.message == "graphc stopped after 10 syntax errors; mend these and run it again"
    assert len(errors("x = $\n" * parser.MAX_SYNTAX_ERRORS)) == parser.MAX_SYNTAX_ERRORS  # nothing left unread


def test_the_syntax_error_cap_holds_where_a_statement_gives_two() -> None:
    """A statement with a bracket never closed is two errors; as the tenth it made eleven."""
    text = "y = 1 @@ 2\n" * (parser.MAX_SYNTAX_ERRORS - 1) + "w = np.exp(x\nv = 1 @@ 2\n"
    with pytest.raises(GraphcError) as info:
        parse(text, "m.nn")
    *found, last = info.value.diagnostics
    assert len(found) == parser.MAX_SYNTAX_ERRORS and found[-1].span.line == parser.MAX_SYNTAX_ERRORS
    assert last.message.startswith("graphc stopped after 10 syntax errors")
