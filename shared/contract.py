"""The vocabulary services agree on through events and disclosures, kept in one place
because no service may import another: the consent scopes and the redisclosure notice
every disclosure carries (the same text everywhere, so its presence reveals nothing)."""

from __future__ import annotations

CONSENT_SCOPES = ("participation", "attendance_summary", "completion", "return_to_work",
                  "schedule_needs")

REDISCLOSURE_NOTICE = (
    "This information has been disclosed to you from records protected by federal "
    "confidentiality rules (42 CFR part 2). The federal rules prohibit you from making any "
    "further disclosure of this information unless further disclosure is expressly "
    "permitted by the written consent of the person to whom it pertains or as otherwise "
    "permitted by 42 CFR part 2.")
