"""Blind index: HMAC-SHA256 with a per-field key derived from the keyring's root."""

import hashlib
import hmac
import os

import pytest

from shared.crypto import BlindIndex, Keyring, casefold_strip, exact, strip
from shared.crypto.blind_index import _INFO_LABEL

ROOT = bytes(range(32))


def test_digest_is_hmac_sha256_under_a_per_field_hkdf_key():
    from cryptography.hazmat.primitives.hashes import SHA256
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    key = HKDF(algorithm=SHA256(), length=32, salt=None,
               info=_INFO_LABEL + b"employee_email").derive(ROOT)
    message = (len(b"emp_1").to_bytes(4, "big") + b"emp_1"
               + len(b"a@b.c").to_bytes(4, "big") + b"a@b.c")
    expected = hmac.new(key, message, hashlib.sha256).hexdigest()
    assert BlindIndex(ROOT).digest("employee_email", "a@b.c", tenant="emp_1") == expected


def test_fields_tenants_and_roots_give_unrelated_digests():
    index = BlindIndex(ROOT)
    base = index.digest("employee_email", "a@b.c", tenant="emp_1")
    assert base != index.digest("external_id", "a@b.c", tenant="emp_1")
    assert base != index.digest("employee_email", "a@b.c", tenant="emp_2")
    assert base != BlindIndex(os.urandom(32)).digest("employee_email", "a@b.c", tenant="emp_1")


def test_normalisation_is_the_callers_explicit_choice():
    index = BlindIndex(ROOT)
    typed = index.digest("employee_email", "  Ada@Example.COM ", tenant="emp_1",
                         normalize=casefold_strip)
    assert typed == index.digest("employee_email", "ada@example.com", tenant="emp_1",
                                 normalize=casefold_strip)
    assert typed != index.digest("employee_email", "  Ada@Example.COM ", tenant="emp_1")
    assert index.digest("external_id", " E-17 ", tenant="t", normalize=strip) == \
        index.digest("external_id", "E-17", tenant="t", normalize=exact)
    assert index.digest("external_id", "e-17", tenant="t", normalize=strip) != \
        index.digest("external_id", "E-17", tenant="t", normalize=strip)


def test_tenant_and_value_cannot_be_shifted_into_each_other():
    index = BlindIndex(ROOT)
    assert index.digest("f", "bc", tenant="a") != index.digest("f", "c", tenant="ab")


def test_a_short_root_is_refused():
    with pytest.raises(ValueError):
        BlindIndex(b"too short")


def test_the_keyring_root_is_not_a_kek(tmp_path):
    keyring = Keyring.generate(tmp_path / "keyring.json")
    index = BlindIndex(keyring.blind_index_root)
    again = BlindIndex(Keyring.load(tmp_path / "keyring.json").blind_index_root)
    assert index.digest("f", "v", tenant="t") == again.digest("f", "v", tenant="t")
    keyring.rotate()  # rotating KEKs must not change lookups
    rotated = BlindIndex(Keyring.load(tmp_path / "keyring.json").blind_index_root)
    assert rotated.digest("f", "v", tenant="t") == index.digest("f", "v", tenant="t")
