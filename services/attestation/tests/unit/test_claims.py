import inspect
import itertools
from dataclasses import fields, replace
from datetime import UTC, date, datetime, timedelta

import pytest

from attestation.domain import model
from attestation.domain.claims import (
    CLAIM_SCOPES,
    attendance_claims,
    build_claims,
    latest_records,
    should_issue,
)
from attestation.domain.model import (
    ALL_SCOPES,
    AttendanceRecord,
    AttendanceStatus,
    Attestation,
    ConsentScope,
    ConsentState,
    Enrollment,
)
from attestation.domain.periods import Period, week_of
from shared.contract import REDISCLOSURE_NOTICE

A, X, U, C = (AttendanceStatus.ATTENDED, AttendanceStatus.ABSENT_EXCUSED,
              AttendanceStatus.ABSENT_UNEXCUSED, AttendanceStatus.CANCELLED_BY_PROGRAM)
WEEK = Period(date(2027, 1, 4), date(2027, 1, 10))
RECEIVED = datetime(2027, 1, 11, 9, tzinfo=UTC)


def consent(*scopes, expires_on=date(2027, 6, 1), revoked_at=None):
    return ConsentState("con_1", "ref_1", "emp_1", frozenset(scopes), expires_on, revoked_at)


def record(day, status, id_=None, version=1, received=RECEIVED, referral="ref_1"):
    return AttendanceRecord(id_ or f"att_{day.isoformat()}", referral, day, status,
                            received, version)


def week_records(*statuses):
    return [record(WEEK.start + timedelta(days=i), s) for i, s in enumerate(statuses)]


ENROLLMENTS = {
    "none": Enrollment("ref_1"),
    "enrolled": Enrollment("ref_1", "enrolled", date(2026, 12, 1)),
    "starts_later": Enrollment("ref_1", "enrolled", date(2027, 1, 11)),
    "completed": Enrollment("ref_1", "completed", date(2026, 12, 1), date(2027, 1, 8),
                            date(2027, 1, 18)),
    "discontinued": Enrollment("ref_1", "discontinued", date(2026, 12, 1), date(2027, 1, 6)),
    "ended_after_period": Enrollment("ref_1", "completed", date(2026, 12, 1),
                                     date(2027, 1, 20)),
}
RECORD_SETS = {"none": [], "sessions": week_records(A, A, X), "cancelled": week_records(C, C)}
ALL_SUBSETS = [frozenset(c) for n in range(len(ALL_SCOPES) + 1)
               for c in itertools.combinations(sorted(ALL_SCOPES), n)]


def expected_keys(scopes, enrollment, records):
    keys = set()
    if "participation" in scopes:
        keys.add("participation")
    if "attendance_summary" in scopes:
        keys.add("attendance")
        if any(r.status != C for r in records):
            keys.add("compliant")
    ended = enrollment.status in ("completed", "discontinued")
    if "completion" in scopes and ended and enrollment.end_date <= WEEK.end:
        keys.add("completion")
    if "return_to_work" in scopes and enrollment.return_to_work_date:
        keys.add("return_to_work")
    return keys


@pytest.mark.parametrize("scopes", ALL_SUBSETS, ids=lambda s: "+".join(sorted(s)) or "none")
def test_every_scope_subset_yields_exactly_its_claims(scopes):
    for (e_name, enrollment), (r_name, records) in itertools.product(ENROLLMENTS.items(),
                                                                     RECORD_SETS.items()):
        claims = build_claims(consent(*scopes), enrollment, records, WEEK)
        assert set(claims) == expected_keys(scopes, enrollment, records), (e_name, r_name)
        assert {CLAIM_SCOPES[name] for name in claims} <= scopes
        _assert_closed_vocabulary(claims)


def _assert_closed_vocabulary(claims):
    allowed = {
        "participation": lambda v: v in ("enrolled", "not_enrolled"),
        "attendance": lambda v: set(v) == {"attended", "scheduled"}
        and all(type(n) is int for n in v.values()),
        "compliant": lambda v: type(v) is bool,
        "completion": lambda v: set(v) == {"status", "date"}
        and v["status"] in ("completed", "discontinued") and date.fromisoformat(v["date"]),
        "return_to_work": lambda v: set(v) == {"date"} and date.fromisoformat(v["date"]),
    }
    for name, value in claims.items():
        assert allowed[name](value), (name, value)


def test_claim_scopes_cover_the_closed_vocabulary():
    assert set(CLAIM_SCOPES) == {"participation", "attendance", "compliant", "completion",
                                 "return_to_work"}
    assert ConsentScope.SCHEDULE_NEEDS not in CLAIM_SCOPES.values()


@pytest.mark.parametrize(("name", "day", "expected"), [
    ("none", WEEK.end, "not_enrolled"),
    ("enrolled", WEEK.end, "enrolled"),
    ("starts_later", WEEK.end, "not_enrolled"),
    ("completed", WEEK.end, "not_enrolled"),            # ended within the week
    ("ended_after_period", WEEK.end, "enrolled"),       # a late weekly attestation
])
def test_participation_is_the_state_on_the_last_day_of_the_period(name, day, expected):
    claims = build_claims(consent("participation"), ENROLLMENTS[name], [], WEEK)
    assert claims == {"participation": expected}


def test_values_of_a_completed_enrollment():
    claims = build_claims(consent(*ALL_SCOPES), ENROLLMENTS["completed"],
                          week_records(A, A, A, C), WEEK, "final")
    assert claims == {"participation": "not_enrolled",
                      "attendance": {"attended": 3, "scheduled": 3}, "compliant": True,
                      "completion": {"status": "completed", "date": "2027-01-08"},
                      "return_to_work": {"date": "2027-01-18"}}


@pytest.mark.parametrize(("statuses", "attended", "scheduled", "compliant"), [
    ((A, A, A), 3, 3, True),
    ((A, A, A, X), 3, 4, True),          # exactly 3/4, excused
    ((A, A, X, X), 2, 4, False),         # too few, even excused
    ((A, A, A, U), 3, 4, False),         # any unexcused absence
    ((A, A, A, A, U), 4, 5, False),
    ((A, C, C), 1, 1, True),             # program cancellations are not scheduled
    ((X,), 0, 1, False),
])
def test_attendance_and_compliance(statuses, attended, scheduled, compliant):
    claims = attendance_claims(week_records(*statuses))
    assert claims == {"attendance": {"attended": attended, "scheduled": scheduled},
                      "compliant": compliant}


def test_nothing_scheduled_means_no_compliance_judgement():
    assert attendance_claims(week_records(C, C)) == {"attendance": {"attended": 0,
                                                                    "scheduled": 0}}


def test_records_outside_the_period_do_not_count():
    records = [*week_records(A, A), record(WEEK.end + timedelta(days=1), U),
               record(WEEK.start - timedelta(days=1), U)]
    claims = build_claims(consent("attendance_summary"), ENROLLMENTS["enrolled"], records, WEEK)
    assert claims == {"attendance": {"attended": 2, "scheduled": 2}, "compliant": True}


def test_a_record_of_another_referral_is_refused():
    with pytest.raises(ValueError, match="another referral"):
        build_claims(consent("attendance_summary"), ENROLLMENTS["enrolled"],
                     [record(WEEK.start, A, referral="ref_2")], WEEK)


def test_a_final_attestation_needs_an_ended_enrollment():
    with pytest.raises(ValueError, match="ended"):
        build_claims(consent("completion"), ENROLLMENTS["enrolled"], [], WEEK, "final")


def test_latest_version_wins_and_corrections_may_move_a_session():
    first = record(WEEK.start, U, id_="att_1", version=1)
    corrected = record(WEEK.start, X, id_="att_1", version=2)
    resent_same = record(WEEK.start, X, id_="att_1", version=2)
    assert latest_records([corrected, first, resent_same]) == [corrected]
    moved = record(WEEK.end + timedelta(days=2), A, id_="att_1", version=3)
    claims = build_claims(consent("attendance_summary"), ENROLLMENTS["enrolled"],
                          [first, corrected, moved], WEEK)
    assert claims == {"attendance": {"attended": 0, "scheduled": 0}}


def test_same_version_later_receipt_wins():
    early = record(WEEK.start, U, id_="att_1", received=RECEIVED)
    late = record(WEEK.start, A, id_="att_1", received=RECEIVED + timedelta(hours=1))
    assert latest_records([late, early]) == [late]


@pytest.mark.parametrize(("state", "today", "issue"), [
    (consent("participation"), date(2027, 5, 31), True),
    (consent("participation"), date(2027, 6, 1), False),                     # expired
    (consent("participation", revoked_at=RECEIVED), date(2027, 1, 12), False),
    (consent("schedule_needs"), date(2027, 1, 12), False),                    # no claim to make
    (consent(), date(2027, 1, 12), False),
    (None, date(2027, 1, 12), False),
])
def test_should_issue(state, today, issue):
    assert should_issue(state, today) is issue


def test_unknown_scopes_are_refused():
    with pytest.raises(ValueError, match="diagnosis"):
        consent("participation", "diagnosis")


def test_attestation_expiry():
    expires = datetime(2027, 1, 21, tzinfo=UTC)
    attestation = Attestation("att_1", "ref_1", "emp_1", "con_1", WEEK.start, WEEK.end, {},
                              RECEIVED, expires, "jws")
    assert not attestation.is_expired(expires - timedelta(seconds=1))
    assert attestation.is_expired(expires)
    assert replace(attestation, kind="final").kind == "final"


CANARY_FIELDS = ("provider_name", "program_type", "level_of_care", "notes", "diagnosis")


@pytest.mark.parametrize("cls", [model.AttendanceRecord, model.ConsentState, model.Enrollment,
                                 model.Attestation])
def test_domain_types_have_no_field_that_could_leak(cls):
    assert not {f.name for f in fields(cls)} & set(CANARY_FIELDS)
    with pytest.raises(TypeError):
        cls(**{"provider_name": "Canary Evening IOP"})


def test_build_claims_does_not_even_accept_clinical_or_provider_data():
    assert set(inspect.signature(build_claims).parameters) == {
        "consent", "enrollment", "records_in_period", "period", "kind"}
    with pytest.raises(TypeError):
        build_claims(consent("participation"), ENROLLMENTS["enrolled"], [], WEEK,
                     provider_name="Canary Evening IOP")


def test_the_notice_is_the_part_2_redisclosure_notice():
    assert "42 CFR part 2" in REDISCLOSURE_NOTICE
    assert REDISCLOSURE_NOTICE.isascii()


def test_period_helper_round_trip():
    assert week_of(WEEK.start) == WEEK
