"""Files: user files are read with bounds, output files are written atomically.

Every file a user names (the scenario, its CSV profiles and prices) is read through
:func:`read_bytes_capped` / :func:`read_text_capped`: only regular files (a FIFO or a device
could block forever or never end), checked for size before reading and read to at most the
cap, so a wrong path costs milliseconds, not memory.

Output files are written to a temporary file beside the target, then renamed. An interrupted or
failed run therefore never leaves half a file where a complete one is expected (and a rerun can
trust every file it finds).
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from pathlib import Path
from typing import Iterator

from flexopt.errors import FlexoptError, Problem, Span

MIB = 1024 * 1024
#: Largest CSV data file read: a typical-day series is a few hundred rows, so this guards against a wrong file.
MAX_DATA_FILE_BYTES = 16 * MIB

_KINDS = ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a named pipe (FIFO)"), (stat.S_ISCHR, "a character device"),
          (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"))


def irregular_kind(path: Path | str) -> str | None:
    """What a path is when it exists but is not a regular file ("a named pipe (FIFO)" ...), else None."""
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return None
    return None if stat.S_ISREG(mode) else _kind(mode)


def _kind(mode: int) -> str:
    return next((name for test, name in _KINDS if test(mode)), "not a regular file")


def read_bytes_capped(path: Path | str, limit: int, *, label: str = "the file", kind: str = "a file",
                      span: Span | None = None, hint: str | None = None) -> bytes:
    """The bytes of a user's regular file of at most ``limit`` bytes, or a FlexoptError saying why not.

    ``label`` names the file in messages ("the file", "'data/prices.csv'"), ``kind`` what it should
    be ("a scenario"); the error is located at ``span`` (where the scenario names the file) or at
    the file's first line. The file is stat-ed before it is opened (a FIFO is never opened), opened
    without blocking, checked again once open, and read to at most ``limit + 1`` bytes.
    """
    where = span or Span(str(path), 1, 1)

    def refuse(message: str, fix: str | None) -> FlexoptError:
        return FlexoptError([Problem(message, where, fix)])

    try:
        info = os.stat(path)
    except FileNotFoundError:
        raise refuse(f"{label} does not exist", "check the path") from None
    except OSError as err:
        raise refuse(f"cannot read {label}: {err.strerror or err}", None) from None
    if not stat.S_ISREG(info.st_mode):
        raise refuse(f"{label} is {_kind(info.st_mode)}, not a regular file",
                     f"name {kind} saved on disk; flexopt does not read pipes or devices, which may never end")
    if info.st_size > limit:  # a 2 GB sparse file is refused here, before a byte is read
        raise _too_big(label, kind, info.st_size, limit, where, hint)
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_BINARY", 0)
    try:
        fd = os.open(path, flags)
    except OSError as err:
        raise refuse(f"cannot read {label}: {err.strerror or err}", None) from None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):  # replaced between the two looks
            raise refuse(f"{label} is not a regular file", f"name {kind} saved on disk")
        chunks, size = [], 0
        while size <= limit:
            chunk = os.read(fd, min(limit + 1 - size, MIB))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    except OSError as err:
        raise refuse(f"cannot read {label}: {err.strerror or err}", None) from None
    finally:
        os.close(fd)
    if size > limit:  # it grew while being read
        raise _too_big(label, kind, size, limit, where, hint, more=True)
    return b"".join(chunks)


def _too_big(label: str, kind: str, size: int, limit: int, where: Span, hint: str | None,
             more: bool = False) -> FlexoptError:
    shown = f"more than {limit / 1e6:.1f}" if more else f"{size / 1e6:.1f}"
    return FlexoptError([Problem(f"{label} is {shown} MB; {kind} may be at most {limit // MIB} MB", where, hint)])


def read_text_capped(path: Path | str, limit: int, *, label: str = "the file", kind: str = "a file",
                     span: Span | None = None, hint: str | None = None) -> str:
    """:func:`read_bytes_capped`, decoded as UTF-8 (a byte-order mark is dropped); a bad byte is located."""
    data = read_bytes_capped(path, limit, label=label, kind=kind, span=span, hint=hint)
    try:
        return data.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError as err:
        before = data[: err.start]
        line = before.count(b"\n") + 1
        column = err.start - (before.rfind(b"\n") + 1) + 1
        raise FlexoptError([Problem(f"{label} is not valid UTF-8 (byte 0x{data[err.start]:02x})",
                                    Span(str(path), line, column), f"save {kind} as UTF-8 text")]) from None


@contextlib.contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """Yield a temporary path in ``path``'s folder; on success it replaces ``path``, on error it is removed."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)  # mkstemp creates 0600; give the file the user's usual mode
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def write_text_atomic(path: Path, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def user_cache_folder() -> Path:
    """flexopt's folder in the user's cache ($XDG_CACHE_HOME/flexopt, else ~/.cache/flexopt): what is slow to
    build and the same on every run (names of pandapower's standard types, the grammar's parse tables). Only
    a speed-up: whoever reads it checks what it finds and builds afresh when it is missing or wrong."""
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "flexopt"
