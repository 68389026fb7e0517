"""Domain errors of the accommodation service; the API maps each to a problem in one
place (an illegal transition is a 409, a missing or invalid detail a 422)."""

from __future__ import annotations

from accommodation.domain.model import Action, Status


class AccommodationError(Exception):
    """Base of every accommodation domain error."""


class IllegalTransition(AccommodationError):
    """The action is not possible in the case's status; `allowed` lists what is."""

    def __init__(self, action: Action, status: Status, allowed: list[Action]) -> None:
        possible = ", ".join(a.value for a in allowed) or "nothing"
        super().__init__(f"{action.value} is not possible while the case is {status.value} "
                         f"(possible: {possible})")
        self.action = action
        self.status = status
        self.allowed = allowed


class InvalidDetail(AccommodationError):
    """A detail of an action (`note`, `reason`, `granted`) is not acceptable: too long, or
    given to an action that does not use it."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


class MissingDecisionDetail(InvalidDetail):
    """A detail the action needs is absent: `deny` without a `reason`, `approve_modified`
    or `grant_interim` without a `granted` arrangement."""
