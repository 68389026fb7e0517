"""The utilization report's groups are counted in the database: one row per (kind,
month of creation in UTC, enrollment status, consent), never one per referral. On SQLite
and on PostgreSQL, whose month must be the UTC one whatever the session's time zone."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import text

WINDOW = (datetime(2027, 1, 1, tzinfo=UTC), datetime(2027, 3, 1, tzinfo=UTC))
SCOPES = ("participation",)


def make(world: Any, kind: str, at: datetime, *, consent: bool = False,
         started: bool = False, employer: str | None = None) -> None:
    ref = world.referral(created=False, consent=False, started=None, employer=employer)
    world.created(ref, kind, at)
    if consent:
        world.grant(ref, SCOPES)
    if started:
        world.feed("enrollment.started", ref, {
            "provider_id": ref.provider, "start_date": "2027-01-04",
            "expected_end_date": "2027-03-30", "level_of_care": "IOP"})


def populate(world: Any) -> None:
    for _ in range(3):  # the last half hour of January, UTC
        make(world, "formal", datetime(2027, 1, 31, 23, 30, tzinfo=UTC), consent=True,
             started=True)
    for _ in range(2):  # ten minutes into February, UTC
        make(world, "formal", datetime(2027, 2, 1, 0, 10, tzinfo=UTC))
    make(world, "supervisory", datetime(2027, 1, 15, 12, tzinfo=UTC), consent=True)
    make(world, "formal", datetime(2027, 3, 1, tzinfo=UTC))  # the window's end: not counted
    make(world, "formal", datetime(2026, 12, 31, 23, 59, tzinfo=UTC))  # before it
    other = world.platform.directory.create_employer("Globex").id
    make(world, "formal", datetime(2027, 1, 20, tzinfo=UTC), employer=other)


EXPECTED = {
    ("formal", "2027-01", "enrolled", True, 3),
    ("formal", "2027-02", None, False, 2),
    ("supervisory", "2027-01", None, True, 1),
}


def grouped_outcomes(world: Any, before: Any = None) -> set[tuple[Any, ...]]:
    with world.services.transaction() as (conn, repo):
        if before is not None:
            before(conn)
        return set(repo.outcomes(world.employer, *WINDOW))


def test_outcomes_are_counted_per_group_and_month_in_utc_on_sqlite(world):
    populate(world)
    assert grouped_outcomes(world) == EXPECTED


@pytest.mark.integration
@pytest.mark.parametrize("zone", ["UTC", "America/New_York", "Asia/Tokyo"])
def test_outcomes_are_counted_per_group_and_month_in_utc_on_postgresql(pg_world, zone):
    populate(pg_world)
    assert grouped_outcomes(pg_world, lambda conn: conn.execute(
        text(f"SET LOCAL TIME ZONE '{zone}'"))) == EXPECTED


def test_the_report_adds_up_the_groups(world):
    for _ in range(12):
        make(world, "formal", datetime(2027, 1, 12, tzinfo=UTC))
    make(world, "formal", datetime(2027, 2, 12, tzinfo=UTC))
    body = world.services.utilization(world.employer, WINDOW[0].date(), WINDOW[1].date())
    rows = {row["label"]: row for row in body["by_kind"]["rows"]}
    assert rows["formal"]["cells"]["invited"] == {"count": 13, "suppressed": False}
