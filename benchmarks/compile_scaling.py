"""Compile time of deep tanh networks (10, 32, 100, 1,000 layers), in-process, split by stage.

    python benchmarks/compile_scaling.py

Linear growth shows as a flat 'ms per layer' column.
"""

from __future__ import annotations

import argparse
import statistics
import time

from graphc.autodiff import gradients
from graphc.codegen import emit_numpy
from graphc.lower import lower
from graphc.parser import parse
from graphc.passes import optimize
from graphc.util import gc_paused


def model(layers: int, width: int = 64) -> str:
    return f"""model deep{layers}
dim B
input x : [B, {width}]
input y : [B, {width}]
h = x
for i in 1..{layers} {{
    param W{{i}} : [{width}, {width}]
    param b{{i}} : [{width}]
    h = tanh(h @ W{{i}} + b{{i}})
}}
loss = mean((h - y)^2)
minimize loss
"""


def stages(text: str) -> dict[str, float]:
    t = {}
    t0 = time.perf_counter()
    program = parse(text, "deep.nn")
    t["parse"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    lowered = lower(program)
    t["check"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    forward = lowered.graph.copy()
    graph = gradients(lowered.graph)
    step = gradients(forward, scale="lr")  # sgd_step's own graph, as the pipeline builds it
    t["grad"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    graph, step = optimize(graph, 2), optimize(step, 2)
    t["opt"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    emit_numpy(graph, lowered.name, text, "deep.nn", lowered.inits, "float32", 2, step)
    t["emit"] = time.perf_counter() - t0
    return t


def main() -> None:
    print(
        f"{'layers':>6} {'parse ms':>9} {'check ms':>9} {'grad ms':>9} {'-O2 ms':>9} {'emit ms':>9} {'total ms':>9} {'ms/layer':>9}"
    )
    for layers in (10, 32, 100, 1000):
        text = model(layers)
        with gc_paused():  # as graphc compile runs them
            runs = [stages(text) for _ in range(3 if layers < 1000 else 1)]
        med = {k: statistics.median(r[k] for r in runs) * 1e3 for k in runs[0]}
        total = sum(med.values())
        cells = " ".join(f"{med[k]:>9.1f}" for k in ("parse", "check", "grad", "opt", "emit"))
        print(f"{layers:>6} {cells} {total:>9.1f} {total / layers:>9.2f}")


if __name__ == "__main__":
    argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter).parse_args()
    main()
