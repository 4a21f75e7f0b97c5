"""Time of `graphc check` on models of 1,000 to 100,000 statements, in-process, split by stage.

    python benchmarks/check_scaling.py              # the table
    python benchmarks/check_scaling.py --profile    # and where lowering the largest model spends its time

Each model is written to a temporary folder and read back, as `graphc check`
would, then parsed (graphc.parser.parse) and lowered (graphc.lower.lower):
together that is graphc.pipeline.check. Linear growth shows as a flat
'us/stmt' column; 'peak MB' is the process's peak memory so far. The last rows are files of 200,000
statements with a mistake on the last line: a syntax error (the whole file is parsed
before it shows), then an unknown name in three kinds of file (the whole file is parsed
and lowered before it shows): `h = h + x` lines, a chain `v5 = v4 * w + b`, and the
model above.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import resource
import statistics
import tempfile
import time
from pathlib import Path

from graphc.errors import GraphcError
from graphc.lower import lower
from graphc.parser import parse
from graphc.util import gc_paused, plural

SIZES = (1_000, 10_000, 100_000)
WIDTH = 16


def model(statements: int) -> str:
    """A model of about `statements` lines: a stack of blocks, each declaring its
    params and mixing matmul, elementwise ops, broadcasting and reductions,
    ending in a scalar loss."""
    lines = [
        "model scaling",
        "dim B",
        f"input x : [B, {WIDTH}]",
        "input y : [B, 1]",
        "const scale = 0.5",
        "h = x",
    ]
    block = 0
    while len(lines) < statements - 3:
        k = block
        lines += [
            f"param W{k} : [{WIDTH}, {WIDTH}] = normal(0, 0.1)",
            f"param b{k} : [{WIDTH}]",
            f"z{k} = h @ W{k} + b{k}",
            f"a{k} = tanh(z{k}) * scale",
            f"s{k} = sum(a{k} * h, axis=1, keepdims=true)",
            f"g{k} = a{k} * sigmoid(s{k}) - 0.1 * exp(-z{k}^2)",
            f"m{k} = mean(g{k}, axis=0)",
            f"h = h + g{k} / (1 + abs(m{k}))",
        ]
        block += 1
    lines += ["param v : [16, 1]", "loss = mean((h @ v - y)^2)", "minimize loss"]
    return "\n".join(lines) + "\n"


def broken(statements: int) -> str:
    """`statements` assignments of the form `h = h + x`, the last one missing an operand."""
    body = "h = h + x\n" * (statements - 4)
    return f"param x : []\nh = x\n{body}loss = h +\nminimize loss\n"


def unknown(statements: int, kind: str) -> str:
    """A file of `statements` lines whose last reads a name never defined: `h = h + x` lines
    ("sums"), a chain of `v5 = v4 * w + b` lines ("chain"), or `model`'s ("model")."""
    if kind == "sums":
        body = "h = h + x\n" * (statements - 4)
        return f"param x : []\nh = x\n{body}loss = h + q\nminimize loss\n"
    if kind == "chain":
        head = ["dim B", "input x : [B, 4]", "param w : [4]", "param b : []", "v0 = x"]
        chain = [f"v{i} = v{i - 1} * w + b" for i in range(1, statements - len(head) - 1)]
        return "\n".join([*head, *chain, f"loss = sum(v{len(chain)}) + missing", "minimize loss"]) + "\n"
    return model(statements - 1).replace("minimize loss", "loss2 = loss + qq\nminimize loss2")


def timed(text: str, file: str) -> tuple[float, float, str]:
    """(parse seconds, lower seconds, outcome) of one check, with the cyclic collector paused
    over both stages as `graphc check` pauses it (between them it would wake to the whole tree)."""
    with gc_paused():
        return _timed(text, file)


def _timed(text: str, file: str) -> tuple[float, float, str]:
    t0 = time.perf_counter()
    try:
        program = parse(text, file)
    except GraphcError as e:
        return time.perf_counter() - t0, 0.0, f"error: {e.diagnostics[0].span.where()}"
    t1 = time.perf_counter()
    try:
        lowered = lower(program)
        outcome = f"ok, {lowered.graph.nx.number_of_nodes():,} nodes"
    except GraphcError as e:
        outcome = f"{plural(len(e.diagnostics), 'error')}, first {e.diagnostics[0].message}"
    return t1 - t0, time.perf_counter() - t1, outcome


def row(name: str, path: Path, statements: int, runs: int) -> None:
    text = path.read_text()
    results = [timed(text, str(path)) for _ in range(runs)]
    parse_s = statistics.median(r[0] for r in results)
    lower_s = statistics.median(r[1] for r in results)
    total = parse_s + lower_s
    per = total / statements * 1e6
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # the rows grow: the last one's
    print(
        f"{name:>16} {statements:>9,} {parse_s:>9.2f} {lower_s:>9.2f} {total:>9.2f} "
        f"{parse_s / statements * 1e6:>11.1f} {per:>9.1f} {peak:>8,.0f}  {results[-1][2]}"
    )


def profile_lowering(path: Path, top: int) -> None:
    program = parse(path.read_text(), str(path))
    profiler = cProfile.Profile()
    profiler.enable()
    lower(program)
    profiler.disable()
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(top)
    print(f"\nlowering {path.name}, by time spent in each function itself:")
    print(out.getvalue())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=3, help="runs per size; the median is shown (default 3)")
    ap.add_argument("--profile", action="store_true", help="profile lowering of the largest model")
    ap.add_argument("--top", type=int, default=25, help="functions shown by --profile")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        paths = {}
        for n in SIZES:
            paths[n] = Path(folder, f"model{n}.nn")
            paths[n].write_text(model(n))
        bad = Path(folder, "broken200000.nn")
        bad.write_text(broken(200_000))
        unknowns = [Path(folder, f"{kind}200000.nn") for kind in ("sums", "chain", "model")]
        for path in unknowns:
            path.write_text(unknown(200_000, path.name.removesuffix("200000.nn")))
        print(
            f"{'file':>16} {'stmts':>9} {'parse s':>9} {'lower s':>9} {'check s':>9} "
            f"{'parse us/st':>11} {'us/stmt':>9} {'peak MB':>8}  outcome"
        )
        for n in SIZES:
            statements = paths[n].read_text().count("\n")
            row(paths[n].name, paths[n], statements, args.runs if n < 100_000 else 1)
        row(bad.name, bad, 200_000, 1)
        for path in unknowns:
            row(path.name, path, path.read_text().count("\n"), 1)
        if args.profile:
            profile_lowering(paths[SIZES[-1]], args.top)


if __name__ == "__main__":
    main()
