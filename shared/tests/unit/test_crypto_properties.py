"""Property-based tests of the cipher and the blind index over arbitrary text."""

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from shared.crypto import Aad, DecryptionError
from shared.crypto.testing import CryptoKit

# Ids, names and types never contain NUL (Aad refuses it) and are valid Unicode (no
# lone surrogates); anything else goes.
id_characters = st.characters(blacklist_characters="\x00", blacklist_categories=["Cs"])
parts = st.text(alphabet=id_characters, max_size=40)
aads = st.builds(Aad, parts, parts, parts, parts)
subjects = st.text(alphabet=id_characters, min_size=1, max_size=40)
TOKEN_CHARACTERS = "0123456789abcdefABCDEF :enc"
SETTINGS = settings(max_examples=150, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])


@pytest.fixture(scope="module")
def kit(tmp_path_factory):
    kit = CryptoKit.create(tmp_path_factory.mktemp("crypto"))
    yield kit
    kit.dispose()


@SETTINGS
@given(plaintext=st.text(), subject=subjects, aad=aads)
def test_any_text_round_trips(kit, plaintext, subject, aad):
    token = kit.cipher.encrypt(plaintext, subject=subject, aad=aad)
    assert kit.cipher.decrypt(token, subject=subject, aad=aad) == plaintext


@SETTINGS
@given(plaintext=st.text(min_size=1), aad=aads, other=aads)
def test_any_other_aad_is_refused(kit, plaintext, aad, other):
    assume(aad != other)
    token = kit.cipher.encrypt(plaintext, subject="sub_prop", aad=aad)
    with pytest.raises(DecryptionError):
        kit.cipher.decrypt(token, subject="sub_prop", aad=other)


@SETTINGS
@given(plaintext=st.text(), position=st.integers(min_value=0),
       replacement=st.sampled_from(TOKEN_CHARACTERS) | st.characters())
def test_any_edit_of_the_token_text_is_refused(kit, plaintext, position, replacement):
    aad = Aad("emp_1", "t", "r_1", "f")
    token = kit.cipher.encrypt(plaintext, subject="sub_prop", aad=aad)
    index = position % len(token)
    assume(replacement != token[index])
    edited = token[:index] + replacement + token[index + 1:]
    with pytest.raises(DecryptionError):
        kit.cipher.decrypt(edited, subject="sub_prop", aad=aad)


@SETTINGS
@given(plaintext=st.text(min_size=8, alphabet=st.characters(min_codepoint=0x21,
                                                           blacklist_categories=["Cs"])))
def test_the_token_never_contains_the_plaintext(kit, plaintext):
    token = kit.cipher.encrypt(plaintext, subject="sub_prop", aad=Aad("e", "t", "r", "f"))
    assert plaintext not in token


@SETTINGS
@given(value=st.text(), tenant=parts, field=parts.filter(bool))
def test_blind_index_is_deterministic_and_scoped(kit, value, tenant, field):
    index = kit.blind_index
    digest = index.digest(field, value, tenant=tenant)
    assert digest == index.digest(field, value, tenant=tenant)
    assert len(digest) == 64 and int(digest, 16) >= 0
    assert digest != index.digest(field + "_other", value, tenant=tenant)
    assert digest != index.digest(field, value, tenant=tenant + "x")
    assert digest != index.digest(field, value + "x", tenant=tenant)


@SETTINGS
@given(prefix=st.text(max_size=5), suffix=st.text(max_size=5))
def test_text_that_is_not_unicode_is_refused_without_echoing_it(kit, prefix, suffix):
    with pytest.raises(ValueError) as raised:
        kit.cipher.encrypt(prefix + "\ud800" + suffix, subject="sub_prop",
                           aad=Aad("e", "t", "r", "f"))
    assert raised.value.__cause__ is None and raised.value.__suppress_context__
    assert prefix + "\ud800" not in str(raised.value)
