"""Domain exceptions. The web layer maps them to pages and status codes in one place."""

from __future__ import annotations


class ServiceError(Exception):
    """Base class for everything a service refuses to do."""


class NotFound(ServiceError):
    """The thing asked for does not exist (or the caller may not know it exists)."""


class AccessDenied(ServiceError):
    """The caller is signed in but may not do this."""


class NoKeyAccess(ServiceError):
    """The officer has not been granted the unit key yet."""


class InvalidTransition(ServiceError):
    """A case cannot move from its current status to the one asked for."""


class LoginFailed(ServiceError):
    """E-mail, password or second factor wrong, or the account is locked. Deliberately vague."""


class SessionExpired(ServiceError):
    """A session is unknown, timed out, or was ended."""


class InviteInvalid(ServiceError):
    """An enrolment link is unknown, used or expired."""


class ReceiptNotFound(ServiceError):
    """No case matches a well-formed receipt."""


class WeakPassword(ServiceError):
    """A chosen password fails the password rules; `.problems` lists why."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


class Throttled(ServiceError):
    """Too many failed attempts; try again after `retry_after` seconds."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"retry after {retry_after} s")
        self.retry_after = retry_after


class SetupError(ServiceError):
    """The instance is not in a state where this operation makes sense."""
