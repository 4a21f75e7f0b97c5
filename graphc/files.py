"""The files of a compile: the model read as text, the outputs written all or none, and
what an earlier compile of the same model left replaced, never a file of the user's."""

from __future__ import annotations

import html
import os
import signal
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from graphc.errors import ModelFileError, UserError

MAX_FILE_BYTES = 64 * 1024 * 1024


def read_model(path: str) -> str:
    """The model's text, or a ModelFileError saying why it cannot be read."""
    if os.path.isdir(path):
        raise ModelFileError(f"{path}: is a directory, not a model file")
    try:
        # non-blocking only to open: a named pipe with no writer would wait forever
        # (then it reads as empty); one with a writer, as from <(...), is read in full
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
        os.set_blocking(fd, True)
        with open(fd, "rb") as f:
            data = f.read(MAX_FILE_BYTES + 1)
    except FileNotFoundError:
        if os.path.islink(path):
            raise ModelFileError(f"{path}: is a link to {os.readlink(path)}, which does not exist") from None
        raise ModelFileError(f"{path}: no such file") from None
    except OSError as e:
        raise ModelFileError(f"{path}: cannot read: {e.strerror or e}") from None
    if len(data) > MAX_FILE_BYTES:
        raise ModelFileError(f"{path}: larger than {MAX_FILE_BYTES // 2**20} MiB; is this a model file?")
    if data[:4] in (b"\xff\xfe\x00\x00", b"\x00\x00\xfe\xff"):
        raise ModelFileError(f"{path}:1:1: error: the file is UTF-32 text; save it as UTF-8")
    if data[:2] in (b"\xff\xfe", b"\xfe\xff"):
        raise ModelFileError(f"{path}:1:1: error: the file is UTF-16 text; save it as UTF-8")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        line_start = data.rfind(b"\n", 0, e.start) + 1
        line = data[: e.start].count(b"\n") + 1
        # the column counts characters, as editors do, not the bytes before the bad one
        col = len(data[line_start : e.start].decode("utf-8", errors="replace")) + 1
        raise ModelFileError(
            f"{path}:{line}:{col}: error: the file is not UTF-8 text (byte 0x{data[e.start]:02x})"
        ) from None
    if "\x00" in text:
        line = text[: text.index("\x00")].count("\n") + 1
        col = text.index("\x00") - (text.rfind("\n", 0, text.index("\x00")) + 1) + 1
        raise ModelFileError(f"{path}:{line}:{col}: error: the file holds a NUL byte; is this a model file?")
    if "\r" in text and "\n" not in text:
        raise ModelFileError(f"{path}:1:1: error: the lines end in a lone \\r (old Mac style); save the file with \\n")
    return text.lstrip("\ufeff")


DREW = "// graphc drew from this file: "  # the first line of a .dot compile writes


def earlier_outputs(folder: str, name: str) -> list[str]:
    """The pictures, .dot files and page of model `name` that an earlier compile left in
    folder: only files graphc's own marks show it made. A .dot has its graph's name, and
    its first line lists the pictures graphc drew from it; the page has its title. A
    file of the same name that someone else put there (a picture drawn from graphc's
    .dot by hand, say) is never one of them."""

    def head(file: str) -> bytes:
        try:
            with open(os.path.join(folder, file), "rb") as f:
                return f.read(2048)
        except OSError:
            return b""

    found = []
    for kind in ("forward", "backward"):
        dot = head(f"{name}.{kind}.dot")
        if f'digraph "{name}_{kind}" {{'.encode() not in dot:
            continue
        found.append(f"{name}.{kind}.dot")
        first = dot.split(b"\n", 1)[0].decode("utf-8", "replace")
        drew = first[len(DREW) :].split(", ") if first.startswith(DREW) else []
        ours = {f"{name}.{kind}.{ext}" for ext in ("svg", "png", "pdf")}
        found += [f for f in drew if f in ours and os.path.isfile(os.path.join(folder, f))]
    if f"<title>{html.escape(name)}: graphc</title>".encode() in head(f"{name}.html"):
        found.append(f"{name}.html")
    return found


def write_all(folder: str, files: dict[str, bytes], remove: list[str] = (), model: str | None = None) -> None:
    """Write every file or none: each goes to a temporary name first, then all are renamed.
    Then the files named in `remove` are deleted where they exist. A file that would
    replace the model file itself is refused before anything is written."""
    if os.path.islink(folder) and not os.path.exists(folder):
        raise UserError(f"cannot write to {folder}: it is a link to {os.readlink(folder)}, which does not exist")
    if os.path.exists(folder) and not os.path.isdir(folder):
        raise UserError(f"cannot write to {folder}: it is a file, not a folder (pick another with -o)")
    longest, deepest = _limit(folder, "PC_NAME_MAX", 255), _limit(folder, "PC_PATH_MAX", 4096)
    real = os.path.realpath(model) if model is not None else None
    for name in files:
        path = os.path.join(folder, name)
        # the entry a rename would replace is the model's own (a link elsewhere to it would only
        # be replaced itself, and a hard link keeps the text under the model's name); the same
        # folder by another path, as a bind mount, is found by samefile
        if real is not None and name == os.path.basename(real) and os.path.isdir(folder):
            if os.path.samefile(folder, os.path.dirname(real)):
                raise UserError(f"cannot write {path}: it is the model file itself; pick another folder with -o")
        if len(os.fsencode(name)) > longest:  # found now, or the renames would stop half-way
            raise UserError(
                f"cannot write {path}: the name is longer than the {longest} bytes a file name may have "
                "here; give the model a shorter name"
            )
        staging = os.path.join(folder, max(name, ".graphc-XXXXXXXX.tmp", key=len))  # mkstemp's name first
        if len(os.fsencode(os.path.abspath(staging))) >= deepest:
            raise UserError(
                f"cannot write {path}: the path is longer than the {deepest} bytes a path may have here; "
                "pick a shorter folder with -o"
            )
    staged: list[tuple[str, str]] = []
    umask = os.umask(0)  # read it back: mkstemp makes files only their owner can read
    os.umask(umask)
    path = folder
    # Ctrl-C, kill or a closed terminal wait for the writing to end (a few milliseconds): one
    # between two renames would leave two compiles mixed, one between mkstemp and the list of
    # what to clean up a temporary behind
    with _signals_held():
        try:
            os.makedirs(folder, exist_ok=True)
            for name, data in files.items():
                path = os.path.join(folder, name)
                fd, tmp = tempfile.mkstemp(dir=folder, prefix=".graphc-", suffix=".tmp")
                staged.append((tmp, path))
                os.fchmod(fd, 0o666 & ~umask)  # as open() would have made it
                with os.fdopen(fd, "wb") as f:
                    f.write(data)
            for _, path in staged:
                if os.path.isdir(path):
                    raise UserError(f"cannot write {path}: a folder of that name is in the way")
            for tmp, path in staged:
                os.replace(tmp, path)
            for name in remove:
                path = os.path.join(folder, name)
                if os.path.isfile(path) or os.path.islink(path):
                    os.unlink(path)
        except OSError as e:
            raise UserError(f"cannot write {path}: {e.strerror or e}") from None
        finally:
            for tmp, _ in staged:
                if os.path.exists(tmp):
                    os.unlink(tmp)


HELD = [getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name)]


@contextmanager
def _signals_held() -> Iterator[None]:
    """Ctrl-C, kill and a closed terminal wait until the block is done, then act as they would
    have. (Python runs signal handlers in the main thread alone, so only it can hold them.)"""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[int] = []
    before = {number: signal.signal(number, lambda number, frame: caught.append(number)) for number in HELD}
    try:
        yield
    finally:
        for number, handler in before.items():
            signal.signal(number, signal.SIG_DFL if handler is None else handler)
        for number in caught[:1]:
            signal.raise_signal(number)


def _limit(folder: str, setting: str, usual: int) -> int:
    """A file-system limit in bytes (PC_NAME_MAX, PC_PATH_MAX) under folder, or its nearest
    existing parent; `usual` where it will not say."""
    while folder and not os.path.isdir(folder) and os.path.dirname(folder) != folder:
        folder = os.path.dirname(folder)
    try:
        limit = os.pathconf(folder or ".", setting)
    except (OSError, ValueError, AttributeError):  # not a POSIX system, or no such setting
        return usual
    return limit if limit > 0 else usual  # -1: no limit it knows of
