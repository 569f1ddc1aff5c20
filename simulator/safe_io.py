"""Safe output: paths checked before any work starts, files written to a temporary name and renamed into place.

Only a regular file (or a new path) is replaced by a rename. A character device, FIFO or socket named as an
output (``--out /dev/stdout``, ``/dev/full``, a named pipe) is never replaced: the output is written to a
temporary file first and then copied into it, so a full device fails with one line and the device stays. A
symbolic link is followed: its target is written, the link stays.

A write that fails anyway (full disk, permissions changed mid-run) becomes one line naming the path; the
results are then written to a rescue file in the system's temporary directory when possible, so a long run
is not lost. Damaged saved files (a truncated Parquet or JSON file) are named in one line by
:func:`read_parquet` and :func:`read_json`.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import stat
import tempfile
from pathlib import Path
from typing import Callable

from simulator.errors import VrexError


class OutputError(VrexError):
    """An output path cannot be written."""


class DamagedFile(VrexError):
    """A saved result file (a point, a run's table) is truncated or corrupt."""

    def __init__(self, path: str | Path, why: str):
        self.path = Path(path)
        super().__init__(f"{path}: damaged or truncated file ({why})")


def is_special(path: str | Path) -> bool:
    """True if ``path`` (a link followed) exists and is neither a regular file nor a directory: a character or
    block device, a FIFO or a socket. Such a target is written into, never replaced."""
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return False
    return not (stat.S_ISREG(mode) or stat.S_ISDIR(mode))


def publish(tmp: Path, path: Path) -> None:
    """Put the finished temporary file ``tmp`` at ``path``: a rename for a regular file or a new path (a link
    is followed, so the link stays), a copy into the target for a device or FIFO (never replaced)."""
    target = Path(os.path.realpath(path)) if path.is_symlink() else path
    if is_special(target):
        try:
            with open(tmp, "rb") as src, open(target, "wb") as dst:
                shutil.copyfileobj(src, dst)
        finally:
            tmp.unlink(missing_ok=True)
        return
    os.replace(tmp, target)


def temporary_beside(path: Path) -> Path:
    """Where the output is written before it is published: beside a regular target (the rename is atomic),
    in the system's temporary directory for a device or FIFO (whose directory, e.g. /dev, is not ours)."""
    name = f".{path.name}.{os.getpid()}.tmp"
    if is_special(path):
        return Path(tempfile.gettempdir()) / name
    target = Path(os.path.realpath(path)) if path.is_symlink() else path
    return target.with_name(name)


def _reason(exc: OSError) -> str:
    return exc.strerror or type(exc).__name__


def check_output_path(path: str | Path | None, flag: str, *, directory: bool = False) -> None:
    """Raise OutputError (naming ``flag`` and the path) unless ``path`` can be created or replaced: not a
    directory when a file is wanted (or a file when a directory is), and its nearest existing ancestor a
    writable directory. Missing parents are fine: they are created when the output is written."""
    if path is None:
        return
    p = Path(path)
    if str(path) == "":
        raise OutputError(f"{flag}: empty path")
    if p.exists():
        if not directory and is_special(p):
            if not os.access(p, os.W_OK):
                raise OutputError(f"{flag}: {p}: device or pipe is not writable")
            return  # written into (never replaced) by atomic_write
        if directory and not p.is_dir():
            raise OutputError(f"{flag}: {p}: exists and is not a directory")
        if not directory and p.is_dir():
            raise OutputError(f"{flag}: {p}: is a directory; give a file name")
        target = p if directory else p.parent
        if not os.access(target, os.W_OK | os.X_OK):
            raise OutputError(f"{flag}: {target}: directory is not writable")
        if not directory and not os.access(p, os.W_OK) and not os.access(p.parent, os.W_OK):
            raise OutputError(f"{flag}: {p}: file is not writable")
        return
    anc = p.parent
    while not anc.exists():
        if anc == anc.parent:
            break
        anc = anc.parent
    if not anc.is_dir():
        raise OutputError(f"{flag}: {p}: parent {anc} is not a directory")
    if not os.access(anc, os.W_OK | os.X_OK):
        raise OutputError(f"{flag}: {p}: directory {anc} is not writable")


def atomic_write(path: str | Path, writer: Callable[[Path], object], *, rescue: bool = True) -> Path:
    """Call ``writer(tmp)`` to write a temporary file beside ``path``, then rename it to ``path`` (a device or
    FIFO is written into instead, see :func:`publish`).

    On an OSError the temporary file is removed and, with ``rescue``, the output is written to the system's
    temporary directory instead; the OutputError names the path, the reason and where the results are kept.
    """
    path = Path(path)
    tmp = temporary_beside(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        writer(tmp)
        publish(tmp, path)
        return path
    except OSError as exc:
        try:
            tmp.unlink(missing_ok=True)
        except OSError:
            pass
        kept = ""
        if rescue:
            try:
                fd, spare = tempfile.mkstemp(prefix="vrex-rescue-", suffix=f"-{path.name}")
                os.close(fd)
                writer(Path(spare))
                kept = f"; results kept in {spare}"
            except Exception:  # the rescue is best effort; the error below names the real problem
                kept = ""
        raise OutputError(f"{path}: cannot write: {_reason(exc)}{kept}") from None


def guarded_dir_write(directory: str | Path, writer: Callable[[Path], object]):
    """Run ``writer(directory)`` (which writes several files into it); an OSError becomes one line naming the
    directory (files written before the error stay)."""
    d = Path(directory)
    try:
        d.mkdir(parents=True, exist_ok=True)
        return writer(d)
    except OSError as exc:
        where = exc.filename or d
        raise OutputError(f"{where}: cannot write: {_reason(exc)}") from None


def read_parquet(path: str | Path, **kwargs):
    """``pandas.read_parquet(path)``, a truncated or corrupt file raising :class:`DamagedFile` naming it."""
    import pandas as pd
    import pyarrow as pa

    try:
        return pd.read_parquet(path, **kwargs)
    except (pa.ArrowException, OSError, ValueError) as exc:
        if isinstance(exc, FileNotFoundError):
            raise DamagedFile(path, "missing") from None
        why = _first_line(exc).replace(f"Could not open Parquet input source '{path}': ", "")
        raise DamagedFile(path, why) from None


def read_json(path: str | Path):
    """``json.loads`` of the file, a truncated or corrupt file raising :class:`DamagedFile` naming it."""
    try:
        return json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise DamagedFile(path, "missing") from None
    except (OSError, ValueError, RecursionError) as exc:
        raise DamagedFile(path, _first_line(exc)) from None


def _first_line(exc: BaseException) -> str:
    text = str(exc).splitlines()
    return " ".join(text[0].split())[:200] if text else type(exc).__name__


def stream_failed(exc: OSError) -> bool:
    """A write to a closed pipe (the reader went away): stop quietly, like other command-line tools."""
    return isinstance(exc, BrokenPipeError) or exc.errno == errno.EPIPE
