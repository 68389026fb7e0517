"""Domain errors; the entrypoints map each to a problem or a page in one place."""

from __future__ import annotations


class ReferralError(Exception):
    """Base of every referral domain error."""


class LinkExpired(ReferralError):
    def __init__(self) -> None:
        super().__init__("the referral link has expired")


class LinkAlreadyUsed(ReferralError):
    def __init__(self, state: object) -> None:
        super().__init__("the referral link was already answered")
        self.state = state


class TransitionNotAllowed(ReferralError):
    def __init__(self, update: str, state: object) -> None:
        super().__init__(f"{update} is not possible while the referral is {state}")
        self.update = update
        self.state = state


class InvalidConsent(ReferralError):
    def __init__(self, errors: dict[str, list[str]]) -> None:
        super().__init__("the consent is not complete")
        self.errors = errors


class ConsentNotRevocable(ReferralError):
    def __init__(self) -> None:
        super().__init__("there is no active consent to revoke")
