"""Safe output: paths checked before any work starts, files written to a temporary name and renamed into place.

A write that fails anyway (full disk, permissions changed mid-run) becomes one line naming the path; the
results are then written to a rescue file in the system's temporary directory when possible, so a long run
is not lost.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Callable

from simulator.errors import VrexError


class OutputError(VrexError):
    """An output path cannot be written."""


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
    """Call ``writer(tmp)`` to write a temporary file beside ``path``, then rename it to ``path``.

    On an OSError the temporary file is removed and, with ``rescue``, the output is written to the system's
    temporary directory instead; the OutputError names the path, the reason and where the results are kept.
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        writer(tmp)
        os.replace(tmp, path)
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
