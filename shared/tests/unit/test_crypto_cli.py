"""`bridgeline keys ...` and `bridgeline subjects ...` through click's CliRunner."""

import json
import stat

import pytest
from click.testing import CliRunner

from shared.cli import main
from shared.config import Settings
from shared.crypto import ERASED, Aad, build_field_cipher
from shared.db.migrate import upgrade_directory

AAD = Aad("emp_acme", "referrals", "ref_1", "employee_name")


@pytest.fixture
def env(tmp_path):
    # None unsets a variable for the command: the test must not see the machine's own.
    return {"BRIDGELINE_VAR_DIR": str(tmp_path), "DIRECTORY_DATABASE_URL": None,
            "DATABASE_URL": None, "BRIDGELINE_KEYRING": None}


@pytest.fixture
def settings(env):
    return Settings.from_env("directory", {k: v for k, v in env.items() if v is not None})


@pytest.fixture
def run(env):
    runner = CliRunner()

    def run(*args, input=None, ok=True):
        result = runner.invoke(main, list(args), env=env, input=input)
        assert (result.exit_code == 0) == ok, result.output
        return result
    return run


@pytest.fixture
def ready(run, settings):
    """A keyring and a migrated directory, as `make run` leaves them."""
    run("keys", "init")
    upgrade_directory(settings.directory_database_url)
    return settings


def _secrets(settings):
    document = json.loads(settings.keyring_path.read_text())
    return [e["key"] for e in document["keks"].values()] + [document["blind_index_root"]]


def test_init_creates_a_0600_keyring_and_refuses_to_overwrite(run, settings):
    result = run("keys", "init")
    assert result.output.strip().splitlines()[-1] == str(settings.keyring_path)
    assert stat.S_IMODE(settings.keyring_path.stat().st_mode) == 0o600
    before = settings.keyring_path.read_bytes()
    refused = run("keys", "init", ok=False)
    assert "refusing to overwrite" in refused.output
    assert settings.keyring_path.read_bytes() == before


def test_status_shows_versions_and_counts_but_no_secret(run, ready):
    cipher = build_field_cipher(ready)
    cipher.encrypt("Ada", subject="sub_ada", aad=AAD)
    cipher.encrypt("Bob", subject="sub_bob", aad=AAD)
    cipher.erase_subject("sub_bob")
    result = run("keys", "status", "--json")
    status = json.loads(result.output)
    assert [(v["version"], v["current"], v["subject_keys"]) for v in status["kek_versions"]] \
        == [(1, True, 1)]
    assert status["erased_subjects"] == 1
    human = run("keys", "status").output
    assert "KEK v1 (current): 1 subject keys" in human
    for secret in _secrets(ready):
        assert secret not in result.output and secret not in human
    cipher.keys.engine.dispose()


def test_rotate_then_rewrap_moves_every_key_and_values_still_decrypt(run, ready):
    cipher = build_field_cipher(ready)
    token = cipher.encrypt("Ada", subject="sub_ada", aad=AAD)
    assert run("keys", "rotate").output.strip().splitlines()[-1] == "2"
    before = json.loads(run("keys", "status", "--json").output)["kek_versions"]
    assert [(v["version"], v["subject_keys"]) for v in before] == [(1, 1), (2, 0)]
    rewrapped = run("keys", "rewrap")
    assert rewrapped.output.strip().splitlines()[-1] == "1"
    after = json.loads(run("keys", "status", "--json").output)["kek_versions"]
    assert [(v["version"], v["current"], v["subject_keys"]) for v in after] == \
        [(1, False, 0), (2, True, 1)]
    run("keys", "retire", "1")
    fresh = build_field_cipher(ready)
    assert fresh.decrypt(token, subject="sub_ada", aad=AAD) == "Ada"
    for c in (cipher, fresh):
        c.keys.engine.dispose()


def test_retire_refuses_a_version_still_in_use(run, ready):
    cipher = build_field_cipher(ready)
    cipher.encrypt("Ada", subject="sub_ada", aad=AAD)
    run("keys", "rotate")
    refused = run("keys", "retire", "1", ok=False)
    assert "rewrap" in refused.output
    cipher.keys.engine.dispose()


def test_erase_shreds_a_subject_after_confirmation(run, ready):
    cipher = build_field_cipher(ready)
    token = cipher.encrypt("Ada", subject="sub_ada", aad=AAD)
    run("subjects", "erase", "sub_ada", input="n\n", ok=False)
    assert "data key wrapped with KEK v1" in run("subjects", "show", "sub_ada").output
    run("subjects", "erase", "sub_ada", input="y\n")
    assert "erased at" in run("subjects", "show", "sub_ada").output
    assert build_field_cipher(ready).decrypt(token, subject="sub_ada", aad=AAD) is ERASED
    cipher.keys.engine.dispose()


def test_erasing_the_system_subject_needs_an_explicit_flag(run, ready):
    refused = run("subjects", "erase", "system", "--yes", ok=False)
    assert "--allow-system" in refused.output
    run("subjects", "erase", "system", "--yes", "--allow-system")


def test_commands_explain_a_missing_keyring_or_schema(run, settings):
    assert "keys init" in run("keys", "status", ok=False).output
    run("keys", "init")
    assert "bridgeline db upgrade" in run("keys", "status", ok=False).output
    assert "bridgeline db upgrade" in run("subjects", "show", "x", ok=False).output
