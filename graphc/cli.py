"""The `graphc` command line: argparse in front of the pipeline.

Exit status: 0 success, 1 a mistake in the user's files, 2 a bad command line.
"""

from __future__ import annotations

import argparse
import errno
import os
import shlex
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from graphc import __version__
from graphc.errors import GraphcError, ModelFileError, UserError
from graphc.files import DREW, KILLS, earlier_outputs, marks, read_model, write_all
from graphc.util import RECURSION_LIMIT, gc_paused

# The stages are imported inside the commands that use them: a syntax error is
# reported before NumPy and networkx are loaded, which is half a second per call.


def cmd_check(args) -> int:
    from graphc.parser import parse

    args.text = read_model(args.model)
    program = parse(args.text, args.model)

    from graphc.lower import lower
    from graphc.ops.base import show

    lowered = lower(program, args.dtype)
    _warn(lowered.warnings, args)
    g = lowered.graph
    print(f"model {lowered.name}: OK")
    if g.dims:
        print(f"dims: {', '.join(g.dims)}")
    width = max([len(n) for n in list(g.inputs) + list(g.params) + [v.name for v in lowered.values]] + [4])
    print("inputs:" if g.inputs else "inputs: none")
    for name, n in g.inputs.items():
        print(f"  {name:<{width}}  {show(*g.type(n))}")
    total = sum(_count(g.shape(n)) for n in g.params.values())
    arrays = "array" if len(g.params) == 1 else "arrays"
    print(
        f"params: {len(g.params)} {arrays}, {total:,} {'value' if total == 1 else 'values'}"
        if g.params
        else "params: none"
    )
    shapes = {name: show(g.shape(n)) for name, n in g.params.items()}
    wide = max([len(s) for s in shapes.values()] + [12])  # (sizes written as names are wider)
    for name, n in g.params.items():
        kind, init_args = lowered.inits[name]
        init = kind + (f"({', '.join(f'{a:g}' for a in init_args)})" if init_args else "")
        print(f"  {name:<{width}}  {shapes[name]:<{wide}} {_count(g.shape(n)):>10,}  {init}")
    print("values:" if lowered.values else "values: none")
    # one row per assignment in the source: a loop body's line stands for all its iterations
    rows: dict[tuple[str, int], list[str]] = {}
    for v in lowered.values:
        rows.setdefault((v.name, v.line), []).append(show(v.shape, v.dtype))
    shown = {key: seen[0] if len(set(seen)) == 1 else "varies" for key, seen in rows.items()}
    wide = max([len(s) for s in shown.values()] + [11])  # (and two spaces, the widest shape's too)
    for (name, line), seen in rows.items():
        times = f" (x{len(seen)})" if len(seen) > 1 else ""
        print(f"  {name:<{width}}  {shown[name, line]:<{wide}}  line {line}{times}")
    print(f"outputs: {', '.join(f'{name} {show(*g.type(n))}' for name, n in g.outputs)}")
    wrt = f"every param ({len(g.wrt)})" if g.wrt == list(g.params) and len(g.wrt) > 4 else ", ".join(g.wrt)
    print(f"objective: minimize {g.objective[0]} with respect to {wrt}")
    return 0


def _warn(warnings: list, args) -> None:
    """Likely slips in a model that compiles, as errors are shown, on stderr."""
    if warnings:
        _say(GraphcError(warnings).format({args.model: args.text}))


def _say(text: str) -> None:
    """A message on stderr. One that cannot be written (`2>&-`, a full disk) is dropped, as
    argparse drops its own: the files written and the exit status do not hang on it."""
    try:
        if sys.stderr is not None:  # (print would send it to stdout instead)
            print(text, file=sys.stderr, flush=True)
    except (OSError, ValueError):  # (ValueError: a stream closed in the process)
        pass


def _count(shape) -> int:
    n = 1
    for d in shape:
        n *= d
    return n


def _pictures(compiled, args, name: str) -> dict[str, bytes]:
    """The .dot files, the pictures `dot` can draw and the page (when both are drawn); a
    picture that cannot be drawn is a warning: the module is fine without it."""
    from graphc import page, render

    dots = {
        "forward": render.forward_dot(compiled.graph, args.text, name),
        "backward": render.backward_dot(compiled.graph, args.text, name),
    }
    files = {f"{name}.{kind}.dot": dot.encode() for kind, dot in dots.items()}
    if not render.have_dot():
        _say(render.DOT_MISSING)
        return files
    svgs = {}
    mapping = page.node_map(compiled.graph, compiled.code_lines, args.text)
    stuck = None  # after dot hung on one graph, the next is not given to it
    for kind, dot in dots.items():
        try:
            if stuck is not None:
                raise RuntimeError(stuck)
            svg = page.titled(render.render(dot, "svg"), mapping)
            files[f"{name}.{kind}.{args.format}"] = svg if args.format == "svg" else render.render(dot, args.format)
            svgs[kind] = svg
        except RuntimeError as e:
            if isinstance(e, render.DotTimeout):
                stuck = f"dot was not tried, having taken longer than {render.DOT_TIMEOUT:g} s on the {kind} graph"
            dot_file = os.path.join(args.o, f"{name}.{kind}.dot")
            drawn = f"{dot_file[:-3]}{args.format}"
            _say(
                f"warning: the {kind} graph is not drawn: {e}; "
                f"its .dot file is written (`dot -T{args.format} {_shell_path(dot_file)} -o "
                f"{_shell_path(drawn)}` draws it)"
            )
    for kind, dot in dots.items():  # which pictures are graphc's, for the next compile to replace
        drew = [f for f in files if f.startswith(f"{name}.{kind}.") and not f.endswith(".dot")]
        files[f"{name}.{kind}.dot"] = f"{DREW}{', '.join(drew) or 'nothing'}\n{dot}".encode()
    if len(svgs) < 2:
        _say(f"warning: {name}.html shows both pictures, so it is not written either")
        return files
    text = page.make_page(
        name, args.text, compiled.source, svgs["forward"].decode(), svgs["backward"].decode(), mapping
    )
    files[f"{name}.html"] = text.encode()
    return files


def _shell_path(path: str) -> str:
    """path as a shell and a command read it: quoted where it holds a space, say, and
    led by ./ where it starts with a dash, which the command would take for an option."""
    return shlex.quote(os.path.join(os.curdir, path) if path.startswith("-") else path)


def cmd_compile(args) -> int:
    from graphc.pipeline import compile_text
    from graphc.report import report

    args.text = read_model(args.model)
    compiled = compile_text(args.text, args.model, dtype=args.dtype, opt=int(args.O))
    _check_dims(args, compiled.graph)  # before anything is written
    _warn(compiled.lowered.warnings, args)
    name = compiled.name
    files = {f"{name}.py": compiled.source.encode()}
    if not args.no_render:
        files.update(_pictures(compiled, args, name))

    # what an earlier compile of this model wrote and this one does not (other formats, or
    # pictures now skipped) goes, so the folder never mixes two versions of the model; it is
    # looked for once the folder is locked, after any other compile writing there is done
    def earlier() -> list[str]:
        return [f for f in earlier_outputs(args.o, name) if f not in files]

    write_all(args.o, files, earlier, args.model, marks(name))
    for f in files:
        print(f"wrote {os.path.join(args.o, f)}")
    if args.report:
        itemsize = 4 if args.dtype == "float32" else 8
        print(
            report(
                compiled.graph,
                compiled.optimized,
                int(args.O),
                args.dims,
                itemsize,
                compiled.pool,
                args.text,
                compiled.plain,
            )
        )
    return 0


def _check_dims(args, g) -> None:
    """--dims names only the model's dims: a mistake on the command line (exit 2), as a malformed one is."""
    unknown = sorted(set(args.dims) - set(g.dims))
    if unknown:
        known = ", ".join(g.dims) or "none"
        args.command_parser.error(f"argument --dims: the model has no dim {', '.join(unknown)}; its dims are {known}")


def cmd_gradcheck(args) -> int:
    import numpy as np

    from graphc import CompiledModel, gradcheck
    from graphc.pipeline import compile_text

    args.text = read_model(args.model)
    compiled = compile_text(args.text, args.model, opt=int(args.O))
    _warn(compiled.lowered.warnings, args)
    g = compiled.graph
    _check_dims(args, g)
    if 0 in args.dims.values():
        args.command_parser.error(
            "argument --dims: gradcheck needs sizes of 1 or more: nothing differs over no entries"
        )
    module = CompiledModel(compiled).module
    dims = gradcheck.sizes(g, args.dims)
    shown = ", ".join(f"{d}={v}" for d, v in dims.items())
    # floats from a standard normal first; where the loss is not a number there (log or sqrt
    # of an input, say), positive ones
    floats = any(g.node(n)["dtype"] != "int" for n in g.inputs.values())
    losses = []  # the loss at each draw where it was not a number
    for positive in (False, True):
        try:
            with np.errstate(all="ignore"):  # a nan is reported below, in words
                rows = gradcheck.check(module, g, dims, args.seed, args.most, positive)
                step = gradcheck.step(module, g, dims, args.seed, positive)
            break
        except gradcheck.NotFinite as e:
            losses.append(str(e))
            if positive or not floats:
                drawn = f"from a standard normal and from {gradcheck.POSITIVE}" if positive else ""
                raise UserError(
                    f"gradcheck: the loss is {' and '.join(dict.fromkeys(losses))} at the random point checked "
                    f"({shown or 'no dims'}, seed {args.seed}{', inputs ' + drawn if drawn else ''}); "
                    "the check needs a point where it is a number: try another --seed or --dims"
                ) from None
        except MemoryError:
            raise _no_room(shown) from None
    print(f"gradcheck {compiled.name}: float64, -O{args.O}" + (f", {shown}" if shown else "") + f", seed {args.seed}")
    if positive:
        print(
            f"inputs: floats from {gradcheck.POSITIVE}, as with floats from a standard normal the loss is {losses[0]}"
        )
    entries = "1 entry" if args.most == 1 else f"up to {args.most} entries"
    print(f"loss_and_grad against central differences of loss at {entries} of each array;")
    print(
        f"an entry agrees when the two differ by at most {gradcheck.RTOL:g}·|slope| + "
        f"{gradcheck.ATOL:g}·max(1, |loss|) / max(1, |entry|)"
    )
    print("\n".join(gradcheck.table(rows)))
    wrong = [r.name for r in rows if not r.ok]
    blind = [r.name for r in rows if r.blind and r.ok]
    stepped = step <= gradcheck.STEP_TOL
    moved = [w for w in g.wrt if w in g.params]  # (`wrt` inputs alone: sgd_step moves nothing)
    if moved:
        which = "each param"
        if set(moved) != set(g.params):
            which = f"{', '.join(moved)} (the params after wrt)" + (" each" if len(moved) > 1 else "")
        print(
            f"sgd_step {'moves' if stepped else 'DOES NOT move'} {which} by lr times its gradient "
            f"(largest difference {step:.1e})"
        )
    if wrong:
        _say(f"error: the gradient of {', '.join(wrong)} disagrees with the finite differences")
    if blind:
        _say(
            f"error: the slopes of {', '.join(blind)} are below what round-off in the loss lets the check see; "
            "scale the loss or those params"
        )
    if not stepped:
        _say("error: sgd_step does not move the params by lr times their gradient")
    if wrong or blind or not stepped:
        return 1
    worst = max((r.worst for r in rows), default=0.0)
    agree = "the gradient agrees" if len(rows) == 1 else f"all {len(rows)} gradients agree"
    agree += " at the entries checked"
    print(f"{agree} (largest difference {worst:.1e})")
    return 0


def _no_room(shown: str) -> UserError:
    if not shown:  # no dims to make smaller: its params themselves are too large
        return UserError("gradcheck: the model's arrays do not fit in memory")
    return UserError(f"gradcheck: the arrays at {shown} do not fit in memory; give smaller --dims")


def _number(text: str) -> int | None:
    """text as a whole number written in the digits 0-9, or None: str.isdigit also takes
    '²' and '①', which int() refuses, and int() refuses more than 4,300 digits."""
    text = text.strip()
    if not (text.isascii() and text.isdigit()):
        return None
    try:
        return int(text)
    except ValueError:  # past the digits Python converts
        return None


def _dims_arg(text: str) -> dict[str, int]:
    dims = {}
    for item in filter(None, text.split(",")):
        name, _, value = item.partition("=")
        size = _number(value)
        if not name.strip().isidentifier() or size is None:
            raise argparse.ArgumentTypeError(
                f"expected NAME=SIZE, a size being a whole number (0 or more), got {item!r}"
            )
        if name.strip() in dims:
            raise argparse.ArgumentTypeError(f"{name.strip()} is given twice")
        dims[name.strip()] = size
    return dims


class _MergeDims(argparse.Action):
    """--dims given more than once: the sizes of all, each dim at most once."""

    def __call__(self, parser, namespace, values, option_string=None):
        earlier = getattr(namespace, self.dest) or {}
        twice = sorted(set(earlier) & set(values))
        if twice:
            parser.error(f"argument --dims: {', '.join(twice)} is given twice")
        setattr(namespace, self.dest, {**earlier, **values})


def _whole(least: int):
    """An argparse type: a whole number of `least` or more."""

    def parse(text: str) -> int:
        number = _number(text)
        if number is None or number < least:
            raise argparse.ArgumentTypeError(f"expected a whole number of {least} or more, got {text!r}")
        return number

    return parse


def _folder_arg(text: str) -> str:
    if not text.strip():
        raise argparse.ArgumentTypeError("expected a folder name, got an empty one")
    if text.endswith(".py") and not os.path.isdir(text):  # `-o build/net.py` would make a folder net.py
        raise argparse.ArgumentTypeError(
            f"DIR is the folder NAME.py is written to, not the module's file; give {os.path.dirname(text) or os.curdir}"
        )
    return text


def _level(command: argparse.ArgumentParser, what: str) -> None:
    command.add_argument("-O", choices=("0", "1", "2"), default="2", help=f"{what} (default: 2)")


def _dtype(command: argparse.ArgumentParser, what: str) -> None:
    command.add_argument(
        "--dtype", choices=("float32", "float64"), default="float64", help=f"{what} (default: float64)"
    )


def _dims(command: argparse.ArgumentParser, metavar: str, what: str) -> None:
    command.add_argument("--dims", type=_dims_arg, action=_MergeDims, default={}, metavar=metavar, help=what)


def _command(sub, name: str, run, what: str, description: str) -> argparse.ArgumentParser:
    """A subcommand taking one model file."""
    command = sub.add_parser(name, help=what, description=description)
    command.add_argument("model", metavar="MODEL.nn", help="the model file")
    command.set_defaults(run=run, command_parser=command)
    return command


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="graphc", description="Compile .nn models to NumPy modules with gradients.")
    ap.add_argument("--version", action="version", version=f"graphc {__version__}")
    sub = ap.add_subparsers(dest="command", required=True)
    what = "write DIR/NAME.py (forward, loss, gradients, sgd_step)"
    c = _command(
        sub,
        "compile",
        cmd_compile,
        what,
        f"Compile MODEL.nn: {what}, NAME.forward.svg and NAME.backward.svg (the graphs and the chain rule "
        "drawn), NAME.html (source, graphs and code side by side) and the .dot sources.",
    )
    c.add_argument("-o", type=_folder_arg, default="build", metavar="DIR", help="output folder (default: build)")
    _dtype(c, "the module's float type")
    _level(
        c,
        "optimization: 0 one statement per op (for reading), 1 the graph simplified, 2 also in place in reused buffers",
    )
    c.add_argument("--no-render", action="store_true", help="write only NAME.py: no pictures, no page, no .dot files")
    c.add_argument("--format", choices=("svg", "png", "pdf"), default="svg", help="the pictures' format (default: svg)")
    c.add_argument(
        "--report", action="store_true", help="print FLOPs, saved values, peak memory, what the passes removed"
    )
    _dims(c, "B=128,...", "dim sizes for --report's numbers (needs --report; a dim not given counts as 1)")
    ch = _command(
        sub,
        "check",
        cmd_check,
        "parse and shape-check a model, print a summary",
        "Parse and shape-check MODEL.nn and print its inputs, params, every named value with its shape, its "
        "outputs and objective; write nothing. Mistakes are reported with file:line:col.",
    )
    _dtype(ch, "the float type the initial values must fit, as in compile --dtype")
    gc = _command(
        sub,
        "gradcheck",
        cmd_gradcheck,
        "compare the generated gradients with finite differences",
        "Compile MODEL.nn in float64 and compare loss_and_grad's gradients with central differences of loss, "
        "on random inputs and params near their initial values, and sgd_step's moves with them; exit 1 if "
        "any disagrees.",
    )
    _level(gc, "the optimization level checked")
    _dims(
        gc,
        "B=4,...",
        "dim sizes to check at (default: 3, 4, 5, ... in declaration order, skipping sizes the model uses elsewhere)",
    )
    gc.add_argument("--seed", type=_whole(0), default=0, help="for the inputs, params and entries checked (default: 0)")
    gc.add_argument("--most", type=_whole(1), default=20, help="entries checked per array at most (default: 20)")
    return ap


class _Killed(BaseException):
    """SIGTERM or SIGHUP, raised as Ctrl-C's KeyboardInterrupt is, so the command ends with a
    word and 128 + the signal (Python's own way with them is to stop on the spot, silently)."""

    def __init__(self, number: int) -> None:
        self.number = number


@contextmanager
def _unwound_on_kill() -> Iterator[None]:
    """`kill` and a closed terminal end the command as Ctrl-C does; one ignored (as under nohup) stays so."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    before = {n: signal.getsignal(n) for n in KILLS}
    for n, handler in before.items():
        if handler == signal.SIG_DFL:
            signal.signal(n, _raise_killed)
    try:
        yield
    finally:
        for n, handler in before.items():
            if handler == signal.SIG_DFL:
                signal.signal(n, handler)


def _raise_killed(number: int, frame) -> None:
    raise _Killed(number)


def entry() -> int:
    """The `graphc` command and `python -m graphc`: main, ending the process once all is said."""
    status = main(exit_at_once=True)
    _exit_at_once(status)
    return status  # (only where the output could not be flushed: Python's own exit says so, as before)


def _exit_at_once(status: int) -> None:
    """End the process with `status` now, its output flushed, leaving what the command made
    unfreed: the tree and graph of a large model are millions of objects (a quarter second
    to free for 200,000 statements) in a process about to end. Returns, doing nothing more,
    where the output cannot be flushed."""
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except Exception:  # a closed or full stream (or none): as before, Python's exit reports it
        return
    os._exit(status)


def main(argv=None, *, exit_at_once: bool = False) -> int:
    """Run the command line `argv` (default sys.argv[1:]) and return its exit status.

    With exit_at_once (the command itself, not a caller in the same process), a model's
    mistakes end the process as soon as they are printed, before the tree and graph
    their traceback holds are freed.
    """
    sys.setrecursionlimit(max(sys.getrecursionlimit(), RECURSION_LIMIT))
    for stream in (sys.stdout, sys.stderr):  # a terminal that is not UTF-8 gets \xb7, not a traceback
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="backslashreplace")
    args, unknown = parser().parse_known_args(argv)
    if unknown:  # said by the command's own parser, so its usage is the one shown
        args.command_parser.error(f"unrecognized arguments: {' '.join(unknown)}")
    if args.command == "compile" and args.dims and not args.report:
        args.command_parser.error("--dims gives the dim sizes for --report's numbers; add --report")
    if getattr(args, "no_render", False) and args.format != "svg":
        args.command_parser.error(f"--format {args.format} chooses the pictures' format, and --no-render draws none")
    # one command is one short run that leaves no cycles behind: with the collector on,
    # each time it woke it would rescan the whole tree and graph. It stays off until an
    # error's traceback, which holds them, is gone: waking to that is seconds on a large model.
    with gc_paused(), _unwound_on_kill():
        try:
            status = args.run(args)
            if sys.stdout is None:  # `>&-`: Python gives no stream, and what was printed is lost
                raise OSError(errno.EBADF, os.strerror(errno.EBADF))
            sys.stdout.flush()  # a full disk shows here, not in a traceback as Python exits
            return status
        except BrokenPipeError:  # `graphc check m.nn | head`: the reader left; as any tool a
            # pipe's end stops, exit 128 + SIGPIPE, saying nothing (which is no error of ours)
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            return 141
        except KeyboardInterrupt:  # Ctrl-C: a word, not a traceback (write_all holds it until its files are in place)
            _say("graphc: interrupted")
            return 130
        except _Killed as e:
            _say("graphc: terminated")
            return 128 + e.number
        except OSError as e:  # the files have their own messages: this is the output stream (`> /dev/full`)
            if sys.stdout is not None:
                os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            _say(f"error: cannot write the output: {e.strerror or e}")
            return 1
        except MemoryError:  # a model of millions of nodes, past what this machine holds
            doing = "compile" if args.command == "compile" else "check"  # (gradcheck and check)
            _say(f"error: {args.model}: out of memory: the model is too large to {doing} here")
            if exit_at_once:
                _exit_at_once(1)
            return 1
        except (UserError, ModelFileError) as e:
            msg = str(e)
            _say(msg if ": error: " in msg else f"error: {msg}")
            return 1
        except GraphcError as e:
            _say(e.format({args.model: getattr(args, "text", "")}))
            if exit_at_once:
                _exit_at_once(1)
            return 1
