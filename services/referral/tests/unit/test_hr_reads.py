"""HR reads load only what HR's view is made of (`HrRecord`): the same view as from the
whole referral in every state, and nothing else decrypted on the way, not the contact
details, the level of care or the consent's signature."""

from __future__ import annotations

import pytest

from referral.domain.commands import RevokeConsent, SelfRefer
from referral.domain.model import Contact
from referral.domain.projections import HrRecord, project_for_hr
from referral.service_layer.handlers import ReferralNotFound

SHOWN = {"external_id", "purpose"}


@pytest.fixture
def decrypted(world, monkeypatch):
    """The fields decrypted from now on (by AAD field name)."""
    cipher = world.services.cipher
    seen: list[str] = []
    decrypt = cipher.decrypt

    def spy(token, *, subject, aad):
        seen.append(aad.field)
        return decrypt(token, subject=subject, aad=aad)

    monkeypatch.setattr(cipher, "decrypt", spy)
    return seen


def states(world):
    """Referrals of the employer in the states HR can tell apart, by label."""
    invited, _ = world.create_direct(external_id="E-1")
    accepted, token = world.create_direct(external_id="E-2")
    world.accept(token, scopes=["attendance_summary"])
    revoked, token = world.create_direct(external_id="E-3")
    _, manage = world.accept(token, scopes=["participation"])
    world.services.revoke(RevokeConsent(manage))
    no_scopes, token = world.create_direct(external_id="E-4")
    world.accept(token, scopes=())
    return {"invited": invited.id, "accepted": accepted.id, "revoked": revoked.id,
            "accepted without scopes": no_scopes.id}


def test_the_record_gives_the_view_of_the_whole_referral(world):
    services = world.services
    for label, referral_id in states(world).items():
        whole = services.get_for_hr(world.employer_id, referral_id)
        record = services.hr_record(world.employer_id, referral_id)
        assert record == HrRecord.of(whole), label
        for now in (services.clock(), whole.link_expires_at):
            assert project_for_hr(record, now) == project_for_hr(whole, now), label


def test_hr_reads_decrypt_only_what_hr_sees(world, decrypted):
    ids = states(world)
    decrypted.clear()
    for referral_id in ids.values():
        assert world.hr_get(referral_id).status_code == 200
    assert world.client.get("/v1/referrals", headers=world.hr).status_code == 200
    assert decrypted and set(decrypted) <= SHOWN


def test_the_record_holds_nothing_identifying_beyond_the_view(world):
    referral, _ = world.create_direct(external_id="E-9", name="Zebulon Canary")
    record = world.services.hr_record(world.employer_id, referral.id)
    assert "Zebulon" not in repr(record) and "ada@example.com" not in repr(record)


def test_another_employers_and_self_referrals_are_not_found(world, platform):
    referral, _ = world.create_direct()
    other = platform.directory.create_employer("Other Corp").id
    with pytest.raises(ReferralNotFound):
        world.services.hr_record(other, referral.id)
    private, _ = world.services.self_refer(SelfRefer(
        employer_id=world.employer_id, provider_id=world.provider_id,
        contact=Contact("Sam Private", "sam@example.com")))
    with pytest.raises(ReferralNotFound):
        world.services.hr_record(world.employer_id, private.id)
    with pytest.raises(ReferralNotFound):
        world.services.hr_record(world.employer_id, "ref_doesnotexist")
