"""Encrypted fields on an imperatively mapped domain class (SQLite), and Core seal/open."""

import dataclasses
from dataclasses import dataclass

import pytest
from sqlalchemy import Column, MetaData, String, Table, Text, event, insert, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import registry, sessionmaker

from shared.crypto import ERASED, DecryptionError, EncryptedFields, bind_cipher, is_token
from shared.crypto.testing import CryptoKit
from shared.db import make_engine


@dataclass(eq=False)
class Referral:
    """A domain object as the services write them: plain attributes, no framework."""

    id: str
    employer_id: str
    employee_subject: str
    employee_name: str
    employee_email: str | None = None
    status: str = "invited"


metadata = MetaData()
referrals = Table(
    "referrals", metadata,
    Column("id", String(40), primary_key=True),
    Column("employer_id", String(40), nullable=False),
    Column("employee_subject", String(200), nullable=False),
    Column("employee_name", Text, nullable=False),
    Column("employee_email_ct", Text, nullable=True),
    Column("status", String(20), nullable=False),
)
REFERRAL_FIELDS = EncryptedFields(
    "referrals", ("employee_name", "employee_email"), tenant="employer_id",
    subject="employee_subject", columns={"employee_email": "employee_email_ct"})
mapper_registry = registry()
REFERRAL_FIELDS.map(mapper_registry, Referral, referrals)


@pytest.fixture
def kit(tmp_path):
    kit = CryptoKit.create(tmp_path)
    yield kit
    kit.dispose()


@pytest.fixture
def engine(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'referral.db'}")
    metadata.create_all(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def sessions(engine, kit):
    return bind_cipher(sessionmaker(bind=engine, expire_on_commit=False), kit.cipher)


def _ada(**overrides):
    values = dict(id="ref_1", employer_id="emp_acme", employee_subject="sub_ada",
                  employee_name="Ada Lovelace", employee_email="ada@example.com")
    return Referral(**{**values, **overrides})


def _raw(engine, referral_id="ref_1"):
    with engine.connect() as conn:
        return conn.execute(text("SELECT * FROM referrals WHERE id = :i"),
                            {"i": referral_id}).mappings().one()


def test_the_table_holds_ciphertexts_and_the_domain_plaintext(sessions, engine):
    referral = _ada()
    with sessions.begin() as session:
        session.add(referral)
    raw = _raw(engine)
    assert is_token(raw["employee_name"]) and is_token(raw["employee_email_ct"])
    assert "Ada" not in raw["employee_name"] and "ada@" not in raw["employee_email_ct"]
    assert referral.employee_name == "Ada Lovelace"
    with sessions() as session:
        loaded = session.get(Referral, "ref_1")
        assert (loaded.employee_name, loaded.employee_email) == ("Ada Lovelace",
                                                                  "ada@example.com")


def test_nulls_stay_null(sessions, engine):
    with sessions.begin() as session:
        session.add(_ada(employee_email=None))
    assert _raw(engine)["employee_email_ct"] is None
    with sessions() as session:
        assert session.get(Referral, "ref_1").employee_email is None


def test_changing_a_plaintext_reencrypts_only_that_field(sessions, engine):
    with sessions.begin() as session:
        session.add(_ada())
    before = _raw(engine)
    with sessions.begin() as session:
        session.get(Referral, "ref_1").employee_email = "ada@newmail.org"
    after = _raw(engine)
    assert after["employee_name"] == before["employee_name"]
    assert after["employee_email_ct"] != before["employee_email_ct"]
    with sessions() as session:
        assert session.get(Referral, "ref_1").employee_email == "ada@newmail.org"


def test_unchanged_objects_cause_no_writes(sessions, engine):
    with sessions.begin() as session:
        session.add(_ada())
    statements = []
    event.listen(engine, "before_cursor_execute", lambda *a: a[2].startswith("BEGIN") or statements.append(a[2]))
    with sessions.begin() as session:
        referral = session.get(Referral, "ref_1")
        session.flush()
    assert not any(s.lstrip().upper().startswith("UPDATE") for s in statements)
    with sessions.begin() as session:
        session.get(Referral, "ref_1").status = "enrolled"
    assert _raw(engine)["status"] == "enrolled"
    assert referral.employee_name == "Ada Lovelace"


def test_a_ciphertext_copied_to_another_row_fails_to_load(sessions, engine):
    with sessions.begin() as session:
        session.add(_ada())
        session.add(_ada(id="ref_2", employee_name="Someone Else"))
    with engine.begin() as conn:
        conn.execute(text("UPDATE referrals SET employee_name = "
                          "(SELECT employee_name FROM referrals WHERE id = 'ref_1') "
                          "WHERE id = 'ref_2'"))
    with sessions() as session, pytest.raises(DecryptionError):
        session.get(Referral, "ref_2")


def test_an_erased_subject_reads_as_erased_and_the_row_stays_usable(sessions, kit):
    with sessions.begin() as session:
        session.add(_ada())
    kit.cipher.erase_subject("sub_ada")
    with sessions.begin() as session:
        referral = session.get(Referral, "ref_1")
        assert referral.employee_name is ERASED and referral.employee_email is ERASED
        referral.status = "closed"
    with sessions() as session:
        referral = session.get(Referral, "ref_1")
        assert (referral.status, referral.employee_name) == ("closed", ERASED)
        referral.id = "ref_moved"
        with pytest.raises(ValueError, match="ERASED"):
            session.flush()


def test_a_failed_flush_leaves_plaintext_in_the_domain_object(sessions, engine):
    with sessions.begin() as session:
        session.add(_ada())
    duplicate = _ada(employee_name="Second Try")
    session = sessions()
    session.add(duplicate)
    with pytest.raises(IntegrityError):
        session.commit()
    session.rollback()
    assert duplicate.employee_name == "Second Try"
    duplicate.id = "ref_2"
    session.add(duplicate)
    session.commit()
    session.close()
    with sessions() as session:
        assert session.get(Referral, "ref_2").employee_name == "Second Try"


def test_expired_objects_are_decrypted_again_on_refresh(sessions, engine):
    with sessions.begin() as session:
        session.add(_ada())
    with sessions() as session:
        referral = session.get(Referral, "ref_1")
        referral.employee_name = "not saved"
        session.refresh(referral)
        assert referral.employee_name == "Ada Lovelace"
        session.expire(referral)
        assert referral.status == "invited" and referral.employee_name == "Ada Lovelace"


def test_changing_the_row_id_reencrypts_under_the_new_aad(sessions, engine):
    with sessions.begin() as session:
        session.add(_ada(id="ref_draft"))
    with sessions.begin() as session:
        session.get(Referral, "ref_draft").id = "ref_final"
    with sessions() as session:
        assert session.get(Referral, "ref_final").employee_name == "Ada Lovelace"


def test_a_session_without_a_cipher_is_refused(engine):
    session = sessionmaker(bind=engine)()
    session.add(_ada())
    with pytest.raises(RuntimeError, match="bind_cipher"):
        session.flush()
    session.close()


def test_missing_aad_attributes_are_refused(sessions):
    with sessions() as session:
        session.add(_ada(employer_id=None))
        with pytest.raises(ValueError, match="employer_id"):
            session.flush()


def test_core_repositories_seal_and_open_rows(kit, engine):
    values = dict(id="ref_9", employer_id="emp_acme", employee_subject="sub_ada",
                  employee_name="Ada", employee_email=None, status="invited")
    sealed = REFERRAL_FIELDS.seal(kit.cipher, values)
    assert is_token(sealed["employee_name"]) and sealed["employee_email_ct"] is None
    assert "employee_email" not in sealed
    with engine.begin() as conn:
        conn.execute(insert(referrals).values(sealed))
        row = conn.execute(select(referrals)).one()
    opened = REFERRAL_FIELDS.open(kit.cipher, row._mapping)
    assert opened == values


def test_a_plaintext_change_on_an_expired_object_is_saved(engine, kit):
    expiring = bind_cipher(sessionmaker(bind=engine), kit.cipher)  # expire_on_commit=True
    with expiring() as session:
        referral = _ada()
        session.add(referral)
        session.commit()
        referral.employee_name = "Ada King"  # the row is expired here
        session.commit()
    with expiring() as session:
        assert session.get(Referral, "ref_1").employee_name == "Ada King"


def test_the_domain_class_still_behaves_like_a_dataclass(sessions):
    with sessions.begin() as session:
        session.add(_ada())
    with sessions() as session:
        referral = session.get(Referral, "ref_1")
        assert "Ada Lovelace" in repr(referral)
        assert dataclasses.asdict(referral)["employee_email"] == "ada@example.com"
