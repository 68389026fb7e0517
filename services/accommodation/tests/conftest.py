"""Fixtures of the accommodation service's tests: a wired app, one employer with hr,
specialist and manager clients."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

REQUESTED = {"schedule": [{"weekday": "mon", "start": "17:15", "end": "21:00"},
                          {"weekday": "thu", "start": "17:15", "end": "21:00"}],
             "start_date": "2027-01-04", "end_date": "2027-03-26", "hours_per_week": 32}


@dataclass
class AccommodationWorld:
    platform: Any
    app: Any
    client: Any
    employer_id: str
    tokens: dict[str, dict[str, str]]

    @property
    def services(self):
        return self.app.extensions["bridgeline"].domain

    def as_(self, role: str) -> dict[str, str]:
        return self.tokens[role]

    def create(self, role="hr", **extra) -> dict:
        body = {"employee": {"external_id": "E-1"}, "type": "schedule_change",
                "requested": REQUESTED, **extra}
        r = self.client.post("/v1/accommodations", json=body, headers=self.as_(role))
        assert r.status_code == 201, r.json
        return r.json

    def act(self, case_id, action, role="specialist", **extra):
        return self.client.post(f"/v1/accommodations/{case_id}/actions",
                                json={"action": action, **extra}, headers=self.as_(role))

    def get(self, case_id, role):
        return self.client.get(f"/v1/accommodations/{case_id}", headers=self.as_(role))


@pytest.fixture
def acc(platform) -> AccommodationWorld:
    app = platform.app("accommodation")
    employer = platform.directory.create_employer("Acme")
    tokens = {}
    for role in ("hr", "specialist", "manager"):
        _, token = platform.directory.create_client(role, employer_id=employer.id)
        tokens[role] = {"Authorization": f"Bearer {token}"}
    return AccommodationWorld(platform, app, app.test_client(), employer.id, tokens)
