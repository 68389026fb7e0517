from shared.directory.credentials import (
    ClientToken,
    hash_secret,
    new_secret,
    parse_token,
    secret_matches,
)
from shared.ids import is_id, new_id


def test_token_round_trip_and_shape():
    token = ClientToken(client_id=new_id("cli"), secret=new_secret())
    parsed = parse_token(str(token))
    assert parsed == token
    assert str(token).startswith("bl1.cli_")


def test_secrets_have_256_bits_and_are_unique():
    secrets = {new_secret() for _ in range(1000)}
    assert len(secrets) == 1000
    assert all(len(s) == 43 for s in secrets)  # 32 bytes, base64url without padding


def test_malformed_tokens_are_refused():
    good = str(ClientToken(new_id("cli"), new_secret()))
    for bad in ["", "bl1", good + "x", good.replace("bl1.", "bl2."), good.replace(".", "_"),
                "bl1.cli_short." + "a" * 43, good[:-1] + "!", " " + good]:
        assert parse_token(bad) is None, bad


def test_only_the_hash_is_compared():
    secret = new_secret()
    stored = hash_secret(secret)
    assert secret not in stored
    assert secret_matches(secret, stored)
    assert not secret_matches(new_secret(), stored)


def test_ids_are_prefixed_and_unguessable():
    ids = {new_id("ref") for _ in range(1000)}
    assert len(ids) == 1000
    assert all(is_id(i, "ref") for i in ids)
    assert not is_id("ref_ABC", "ref")
    assert not is_id(new_id("emp"), "ref")
