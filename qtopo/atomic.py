"""Atomic output: a file or a whole output directory is written completely or not at all.

Kept free of NumPy, pandas and GeoPandas so that every command can write its outputs without importing them.
"""
from __future__ import annotations

import contextlib
import itertools
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

from .errors import InputError, Problem


def safe_child(out_dir: Path, name: str) -> Path:
    """``out_dir / name``, refusing names that would escape ``out_dir`` (absolute paths, ``..``)."""
    p = (Path(out_dir) / name).resolve()
    base = Path(out_dir).resolve()
    if base != p and base not in p.parents:
        raise InputError([f"output name {name!r} escapes the output directory {out_dir}"], "unsafe output path")
    return p


#: File marking a directory written by :func:`atomic_output_dir` (so a later run may replace it).
OUTPUT_MARKER = ".qtopo-output"
_OLD_OUTPUTS = ("plan.json", "repeaters.json")  # outputs written before the marker existed


def _replaceable_output_dir(d: Path) -> bool:
    """Empty, or written by qtopo: only then may a run replace the whole directory."""
    if next(iter(d.iterdir()), None) is None:
        return True
    return any((d / n).is_file() for n in (OUTPUT_MARKER, *_OLD_OUTPUTS))


def check_output_dir(out_dir: str | Path) -> None:
    """Raise :class:`InputError` unless ``out_dir`` may be (re)written by :func:`atomic_output_dir`.

    Cheap; call it before long work so that a bad ``--out`` fails first, not after planning.
    """
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise InputError([Problem(str(out_dir), "exists and is not a directory", "choose another --out")],
                         "cannot write output")
    if out_dir.is_dir() and not _replaceable_output_dir(out_dir):
        # e.g. --out pointing at the scenario's own folder, or at ".": replacing it would delete the inputs
        found = sorted(p.name for p in itertools.islice(out_dir.iterdir(), 5))
        raise InputError([Problem(
            str(out_dir), f"exists, is not empty and is not a qtopo output directory (it holds {', '.join(found)}"
            f"{', ...' if len(found) == 5 else ''}); writing there would replace, i.e. delete, its contents",
            "choose a new or empty directory for --out")], "cannot write output")


@contextlib.contextmanager
def atomic_output_dir(out_dir: str | Path):
    """Write a whole output directory atomically.

    Yields a temporary directory next to ``out_dir``; on success it replaces ``out_dir`` (the previous
    contents stay intact until that moment); on any exception, including KeyboardInterrupt, the temporary
    directory is removed and ``out_dir`` is untouched. An existing ``out_dir`` is replaced only if it is empty
    or was written by qtopo (it holds :data:`OUTPUT_MARKER`, or ``plan.json`` from older versions): otherwise
    :class:`InputError`, so that ``--out .`` or ``--out`` the scenario's own folder can never delete inputs.
    """
    out_dir = Path(out_dir)
    check_output_dir(out_dir)
    parent = out_dir.resolve().parent
    parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.tmp-", dir=parent))
    old = None
    try:
        yield tmp
        (tmp / OUTPUT_MARKER).write_text("Written by qtopo. The next run with this --out replaces this whole "
                                         "directory.\n", encoding="utf-8")
        os.chmod(tmp, 0o755)
        if out_dir.exists():
            old = parent / f".{out_dir.name}.old-{os.getpid()}"
            if old.exists():
                shutil.rmtree(old)
            os.replace(out_dir, old)
        os.replace(tmp, out_dir)
    except BaseException:
        # interrupted between the two renames: put the previous output back
        if old is not None and old.exists() and not out_dir.exists():
            os.replace(old, out_dir)
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def write_json_atomic(path: str | Path, obj) -> None:
    """Write JSON to ``path`` via a temporary file and ``os.replace``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(obj, fh, indent=1, sort_keys=False, default=_json_default)
            fh.write("\n")
        os.chmod(tmp, 0o644)  # mkstemp creates 0600; outputs are ordinary readable files
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _json_default(o):
    """JSON for NumPy scalars and arrays and paths (NumPy is not imported here: a value of its type means it is)."""
    np = sys.modules.get("numpy")
    if np is None:
        if isinstance(o, Path):
            return str(o)
        raise TypeError(f"not JSON serialisable: {type(o).__name__}")
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.floating,)):
        return float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")
