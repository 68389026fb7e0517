"""Fixtures of the referral service's tests: a wired app with an employer, a provider and
an HR client, and helpers to create and answer referrals."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from referral.domain.commands import AcceptReferral, CreateReferral
from referral.domain.model import Contact, Kind


@dataclass
class ReferralWorld:
    platform: Any
    app: Any
    client: Any
    employer_id: str
    provider_id: str
    hr: dict[str, str]

    @property
    def services(self):
        return self.app.extensions["bridgeline"].domain

    def create(self, external_id="E-1", name="Ada Lovelace", email="ada@example.com",
               **extra) -> dict:
        body = {"employee": {"external_id": external_id, "name": name, "email": email},
                "kind": "formal", "provider_id": self.provider_id, **extra}
        response = self.client.post("/v1/referrals", json=body, headers=self.hr)
        assert response.status_code == 201, response.json
        return response.json

    def create_direct(self, external_id="E-1", name="Ada Lovelace", ttl_days=14):
        return self.services.create_referral(CreateReferral(
            employer_id=self.employer_id, provider_id=self.provider_id, kind=Kind.FORMAL,
            external_id=external_id, contact=Contact(name, "ada@example.com"),
            link_ttl_days=ttl_days))

    def accept(self, token, scopes=("participation",), name="Ada Lovelace"):
        return self.services.accept(AcceptReferral(
            token=token, scopes=list(scopes), expires_on=None,
            signature=name if scopes else "", program_options=["evening"],
            shared_contact=["email"]))

    def hr_get(self, referral_id):
        return self.client.get(f"/v1/referrals/{referral_id}", headers=self.hr)


@pytest.fixture
def world(platform) -> ReferralWorld:
    return made_world(platform)


@pytest.fixture
def pg_world(tmp_path, pg_database_url, unique_name) -> Iterator[ReferralWorld]:
    """The same, with the referral and directory databases on the real PostgreSQL."""
    from tests.support.integration import postgres_platform

    with postgres_platform(tmp_path, "referral", pg_database_url, unique_name) as platform:
        yield made_world(platform)


def made_world(platform) -> ReferralWorld:
    app = platform.app("referral")
    employer = platform.directory.create_employer("Acme")
    provider = platform.directory.create_provider("Evening IOP")
    _, token = platform.directory.create_client("hr", employer_id=employer.id)
    return ReferralWorld(platform, app, app.test_client(), employer.id, provider.id,
                         {"Authorization": f"Bearer {token}"})
