"""Exceptions and warnings of qtopo.

Every problem with user input is an :class:`InputError` that carries *all* problems found at once, each
naming the file, the feature or row, what is wrong and how to fix it. The CLI prints them and exits 4.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Problem:
    """One problem found in user input.

    Parameters
    ----------
    where : str
        File (and feature/row/key) the problem is in, e.g. ``"sites.gpkg, row 3 (id='AMS')"``.
    what : str
        What is wrong.
    fix : str
        How to fix it.
    """

    where: str
    what: str
    fix: str = ""

    def __str__(self) -> str:
        s = f"{self.where}: {self.what}"
        if self.fix:
            s += f" -> {self.fix}"
        return s


class QtopoError(Exception):
    """Base class of all qtopo errors."""


class InputError(QtopoError, ValueError):
    """Bad input: holds every :class:`Problem` found, not only the first."""

    def __init__(self, problems, header: str = "invalid input"):
        if isinstance(problems, (str, Problem)):
            problems = [problems]
        self.problems = [p if isinstance(p, Problem) else Problem("input", str(p)) for p in problems]
        self.header = header
        super().__init__(self.format())

    def format(self) -> str:
        n = len(self.problems)
        lines = [f"{self.header}: {n} problem{'s' if n != 1 else ''}"]
        lines += [f"  - {p}" for p in self.problems]
        return "\n".join(lines)


class SolverError(QtopoError):
    """The solver failed (crashed, or returned no usable answer)."""


class VerificationError(QtopoError):
    """A plan failed independent verification; it must never be written as valid."""

    def __init__(self, violations):
        self.violations = list(violations)
        n = len(self.violations)
        super().__init__(
            f"plan failed verification: {n} violation{'s' if n != 1 else ''}\n"
            + "\n".join(f"  - {v}" for v in self.violations)
        )


class ProblemCollector:
    """Collects problems during validation; raise them all at once with :meth:`raise_if_any`."""

    def __init__(self, header: str = "invalid input"):
        self.header = header
        self.problems: list[Problem] = []

    def add(self, where: str, what: str, fix: str = "") -> None:
        self.problems.append(Problem(where, what, fix))

    def extend(self, other: "ProblemCollector | InputError") -> None:
        self.problems.extend(other.problems)

    def __bool__(self) -> bool:
        return bool(self.problems)

    def raise_if_any(self) -> None:
        if self.problems:
            raise InputError(self.problems, self.header)


class QtopoWarning(UserWarning):
    """Warnings qtopo emits (e.g. a key-rate model used near the edge of its validity)."""


class ValidityWarning(QtopoWarning):
    """A physics model was asked for parameters near or outside its validity range."""
