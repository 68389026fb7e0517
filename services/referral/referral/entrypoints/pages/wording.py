"""The plain words the pages use for kinds, states, dates and disclosure rows."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from typing import Any

from referral.domain.model import Kind, State

KIND_WORDS: dict[Kind, str] = {
    Kind.SUPERVISORY: ("a supervisory referral: your supervisor suggests you contact a "
                       "provider for support. Taking part is your choice."),
    Kind.FORMAL: ("a formal referral: your employer asks you to contact a provider, for "
                  "example as part of a workplace agreement. Taking part is still your "
                  "choice."),
    Kind.RETURN_TO_WORK: ("a return-to-work referral: your employer asks you to take part in "
                          "a program as part of coming back to work. Taking part is still "
                          "your choice."),
}

STATE_WORDS: dict[State, str] = {
    State.INVITED: "You have not answered this referral yet.",
    State.ACCEPTED: ("You accepted the referral. The provider will contact you to arrange a "
                     "first appointment."),
    State.DECLINED: "You declined this referral.",
    State.EXPIRED: "The referral link expired before it was answered.",
    State.INTAKE_SCHEDULED: "Your first appointment with the provider is scheduled.",
    State.ENROLLED: "You are taking part in the program.",
    State.COMPLETED: "You completed the program.",
    State.DISCONTINUED: "The program ended before it was completed.",
}

PROGRAM_OPTION_WORDS = {"evening": "Evening sessions", "weekend": "Weekend sessions",
                        "virtual": "Online (virtual) sessions"}
CONTACT_WORDS = {"email": "My email address", "phone": "My phone number"}
CLAIM_WORDS = {
    "participation": "whether you are taking part",
    "attendance": "sessions attended of those scheduled",
    "compliant": "whether attendance meets the program's expectations",
    "completion": "completed or stopped, and the date",
    "return_to_work": "your return-to-work date",
}
ROLE_WORDS = {"hr": "Human Resources"}
CHANNEL_WORDS = {"api": "Read by your employer's HR system",
                 "webhook": "Sent to your employer's HR system"}


def sentence(text: str) -> str:
    """The domain's phrases ("whether you ...") as list items and labels ("Whether you ...")."""
    return text[:1].upper() + text[1:]


def long_date(value: date | datetime | None) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return f"{value.day} {value:%B %Y}, {value:%H:%M} UTC"
    return f"{value.day} {value:%B %Y}"


def disclosure_rows(rows: list[dict[str, Any]], employer_name: Callable[[str], str | None],
                    ) -> list[dict[str, str]]:
    """The disclosure log, in words: recipients and claim names become sentences."""
    shown = []
    for row in rows:
        claims = [c.strip() for c in str(row.get("information", "")).split(",") if c.strip()]
        role, _, employer_id = str(row.get("recipient", "")).partition("@")
        shown.append({
            "disclosed_at": long_date(row.get("disclosed_at")),
            "recipient": (f"{employer_name(employer_id) or 'Your employer'} "
                          f"({ROLE_WORDS.get(role, role)})"),
            "information": "; ".join(CLAIM_WORDS.get(c, c) for c in claims),
            "purpose": str(row.get("purpose", "")),
            "channel": CHANNEL_WORDS.get(str(row.get("channel")), str(row.get("channel"))),
        })
    return shown
