"""FieldCipher: round trip, binding to where a value lives, tampering, erasure, cache."""

import copy
import pickle

import pytest
from sqlalchemy import event

from shared.crypto import (
    ERASED,
    SYSTEM_SUBJECT,
    Aad,
    DecryptionError,
    Erased,
    FieldCipher,
    SubjectErasedError,
    is_token,
)
from shared.crypto.cipher import key_id_of
from shared.crypto.testing import CryptoKit, ManualClock
from shared.crypto.token_format import HEADER_BYTES, NONCE_BYTES, TOKEN_PREFIX

AAD = Aad("emp_acme", "referrals", "ref_1", "employee_name")
SUBJECT = "sub_ada"


@pytest.fixture
def clock():
    return ManualClock()


@pytest.fixture
def kit(tmp_path, clock):
    kit = CryptoKit.create(tmp_path, clock=clock)
    yield kit
    kit.dispose()


@pytest.fixture
def cipher(kit) -> FieldCipher:
    return kit.cipher


def test_round_trip_and_the_token_reveals_nothing(cipher):
    token = cipher.encrypt("Ada Lovelace", subject=SUBJECT, aad=AAD)
    assert token.startswith(TOKEN_PREFIX) and is_token(token)
    assert "Ada" not in token and "Lovelace" not in token
    assert cipher.decrypt(token, subject=SUBJECT, aad=AAD) == "Ada Lovelace"


def test_every_encryption_uses_a_fresh_nonce(cipher):
    tokens = {cipher.encrypt("same", subject=SUBJECT, aad=AAD) for _ in range(50)}
    assert len(tokens) == 50
    nonces = {_raw(t)[HEADER_BYTES:HEADER_BYTES + NONCE_BYTES] for t in tokens}
    assert len(nonces) == 50


def test_stored_format_is_version_kid_nonce_ciphertext_tag(cipher):
    token = cipher.encrypt("abc", subject=SUBJECT, aad=AAD)
    raw = _raw(token)
    assert raw[0] == 1
    assert raw[1:HEADER_BYTES] == key_id_of(token)
    assert len(raw) == HEADER_BYTES + NONCE_BYTES + len(b"abc") + 16


@pytest.mark.parametrize("moved_to", [
    Aad("emp_acme", "referrals", "ref_2", "employee_name"),   # another row
    Aad("emp_acme", "referrals", "ref_1", "employee_email"),  # another field
    Aad("emp_other", "referrals", "ref_1", "employee_name"),  # another tenant
    Aad("emp_acme", "consents", "ref_1", "employee_name"),    # another table
])
def test_a_ciphertext_moved_elsewhere_does_not_decrypt(cipher, moved_to):
    token = cipher.encrypt("Ada", subject=SUBJECT, aad=AAD)
    with pytest.raises(DecryptionError):
        cipher.decrypt(token, subject=SUBJECT, aad=moved_to)


def test_a_ciphertext_moved_to_another_subject_does_not_decrypt(cipher):
    token = cipher.encrypt("Ada", subject=SUBJECT, aad=AAD)
    cipher.encrypt("Bob", subject="sub_bob", aad=AAD)
    with pytest.raises(DecryptionError):
        cipher.decrypt(token, subject="sub_bob", aad=AAD)
    with pytest.raises(DecryptionError):  # a subject that never had a key
        cipher.decrypt(token, subject="sub_nobody", aad=AAD)


def test_a_forged_header_naming_another_subjects_key_does_not_decrypt(cipher):
    bob = cipher.encrypt("Bob", subject="sub_bob", aad=AAD)
    ada = cipher.encrypt("Ada", subject=SUBJECT, aad=AAD)
    forged = _token(_raw(bob)[:HEADER_BYTES] + _raw(ada)[HEADER_BYTES:])
    with pytest.raises(DecryptionError):
        cipher.decrypt(forged, subject="sub_bob", aad=AAD)


def test_aad_parts_are_unambiguous(cipher):
    token = cipher.encrypt("x", subject=SUBJECT, aad=Aad("ab", "c", "r", "f"))
    with pytest.raises(DecryptionError):
        cipher.decrypt(token, subject=SUBJECT, aad=Aad("a", "bc", "r", "f"))


def test_every_flipped_bit_is_detected(cipher):
    raw = _raw(cipher.encrypt("sensitive", subject=SUBJECT, aad=AAD))
    for position in range(len(raw)):
        for bit in (0x01, 0x80):
            tampered = bytearray(raw)
            tampered[position] ^= bit
            with pytest.raises(DecryptionError):
                cipher.decrypt(_token(bytes(tampered)), subject=SUBJECT, aad=AAD)


@pytest.mark.parametrize("garbage", [
    "", "Ada", "enc:", "enc:!!!!", "enc:AAAA", TOKEN_PREFIX + "a" * 10, "enc:0",
])
def test_what_is_not_a_token_raises_decryption_error(cipher, garbage):
    cipher.encrypt("x", subject=SUBJECT, aad=AAD)
    with pytest.raises(DecryptionError):
        cipher.decrypt(garbage, subject=SUBJECT, aad=AAD)


def test_truncated_and_extended_tokens_fail(cipher):
    token = cipher.encrypt("sensitive", subject=SUBJECT, aad=AAD)
    raw = _raw(token)
    for broken in (raw[:-1], raw + b"\x00", raw[:HEADER_BYTES + NONCE_BYTES + 15]):
        with pytest.raises(DecryptionError):
            cipher.decrypt(_token(broken), subject=SUBJECT, aad=AAD)
    for edited in (token + "a", token + "00", token.upper().replace("ENC:", "enc:"),
                   token[:10] + " " + token[10:]):
        with pytest.raises(DecryptionError):
            cipher.decrypt(edited, subject=SUBJECT, aad=AAD)


def test_only_text_is_encrypted(cipher):
    for value in (None, b"bytes", 42, ERASED):
        with pytest.raises(TypeError):
            cipher.encrypt(value, subject=SUBJECT, aad=AAD)


def test_aad_parts_must_be_text_without_nul(cipher):
    token = cipher.encrypt("x", subject=SUBJECT, aad=AAD)
    for operation in (lambda aad: cipher.encrypt("x", subject=SUBJECT, aad=aad),
                      lambda aad: cipher.decrypt(token, subject=SUBJECT, aad=aad)):
        with pytest.raises(TypeError):
            operation(Aad("emp", "t", 42, "f"))
        with pytest.raises(ValueError):
            operation(Aad("emp", "t", "r\x00", "f"))
    with pytest.raises(ValueError):
        cipher.encrypt("x", subject="sub\x00", aad=AAD)


def test_erasing_a_subject_makes_its_values_read_as_erased(cipher):
    token = cipher.encrypt("Ada", subject=SUBJECT, aad=AAD)
    other = cipher.encrypt("Bob", subject="sub_bob", aad=AAD)
    cipher.erase_subject(SUBJECT)
    assert cipher.decrypt(token, subject=SUBJECT, aad=AAD) is ERASED
    assert cipher.decrypt(other, subject="sub_bob", aad=AAD) == "Bob"
    with pytest.raises(SubjectErasedError):
        cipher.encrypt("Ada again", subject=SUBJECT, aad=AAD)


def test_erasure_reaches_another_process_within_the_cache_ttl(kit, clock):
    token = kit.cipher.encrypt("Ada", subject=SUBJECT, aad=AAD)
    other_clock = ManualClock()
    other = kit.another_process(clock=other_clock)
    assert other.decrypt(token, subject=SUBJECT, aad=AAD) == "Ada"  # now cached there

    kit.cipher.erase_subject(SUBJECT)
    assert kit.cipher.decrypt(token, subject=SUBJECT, aad=AAD) is ERASED  # here: at once
    other_clock.advance(30)
    assert other.decrypt(token, subject=SUBJECT, aad=AAD) is ERASED
    with pytest.raises(SubjectErasedError):
        other.encrypt("Ada", subject=SUBJECT, aad=AAD)
    fresh = kit.another_process()  # a process started after the erasure
    assert fresh.decrypt(token, subject=SUBJECT, aad=AAD) is ERASED


def test_a_value_stays_erased_once_the_key_is_gone_even_without_the_cache(kit):
    token = kit.cipher.encrypt("Ada", subject=SUBJECT, aad=AAD)
    kit.store.erase(SUBJECT)
    kit.cipher.cache.clear()
    assert kit.cipher.decrypt(token, subject=SUBJECT, aad=AAD) is ERASED


def test_erasing_twice_or_before_any_key_is_harmless(cipher):
    cipher.erase_subject("sub_never_seen")
    cipher.erase_subject("sub_never_seen")
    with pytest.raises(SubjectErasedError):
        cipher.encrypt("x", subject="sub_never_seen", aad=AAD)


def test_erased_marker_is_one_clear_value():
    assert Erased() is ERASED
    assert copy.deepcopy({"a": ERASED})["a"] is ERASED
    assert pickle.loads(pickle.dumps(ERASED)) is ERASED
    assert str(ERASED) == "[erased]" and repr(ERASED) == "ERASED"


def test_the_hot_path_does_not_touch_the_database(kit, cipher):
    statements = []
    event.listen(kit.engine, "before_cursor_execute", lambda *a: a[2].startswith("BEGIN") or statements.append(a[2]))
    token = cipher.encrypt("warm", subject=SUBJECT, aad=AAD)
    statements.clear()
    for _ in range(100):
        assert cipher.decrypt(cipher.encrypt("x", subject=SUBJECT, aad=AAD),
                              subject=SUBJECT, aad=AAD) == "x"
    assert cipher.decrypt(token, subject=SUBJECT, aad=AAD) == "warm"
    assert statements == []


def test_keys_are_read_again_after_the_ttl(kit, cipher, clock):
    statements = []
    event.listen(kit.engine, "before_cursor_execute", lambda *a: a[2].startswith("BEGIN") or statements.append(a[2]))
    cipher.encrypt("x", subject=SUBJECT, aad=AAD)
    statements.clear()
    clock.advance(cipher.cache.ttl - 0.1)
    cipher.encrypt("x", subject=SUBJECT, aad=AAD)
    assert statements == []
    clock.advance(0.2)
    cipher.encrypt("x", subject=SUBJECT, aad=AAD)
    assert len(statements) == 1


def test_the_key_cache_is_bounded(kit):
    small = FieldCipher(kit.store, cache_size=3)
    for n in range(10):
        small.encrypt("x", subject=f"sub_{n}", aad=AAD)
    assert len(small.cache) == 3


def test_the_key_cache_ttl_cannot_exceed_thirty_seconds(kit):
    with pytest.raises(ValueError):
        FieldCipher(kit.store, cache_ttl=31)


def test_one_subject_has_one_key_across_processes(kit):
    token = kit.cipher.encrypt("Ada", subject=SUBJECT, aad=AAD)
    other = kit.another_process()
    assert other.decrypt(token, subject=SUBJECT, aad=AAD) == "Ada"
    assert key_id_of(other.encrypt("x", subject=SUBJECT, aad=AAD)) == key_id_of(token)


def test_the_system_subject_is_an_ordinary_subject(cipher):
    aad = Aad("prv_1", "webhook_endpoints", "whe_1", "secret")
    token = cipher.encrypt("whsec_abc", subject=SYSTEM_SUBJECT, aad=aad)
    assert cipher.decrypt(token, subject=SYSTEM_SUBJECT, aad=aad) == "whsec_abc"
    with pytest.raises(DecryptionError):
        cipher.decrypt(token, subject=SUBJECT, aad=aad)


def _raw(token: str) -> bytes:
    return bytes.fromhex(token[len(TOKEN_PREFIX):])


def _token(raw: bytes) -> str:
    return TOKEN_PREFIX + raw.hex()
