"""Errors are values the console can show: each names the object, the field and the fix."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Problem:
    """One located problem with a piece of input (a config file, a CSV row, a CEL expression)."""

    message: str
    path: str = ""  # e.g. "push_rules[0].mappings[2].cel" or "sample_data/hr.yaml"
    line: int | None = None
    column: int | None = None
    hint: str = ""
    severity: str = "error"  # "error" | "warning"

    def __str__(self) -> str:
        where = self.path
        if self.line is not None:
            where += (": " if where else "") + f"line {self.line}"
            where += f", column {self.column}" if self.column else ""
        text = f"{where}: {self.message}" if where else self.message
        if self.hint:
            text += f" ({self.hint})"
        return text

    def as_dict(self) -> dict[str, object]:
        return {
            "message": self.message,
            "path": self.path,
            "line": self.line,
            "column": self.column,
            "hint": self.hint,
            "severity": self.severity,
        }


class Stopped(Exception):
    """The caller asked long work to stop (the console closed the screen waiting for it, or
    is quitting). Not an error: nothing is reported, nothing was written."""


class RosterError(Exception):
    """Base of every error the engine raises on purpose; the message is for the admin."""

    exit_code = 1

    def __init__(self, message: str, problems: list[Problem] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.problems: list[Problem] = problems or []


class NotFound(RosterError):
    """A named object (user, app, account, run, attribute) does not exist."""


class InvalidInput(RosterError):
    """Input the admin gave (a file, an expression, an argument) cannot be used as it is."""


class ConfigInvalid(InvalidInput):
    """A configuration document has problems; `problems` lists every one with its location."""


class ConfigConflict(InvalidInput):
    """An edit was made from a configuration version that is no longer current: the message
    says who changed it and when (`PATH was changed by USER at TIME since you opened it; reload
    to see it.`); nothing was saved."""


class ConnectorError(RosterError):
    """A connector failed to read or write its app; the store is left as it was."""


class SyncLocked(RosterError):
    """Another sync holds the lock on this database."""

    exit_code = 4


class StoreError(RosterError):
    """The identity store cannot be opened or is in an unexpected state."""


class DamagedRecord(StoreError):
    """A record the store holds cannot be read back (its JSON was changed outside Roster).
    CEL never takes it for an error of the expression: it ends the evaluation, as a store
    error ends any other operation."""


class StoreLocked(StoreError):
    """The store stayed locked by another process (SQLite's write lock) past the busy timeout;
    this command wrote nothing more. The message says so, never the rows it was writing."""
