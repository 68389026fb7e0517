"""Subject keys in the directory database: creation, rotation, rewrap, erasure."""

import threading

import pytest
from sqlalchemy import select, update

from shared.crypto import ERASED, Aad, KeyringError, SubjectErasedError
from shared.crypto.cipher import key_id_of
from shared.crypto.key_store import ERASED_KEY, DataKey
from shared.crypto.tables import subject_keys
from shared.crypto.testing import CryptoKit

AAD = Aad("emp_acme", "referrals", "ref_1", "employee_name")


@pytest.fixture
def kit(tmp_path):
    kit = CryptoKit.create(tmp_path)
    yield kit
    kit.dispose()


def _rows(kit):
    with kit.engine.connect() as conn:
        return {r.subject: r for r in conn.execute(select(subject_keys))}


def test_a_key_is_created_once_and_stored_wrapped(kit):
    first = kit.store.fetch_or_create("sub_ada")
    assert kit.store.fetch_or_create("sub_ada") == first
    row = _rows(kit)["sub_ada"]
    assert row.kek_version == 1 and row.kid == first.kid.hex()
    assert first.key not in bytes(row.wrapped_key)
    assert "key=" not in repr(first)  # never shown in tracebacks or logs


def test_racing_creators_all_get_the_winning_key(kit):
    keys, errors = [], []
    start = threading.Barrier(6)

    def create():
        try:
            start.wait()
            keys.append(kit.store.fetch_or_create("sub_race"))
        except Exception as exc:
            errors.append(exc)

    threads = [threading.Thread(target=create) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(set(keys)) == 1
    assert list(_rows(kit)) == ["sub_race"]


def test_a_wrapped_key_copied_to_another_subjects_row_does_not_unwrap(kit):
    kit.store.fetch_or_create("sub_ada")
    kit.store.fetch_or_create("sub_bob")
    ada = _rows(kit)["sub_ada"]
    with kit.engine.begin() as conn:
        conn.execute(update(subject_keys).where(subject_keys.c.subject == "sub_bob")
                     .values(kid=ada.kid, wrapped_key=ada.wrapped_key))
    with pytest.raises(KeyringError):
        kit.store.fetch("sub_bob")


def test_erasure_leaves_a_tombstone_without_key_material(kit):
    kit.store.fetch_or_create("sub_ada")
    kit.store.erase("sub_ada")
    row = _rows(kit)["sub_ada"]
    assert (row.wrapped_key, row.kek_version) == (None, None) and row.erased_at is not None
    assert kit.store.fetch("sub_ada") is ERASED_KEY
    with pytest.raises(SubjectErasedError):
        kit.store.fetch_or_create("sub_ada")
    assert kit.store.fetch("sub_unknown") is None
    assert kit.store.counts().erased == 1


def test_old_kek_versions_still_decrypt_after_rotation(kit):
    token = kit.cipher.encrypt("Ada", subject="sub_ada", aad=AAD)
    assert kit.keyring.rotate() == 2
    kit.cipher.cache.clear()
    assert kit.cipher.decrypt(token, subject="sub_ada", aad=AAD) == "Ada"
    kit.cipher.encrypt("Bob", subject="sub_bob", aad=AAD)
    assert kit.store.counts().by_kek_version == {1: 1, 2: 1}


def test_rewrap_moves_every_key_to_the_newest_version_and_values_still_decrypt(kit):
    tokens = {f"sub_{n}": kit.cipher.encrypt(f"value {n}", subject=f"sub_{n}", aad=AAD)
              for n in range(7)}
    kit.cipher.erase_subject("sub_0")
    kit.keyring.rotate()
    kit.keyring.rotate()
    before = _rows(kit)
    assert kit.store.rewrap_all(batch_size=2) == 6
    after = _rows(kit)
    assert kit.store.counts().by_kek_version == {3: 6}
    for subject, row in after.items():
        if subject != "sub_0":
            assert row.kid == before[subject].kid and row.rewrapped_at is not None
            assert row.wrapped_key != before[subject].wrapped_key
    fresh = kit.another_process()
    assert fresh.decrypt(tokens["sub_0"], subject="sub_0", aad=AAD) is ERASED
    for n in range(1, 7):
        token = tokens[f"sub_{n}"]
        assert fresh.decrypt(token, subject=f"sub_{n}", aad=AAD) == f"value {n}"
        assert key_id_of(fresh.encrypt("x", subject=f"sub_{n}", aad=AAD)) == key_id_of(token)
    assert kit.store.rewrap_all() == 0


def test_after_rewrap_the_old_kek_can_be_retired_and_values_still_decrypt(kit):
    token = kit.cipher.encrypt("Ada", subject="sub_ada", aad=AAD)
    kit.keyring.rotate()
    kit.store.rewrap_all()
    kit.keyring.retire(1)
    assert kit.another_process().decrypt(token, subject="sub_ada", aad=AAD) == "Ada"


def test_rewrap_never_writes_a_plaintext_key(kit, tmp_path):
    data_keys = [kit.store.fetch_or_create(f"sub_{n}") for n in range(5)]
    kit.keyring.rotate()
    kit.store.rewrap_all()
    kit.engine.dispose()  # checkpoint the WAL so the file holds everything
    stored = b"".join(p.read_bytes() for p in tmp_path.rglob("*") if p.is_file())
    for data_key in data_keys:
        assert isinstance(data_key, DataKey) and data_key.key not in stored
    assert all(kit.store.fetch(f"sub_{n}") == data_keys[n] for n in range(5))
