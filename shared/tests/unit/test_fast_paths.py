"""The shortcuts of the request paths keep their guarantees: new subjects' keys are made
a batch at a time, in one write, and never read back; only the fields a read selected are
decrypted; metrics count the same when their label children are cached; and the
idempotency store is made once per app."""

import os
from concurrent.futures import ThreadPoolExecutor

import pytest
from flask import Flask

from shared.crypto import ERASED, Aad, EncryptedFields
from shared.crypto.cipher import MINT_BATCH
from shared.crypto.key_store import ERASED_KEY
from shared.crypto.testing import CryptoKit, ManualClock
from shared.ids import is_id
from shared.web.idempotency import _store
from shared.web.metrics import MAX_CACHED_LABELS, HttpMetrics

AAD = Aad("emp_acme", "referrals", "ref_1", "employee_name")


@pytest.fixture
def kit(tmp_path):
    kit = CryptoKit.create(tmp_path)
    yield kit
    kit.dispose()


def forbid_reads(monkeypatch, store):
    def fetch(subject):
        raise AssertionError(f"read the key of {subject} back")
    monkeypatch.setattr(store, "fetch", fetch)


def test_new_subjects_keys_are_written_in_one_go_and_not_read_back(kit, monkeypatch):
    forbid_reads(monkeypatch, kit.store)
    keys = kit.store.create_many(["sub_new", "sub_other"])
    monkeypatch.undo()
    assert keys == {"sub_new": kit.store.fetch("sub_new"),
                    "sub_other": kit.store.fetch("sub_other")}
    assert keys["sub_new"] != keys["sub_other"]


def test_a_new_subject_is_ready_for_encrypt_without_a_read(kit, monkeypatch):
    subject = kit.cipher.new_subject()
    assert is_id(subject, "sub")
    forbid_reads(monkeypatch, kit.store)
    monkeypatch.setattr(kit.store, "fetch_or_create", kit.store.fetch)  # would also raise
    token = kit.cipher.encrypt("Ada", subject=subject, aad=AAD)
    monkeypatch.undo()
    assert kit.another_process().decrypt(token, subject=subject, aad=AAD) == "Ada"


def test_new_subjects_keys_are_stored_a_batch_ahead(kit, monkeypatch):
    batches = []
    create_many = kit.store.create_many
    monkeypatch.setattr(kit.store, "create_many",
                        lambda subjects: batches.append(len(subjects)) or create_many(subjects))
    subjects = [kit.cipher.new_subject() for _ in range(MINT_BATCH + 1)]
    assert batches == [MINT_BATCH, MINT_BATCH]
    assert len(set(subjects)) == MINT_BATCH + 1
    later = kit.another_process()  # every one of them has its key stored
    for subject in subjects:
        token = kit.cipher.encrypt("Ada", subject=subject, aad=AAD)
        assert later.decrypt(token, subject=subject, aad=AAD) == "Ada"


def test_a_subject_put_back_is_the_next_one_handed_out(kit):
    first = kit.cipher.new_subject()
    second = kit.cipher.new_subject()
    kit.cipher.put_back(first)
    assert kit.cipher.new_subject() == first
    assert kit.cipher.new_subject() not in (first, second)


def test_a_subject_put_back_after_its_cache_entry_expired_still_works(tmp_path):
    clock = ManualClock()
    kit = CryptoKit.create(tmp_path, clock=clock)
    try:
        subject = kit.cipher.new_subject()
        clock.advance(3600)  # far past the cache's TTL
        kit.cipher.put_back(subject)
        assert kit.cipher.new_subject() == subject
        token = kit.cipher.encrypt("Ada", subject=subject, aad=AAD)
        assert kit.another_process().decrypt(token, subject=subject, aad=AAD) == "Ada"
    finally:
        kit.dispose()


def test_only_subjects_handed_out_can_be_put_back(kit):
    kit.cipher.encrypt("Ada", subject="sub_ada", aad=AAD)  # an existing person's, cached
    taken = kit.cipher.new_subject()
    kit.cipher.put_back("sub_ada")
    kit.cipher.put_back(taken)
    kit.cipher.put_back(taken)  # twice: still only once in the pool
    assert kit.cipher.new_subject() == taken
    assert kit.cipher.new_subject() not in ("sub_ada", taken)


def test_threads_never_get_the_same_new_subject_nor_store_more_batches(kit, monkeypatch):
    batches = []
    create_many = kit.store.create_many
    monkeypatch.setattr(kit.store, "create_many",
                        lambda subjects: batches.append(len(subjects)) or create_many(subjects))
    with ThreadPoolExecutor(8) as pool:
        subjects = list(pool.map(lambda _: kit.cipher.new_subject(), range(5 * MINT_BATCH)))
    assert len(set(subjects)) == len(subjects)
    assert batches == [MINT_BATCH] * 5  # one thread stored each batch; none was wasted


def test_a_forked_child_does_not_hand_out_its_parents_subjects(kit):
    kept = kit.cipher.new_subject()
    kit.cipher.put_back(kept)  # the parent's pool: `kept` and MINT_BATCH - 1 more
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report what it holds, then leave at once
        os.write(write, str(len(kit.cipher._minted)).encode())
        os._exit(0)
    os.close(write)
    held = os.read(read, 16)
    os.close(read)
    os.waitpid(pid, 0)
    assert held == b"0"
    assert kit.cipher.new_subject() == kept  # the parent's pool is untouched


def test_a_repeated_subject_gets_the_one_key_stored(kit):
    made = kit.store.create_many(["sub_dup", "sub_dup"])
    assert list(made) == ["sub_dup"] and made["sub_dup"] == kit.store.fetch("sub_dup")


def test_keys_are_not_made_for_subjects_that_have_a_key_or_a_tombstone(kit):
    first = kit.store.fetch_or_create("sub_ada")
    kit.cipher.encrypt("Ada", subject="sub_gone", aad=AAD)
    kit.cipher.erase_subject("sub_gone")
    made = kit.store.create_many(["sub_ada", "sub_gone", "sub_new"])
    assert list(made) == ["sub_new"]
    assert kit.store.fetch("sub_ada") == first
    assert kit.store.fetch("sub_gone") is ERASED_KEY


SPEC = EncryptedFields("referrals", ("external_id", "employee_name", "employee_email"),
                       tenant="employer_id", subject="employee_subject")


def test_open_decrypts_only_the_fields_asked_for(kit, monkeypatch):
    row = SPEC.seal(kit.cipher, {"id": "ref_1", "employer_id": "emp_acme",
                                 "employee_subject": "sub_ada", "external_id": "E-1",
                                 "employee_name": "Ada", "employee_email": "ada@example.com"})
    opened_fields = []
    decrypt = kit.cipher.decrypt

    def spy(token, *, subject, aad):
        opened_fields.append(aad.field)
        return decrypt(token, subject=subject, aad=aad)

    monkeypatch.setattr(kit.cipher, "decrypt", spy)
    selected = {k: row[k] for k in ("id", "employer_id", "employee_subject", "external_id")}
    assert SPEC.open(kit.cipher, selected, fields=("external_id",)) == {
        "id": "ref_1", "employer_id": "emp_acme", "employee_subject": "sub_ada",
        "external_id": "E-1"}
    assert opened_fields == ["external_id"]
    # without `fields`, every field of the spec, as before
    assert SPEC.open(kit.cipher, row)["employee_email"] == "ada@example.com"
    with pytest.raises(ValueError, match="not encrypted fields: id"):
        SPEC.open(kit.cipher, row, fields=("id",))


def test_open_of_an_erased_subject_still_reads_erased(kit):
    row = SPEC.seal(kit.cipher, {"id": "ref_1", "employer_id": "emp_acme",
                                 "employee_subject": "sub_ada", "external_id": "E-1"})
    kit.cipher.erase_subject("sub_ada")
    assert SPEC.open(kit.cipher, row, fields=("external_id",))["external_id"] is ERASED


def test_cached_metric_children_count_every_request():
    metrics = HttpMetrics("referral")
    for _ in range(3):
        metrics.observe("GET", "/v1/referrals/<string:referral_id>", 200, 0.004)
    metrics.observe("GET", "/v1/referrals/<string:referral_id>", 404, 0.002)
    text = metrics.render().get_data(as_text=True)
    assert ('bridgeline_http_requests_total{method="GET",'
            'route="/v1/referrals/<string:referral_id>",service="referral",status="200"} 3.0'
            in text)
    assert 'status="404"} 1.0' in text
    assert ('bridgeline_http_request_duration_seconds_count{'
            'route="/v1/referrals/<string:referral_id>",service="referral"} 4.0' in text)


def test_the_label_cache_is_bounded():
    metrics = HttpMetrics("referral")
    for n in range(MAX_CACHED_LABELS + 50):
        metrics.observe(f"M{n}", "unmatched", 405, 0.001)
    assert len(metrics._children) == MAX_CACHED_LABELS
    assert f'method="M{MAX_CACHED_LABELS + 49}"' in metrics.render().get_data(as_text=True)


def test_one_idempotency_store_per_app(platform):
    runtime = platform.runtime("referral")
    app = Flask("t")
    app.extensions["bridgeline"] = runtime
    with app.app_context():
        first = _store()
        assert _store() is first
        assert first.engine is runtime.engine
    other = Flask("u")
    other.extensions["bridgeline"] = runtime
    with other.app_context():
        assert _store() is not first


def test_expired_keys_leave_the_cache_as_new_ones_come_in():
    from shared.crypto.key_cache import KeyCache
    from shared.crypto.testing import ManualClock

    clock = ManualClock()
    cache = KeyCache(ttl=20, max_entries=1000, clock=clock)
    for n in range(50):
        cache.put(f"sub_{n}", n)
    clock.advance(10)
    cache.put("sub_recent", "r")
    assert len(cache) == 51  # nothing expired yet
    clock.advance(15)  # the first 50 are past their TTL, sub_recent is not
    cache.put("sub_new", "n")
    assert len(cache) == 2
    assert (cache.get("sub_recent"), cache.get("sub_new"), cache.get("sub_0")) == ("r", "n", None)
