"""Ids: 128 random bits in lower-case base32 after their prefix, written exactly as the
standard library's base32 would write them."""

import base64
import os

from shared.ids import id_body, is_id, new_id


def test_an_ids_body_is_the_base32_of_its_bytes():
    for raw in [bytes(16), b"\xff" * 16, bytes(range(16)), *(os.urandom(16) for _ in range(5000))]:
        assert id_body(raw) == base64.b32encode(raw).decode("ascii").rstrip("=").lower()


def test_new_ids_are_well_formed_and_distinct():
    made = [new_id("ref") for _ in range(1000)]
    assert all(is_id(i, "ref") for i in made)
    assert len(set(made)) == len(made)
    assert not is_id(made[0], "sub") and not is_id(made[0][:-1], "ref")
