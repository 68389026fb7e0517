"""Consent rules and the referral lifecycle (pure domain, no database)."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, timedelta

import pytest

from referral.domain.consent import (
    NEVER_SHARED,
    SCOPE_DESCRIPTIONS,
    Scope,
    default_expiry,
    parse_scopes,
    preview,
    validate_terms,
)
from referral.domain.errors import (
    InvalidConsent,
    LinkAlreadyUsed,
    LinkExpired,
    TransitionNotAllowed,
)
from referral.domain.links import hash_token, new_token, well_formed
from referral.domain.model import (
    PROVIDER_TRANSITIONS,
    Contact,
    Kind,
    Origin,
    Referral,
    State,
    Window,
)

NOW = datetime(2027, 3, 1, 12, 0, tzinfo=UTC)
TODAY = NOW.date()


def referral(state=State.INVITED):
    return Referral(id="ref_x", employer_id="emp_a", provider_id="prv_p", kind=Kind.FORMAL,
                    origin=Origin.EMPLOYER, employee_subject="sub_s", external_id="E",
                    contact=Contact("Ada Lovelace"), purpose=None, link_token_hash="h",
                    link_expires_at=NOW + timedelta(days=14), created_at=NOW, state=state)


def test_any_scope_implies_participation_and_none_means_no_consent():
    assert parse_scopes([]) == frozenset()
    assert parse_scopes(["attendance_summary"]) == {Scope.ATTENDANCE_SUMMARY,
                                                    Scope.PARTICIPATION}
    with pytest.raises(InvalidConsent) as err:
        parse_scopes(["diagnosis"])
    assert "scopes" in err.value.errors


@pytest.mark.parametrize(("expires_on", "ok"), [
    (None, True), (TODAY + timedelta(days=1), True), (TODAY + timedelta(days=365), True),
    (TODAY, False), (TODAY - timedelta(days=1), False), (TODAY + timedelta(days=366), False)])
def test_consent_expiry_is_required_future_and_at_most_a_year(expires_on, ok):
    kwargs = dict(scopes=frozenset({Scope.PARTICIPATION}), expires_on=expires_on,
                  signature="Ada Lovelace", employee_name="Ada Lovelace", today=TODAY)
    if ok:
        assert validate_terms(**kwargs) == (expires_on or default_expiry(TODAY))
    else:
        with pytest.raises(InvalidConsent) as err:
            validate_terms(**kwargs)
        assert list(err.value.errors) == ["expires_on"]


def test_default_consent_lasts_120_days():
    assert default_expiry(date(2027, 1, 1)) == date(2027, 5, 1)


@pytest.mark.parametrize(("typed", "ok"), [
    ("Ada Lovelace", True), ("  ada   lovelace ", True), ("", False), ("Ada", False)])
def test_the_typed_signature_must_be_the_employees_name(typed, ok):
    kwargs = dict(scopes=frozenset({Scope.PARTICIPATION}), expires_on=None, signature=typed,
                  employee_name="Ada Lovelace", today=TODAY)
    if ok:
        validate_terms(**kwargs)
    else:
        with pytest.raises(InvalidConsent) as err:
            validate_terms(**kwargs)
        assert list(err.value.errors) == ["signature"]


def test_accepting_without_scopes_needs_no_signature():
    validate_terms(scopes=frozenset(), expires_on=None, signature="", employee_name="Ada",
                   today=TODAY)


@pytest.mark.parametrize("scopes", [frozenset(c) for n in range(len(Scope) + 1)
                                    for c in itertools.combinations(Scope, n)])
def test_preview_partitions_the_scopes_and_always_lists_what_is_never_shared(scopes):
    p = preview(scopes)
    assert set(p.will_see) == {SCOPE_DESCRIPTIONS[s] for s in scopes}
    assert all(item in p.will_not_see for item in NEVER_SHARED)
    assert not set(p.will_see) & set(p.will_not_see)
    if scopes:
        assert {SCOPE_DESCRIPTIONS[s] for s in Scope} <= set(p.will_see) | set(p.will_not_see)


def test_link_tokens_are_256_bit_and_only_their_hash_is_kept():
    token, digest = new_token()
    assert well_formed(token) and len(token) == 43
    assert digest == hash_token(token) and token not in digest
    assert not well_formed("short") and not well_formed(token + "=")
    assert len({new_token()[0] for _ in range(1000)}) == 1000


def test_a_link_answers_once():
    r = referral()
    r.accept(NOW, manage_token_hash="m", consent=None, program_options=["evening", "evening"],
             shared_contact=["email"])
    assert r.state is State.ACCEPTED and r.program_options == ["evening"]
    with pytest.raises(LinkAlreadyUsed):
        r.decline(NOW)
    with pytest.raises(LinkAlreadyUsed):
        r.accept(NOW, manage_token_hash="m2", consent=None, program_options=[],
                 shared_contact=[])


def test_an_expired_link_cannot_be_answered_and_expires_once():
    r = referral()
    later = r.link_expires_at
    with pytest.raises(LinkExpired):
        r.decline(later)
    assert not r.expire(NOW)
    assert r.expire(later) and r.state is State.EXPIRED
    assert not r.expire(later)
    with pytest.raises(LinkExpired):
        r.ensure_answerable(NOW)


@pytest.mark.parametrize(("update", "state"), list(itertools.product(PROVIDER_TRANSITIONS, State)))
def test_provider_updates_follow_the_transition_table(update, state):
    allowed, target = PROVIDER_TRANSITIONS[update]
    r = referral(state)
    if state in allowed:
        r.apply_provider_update(update)
        assert r.state is target
    else:
        with pytest.raises(TransitionNotAllowed):
            r.apply_provider_update(update)
        assert r.state is state


def test_no_provider_update_applies_before_the_employee_accepts():
    for update, (allowed, _) in PROVIDER_TRANSITIONS.items():
        assert not allowed & {State.INVITED, State.DECLINED, State.EXPIRED}, update


def test_windows_are_checked():
    from datetime import time
    with pytest.raises(ValueError):
        Window("monday", time(18), time(21))
    with pytest.raises(ValueError):
        Window("mon", time(21), time(18))
