"""The hints in syntax errors: each suggested fix is one graphc accepts, and none costs more than the line."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from graphc.errors import GraphcError
from graphc.parser import parse


def errors(text: str) -> list[str]:
    with pytest.raises(GraphcError) as info:
        parse(text, "m.nn")
    return [f"{d.span.line}:{d.span.col}: {d.message}" for d in info.value.diagnostics]


LONG_LINES = [
    "y = x" + ".a" * 40_000 + "()\n",
    "y = x" + ". a" * 40_000 + "(\n",
    "y = " + "a" * 40_000 + ".{ i }\n",
    "y = (" + " + ".join(["x"] * 20_000) + ").sum()\n",
    "y = 2(" + " + ".join(["x"] * 20_000) + ")\n",
    "y = " + "1." * 20_000 + "x\n",
]


def test_a_long_line_costs_no_more_than_its_length() -> None:
    """The hints look back from the error a bounded way, and quote no more than a few dozen characters."""
    code = (
        "import sys\nfrom graphc.parser import parse\nfrom graphc.errors import GraphcError\n"
        "for text in sys.stdin.read().split('\\0'):\n"
        "    try:\n        parse(text, 'm.nn')\n"
        "    except GraphcError as e:\n        print(max(len(d.message) for d in e.diagnostics))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], input="\0".join(LONG_LINES), capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    lengths = [int(n) for n in proc.stdout.split()]
    assert len(lengths) == len(LONG_LINES) and max(lengths) < 200


def test_long_quoted_text_gives_the_general_form() -> None:
    assert errors("y = (" + " + ".join(["x"] * 100) + ").sum()\n") == [
        "1:404: there are no methods in .nn: write sum(value, ...)"
    ]
    assert errors("y = 2(" + " + ".join(["x"] * 100) + ")\n") == ["1:6: unexpected '(' after a number; write 2*(...)"]
    assert errors("y = " + "1." * 100 + "x\n")[0].endswith(
        "malformed number; numbers are written like 3, 0.5, 1e-3 or 2.5E+4"
    )


MODEL = "model m\ninput x : [3, 4]\nparam W : [4, 2]\ny = {}\nloss = sum(y)\nminimize loss\n"


@pytest.mark.parametrize(
    "expr, fix",
    [
        ("x.dot(W)", "x @ W"),
        ("x.matmul(W + 0)", "x @ (W + 0)"),
        ("1 / x.dot(W)", "(x @ W)"),
        ("x.dot(W)^2", "(x @ W)"),
        ("x.mean(1)", "mean(x, axis=1)"),
        ("x.sum(0, keepdims=true)", "sum(x, axis=0, keepdims=true)"),
        ("x.softmax(-1)", "softmax(x, axis=-1)"),
        ("x.reshape(2, 6)", "reshape(x, [2, 6])"),
        ("x.reshape((12,))", "reshape(x, [12])"),
        ("x.reshape(-1)", "reshape(x, [-1])"),
        ("(x + 1).max(axis=0)", "max(x + 1, axis=0)"),
        ("x.maximum(0)", "maximum(x, 0)"),
        ("x.mean(1, keepdims=True)", "mean(x, axis=1, keepdims=true)"),
    ],
)
def test_a_method_call_is_told_a_fix_that_checks(expr: str, fix: str) -> None:
    from graphc.pipeline import check

    (message,) = [e.split(": ", 1)[1] for e in errors(MODEL.format(expr))]
    assert message == f"there are no methods in .nn: write {fix}"
    replaced = {"1 / x.dot(W)": "1 / (x @ W)", "x.dot(W)^2": "(x @ W)^2"}.get(expr, fix)
    check(MODEL.format(replaced), "m.nn")


@pytest.mark.parametrize(
    "expr, library, fix, replaced",
    [
        ("np.exp(x)", "np", "exp(x)", None),
        ("numpy.exp(x + 1)", "numpy", "exp(x + 1)", None),
        ("np.sum(x, axis=0, keepdims=True)", "np", "sum(x, axis=0, keepdims=true)", None),
        ("np.dot(x, W)", "np", "x @ W", None),
        ("1 / np.matmul(x + 0, W)", "np", "((x + 0) @ W)", "1 / ((x + 0) @ W)"),
        ("np.reshape(x, (2, 6))", "np", "reshape(x, [2, 6])", None),
        ("torch.maximum(x, 0)", "torch", "maximum(x, 0)", None),
        # the library's calls among its arguments, converted as the call itself is
        ("tf.reduce_mean(tf.square(x - 1))", "tf", "mean(square(x - 1))", None),
        ("torch.tanh(torch.matmul(x, W))", "torch", "tanh(x @ W)", None),
        ("np.exp(-np.abs(x))", "np", "exp(-abs(x))", None),
        ("np.exp(2 * np.dot(x, W))", "np", "exp(2 * (x @ W))", None),
        ("torch.sum(torch.exp(x), dim=1, keepdim=True)", "torch", "sum(exp(x), axis=1, keepdims=true)", None),
        ("np.dot(np.tanh(x), W)", "np", "tanh(x) @ W", None),
        ("np.log(np.sum(np.exp(x), axis=1))", "np", "log(sum(exp(x), axis=1))", None),
        ("np.exp(x.sum(axis=1))", "np", "exp(sum(x, axis=1))", None),
        ("torch.tanh(x.mean(dim=0, keepdim=True))", "torch", "tanh(mean(x, axis=0, keepdims=true))", None),
    ],
)
def test_a_library_call_is_told_graphcs_own_call(expr: str, library: str, fix: str, replaced: str | None) -> None:
    from graphc.pipeline import check

    (found,) = errors(MODEL.format(expr))
    assert found == f"4:{5 + expr.index(library)}: there is no {library} here: write {fix}"
    check(MODEL.format(replaced or fix), "m.nn")


LONG_CALL = "np.exp(" + " + ".join(["x"] * 40) + ")"


@pytest.mark.parametrize(
    "text, underlined",
    [
        ("y = np.exp(x)\n", "np.exp(x)"),
        ("y = 2 * np . exp (x) + 1\n", "np . exp (x)"),
        (f"y = {LONG_CALL}\n", LONG_CALL),  # longer than a hint quotes, on one line still
        ("y = np.exp(  # a ) in a comment\n  x)\n", "np.exp"),  # the call goes on: its name alone
        ("y = np.exp(x\n  + 1)\n", "np.exp"),
        ("y = x.sum(axis=0) + 1\n", ".sum(axis=0)"),
        ("y = x.sum(\n  axis=0)\n", ".sum"),
        ("y = x[0:2]\n", "[0:2]"),
        ("y = x[0  # (\n]\n", "["),
    ],
)
def test_the_carets_of_a_call_cover_the_call_or_else_its_name(text: str, underlined: str) -> None:
    with pytest.raises(GraphcError) as info:
        parse(text, "m.nn")
    span = info.value.diagnostics[0].span
    assert span.line == span.end_line == 1
    assert text.split("\n")[0][span.col - 1 : span.end_col - 1] == underlined


def test_a_library_function_graphc_lacks_is_named() -> None:
    assert errors("y = np.linalg.norm(x)\n") == ["1:5: there is no np.linalg here, and no builtin 'norm' in .nn"]
    # a name of the file's own is no library: its call is a method call
    assert errors("np = x\ny = np.sum()\n")[0].endswith("there are no methods in .nn: write sum(np)")
    # also where an error between them restarted the parse, past the line that names it
    assert errors("np = x\ny = $\nz = np.sum()\n")[1].endswith("there are no methods in .nn: write sum(np)")


@pytest.mark.parametrize(
    "expr, message",
    [
        ("x.argmax()", "there are no methods in .nn, and no builtin 'argmax'"),
        ("x.dot(W, out=z)", "there are no methods in .nn: a matrix product is written a @ b"),
        ("x.sum(0, 1)", "there are no methods in .nn: write sum(x, ...)"),
        ("x.sum(axis=1", "there are no methods in .nn: write sum(x, ...)"),
        ("x.sum(1, axis=0)", "there are no methods in .nn: write sum(x, ...)"),
        ("x.transpose(1, 0)", "there are no methods in .nn: write transpose(x, ...)"),
    ],
)
def test_a_method_call_without_a_sure_fix_gets_the_general_form(expr: str, message: str) -> None:
    assert errors(f"y = {expr}\n")[0] == f"1:6: {message}"


@pytest.mark.parametrize(
    "expr, fix",
    [
        ("x.view(-1, 3)", "write reshape(x, [-1, 3])"),
        ("x.t()", "write x.T"),
        ("(x + 1).pow(2)", "write (x + 1) ^ 2"),
        ("x.clamp(min=0)", "write relu(x)"),
        ("x.clamp(0, 1)", "write maximum(minimum(x, hi), lo)"),
        ("x.mm(W)", "write x @ W"),
        ("x.detach()", "write x"),
        ("x.sum(dim=1)", "write sum(x, axis=1)"),
        ("x.mean(dim=-1, keepdim=True)", "write mean(x, axis=-1, keepdims=true)"),
        # the receiver is spelled as graphc writes it too
        ("sum(x, keepdim=True).mean(dim=0)", "write mean(sum(x, keepdims=true), axis=0)"),
        ("x.flatten()", "write reshape(x, [-1])"),
        ("x.unsqueeze(0)", "write reshape(x, [...])"),
        ("x.size(0)", "a size is written as its dim or its number"),
    ],
)
def test_a_pytorch_method_is_told_how_nn_writes_it(expr: str, fix: str) -> None:
    (found,) = errors(f"y = {expr}\n")
    assert found.endswith(f": there are no methods in .nn: {fix}")


@pytest.mark.parametrize(
    "expr, message",
    [
        ("torch.sum(x, dim=1)", "there is no torch here: write sum(x, axis=1)"),
        # a builtin under another library's name for it
        ("np.amax(x, axis=0)", "there is no np here: write max(x, axis=0)"),
        ("np.average(x)", "there is no np here: write mean(x)"),
        ("tf.reduce_mean(x, axis=1, keepdims=True)", "there is no tf here: write mean(x, axis=1, keepdims=true)"),
        ("tf.reduce_logsumexp(x)", "there is no tf here: write logsumexp(x)"),
        ("torch.mean(x, dim = 1, keepdim=True)", "there is no torch here: write mean(x, axis = 1, keepdims=true)"),
        # only a keyword that is dim= itself is PyTorch's axis=
        ("torch.sum(x, ndim=1)", "there is no torch here: write sum(x, ndim=1)"),
        # a call among the arguments with no .nn equivalent: the general form, not an invalid fix
        ("tf.reduce_mean(tf.cast(x, tf.float32))", "there is no tf here: write mean(...)"),
        ("np.exp(np.dot(x, W, out=o))", "there is no np here: write exp(...)"),
        ("np.exp((x + 1).sum())", "there is no np here: write exp(...)"),
        ("np.exp(x.view(-1))", "there is no np here: write exp(...)"),
        ("np.exp(np.exp(np.exp(np.exp(np.exp(x)))))", "there is no np here: write exp(...)"),  # deeper than is read
        ("tf.reduce_mean(tf.square(p - y))", "there is no tf here: write mean(square(p - y))"),
        ("torch.tanh(torch.matmul(x, W))", "there is no torch here: write tanh(x @ W)"),
        ("np.exp(-np.abs(x))", "there is no np here: write exp(-abs(x))"),
        ("F.mse_loss(p, y)", "there is no F here: write mean((p - y)^2)"),
        ("torch.cat([a, b])", "there is no torch here, and no function 'cat' in .nn: arrays are not joined"),
        (
            "torch.randn(3, 4)",
            "there is no torch here: declare y as param y : [3, 4] = normal(0, 1) if it is learned, "
            "or as input y : [3, 4] if the caller passes it",
        ),
        ("nn.Linear(3, 4)", "there is no nn here: a layer is its params: declare param W : [3, 4] and param b : [4]"),
        (
            "nn.Parameter(torch.randn(3, 4))",
            "there is no nn here: a param's initial values are given where it is declared: "
            "param y : [3, 4] = normal(0, 1)",
        ),
        (
            "torch.tensor([1.0, 2.0])",
            "there is no torch here, and no array literals in .nn: declare y as input y : [2], which the caller passes",
        ),
        (
            "np.array([[1, 2], [3, 4]])",
            "there is no np here, and no array literals in .nn: declare y as input y : [2, 2], which the caller passes",
        ),
        # values that make no array of one shape, or none of numbers: the general form
        ("np.array([[1, 2], [3]])", "there is no np here, and no array literals in .nn: declare y as input y : [...]"),
        ("np.array([True, False])", "there is no np here, and no array literals in .nn: declare y as input y : [...]"),
        ("np.array([])", "there is no np here, and no array literals in .nn: declare y as input y : [...]"),
        ("nn.Parameter(w0)", "there is no nn here: a learned array is a param: declare param y : [...] with its"),
        ("nn.Parameter(torch.randn(3) * torch.ones(3))", "there is no nn here: a learned array is a param: declare"),
        # scaled by more than one literal number, or by a name: the general form
        ("nn.Parameter(torch.randn(3) * 0.1 * 2)", "there is no nn here: a learned array is a param: declare"),
        ("nn.Parameter(torch.randn(3) * s)", "there is no nn here: a learned array is a param: declare"),
        ("nn.Parameter(torch.randn(3) ** 2)", "there is no nn here: a learned array is a param: declare"),
        ("nn.Parameter(nn.init.xavier_uniform_(w) * 2)", "there is no nn here: a learned array is a param: declare"),
    ],
)
def test_a_pytorch_function_is_told_how_nn_writes_it(expr: str, message: str) -> None:
    (found,) = errors(f"y = {expr}\n")
    assert found.startswith(f"1:5: {message}")


@pytest.mark.parametrize("call", ["nn.Parameter(torch.zeros(B, 4))", "torch.zeros(B, 4, requires_grad=True)"])
def test_a_learned_array_with_a_dim_in_its_shape_is_offered_no_param_with_it(call: str) -> None:
    (found,) = errors(f"dim B\ny = {call}\n")
    assert found.endswith("given where it is declared: param y : [...] = zeros (a param's shape has no dims)")


LONG_MAKERS = [
    "torch.randn(3, F, dtype=torch.float32, device=some_device, requires_grad=True)",
    "torch.zeros(3, dtype=torch.float32, device=some_device_name, requires_grad=False)",
    "np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0], [7.0, 8.0, 9.0], [1.0, 1.0, 1.0]])",
]


def test_a_call_longer_than_a_message_quotes_is_read_where_it_closes_on_its_line() -> None:
    """A fix that quotes a part of a long call (a maker's sizes, see the declarations test
    below) is given; one quoting all its arguments only where they fit in SHORT."""
    from graphc.syntax_hints import SHORT

    assert all(len(call[call.index("(") + 1 : -1]) > SHORT for call in LONG_MAKERS)
    long = "some_long_name_one + some_long_name_two * another_long_name_three"
    assert len(long) > SHORT
    assert errors(f"y = np.exp({long})\n") == ["1:5: there is no np here: write exp(...)"]
    assert errors(f"y = torch.sum({long}, dim=1)\n") == ["1:5: there is no torch here: write sum(...)"]
    padded = "some_long_name_one + some_long_name_two * another_name"
    assert len(padded) <= SHORT < len(f"  {padded}     ")
    assert errors(f"y = np.exp(  {padded}     )\n") == [f"1:5: there is no np here: write exp({padded})"]


@pytest.mark.parametrize(
    "line, declarations, then",
    [
        ("y = torch.zeros(3)", ["param y : [3] = zeros", "input y : [3]"], ""),
        ("y = np.ones((2, F))  # a comment", ["param y : [2, F] = ones", "input y : [2, F]"], ""),
        ("y = np.full((3, 4), -0.5)", ["param y : [3, 4] = const(-0.5)", "input y : [3, 4]"], ""),
        ("y = np.random.normal(0, 0.1, (4, 2))", ["param y : [4, 2] = normal(0, 0.1)", "input y : [4, 2]"], ""),
        ("y = torch.zeros(B, 3)", ["input y : [B, 3]"], ""),  # no param has a dim in its shape
        # a dtype passed by position is no size
        ("y = np.zeros(3, float)", ["param y : [3] = zeros", "input y : [3]"], ""),
        ("y = np.ones((2, 4), np.float32)", ["param y : [2, 4] = ones", "input y : [2, 4]"], ""),
        ("y = torch.zeros(3, requires_grad=True)", ["param y : [3] = zeros"], ""),  # learned, as it says
        # a part of y's value: the array takes a name of its own, which stands for the call
        ("y = z + np.zeros(3)", ["param c : [3] = zeros", "input c : [3]"], "y = z + c"),
        # nn.Parameter is learned: the param that the array inside it declares
        ("y = nn.Parameter(torch.randn(3, 4))", ["param y : [3, 4] = normal(0, 1)"], ""),
        ("y = nn.Parameter(torch.zeros(F))", ["param y : [F] = zeros"], ""),
        ("y = z * nn.Parameter(torch.ones(3))", ["param c : [3] = ones"], "y = z * c"),
        ("y = nn.Parameter(torch.tensor([1.0, -2e-3]))", ["param y : [2] = zeros"], ""),
        # a maker scaled by a number: the initializer that draws the scaled values
        ("y = torch.randn(3, 4) * 0.01", ["param y : [3, 4] = normal(0, 0.01)", "input y : [3, 4]"], ""),
        ("y = 2 * torch.rand(3, F)  # wider", ["param y : [3, F] = uniform(0, 2)", "input y : [3, F]"], ""),
        ("y = torch.rand(3) * -2", ["param y : [3] = uniform(-2, 0)", "input y : [3]"], ""),
        ("y = np.random.normal(1, 0.5, (4, 2)) * 3", ["param y : [4, 2] = normal(3, 1.5)", "input y : [4, 2]"], ""),
        ("y = np.ones((3, F)) * 1e-2", ["param y : [3, F] = const(0.01)", "input y : [3, F]"], ""),
        ("y = nn.Parameter(torch.randn(3, 4) * 0.1)", ["param y : [3, 4] = normal(0, 0.1)"], ""),
        ("y = nn.Parameter(0.5 * torch.rand(F))", ["param y : [F] = uniform(0, 0.5)"], ""),
        ("y = z * nn.Parameter(torch.randn(3) * 0.1)", ["param c : [3] = normal(0, 0.1)"], "y = z * c"),
        # a product that is a part of y's value: the call alone takes the name, the factor stays
        ("y = z + torch.randn(3) * 0.1", ["param c : [3] = normal(0, 1)", "input c : [3]"], "y = z + c * 0.1"),
        ("y = torch.randn(3) * 0.1 * 2", ["param c : [3] = normal(0, 1)", "input c : [3]"], "y = c * 0.1 * 2"),
        ("y = np.random.normal(F, 1, 3) * 2", ["param c : [3] = normal(F, 1)", "input c : [3]"], "y = c * 2"),
        # arguments longer than a message quotes, read where the call closes on its line
        (f"y = {LONG_MAKERS[0]}", ["param y : [3, F] = normal(0, 1)"], ""),
        (f"y = z + {LONG_MAKERS[1]}", ["param c : [3] = zeros", "input c : [3]"], "y = z + c"),
        (f"y = {LONG_MAKERS[2]}", ["input y : [4, 3]"], ""),
        # values written out: no literal in .nn, the data the caller passes, its shape counted
        ("y = torch.tensor([1.0, 2.0])", ["input y : [2]"], ""),
        ("y = np.array([[1, 2], [3, 4]])", ["input y : [2, 2]"], ""),
        ("y = np.array(((1, 2), (3, 4), (5, 6)), dtype=np.float32)", ["input y : [3, 2]"], ""),
        ("y = z + torch.tensor([1.0, 2.0, 3.0])", ["input c : [3]"], "y = z + c"),
    ],
)
def test_an_array_made_by_a_library_is_told_each_declaration_it_may_be(
    line: str, declarations: list[str], then: str
) -> None:
    """An array a library makes may be learned or data: the message offers a param and an
    input where either can be, and each declaration it offers checks in the model."""
    from graphc.pipeline import check

    model = "dim B\nconst F = 4\ninput z : [B, 3]\n{}\nloss = sum(y) + sum(z)\nminimize loss wrt z\n"
    (found,) = errors(model.format(line))
    for declaration in declarations:
        assert f" {declaration}" in found
        check(model.format(f"{declaration}\n{then}"), "m.nn")
    assert ("param " in found, "input " in found) == (
        any(d.startswith("param") for d in declarations),
        any(d.startswith("input") for d in declarations),
    )
    assert found.endswith(", and write c for the call") == bool(then)


@pytest.mark.parametrize(
    "line, call",
    [
        ("y = torch.tensor(3.0) * z", "torch.tensor(3.0)"),
        ("y = z * np.array(s)", "np.array(s)"),
        ("y = z - torch.as_tensor(-2)  # shifted", "torch.as_tensor(-2)"),
        ("y = np.asarray( z )", "np.asarray( z )"),
        ("y = z ^ torch.tensor(1e-1)", "torch.tensor(1e-1)"),
    ],
)
def test_a_tensor_of_one_number_or_name_is_told_to_use_it_as_it_is(line: str, call: str) -> None:
    """torch.tensor(3.0) is 3.0, np.array(x) is x: the message says what to write for the
    call, and the line with it written there checks."""
    from graphc.pipeline import check

    model = "dim B\nconst s = 2\ninput z : [B, 3]\n{}\nloss = sum(y)\nminimize loss wrt z\n"
    (found,) = errors(model.format(line))
    library, value = re.fullmatch(r"4:\d+: there is no (\w+) here: write (.+)", found).groups()
    assert call.startswith(library) and value == call[call.index("(") + 1 : -1].strip()
    check(model.format(line.replace(call, value)), "m.nn")


@pytest.mark.parametrize(
    "expr",
    [
        "torch.tensor(x, dtype=torch.float32)",  # not the only argument
        "torch.tensor(True)",
        "np.array(x + 1)",
        "torch.tensor(-x)",
    ],
)
def test_a_tensor_of_anything_else_gets_the_general_form(expr: str) -> None:
    (found,) = errors(f"y = {expr}\n")
    assert re.fullmatch(r"1:5: there is no (torch|np) here, and no builtin '(tensor|array)' in \.nn", found), found


def test_a_tensor_of_one_number_as_an_initializer_is_told_const() -> None:
    from graphc.pipeline import check

    model = "input x : [2, 3]\nparam W : [3, 4] = {}\nloss = sum(x @ W)\nminimize loss\n"
    assert errors(model.format("torch.tensor(0.5)")) == ["2:20: there is no torch here: write const(0.5)"]
    check(model.format("const(0.5)"), "m.nn")


@pytest.mark.parametrize(
    "init, fix",
    [
        ("torch.randn(3, 4) * 0.1", "normal(0, 0.1)"),
        ("0.1 * torch.randn(3, 4)  # small", "normal(0, 0.1)"),
        ("torch.rand(3, 4) * 2", "uniform(0, 2)"),
        ("-2 * np.random.uniform(1, 3, (3, 4))", "uniform(-6, -2)"),
        ("torch.ones(3, 4) * 0.5", "const(0.5)"),
    ],
)
def test_a_scaled_maker_as_an_initializer_is_told_the_initializer(init: str, fix: str) -> None:
    from graphc.pipeline import check

    model = "input x : [2, 3]\nparam W : [3, 4] = {}\nloss = sum(x @ W)\nminimize loss\n"
    (found,) = errors(model.format(init))
    assert found.endswith(f": write {fix}")
    check(model.format(fix), "m.nn")


@pytest.mark.parametrize(
    "number, fix",
    [
        ("1_000", "numbers have no underscores: write 1000"),
        ("0x10", "numbers are decimal here: write 16"),
        ("0b101", "numbers are decimal here: write 5"),
        ("0o7", "numbers are decimal here: write 7"),
        ("1j", "there are no complex numbers in .nn"),
        ("3.0f", "numbers take no suffix such as f: write 3.0"),
        ("5L", "numbers take no suffix such as L: write 5"),
        ("2W{i}", "write 2*W{i}"),
        ("2x", "write 2*x"),
        (".5", "write 0.5"),
        (".5e-3", "write 0.5e-3"),
        (".5x", "write 0.5*x"),
        (".5.5", "numbers are written like 3, 0.5, 1e-3 or 2.5E+4"),
        # Python's 1.e3 and 1.E-3 read as 1 with an attribute .e3 (or .E, minus 3)
        ("1.e3", "a point needs digits on both sides: write 1e3 or 1.0e3"),
        ("1.E-3", "a point needs digits on both sides: write 1E-3 or 1.0E-3"),
        ("10.e+30", "a point needs digits on both sides: write 10e+30 or 10.0e+30"),
        # a number glued to a name is quoted whole, its exponent's sign and all
        ("1.E+3x", "a point needs digits on both sides: write 1E+3*x or 1.0E+3*x"),
        ("1.5e-3x", "write 1.5e-3*x"),
        ("1E+3W{i}", "write 1E+3*W{i}"),
        ("2.T", "numbers are written like 3, 0.5, 1e-3 or 2.5E+4"),
    ],
)
def test_a_number_written_as_other_languages_do_is_told_its_spelling_here(number: str, fix: str) -> None:
    assert errors(f"y = {number} + 1\n") == [f"1:5: malformed number '{number}'; {fix}"]


@pytest.mark.parametrize(
    "line, fix",
    [
        ("y += 1", "y = y + 1"),
        ("y *= x + 1  # scaled", "y = y * (x + 1)"),
        ("y **= 2", "y = y ** 2"),
        ("y := x", "y = x"),
    ],
)
def test_an_update_operator_is_told_the_assignment_to_write(line: str, fix: str) -> None:
    from graphc.pipeline import check

    op = line.split()[1]
    model = "model m\nparam x : [3]\ny = x\n{}\nloss = sum(y)\nminimize loss\n"
    assert errors(model.format(line)) == [f"4:3: there is no '{op}' operator in .nn: write {fix}"]
    check(model.format(fix), "m.nn")


@pytest.mark.parametrize(
    "ch, message",
    [
        ("\u2074", "'\u2074' (U+2074) is written '^4' here"),
        ("\u00bd", "'\u00bd' (U+00BD) is written '(1/2)' here"),
        ("\uff0a", "'\uff0a' (U+FF0A) looks like '*'; type the ASCII character"),
        ("\u2003", "'\\u2003' (U+2003) looks like a space; type the ASCII character"),
        ("\u200b", "invisible character '\\u200b' (U+200B); delete it"),
        ("\ufeff", "invisible character '\\ufeff' (U+FEFF); delete it"),
        ("\u00e9", "unexpected character '\u00e9': names use ASCII letters, digits and _"),
    ],
)
def test_a_character_from_outside_ascii_is_named_with_its_look_alike(ch: str, message: str) -> None:
    assert errors(f"y = x {ch}\n") == [f"1:7: {message}"]


AXIS = "there is no keyword 'dim' in .nn: the axis is given as axis="
NO_KEYWORD = "'dim' is a reserved word and cannot be a keyword argument"


@pytest.mark.parametrize(
    "expr, message",
    [
        ("sum(x, dim=-1)", AXIS + "-1"),
        ("sum(x, dim=(0, 1))", AXIS + "(0, 1)"),
        ("softmax(relu(x), dim = 1)", AXIS + "1"),
        ("reshape(x, dim=[12])", NO_KEYWORD),
        ("relu(x, dim=1)", NO_KEYWORD),
        ("[1, dim=2]", NO_KEYWORD),
    ],
)
def test_dim_as_a_keyword_is_told_axis_only_where_the_builtin_takes_one(expr: str, message: str) -> None:
    (found,) = errors(f"y = {expr}\n")
    assert found.split(": ", 1)[1] == message


@pytest.mark.parametrize(
    "line, fix",
    [
        ("maximize acc", "write neg = -acc and minimize neg"),
        ("maximize sum(x)", "write neg = -sum(x) and minimize neg"),
        ("maximize a + b  # both", "write neg = -(a + b) and minimize neg"),
        ("maximize acc wrt x, w", "write neg = -acc and minimize neg wrt x, w"),
    ],
)
def test_maximize_is_told_the_whole_negated_objective(line: str, fix: str) -> None:
    """Under the keyword, whatever follows it: a name, a call or a sum."""
    (found,) = errors(line + "\n")
    assert found == f"1:1: there is no maximize in .nn: {fix}"


def test_a_trailing_comma_after_wrt_names_wrt() -> None:
    assert errors("minimize y wrt x,\n") == [
        "1:17: unexpected ',' at the end of the line: the names after wrt take no trailing comma"
    ]


def test_a_run_of_continued_lines_gives_one_error() -> None:
    text = "loss = sum(x) \\\n   + 2 \\  # more\n   + 3 \\\n   + 4\nz = $\n"
    assert errors(text) == [
        "1:15: unexpected character '\\'; lines continue only inside ( ) and [ ]",
        "5:5: unexpected character '$'",
    ]


CONTINUED = "a statement goes on to the next line only inside ( ) or [ ]: put the expression in parentheses"


@pytest.mark.parametrize(
    "lines, said",
    [
        (["h = a +", "    b"], "1:8: unexpected end of line after '+'"),
        (["h = a +  # the bias", "    b"], "1:20: unexpected end of line after '+'"),  # a comment after it
        (["h = a + # -", "    b"], "1:12: unexpected end of line after '+'"),  # which holds an operator
        (["h = a +\f", "    b"], "1:9: unexpected end of line after '+'"),  # any blank the lexer skips
        (["h = a @", "    W  # the weights"], "1:8: unexpected end of line after '@'"),
        (["h = a +", "    # the bias", "    # of each unit", "    b"], "1:8: unexpected end of line after '+'"),
        (["h = a +", "    b *", "    c", "    - a"], "1:8: unexpected end of line after '+'"),  # a run of them
        (["h = a", "    * b"], "2:5: unexpected '*' at the start of a line"),
        (["h = a", "    * b", "    # and c", "    - c *", "    a"], "2:5: unexpected '*' at the start of a line"),
        (["h = a  # the input", "    ** 2"], "2:5: unexpected '**' at the start of a line"),
        (["h = a b", "    + c"], "1:7: unexpected name 'b'"),  # another mistake, the next line still its own
        # C's comment: no operator to go on with, and no second error for the line after it
        (["h = a //", "    b"], "1:7: unexpected '//'"),
        (["h = a", "    // b"], "2:5: unexpected '//'"),
    ],
)
@pytest.mark.parametrize("newline", ["\n", "\r\n"])
def test_a_line_continued_by_an_operator_is_one_error(lines: list[str], said: str, newline: str) -> None:
    """The wording of the error and the lines the parse skips after it ask the same question:
    the line the operator continues is part of the first's error, not one of its own."""
    text = newline.join(["input a : [3]", "input b : [3]", "input c : [3]", *lines, "output h", ""])
    (found,) = errors(text)
    line, rest = said.split(":", 1)
    assert found.startswith(f"{int(line) + 3}:{rest}")
    assert found.endswith(CONTINUED) == ("after '" in said or "at the start of a line" in said)


@pytest.mark.parametrize(
    "lines, said",
    [
        (["h = a  # +", "    b"], ["4:6: unexpected end of line; expected '='"]),  # the operator is in the comment
        (
            ["h = a +", "", "    b"],
            ["3:8: unexpected end of line; expected an expression", "5:6: unexpected end of line; expected '='"],
        ),
        (["h = a +", "g = b"], ["3:8: unexpected end of line; expected an expression"]),  # a statement of its own
        (["h = a +", "# the bias", "g = b"], ["3:8: unexpected end of line; expected an expression"]),
    ],
)
@pytest.mark.parametrize("newline", ["\n", "\r\n"])
def test_a_line_not_continued_is_not_told_so(lines: list[str], said: list[str], newline: str) -> None:
    """Where the next line is no operand, no error is worded as a continued line, and the
    next line is read as a statement of its own."""
    assert errors(newline.join(["input a : [3]", "input b : [3]", *lines, "output h", ""])) == said


def test_the_stop_is_said_only_where_tokens_are_left() -> None:
    ten = "x = $\n" * 10
    for rest, said in [("# the end\n}\n  }\n\n", False), ("}\ny = 1\n", True)]:
        with pytest.raises(GraphcError) as info:
            parse(ten + rest, "m.nn")
        assert (info.value.diagnostics[-1].message.startswith("graphc stopped after 10")) == said


@pytest.mark.parametrize(
    "line, said",
    [
        ("y = mean(x.dot(W)  ** 2)", "write (x @ W)"),  # ** binds tighter than @, spaced or not
        ("y = sum(x^½)", "is written '(1/2)' here"),  # x^1/2 would be (x^1)/2
        ("y = sum(x, dim=[0,1])", "the axis is given as axis=(0, 1)"),  # several axes are a tuple
        ("y = sum(x, dim=[ 0 , 1 ])", "the axis is given as axis=(0, 1)"),
        ("y = sum(x, dim=[])", "the axis is given as axis=..."),
        ("y = sum(x, dim=[1])", "the axis is given as axis=(1,)"),
    ],
)
def test_a_hint_gives_code_that_means_what_was_meant(line: str, said: str, tmp_path) -> None:
    path = tmp_path / "h.nn"
    path.write_text(f"dim B\ninput x : [B, 3]\nparam W : [3, 3]\n{line}\nminimize y\n")
    proc = subprocess.run([sys.executable, "-m", "graphc", "check", str(path)], capture_output=True, text=True)
    assert said in proc.stderr, proc.stderr


@pytest.mark.parametrize("line", ["maximize acc wrt W,", "maximize acc wrt"])
def test_the_maximize_hint_writes_lines_that_check(line: str, tmp_path) -> None:
    path = tmp_path / "h.nn"
    base = "dim B\ninput x : [B, 3]\nparam W : [3, 3]\nparam neg : [1]\nacc = sum(x @ W) + sum(neg)\n"
    path.write_text(base + line + "\n")
    proc = subprocess.run([sys.executable, "-m", "graphc", "check", str(path)], capture_output=True, text=True)
    fix = re.search(r"write (neg_ = -acc) and (minimize neg_.*)$", proc.stderr, re.M)
    assert fix, proc.stderr
    path.write_text(base + fix[1] + "\n" + fix[2] + "\n")
    assert subprocess.run([sys.executable, "-m", "graphc", "check", str(path)], capture_output=True).returncode == 0


@pytest.mark.parametrize(
    "text, expected",
    [
        # a bracket in a comment is none of the call's
        ("y = np.exp(  # (x\n  x)\nz = 1 +* 2\n", ["1:5: there is no np here: write exp(...)"]),
        # a line that closes the call and opens another goes on to that one's ')'
        ("y = np.exp(\n  x) + np.log(\n  x)\nz = 1 +* 2\n", ["1:5: there is no np here: write exp(x)"]),
        ("for i in 1..2 {\n  y = np.exp(\n    x)\n}\nz = 1 +* 2\n", ["2:7: there is no np here: write exp(x)"]),
        # a bracket nothing closes is said, and swallows no more than the lines indented under it
        ("y = np.exp(x\nz = 1 +* 2\n", ["1:5: there is no np here: write exp(...)", "1:11: '(' is never closed"]),
        ("y = [1, 2\n  , 3\nz = 1 +* 2\n", ["1:5: '[' is never closed"]),
        ("y = exp(x +\n  $ 2\nz = 1 +* 2\n", ["1:8: '(' is never closed", "2:3: unexpected character '$'"]),
    ],
)
def test_the_restart_after_an_error_passes_the_rest_of_its_brackets(text: str, expected: list[str]) -> None:
    """The lines of a bracket the failing line opened are no second error; the next statement's mistake is found."""
    assert errors(text) == [*expected, f"{text.count(chr(10))}:8: unexpected '*'; expected an expression"]


@pytest.mark.parametrize(
    "line, init",
    [("W = nn.init.xavier_uniform_(W)", "glorot"), ("h = z @ nn.init.kaiming_normal_(W)", "he")],
)
def test_an_initializer_run_in_place_is_told_the_declaration_it_belongs_to(line: str, init: str) -> None:
    """nn.init.xavier_uniform_(W) fills W: its initializer belongs where W is declared, with W's
    shape. It was offered 'param c : [W]', W taken for a size, and an input besides."""
    from graphc.pipeline import check

    model = "const F = 4\ninput z : [2, 3]\n{}\n{}\nloss = sum(W)\nminimize loss\n"
    (found,) = errors(model.format("param W : [3, F]", line))
    fix = f"param W : [3, F] = {init}"
    assert found.endswith(f"there is no nn.init here: a param's initial values are given where it is declared: {fix}")
    check(model.format(fix, ""), "m.nn")


@pytest.mark.parametrize(
    "made, shape",
    [
        ("torch.empty(3, 4)", "[3, 4]"),
        ("torch.empty((3, 4), dtype=torch.float32)", "[3, 4]"),
        ("np.zeros((3, 4))", "[3, 4]"),
        ("np.zeros((3, 4), np.float32)", "[3, 4]"),
        ("torch.full((3, 4), 2.0)", "[...]"),  # its arguments are no sizes alone
        ("make(3, 4)", "[...]"),  # no library's maker
    ],
)
def test_an_initializer_filling_a_new_array_is_told_that_array_s_shape(made: str, shape: str) -> None:
    """nn.init.xavier_uniform_(torch.empty(3, 4)): the array filled is made there, and its sizes
    are the param's shape; read only from a library's maker that takes the sizes alone."""
    (found,) = errors(f"V = nn.init.xavier_uniform_({made})\nparam W : [3, 4]\nloss = sum(W)\nminimize loss\n")
    assert found.endswith(f"a param's initial values are given where it is declared: param V : {shape} = glorot")
