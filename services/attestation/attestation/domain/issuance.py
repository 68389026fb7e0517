"""Which periods of a referral are due an attestation.

Weekly: every completed ISO week from the one holding the enrollment's start. Once the
enrollment has ended, the week holding the end date is not attested weekly: the `final`
attestation covers it instead, from that Monday (or the start, if later) to the end
date, as soon as the end is known. So no day is ever attested twice.
"""

from __future__ import annotations

from datetime import date

from attestation.domain.model import AttestationKind, Enrollment
from attestation.domain.periods import Period, completed_weeks, week_of


def due_periods(enrollment: Enrollment, today: date,
                issued: set[tuple[str, date]]) -> list[tuple[AttestationKind, Period]]:
    """(kind, period) still to attest, oldest first; `issued` holds (kind, period start)
    of what was attested already."""
    if enrollment.start_date is None:
        return []
    due: list[tuple[AttestationKind, Period]] = []
    last_week = week_of(enrollment.end_date) if enrollment.has_ended \
        and enrollment.end_date is not None else None
    for week in completed_weeks(enrollment.start_date, today):
        if last_week is not None and week.start >= last_week.start:
            break
        if ("weekly", week.start) not in issued:
            due.append(("weekly", week))
    if last_week is not None and enrollment.end_date is not None:
        final = Period(max(last_week.start, enrollment.start_date), enrollment.end_date)
        if final.end >= final.start and ("final", final.start) not in issued:
            due.append(("final", final))
    return due
