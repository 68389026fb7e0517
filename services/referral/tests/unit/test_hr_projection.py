"""The HR projection over the whole table: origins x kinds x states x consent states x
link expired or not. The expectations are written out from DESIGN.md section 1, not
derived from the code under test."""

from __future__ import annotations

import dataclasses
import itertools
from datetime import UTC, date, datetime, timedelta

import pytest

from referral.domain.consent import Consent, ConsentStatus, Scope
from referral.domain.model import Contact, Enrollment, Kind, Origin, Referral, State, Window
from referral.domain.projections import HR_STATUSES, hr_status, project_for_hr

NOW = datetime(2027, 3, 1, 12, 0, tzinfo=UTC)
ALL = list(itertools.product(Origin, Kind, State, ConsentStatus, (False, True)))
WITH_CONSENT = {
    State.ACCEPTED: "accepted", State.INTAKE_SCHEDULED: "accepted",
    State.ENROLLED: "enrolled", State.COMPLETED: "completed",
    State.DISCONTINUED: "discontinued",
}
SCOPES = frozenset({Scope.PARTICIPATION, Scope.ATTENDANCE_SUMMARY})


def expected(origin, state, consent, link_expired):
    if origin is Origin.SELF:
        return None
    if consent is ConsentStatus.REVOKED:
        return "consent_revoked"
    if consent is ConsentStatus.GRANTED:
        # A consent only exists once the employee accepted.
        return WITH_CONSENT.get(state, "accepted")
    if consent is ConsentStatus.EXPIRED:
        return "closed"
    return "closed" if link_expired else "invited"


@pytest.mark.parametrize(("origin", "kind", "state", "consent", "link_expired"), ALL)
def test_every_combination(origin, kind, state, consent, link_expired):
    scopes = frozenset() if consent is ConsentStatus.NONE else SCOPES
    got = hr_status(origin, state, consent, scopes, link_expired)
    assert got == expected(origin, state, consent, link_expired)
    assert got is None or got in HR_STATUSES


@pytest.mark.parametrize("link_expired", [False, True])
@pytest.mark.parametrize("kind", list(Kind))
def test_without_consent_declined_ignored_and_expired_look_the_same(kind, link_expired):
    seen = {hr_status(Origin.EMPLOYER, state, ConsentStatus.NONE, frozenset(), link_expired)
            for state in State}
    assert seen == {"closed" if link_expired else "invited"}


def test_self_referrals_are_invisible_in_every_state():
    assert {hr_status(Origin.SELF, s, c, SCOPES, e)
            for s, c, e in itertools.product(State, ConsentStatus, (False, True))} == {None}


def test_revocation_hides_everything_newer():
    assert {hr_status(Origin.EMPLOYER, s, ConsentStatus.REVOKED, SCOPES, e)
            for s, e in itertools.product(State, (False, True))} == {"consent_revoked"}


def test_the_kind_never_changes_what_hr_sees():
    for origin, state, consent, expired in itertools.product(
            Origin, State, ConsentStatus, (False, True)):
        scopes = frozenset() if consent is ConsentStatus.NONE else SCOPES
        assert len({hr_status(origin, state, consent, scopes, expired) for _ in Kind}) == 1


def referral(state=State.ACCEPTED, consent=None, origin=Origin.EMPLOYER, link_days=14):
    return Referral(
        id="ref_x", employer_id="emp_a", provider_id="prv_p", kind=Kind.FORMAL, origin=origin,
        employee_subject="sub_s", external_id="E-7",
        contact=Contact("Ada Lovelace", "ada@example.com", "+1 555 0100"),
        purpose="support", link_token_hash="h", created_at=NOW - timedelta(days=1),
        link_expires_at=NOW + timedelta(days=link_days), state=state, consent=consent,
        enrollment=Enrollment(schedule=[Window("mon", *map(_t, ("18:00", "21:00")))],
                              level_of_care="IOP"))


def _t(text):
    from datetime import time
    return time.fromisoformat(text)


def consent(revoked=False, expires_on=date(2027, 6, 1)):
    return Consent(id="con_c", scopes=SCOPES, expires_on=expires_on, signature="Ada Lovelace",
                   signed_at=NOW - timedelta(hours=1), discloser="prv_p",
                   recipient_employer_id="emp_a", revoked_at=NOW if revoked else None)


def test_the_view_holds_nothing_identifying_or_clinical():
    view = project_for_hr(referral(State.ENROLLED, consent()), NOW)
    assert view is not None
    text = repr(dataclasses.asdict(view))
    for secret in ("Ada Lovelace", "ada@example.com", "555", "IOP", "18:00", "sub_s", "mon"):
        assert secret not in text
    assert view.status == "enrolled"
    assert view.consent.status == "granted"
    assert view.consent.scopes == ["attendance_summary", "participation"]


def test_consent_expiry_closes_the_view():
    view = project_for_hr(referral(State.ENROLLED, consent(expires_on=NOW.date())), NOW)
    assert (view.status, view.consent.status) == ("closed", "expired")


def test_declined_referral_shows_invited_until_the_link_expires():
    declined = referral(State.DECLINED)
    assert project_for_hr(declined, NOW).status == "invited"
    assert project_for_hr(declined, declined.link_expires_at).status == "closed"
    assert project_for_hr(declined, NOW).consent.status == "none"


def test_self_referral_has_no_hr_view():
    assert project_for_hr(referral(origin=Origin.SELF), NOW) is None
