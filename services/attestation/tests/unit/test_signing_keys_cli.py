"""`bridgeline signing-keys init|rotate|retire|status` on a keyring in a temp directory."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from attestation.adapters.signing import SigningKeys
from shared.cli import main


def test_init_rotate_retire_status(tmp_path):
    env = {"BRIDGELINE_VAR_DIR": str(tmp_path)}
    runner = CliRunner()
    path = tmp_path / "keys" / "attestation-signing.json"
    first = runner.invoke(main, ["signing-keys", "init"], env=env)
    assert first.exit_code == 0, first.output
    old = first.output.strip().splitlines()[-1]
    assert runner.invoke(main, ["signing-keys", "init"], env=env).exit_code != 0
    assert runner.invoke(main, ["signing-keys", "init", "--if-missing"], env=env).exit_code == 0
    new = runner.invoke(main, ["signing-keys", "rotate"], env=env).output.strip()
    assert SigningKeys.load(path).kids == [old, new]
    status = runner.invoke(main, ["signing-keys", "status"], env=env).output
    assert f"{new}  (current)" in status and "\"d\"" not in status
    assert runner.invoke(main, ["signing-keys", "retire", new], env=env).exit_code != 0
    assert runner.invoke(main, ["signing-keys", "retire", old], env=env).exit_code == 0
    assert SigningKeys.load(path).kids == [new]


@pytest.mark.parametrize("kid", ["-3gtlz4OYlBbsp5q__XFXnXmTzbufn7YMNO_YlPj-WY", "--x-_y"])
def test_retire_takes_a_key_id_that_begins_with_a_dash(tmp_path, kid):
    env = {"BRIDGELINE_VAR_DIR": str(tmp_path)}
    runner = CliRunner()
    assert runner.invoke(main, ["signing-keys", "init"], env=env).exit_code == 0
    refused = runner.invoke(main, ["signing-keys", "retire", kid], env=env)
    assert refused.exit_code == 1, refused.output  # the keyring's answer, not a usage error
    assert f"no key {kid}" in refused.output
