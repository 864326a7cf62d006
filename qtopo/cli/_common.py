"""What every command shares: exit codes, the guard that maps qtopo's exceptions to them, progress lines."""
from __future__ import annotations

import functools
import os
import sys
import time

import click

EXIT_OK, EXIT_INFEASIBLE, EXIT_SOLVER, EXIT_INPUT, EXIT_VERIFY, EXIT_INTERRUPT = 0, 2, 3, 4, 5, 130


def _err(msg: str) -> None:
    click.echo(msg, err=True)


def guarded(fn):
    """Map qtopo's exceptions to exit codes and clear messages (no tracebacks)."""

    @functools.wraps(fn)
    def wrapper(*a, **kw):
        from ..errors import InputError, QtopoError, SolverError, VerificationError

        try:
            return fn(*a, **kw)
        except click.exceptions.Exit:
            raise
        except click.ClickException:
            raise
        except InputError as e:
            _err(f"error: {e.format()}")
            sys.exit(EXIT_INPUT)
        except VerificationError as e:
            _err(f"error: {e}\nThe plan was not written.")
            sys.exit(EXIT_VERIFY)
        except SolverError as e:
            _err(f"error: solver failure: {e}")
            sys.exit(EXIT_SOLVER)
        except QtopoError as e:
            _err(f"error: {e}")
            sys.exit(EXIT_INPUT)
        except KeyboardInterrupt:
            _err("interrupted: previous outputs were left as they were")
            sys.exit(EXIT_INTERRUPT)
        except MemoryError:
            _err("error: out of memory: reduce the instance (hut spacing, candidates) or use a larger machine")
            sys.exit(EXIT_SOLVER)
        except Exception as e:  # a bug: say so plainly, keep the traceback behind QTOPO_DEBUG
            if os.environ.get("QTOPO_DEBUG"):
                raise
            _err(f"internal error: {type(e).__name__}: {e}\n"
                 "This is a bug in qtopo; rerun with QTOPO_DEBUG=1 for the traceback and report it.")
            sys.exit(70)

    return wrapper


class _Progress:
    """One line per phase on stderr."""

    def __init__(self, quiet: bool = False):
        self.quiet = quiet
        self.t0 = time.perf_counter()

    def __call__(self, line: str) -> None:
        if not self.quiet:
            click.echo(f"[{time.perf_counter() - self.t0:7.1f}s] {line}", err=True)
