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


#: File marking a directory written by :func:`atomic_output_dir` (so a later run may replace it). It lists the
#: files qtopo wrote; only a folder holding this marker, and nothing qtopo did not write, may be replaced.
OUTPUT_MARKER = ".qtopo-output"
#: The same for a scenario folder written by ``qtopo import`` (authorises ``--overwrite`` only; never an --out of
#: ``qtopo plan``, which must not replace a scenario's inputs).
IMPORT_MARKER = ".qtopo-import"
_MARKER_HEAD = "Written by qtopo. The next run with this --out replaces this whole directory.\nfiles:\n"


def _marker_files(d: Path, marker: str = OUTPUT_MARKER) -> set[str] | None:
    """The names the marker in ``d`` lists (None: no marker; an empty set: a marker without a list)."""
    m = d / marker
    if m.is_symlink() or not m.is_file():
        return None
    try:
        text = m.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    if "files:\n" not in text:
        return set()
    return {ln.strip() for ln in text.split("files:\n", 1)[1].splitlines() if ln.strip()}


def _foreign_entries(d: Path, marker: str = OUTPUT_MARKER) -> list[str] | None:
    """Entries of ``d`` that qtopo did not write (None: ``d`` is not a qtopo output folder at all)."""
    entries = sorted(p.name for p in d.iterdir())
    if not entries:
        return []
    listed = _marker_files(d, marker)
    if listed is None:
        return None
    if not listed:  # a marker from before the file list: the whole folder was qtopo's
        return []
    return [n for n in entries if n != marker and n not in listed]


def _replaceable_output_dir(d: Path) -> bool:
    """Empty, or written by qtopo with nothing added since: only then may a run replace the whole directory."""
    return _foreign_entries(d) == []


def _temp_name(out_dir: Path, kind: str) -> str:
    return f".{out_dir.name}.{kind}-{os.getpid()}-"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def clean_stale_temps(out_dir: str | Path) -> list[str]:
    """Remove temporary folders of earlier runs into ``out_dir`` whose process is gone (killed, power cut).

    They are the siblings ``.NAME.tmp-PID-*`` and ``.NAME.old-PID-*`` that :func:`atomic_output_dir` creates;
    folders of a process that still runs (a concurrent plan into the same --out) are left alone.
    """
    out_dir = Path(os.path.abspath(out_dir))
    parent = out_dir.parent
    removed = []
    if not parent.is_dir():
        return removed
    for kind in ("tmp", "old"):
        prefix = f".{out_dir.name}.{kind}-"
        try:
            cands = [p for p in parent.iterdir() if p.name.startswith(prefix)]
        except OSError:
            return removed
        for p in cands:
            pid = p.name[len(prefix):].split("-", 1)[0]
            if not pid.isdigit() or _pid_alive(int(pid)) or p.is_symlink():
                continue
            shutil.rmtree(p, ignore_errors=True) if p.is_dir() else p.unlink(missing_ok=True)
            removed.append(p.name)
    return removed


def _problem(out_dir, what: str, fix: str = "choose another --out") -> InputError:
    return InputError([Problem(str(out_dir), what, fix)], "cannot write output")


def check_output_dir(out_dir: str | Path, clean: bool = True, marker: str = OUTPUT_MARKER) -> None:
    """Raise :class:`InputError` unless ``out_dir`` may be (re)written by :func:`atomic_output_dir`.

    Checks everything that would fail later, so that a bad ``--out`` fails in a second, before any work: an
    existing file or symlink (dangling or not) in its place, ``..`` after a folder that does not exist, a parent
    that is a file or not writable, a mount point, a folder that qtopo did not write (or with files added since).
    With ``clean``, temporary folders left by killed earlier runs are removed first.
    """
    raw = str(out_dir)
    out_dir = Path(out_dir)
    if not raw.strip():
        raise _problem(raw, "is empty")
    parts = out_dir.parts
    for i, part in enumerate(parts):
        if part == ".." and i > 0 and not Path(*parts[:i]).is_dir():
            raise _problem(out_dir, f"goes up ('..') out of {Path(*parts[:i])}, which does not exist",
                           "give the folder without '..', e.g. its absolute path")
    if out_dir.is_symlink():
        target = os.readlink(out_dir)
        raise _problem(out_dir, f"is a symbolic link (to {target}{', which does not exist' if not out_dir.exists() else ''})"
                       "; qtopo replaces its output folder as a whole and would replace the link, not write where it "
                       "points", "give the real folder as --out")
    if out_dir.exists() and not out_dir.is_dir():
        raise _problem(out_dir, "exists and is not a directory")
    absolute = Path(os.path.abspath(out_dir))
    anc = absolute.parent
    while not anc.exists() and anc != anc.parent:
        if anc.is_symlink():
            raise _problem(out_dir, f"its parent {anc} is a dangling symbolic link")
        anc = anc.parent
    if not anc.is_dir():
        raise _problem(out_dir, f"its parent {anc} is a file, not a folder")
    if not os.access(anc, os.W_OK | os.X_OK):
        raise _problem(out_dir, f"the folder {anc} is not writable", "choose a folder you can write to")
    if out_dir.is_dir():
        if absolute.parent.exists() and os.stat(out_dir).st_dev != os.stat(absolute.parent).st_dev:
            raise _problem(out_dir, "is a mount point (another file system than its parent): it cannot be "
                           "replaced atomically", "use a folder inside it as --out")
        foreign = _foreign_entries(out_dir, marker)
        if foreign is None:
            # e.g. --out pointing at the scenario's own folder, or at ".": replacing it would delete the inputs
            found = sorted(p.name for p in itertools.islice(out_dir.iterdir(), 5))
            raise _problem(out_dir, f"exists, is not empty and is not a qtopo output directory (it holds "
                           f"{', '.join(found)}{', ...' if len(found) == 5 else ''} but no {marker} marker); "
                           "writing there would replace, i.e. delete, its contents",
                           "choose a new or empty directory for --out")
        if foreign:
            raise _problem(out_dir, f"is a qtopo output directory, but files were added to it since "
                           f"({', '.join(foreign[:5])}{', ...' if len(foreign) > 5 else ''}); replacing it would "
                           "delete them", "move those files elsewhere, or choose another --out")
    if clean:
        clean_stale_temps(out_dir)


def write_marker(folder: Path, marker: str = OUTPUT_MARKER) -> None:
    """Write ``marker`` (:data:`OUTPUT_MARKER`) into ``folder``, listing what is in it now."""
    names = sorted(p.name for p in Path(folder).iterdir() if p.name != marker)
    (Path(folder) / marker).write_text(_MARKER_HEAD + "".join(f"{n}\n" for n in names), encoding="utf-8")


@contextlib.contextmanager
def atomic_output_dir(out_dir: str | Path):
    """Write a whole output directory atomically.

    Yields a temporary directory next to ``out_dir``; on success it replaces ``out_dir`` (the previous
    contents stay intact until that moment); on any exception, including KeyboardInterrupt and SIGTERM
    (:mod:`qtopo.signals`), the temporary directory is removed and ``out_dir`` is untouched. An existing
    ``out_dir`` is replaced only if it is empty or was written by qtopo (it holds :data:`OUTPUT_MARKER`, which
    lists the files qtopo wrote, and nothing else): otherwise :class:`InputError`, so that ``--out .``, ``--out``
    the scenario's own folder, or an output folder where the user saved notes can never be deleted.
    """
    out_dir = Path(out_dir)
    check_output_dir(out_dir)
    parent = out_dir.resolve().parent
    parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=_temp_name(out_dir, "tmp"), dir=parent))
    old = None
    try:
        yield tmp
        write_marker(tmp)
        os.chmod(tmp, 0o755)
        if out_dir.exists():
            old = Path(tempfile.mkdtemp(prefix=_temp_name(out_dir, "old"), dir=parent)) / "previous"
            os.replace(out_dir, old)
        os.replace(tmp, out_dir)
    except BaseException:
        # interrupted between the two renames: put the previous output back
        if old is not None and old.exists() and not out_dir.exists():
            os.replace(old, out_dir)
        shutil.rmtree(tmp, ignore_errors=True)
        if old is not None:
            shutil.rmtree(old.parent, ignore_errors=True)
        raise
    if old is not None:
        shutil.rmtree(old.parent, ignore_errors=True)


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
