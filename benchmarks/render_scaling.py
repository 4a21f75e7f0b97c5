"""How long graphc takes to draw deep networks: DOT text, then Graphviz layout to SVG.

    python benchmarks/render_scaling.py

Prints one row per network: graph sizes, DOT time, and `dot -Tsvg` time per picture.
"""

from __future__ import annotations

import argparse
import time

from compile_scaling import model as deep_tanh  # the same deep tanh networks

from graphc import render
from graphc.pipeline import compile_text


def main() -> None:
    print(f"{'layers':>6} {'fwd nodes':>9} {'bwd nodes':>9} {'DOT s':>7} {'fwd svg s':>9} {'bwd svg s':>9}")
    for layers in (4, 32, 128, 250):
        text = deep_tanh(layers)
        c = compile_text(text, "deep.nn")
        t0 = time.perf_counter()
        fwd = render.forward_dot(c.graph, text, "deep")
        bwd = render.backward_dot(c.graph, text, "deep")
        t1 = time.perf_counter()
        render.render(fwd)
        t2 = time.perf_counter()
        render.render(bwd)
        t3 = time.perf_counter()
        n_fwd = fwd.count("[id=")
        n_bwd = bwd.count("[id=")
        print(f"{layers:>6} {n_fwd:>9} {n_bwd:>9} {t1 - t0:>7.2f} {t2 - t1:>9.2f} {t3 - t2:>9.2f}")


if __name__ == "__main__":
    argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter).parse_args()
    main()
