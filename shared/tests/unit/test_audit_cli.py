"""`bridgeline audit verify|export` through click's CliRunner, on a service's SQLite database."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from click.testing import CliRunner

from shared.audit import AuditLog, ChainAnchor
from shared.audit.cli import audit
from shared.audit.testing import delete_entry, disable_guards, reseal_from, sample_event
from shared.cli import main
from shared.db import make_engine, session_factory
from shared.db.migrate import upgrade_service
from shared.ids import new_id

START = datetime(2027, 1, 1, tzinfo=UTC)


@pytest.fixture
def database(sqlite_url, tmp_path):
    versions = tmp_path / "service_versions"
    versions.mkdir()
    upgrade_service(sqlite_url, versions)
    engine = make_engine(sqlite_url)
    yield engine
    engine.dispose()


@pytest.fixture
def run(sqlite_url, tmp_path):
    runner = CliRunner()
    env = {"REFERRAL_DATABASE_URL": sqlite_url, "BRIDGELINE_VAR_DIR": str(tmp_path)}
    return lambda *args: runner.invoke(audit, list(args), env=env)


def fill(engine, subjects, per_subject=4):
    """Entries one day apart, accesses and disclosures alternating, subjects interleaved."""
    times = iter(START + timedelta(days=day) for day in range(1000))
    log = AuditLog(clock=lambda: next(times))
    with session_factory(engine).begin() as session:
        return [log.append(session, sample_event(subject, index))
                for index in range(per_subject) for subject in subjects]


def tamper(engine, damage):
    with engine.begin() as connection:
        disable_guards(connection)
        damage(connection)


def test_verify_of_an_intact_log_exits_0_and_prints_the_head_last(database, run):
    entries = fill(database, [new_id("sub")])
    result = run("verify", "--service", "referral")
    assert result.exit_code == 0, result.output
    assert "4 entries, chain intact" in result.output
    assert ChainAnchor.parse(result.output.splitlines()[-1]) == ChainAnchor(4, entries[-1].hash)


def test_verify_of_a_tampered_log_exits_1_and_names_the_entry(database, run):
    fill(database, [new_id("sub")])
    tamper(database, lambda connection: delete_entry(connection, 3))
    result = run("verify", "--service", "referral")
    assert result.exit_code == 1
    assert "chain broken at entry 3 (missing_entry)" in result.output
    assert "2 entries verified before the break" in result.output


def test_verify_with_an_anchor_catches_a_rewritten_tail(database, run):
    fill(database, [new_id("sub")])
    anchor = run("verify", "--service", "referral").output.splitlines()[-1]
    tamper(database, lambda connection: reseal_from(connection, 2))
    assert run("verify", "--service", "referral").exit_code == 0  # consistent, but rewritten
    result = run("verify", "--service", "referral", "--anchor", anchor)
    assert result.exit_code == 1
    assert "entry 4 (anchor_mismatch)" in result.output


def test_verify_refuses_a_malformed_anchor(database, run):
    result = run("verify", "--service", "referral", "--anchor", "4:nothex")
    assert result.exit_code == 2


def test_verify_of_an_unmigrated_database_fails_with_a_message(run):
    result = run("verify", "--service", "referral")
    assert result.exit_code == 1
    assert "cannot read the audit log of referral" in result.output
    assert "Traceback" not in result.output


def test_export_of_a_subject_gives_their_disclosures_as_json_lines(database, run):
    alice, bob = new_id("sub"), new_id("sub")
    entries = fill(database, [alice, bob])
    result = run("export", "--service", "referral", "--subject", alice)
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    expected = [e for e in entries if e.event.subject == alice and e.event.kind == "disclosure"]
    assert [line["seq"] for line in lines] == [e.seq for e in expected]
    assert [line["hash"] for line in lines] == [e.hash for e in expected]
    assert "exported 2 entries" in result.stderr


def test_export_of_a_range_gives_every_kind_since_a_date(database, run):
    fill(database, [new_id("sub")], per_subject=6)
    result = run("export", "--service", "referral", "--since", "2027-01-03",
                 "--until", "2027-01-05T00:00:00Z")
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [(line["seq"], line["kind"]) for line in lines] == [(3, "access"), (4, "disclosure")]


@pytest.mark.parametrize("args", [["--since", "last week"], ["--subject", "Jane Doe"]])
def test_export_refuses_bad_options(database, run, args):
    assert run("export", "--service", "referral", *args).exit_code == 2


def test_the_bridgeline_command_finds_the_audit_group(database, sqlite_url):
    fill(database, [new_id("sub")])
    result = CliRunner().invoke(main, ["audit", "verify", "--service", "referral"],
                                env={"REFERRAL_DATABASE_URL": sqlite_url})
    assert result.exit_code == 0, result.output
