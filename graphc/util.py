"""Helpers shared by the stages."""

from __future__ import annotations

import gc
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector around a stage.

    Compiling makes millions of small objects and frees no cycles worth finding,
    so the collector would only rescan the growing tree and graph: it took a third
    of parsing and more than half of lowering on 100,000-statement models.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def plural(n: int, word: str) -> str:
    """`1 argument`, `2 arguments`."""
    return f"{n} {word}{'' if n == 1 else 's'}"


def number_text(v: float) -> str:
    """A computed number as a message shows it, whole: `10`, `0.5`, `1234567.5`, `1e+23`
    (never rounded to six digits, as `:g` would make 1234567.5 `1.23457e+06`)."""
    if float(v).is_integer() and abs(v) < 1e16:
        return str(int(v))
    return repr(float(v))


RECURSION_LIMIT = 20_000  # deep enough for the deepest expression and loop nest the parser accepts


_ROOM = threading.Lock()
_room = {"users": 0, "before": 0}  # threads inside recursion_room, and the limit before the first


@contextmanager
def recursion_room() -> Iterator[None]:
    """Python's recursion limit raised to RECURSION_LIMIT around a stage, then put back.

    Lowering recurses through expressions (500 levels the parser allows, a few frames
    each), loops inside loops and fns inlined into fns: past Python's usual 1,000 frames.
    The limit is the process's: threads lowering at once share one raise, put back by the
    last to leave.
    """
    with _ROOM:
        if not _room["users"]:
            _room["before"] = sys.getrecursionlimit()
            sys.setrecursionlimit(max(_room["before"], RECURSION_LIMIT))
        _room["users"] += 1
    try:
        yield
    finally:
        with _ROOM:
            _room["users"] -= 1
            if not _room["users"]:
                sys.setrecursionlimit(_room["before"])
