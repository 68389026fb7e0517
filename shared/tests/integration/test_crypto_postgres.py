"""Field encryption on the real PostgreSQL: the d0002 migration, race-safe key
creation across processes, erasure seen by another process, rewrap under concurrency,
and encrypted fields mapped on a PostgreSQL table."""

import subprocess
import sys
import textwrap
import threading
import time
from dataclasses import dataclass

import pytest
from click.testing import CliRunner
from sqlalchemy import Column, MetaData, String, Table, Text, insert, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import registry, sessionmaker

from shared.cli import main
from shared.crypto import ERASED, Aad, DecryptionError, EncryptedFields, bind_cipher, is_token
from shared.crypto.tables import subject_keys
from shared.crypto.testing import CryptoKit, ManualClock

pytestmark = pytest.mark.integration
AAD = Aad("emp_acme", "referrals", "ref_1", "employee_name")


@pytest.fixture
def clock():
    return ManualClock()


@pytest.fixture
def kit(tmp_path, pg_database_url, clock):
    kit = CryptoKit.create(tmp_path, database_url=pg_database_url, clock=clock)
    yield kit
    kit.dispose()


def test_the_migration_keeps_live_keys_and_tombstones_apart(kit):
    with kit.engine.connect() as conn:
        assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar() == "d0002"
    bad_rows = [dict(kek_version=1, wrapped_key=None, erased_at=None),      # key missing
                dict(kek_version=None, wrapped_key=b"k", erased_at=None)]   # version missing
    for n, values in enumerate(bad_rows):
        with pytest.raises(IntegrityError), kit.engine.begin() as conn:
            conn.execute(insert(subject_keys).values(
                subject=f"bad_{n}", kid="00" * 8, created_at=kit.store.clock(), **values))


def test_processes_racing_to_create_a_subject_key_all_get_the_winner(kit):
    script = textwrap.dedent(f"""
        import sys, time
        from shared.crypto import Keyring, KeyStore
        from shared.db import make_engine
        store = KeyStore(make_engine({kit.database_url!r}), Keyring.load({str(kit.keyring.path)!r}))
        time.sleep(max(0.0, float(sys.argv[1]) - time.time()))
        print(store.fetch_or_create("sub_race").kid.hex())
    """)
    start_at = str(time.time() + 2.0)  # every process connects first, then all go at once
    processes = [subprocess.Popen([sys.executable, "-c", script, start_at],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                 for _ in range(6)]
    results = [p.communicate(timeout=60) for p in processes]
    assert all(p.returncode == 0 for p in processes), [err for _, err in results]
    kids = {out.strip() for out, _ in results}
    assert len(kids) == 1
    assert kit.store.fetch("sub_race").kid.hex() in kids


def test_threads_racing_to_encrypt_for_a_new_subject_share_one_key(kit):
    tokens, errors = [], []
    start = threading.Barrier(8)

    def encrypt(n):
        try:
            start.wait()
            tokens.append((n, kit.another_process().encrypt(f"v{n}", subject="sub_new", aad=AAD)))
        except Exception as exc:
            errors.append(exc)

    threads = [threading.Thread(target=encrypt, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    for n, token in tokens:
        assert kit.cipher.decrypt(token, subject="sub_new", aad=AAD) == f"v{n}"


def test_erasure_in_one_process_reaches_another_within_the_ttl(kit):
    token = kit.cipher.encrypt("Ada", subject="sub_ada", aad=AAD)
    other_clock = ManualClock()
    other = kit.another_process(clock=other_clock)
    assert other.decrypt(token, subject="sub_ada", aad=AAD) == "Ada"
    kit.cipher.erase_subject("sub_ada")
    other_clock.advance(30)
    assert other.decrypt(token, subject="sub_ada", aad=AAD) is ERASED


def test_concurrent_rewraps_move_every_key_exactly_once(kit):
    tokens = {f"sub_{n}": kit.cipher.encrypt(f"v{n}", subject=f"sub_{n}", aad=AAD)
              for n in range(40)}
    kit.keyring.rotate()
    counts = []
    runners = [threading.Thread(target=lambda: counts.append(kit.store.rewrap_all(batch_size=5)))
               for _ in range(3)]
    for runner in runners:
        runner.start()
    for runner in runners:
        runner.join()
    assert sum(counts) == 40
    assert kit.store.counts().by_kek_version == {2: 40}
    fresh = kit.another_process()
    for subject, token in tokens.items():
        assert fresh.decrypt(token, subject=subject, aad=AAD) == f"v{subject[4:]}"


def test_cli_status_and_erase_on_postgresql(kit, tmp_path):
    token = kit.cipher.encrypt("Ada", subject="sub_ada", aad=AAD)
    env = {"BRIDGELINE_VAR_DIR": str(tmp_path), "BRIDGELINE_KEYRING": str(kit.keyring.path),
           "DIRECTORY_DATABASE_URL": kit.database_url, "DATABASE_URL": None}
    runner = CliRunner()
    status = runner.invoke(main, ["keys", "status"], env=env)
    assert status.exit_code == 0 and "KEK v1 (current): 1 subject keys" in status.output
    erased = runner.invoke(main, ["subjects", "erase", "sub_ada", "--yes"], env=env)
    assert erased.exit_code == 0, erased.output
    assert kit.another_process().decrypt(token, subject="sub_ada", aad=AAD) is ERASED


# -- encrypted fields on a PostgreSQL table -------------------------------------------------
@dataclass(eq=False)
class Consent:
    id: str
    employer_id: str
    employee_subject: str
    signature: str


consent_metadata = MetaData()
consents = Table("consents", consent_metadata,
                 Column("id", String(40), primary_key=True),
                 Column("employer_id", String(40), nullable=False),
                 Column("employee_subject", String(200), nullable=False),
                 Column("signature", Text, nullable=False))
CONSENT_FIELDS = EncryptedFields("consents", ("signature",), tenant="employer_id",
                                 subject="employee_subject")
CONSENT_FIELDS.map(registry(), Consent, consents)


@pytest.fixture
def sessions(kit):
    consent_metadata.create_all(kit.engine)
    return bind_cipher(sessionmaker(bind=kit.engine, expire_on_commit=False), kit.cipher)


def test_encrypted_fields_round_trip_on_postgresql(sessions, kit):
    with sessions.begin() as session:
        session.add(Consent("con_1", "emp_acme", "sub_ada", "Ada Lovelace"))
        session.add(Consent("con_2", "emp_acme", "sub_ada", "Ada L."))
    with kit.engine.connect() as conn:
        stored = dict(conn.execute(text("SELECT id, signature FROM consents")).all())
    assert all(is_token(v) and "Ada" not in v for v in stored.values())
    with sessions.begin() as session:
        session.get(Consent, "con_1").signature = "A. Lovelace"
    with sessions() as session:
        assert session.get(Consent, "con_1").signature == "A. Lovelace"
    with kit.engine.begin() as conn:  # move con_2's ciphertext into con_1
        conn.execute(text("UPDATE consents SET signature = :s WHERE id = 'con_1'"),
                     {"s": stored["con_2"]})
    with sessions() as session, pytest.raises(DecryptionError):
        session.get(Consent, "con_1")
    kit.cipher.erase_subject("sub_ada")
    with sessions() as session:
        assert session.get(Consent, "con_2").signature is ERASED
