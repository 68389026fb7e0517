"""The events the referral service consumes: what the attestation service disclosed,
for the employee's manage page."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from referral.service_layer.handlers import ReferralServices
from shared.messaging import CloudEvent


def event_handlers(services: ReferralServices) -> dict[str, Callable[[Session, CloudEvent], None]]:
    def on_disclosure_recorded(session: Session, event: CloudEvent) -> None:
        services.record_disclosure(session.connection(), disclosure_row(event.data))

    return {"disclosure.recorded": on_disclosure_recorded}


def disclosure_row(data: Any) -> dict[str, Any]:
    """The manage page's row for a `disclosure.recorded` event:
    `{"disclosure_id", "referral_id", "consent_id", "recipient": {"employer_id", "role"},
      "information": [claim names], "purpose", "channel": "api"|"webhook", "disclosed_at"}`."""
    recipient = data["recipient"]
    return {
        "id": str(data["disclosure_id"])[:80], "referral_id": str(data["referral_id"]),
        "consent_id": data.get("consent_id"),
        "recipient": f"{recipient.get('role', 'hr')}@{recipient.get('employer_id', '')}"[:100],
        "information": ", ".join(str(i) for i in data.get("information", []))[:300],
        "purpose": str(data.get("purpose", "")), "channel": str(data.get("channel", "api"))[:20],
        "disclosed_at": datetime.fromisoformat(str(data["disclosed_at"]).replace("Z", "+00:00")),
    }
