"""One training step (forward + backward + SGD update), float32, side by side.

    python benchmarks/train_step.py [--rounds 30]

For each model in benchmarks/models/ it times graphc's generated `sgd_step`
against the same step written by hand in NumPy and against the model's matrix
multiplies alone (a floor for NumPy code), then against PyTorch eager and JAX
jit when they are installed. The implementations run interleaved, round after
round, and the table shows medians and ratios to graphc, so a noisy machine
slows all of them alike. Compile times are printed too.

The matrix multiplies are NumPy's BLAS's, so the first line names it. OpenBLAS
picks its kernels by the CPU, and on some CPUs that have AVX-512 it picks its
AVX2 ones ("Haswell"): `OPENBLAS_CORETYPE=SkylakeX python benchmarks/train_step.py`
then runs every implementation on the faster kernels (XLA, PyTorch and their
own kernels are not affected).
"""

from __future__ import annotations

import argparse
import ctypes
import functools
import glob
import math
import os
import statistics
import time
from pathlib import Path

import numpy as np

import graphc

HERE = Path(__file__).parent
LR = 0.01
F32 = np.float32


# ---------------------------------------------------------------- data per model


def data(name: str, rng: np.random.Generator) -> dict[str, np.ndarray]:
    if name == "mlp784":
        return {"x": rng.random((128, 784), F32), "labels": rng.integers(0, 10, 128)}
    if name == "tiny":
        return {"x": rng.random((32, 4), F32), "y": rng.random((32, 1), F32)}
    if name == "deep32":
        return {"x": rng.random((64, 64), F32), "y": rng.random((64, 64), F32)}
    if name == "logreg":
        return {"x": rng.standard_normal((1024, 100), F32), "y": np.sign(rng.standard_normal(1024)).astype(F32)}
    raise KeyError(name)


# ---------------------------------------------------------------- NumPy by hand


def numpy_step(name: str):
    """The step as a careful NumPy programmer would write it, updating params in place."""

    def mlp784(p, x, labels):
        n = x.shape[0]
        z1 = x @ p["W1"]
        z1 += p["b1"]
        h1 = np.maximum(z1, 0)
        z2 = h1 @ p["W2"]
        z2 += p["b2"]
        h2 = np.maximum(z2, 0)
        logits = h2 @ p["W3"]
        logits += p["b3"]
        m = logits.max(axis=1, keepdims=True)
        e = np.exp(logits - m)
        s = e.sum(axis=1, keepdims=True)
        rows = np.arange(n)
        loss = float(np.mean(np.log(s[:, 0]) + m[:, 0] - logits[rows, labels]))
        d = e / s
        d[rows, labels] -= 1
        d /= n
        g = {"W3": h2.T @ d, "b3": d.sum(0)}
        d2 = d @ p["W3"].T
        d2 *= z2 > 0
        g["W2"], g["b2"] = h1.T @ d2, d2.sum(0)
        d1 = d2 @ p["W2"].T
        d1 *= z1 > 0
        g["W1"], g["b1"] = x.T @ d1, d1.sum(0)
        return loss, g

    def tiny(p, x, y):
        h = 1 / (1 + np.exp(-(x @ p["W1"] + p["b1"])))
        r = h @ p["W2"] + p["b2"] - y
        loss = float(np.mean(r * r))
        d = r * (2 / r.size)
        g = {"W2": h.T @ d, "b2": d.sum(0)}
        dh = (d @ p["W2"].T) * h * (1 - h)
        g["W1"], g["b1"] = x.T @ dh, dh.sum(0)
        return loss, g

    def deep32(p, x, y):
        hs = [x]
        for i in range(1, 33):
            hs.append(np.tanh(hs[-1] @ p[f"W{i}"] + p[f"b{i}"]))
        r = hs[-1] - y
        loss = float(np.mean(r * r))
        d = r * (2 / r.size)
        g = {}
        for i in range(32, 0, -1):
            d *= 1 - hs[i] * hs[i]
            g[f"W{i}"], g[f"b{i}"] = hs[i - 1].T @ d, d.sum(0)
            d = d @ p[f"W{i}"].T
        return loss, g

    def logreg(p, x, y):
        m = -y * (x @ p["w"] + p["b"])
        loss = float(np.mean(np.logaddexp(0, m)))
        d = -y / (1 + np.exp(-m)) / y.size
        return loss, {"w": x.T @ d, "b": d.sum()}

    grad = {"mlp784": mlp784, "tiny": tiny, "deep32": deep32, "logreg": logreg}[name]

    def step(p, inputs):
        loss, g = grad(p, **inputs)
        for k, v in g.items():
            p[k] -= LR * v
        return loss

    return step


def matmul_step(name: str, params, inputs):
    """Only the matrix multiplies of forward and backward, on buffers made once."""
    if name == "logreg":
        x, w = inputs["x"], params["w"]
        z, gw = np.empty(x.shape[0], F32), np.empty_like(w)

        def run():
            np.matmul(x, w, out=z)
            np.matmul(x.T, z, out=gw)

        return run
    x = inputs["x"]
    ws = [params[k] for k in sorted(params, key=lambda k: (len(k), k)) if k.startswith("W")]
    acts = [x]
    for w in ws:
        acts.append(np.empty((x.shape[0], w.shape[1]), F32))
    grads = [np.empty_like(w) for w in ws]
    deltas = [np.empty_like(a) for a in acts]

    def run():
        for i, w in enumerate(ws):
            np.matmul(acts[i], w, out=acts[i + 1])
        for i in range(len(ws) - 1, -1, -1):
            np.matmul(acts[i].T, acts[i + 1], out=grads[i])
            if i:
                np.matmul(acts[i + 1], ws[i].T, out=deltas[i])

    return run


# ---------------------------------------------------------------- optional peers


def torch_step(name: str, params, inputs):
    try:
        import torch
    except ImportError:
        return None
    p = {k: torch.tensor(v, requires_grad=True) for k, v in params.items()}
    t = {k: torch.tensor(v) for k, v in inputs.items()}
    F = torch.nn.functional

    def loss_fn():
        if name == "mlp784":
            h1 = F.relu(t["x"] @ p["W1"] + p["b1"])
            h2 = F.relu(h1 @ p["W2"] + p["b2"])
            return F.cross_entropy(h2 @ p["W3"] + p["b3"], t["labels"])
        if name == "tiny":
            h = torch.sigmoid(t["x"] @ p["W1"] + p["b1"])
            return ((h @ p["W2"] + p["b2"] - t["y"]) ** 2).mean()
        if name == "deep32":
            h = t["x"]
            for i in range(1, 33):
                h = torch.tanh(h @ p[f"W{i}"] + p[f"b{i}"])
            return ((h - t["y"]) ** 2).mean()
        return F.softplus(-t["y"] * (t["x"] @ p["w"] + p["b"])).mean()

    def run():
        loss = loss_fn()
        loss.backward()
        with torch.no_grad():
            for v in p.values():
                v -= LR * v.grad
                v.grad = None
        return float(loss.detach())

    return run


def jax_step(name: str, params, inputs):
    try:
        import jax
        import jax.numpy as jnp
    except ImportError:
        return None, None

    def loss_fn(p, t):
        if name == "mlp784":
            h1 = jax.nn.relu(t["x"] @ p["W1"] + p["b1"])
            h2 = jax.nn.relu(h1 @ p["W2"] + p["b2"])
            logits = h2 @ p["W3"] + p["b3"]
            logp = jax.nn.log_softmax(logits)
            return -jnp.mean(jnp.take_along_axis(logp, t["labels"][:, None], axis=1))
        if name == "tiny":
            h = jax.nn.sigmoid(t["x"] @ p["W1"] + p["b1"])
            return jnp.mean((h @ p["W2"] + p["b2"] - t["y"]) ** 2)
        if name == "deep32":
            h = t["x"]
            for i in range(1, 33):
                h = jnp.tanh(h @ p[f"W{i}"] + p[f"b{i}"])
            return jnp.mean((h - t["y"]) ** 2)
        return jnp.mean(jax.nn.softplus(-t["y"] * (t["x"] @ p["w"] + p["b"])))

    @jax.jit
    def step(p, t):
        loss, g = jax.value_and_grad(loss_fn)(p, t)
        return loss, jax.tree_util.tree_map(lambda a, b: a - LR * b, p, g)

    state = {"p": {k: jnp.asarray(v) for k, v in params.items()}}
    t = {k: jnp.asarray(v) for k, v in inputs.items()}
    t0 = time.perf_counter()
    step(state["p"], t)[0].block_until_ready()
    compile_s = time.perf_counter() - t0

    def run():
        loss, state["p"] = step(state["p"], t)
        loss.block_until_ready()

    return run, compile_s


# ---------------------------------------------------------------- timing


def per_call(fn, budget: float = 0.02) -> int:
    """How many calls make one timed sample of about `budget` seconds."""
    t0 = time.perf_counter()
    fn()
    dt = max(time.perf_counter() - t0, 1e-7)
    return max(1, int(budget / dt))


def interleave(runs: dict, rounds: int, settle: float = 0.0) -> tuple[dict[str, float], dict[str, float]]:
    """Median and best time per call (us) of each run, timed round after round in turn. With
    `settle`, each sample waits that many seconds, so the last run's threads have stopped
    spinning, then runs five samples' worth of calls untimed: JAX took about 0.1 s of steady
    calls to come back to its pace after a pause (600 us a step, against 890 without them)."""
    for fn in runs.values():  # warm up
        for _ in range(3):
            fn()
    counts = {k: per_call(fn) for k, fn in runs.items()}
    samples: dict[str, list[float]] = {k: [] for k in runs}
    order = list(runs)
    for r in range(rounds):
        for k in order[r % len(order) :] + order[: r % len(order)]:  # each round starts elsewhere
            fn, n = runs[k], counts[k]
            if settle:
                time.sleep(settle)
                for _ in range(max(3, 5 * n)):
                    fn()
            t0 = time.perf_counter()
            for _ in range(n):
                fn()
            samples[k].append((time.perf_counter() - t0) / n)
    median = {k: statistics.median(v) * 1e6 for k, v in samples.items()}
    return median, {k: min(v) * 1e6 for k, v in samples.items()}


def bench(name: str, rounds: int) -> dict:
    rng = np.random.default_rng(0)
    t0 = time.perf_counter()
    model = graphc.compile_file(str(HERE / "models" / f"{name}.nn"), dtype="float32")
    compile_s = time.perf_counter() - t0
    inputs = data(name, rng)
    params = model.init_params(seed=0)
    # graphc trains the params as init_params returns them (laid out in one array, which its
    # step moves with one subtraction); the others train copies of the same values
    ours = model.init_params(seed=0)
    theirs = {k: v.copy() for k, v in params.items()}
    graphc_step = functools.partial(model.sgd_step, ours, LR, **inputs)
    # NumPy runs first, alone with graphc: PyTorch's and JAX's worker threads keep
    # spinning after their own steps and would slow whatever runs next on a small machine
    runs = {"graphc": graphc_step, "numpy": functools.partial(numpy_step(name), theirs, inputs)}
    runs["matmul"] = matmul_step(name, params, inputs)
    median, best = interleave(runs, rounds)
    result = {**median, "best": best, "compile_s": compile_s}
    peers = {"torch": torch_step(name, params, inputs)}
    peers["jax"], result["jax_compile_s"] = jax_step(name, params, inputs)
    peers = {k: fn for k, fn in peers.items() if fn}
    if peers:  # then the peers, against graphc again, so their ratios come from one run too;
        # each sample waits until the threads of the one before stop spinning (OpenMP's 200 ms,
        # XLA's), or whatever ran after them would share the cores with the spinning
        median, _ = interleave({"graphc": graphc_step, **peers}, rounds, settle=0.3)
        result.update({f"{k}/graphc": median[k] / median["graphc"] for k in peers})
    return result


def blas() -> str:
    """NumPy's BLAS, and for OpenBLAS the kernels it picked for this CPU (the environment
    variable OPENBLAS_CORETYPE picks others)."""
    try:
        info = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
        name = f"{info['name']} {info['version']}"
    except (KeyError, TypeError):
        name = "an unnamed BLAS"
    for path in glob.glob(os.path.join(os.path.dirname(np.__file__), os.pardir, "numpy.libs", "*openblas*")):
        lib = ctypes.CDLL(path)
        for symbol in ("scipy_openblas_get_corename64_", "scipy_openblas_get_corename", "openblas_get_corename"):
            core = getattr(lib, symbol, None)
            if core is not None:
                core.restype = ctypes.c_char_p
                return f"{name}, its {core().decode()} kernels"
    return name


def warm_up() -> float:
    """Load what a process loads once (graphc's grammar and tables, JAX's first jit), so the
    compile columns time one model's compile alone; returns graphc's share."""
    t0 = time.perf_counter()
    graphc.compile_source("param w : [2] = ones\nloss = sum(w^2)\nminimize loss\n")
    setup = time.perf_counter() - t0
    try:
        import jax
    except ImportError:
        return setup
    jax.jit(lambda v: v + 1)(1.0).block_until_ready()
    return setup


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=30)
    ap.add_argument("models", nargs="*", default=["mlp784", "tiny", "deep32", "logreg"])
    a = ap.parse_args()
    setup = warm_up()
    print(f"NumPy {np.__version__} with {blas()}")
    cols = ["graphc", "numpy", "matmul"]
    ratios = ["numpy/graphc", "graphc/matmul", "torch/graphc", "jax/graphc"]
    print(
        f"{'model':<8} "
        + " ".join(f"{c + ' us':>10}" for c in cols)
        + "".join(f"{r:>14}" for r in ratios)
        + "  compile s  jax compile s"
    )
    speedups, best = [], []
    for name in a.models:
        r = bench(name, a.rounds)
        r["numpy/graphc"], r["graphc/matmul"] = r["numpy"] / r["graphc"], r["graphc"] / r["matmul"]
        speedups.append(r["numpy/graphc"])
        best.append(r["best"]["numpy"] / r["best"]["graphc"])
        row = " ".join(f"{r[c]:>10.1f}" for c in cols) + "".join(
            f"{r[k]:>14.2f}" if k in r else f"{'-':>14}" for k in ratios
        )
        jax = f"{r['jax_compile_s']:>14.3f}" if r["jax_compile_s"] is not None else f"{'-':>14}"
        print(f"{name:<8} {row}  {r['compile_s']:>9.3f}{jax}")
    geo = lambda xs: math.exp(statistics.mean(map(math.log, xs)))  # noqa: E731
    print(
        f"geometric mean speed-up over NumPy by hand: {geo(speedups):.2f}x (medians), {geo(best):.2f}x (best samples)"
    )
    print(f"(compile s leaves out graphc's one-time load of its grammar and tables: {setup:.3f} s per process)")


if __name__ == "__main__":
    main()
