"""The file keyring: creation, permissions, rotation, wrapping and its binding."""

import json
import os
import stat

import pytest

from shared.crypto import Keyring, KeyringError, WrappedKey

CONTEXT = b"sub_ada|kid"


@pytest.fixture
def path(tmp_path):
    return tmp_path / "keys" / "keyring.json"


def test_a_new_keyring_is_readable_by_its_owner_only(path):
    Keyring.generate(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700


def test_the_mode_is_0600_whatever_the_umask(path):
    previous = os.umask(0)
    try:
        Keyring.generate(path)
    finally:
        os.umask(previous)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_init_refuses_to_overwrite(path):
    Keyring.generate(path)
    before = path.read_bytes()
    with pytest.raises(KeyringError, match="refusing to overwrite"):
        Keyring.generate(path)
    assert path.read_bytes() == before
    assert [p.name for p in path.parent.iterdir()] == ["keyring.json"]  # no leftovers


def test_a_keyring_readable_by_others_is_refused(path):
    Keyring.generate(path)
    path.chmod(0o644)
    with pytest.raises(KeyringError, match="chmod 600"):
        Keyring.load(path)


def test_missing_and_malformed_keyrings_are_clear_errors(path, tmp_path):
    with pytest.raises(KeyringError, match="keys init"):
        Keyring.load(path)
    bad = tmp_path / "bad.json"
    bad.write_text('{"format": "bridgeline-keyring/1", "keks": {}}')
    bad.chmod(0o600)
    with pytest.raises(KeyringError, match="malformed"):
        Keyring.load(bad)


def test_keks_and_blind_index_root_are_distinct_secrets(path):
    Keyring.generate(path)
    document = json.loads(path.read_text())
    assert document["current_kek_version"] == 1
    assert document["blind_index_root"] != document["keks"]["1"]["key"]


def test_wrap_unwrap_round_trip_and_context_binding(path):
    keyring = Keyring.generate(path)
    key = os.urandom(32)
    wrapped = keyring.wrap(key, context=CONTEXT)
    assert wrapped.kek_version == 1 and key not in wrapped.blob
    assert keyring.unwrap(wrapped, context=CONTEXT) == key
    with pytest.raises(KeyringError):
        keyring.unwrap(wrapped, context=b"sub_bob|kid")
    tampered = WrappedKey(1, wrapped.blob[:-1] + bytes([wrapped.blob[-1] ^ 1]))
    with pytest.raises(KeyringError):
        keyring.unwrap(tampered, context=CONTEXT)


def test_rotation_wraps_with_the_new_version_and_old_versions_still_unwrap(path):
    keyring = Keyring.generate(path)
    key = os.urandom(32)
    old = keyring.wrap(key, context=CONTEXT)
    assert keyring.rotate() == 2
    new = keyring.wrap(key, context=CONTEXT)
    assert (new.kek_version, keyring.versions) == (2, [1, 2])
    assert keyring.unwrap(old, context=CONTEXT) == key
    assert Keyring.load(path).unwrap(new, context=CONTEXT) == key
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_a_process_that_loaded_before_a_rotation_unwraps_new_versions(path):
    running = Keyring.generate(path)
    rotated_elsewhere = Keyring.load(path)
    rotated_elsewhere.rotate()
    wrapped = rotated_elsewhere.wrap(b"k" * 32, context=CONTEXT)
    assert running.unwrap(wrapped, context=CONTEXT) == b"k" * 32
    with pytest.raises(KeyringError, match="version 9"):
        running.unwrap(WrappedKey(9, wrapped.blob), context=CONTEXT)


def test_concurrent_rotations_lose_no_version(path):
    first = Keyring.generate(path)
    second = Keyring.load(path)  # loaded before `first` rotates
    assert first.rotate() == 2
    assert second.rotate() == 3
    assert Keyring.load(path).versions == [1, 2, 3]


def test_retire_removes_an_old_version_but_never_the_current(path):
    keyring = Keyring.generate(path)
    keyring.rotate()
    with pytest.raises(KeyringError):
        keyring.retire(2)
    keyring.retire(1)
    assert Keyring.load(path).versions == [2]
