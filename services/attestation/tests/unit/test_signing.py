import base64
import inspect
import json
import stat
from datetime import UTC, date, datetime

import pytest
from joserfc import jws
from joserfc.errors import JoseError
from joserfc.jwk import KeySet, OKPKey

from attestation.adapters.signing import (
    ALGORITHM,
    InvalidAttestationSignature,
    SigningKeyError,
    SigningKeys,
    attestation_payload,
)
from attestation.domain.claims import build_claims
from attestation.domain.model import AttendanceRecord, AttendanceStatus, ConsentState, Enrollment
from attestation.domain.periods import expires_at, week_of
from shared.contract import REDISCLOSURE_NOTICE

ISSUED = datetime(2027, 1, 11, 9, 30, tzinfo=UTC)
CANARY = "Canary Evening IOP"


def payload(**claims):
    return attestation_payload(
        iss="https://attestation.example", attestation_id="att_1", referral_id="ref_1",
        consent_id="con_1", claims=claims or {"compliant": True},
        period_start=date(2027, 1, 4), period_end=date(2027, 1, 10),
        issued_at=ISSUED, expires_at=expires_at(date(2027, 1, 10)))


def independent_verify(token, jwks_document):
    """Only what a relying party has: the token and the JSON of the JWKS endpoint."""
    published = json.loads(json.dumps(jwks_document))
    kid = json.loads(base64.urlsafe_b64decode(token.split(".")[0] + "=="))["kid"]
    jwk = next(k for k in published["keys"] if k["kid"] == kid)
    signed = jws.deserialize_compact(token, OKPKey.import_key(jwk), algorithms=[jwk["alg"]])
    return json.loads(signed.payload)


@pytest.fixture
def keyring(tmp_path):
    return tmp_path / "keys" / "attestation-signing.json"


def test_generate_writes_a_private_keyring(keyring):
    keys = SigningKeys.generate(keyring)
    assert stat.S_IMODE(keyring.stat().st_mode) == 0o600
    assert SigningKeys.load(keyring).current_kid == keys.current_kid
    with pytest.raises(SigningKeyError, match="exists"):
        SigningKeys.generate(keyring)


def test_load_refuses_a_readable_or_missing_keyring(keyring):
    with pytest.raises(SigningKeyError, match="no signing keyring"):
        SigningKeys.load(keyring)
    SigningKeys.generate(keyring)
    keyring.chmod(0o644)
    with pytest.raises(SigningKeyError, match="chmod 600"):
        SigningKeys.load(keyring)


def test_load_refuses_a_malformed_keyring(keyring):
    keyring.parent.mkdir(parents=True)
    keyring.write_text('{"keys": 3}')
    keyring.chmod(0o600)
    with pytest.raises(SigningKeyError, match="not a signing keyring"):
        SigningKeys.load(keyring)


def test_sign_then_verify_with_the_published_jwks_only(keyring):
    keys = SigningKeys.generate(keyring)
    token = keys.sign(payload())
    header = json.loads(base64.urlsafe_b64decode(token.split(".")[0] + "=="))
    assert header == {"alg": ALGORITHM, "kid": keys.current_kid, "typ": "JWT"}
    assert ALGORITHM in ("EdDSA", "Ed25519")
    assert independent_verify(token, keys.jwks()) == payload()
    assert SigningKeys.load(keyring).verify(token) == payload()


def test_an_independent_keyset_verifier_accepts_it():
    keys = SigningKeys.generate()
    token = keys.sign(payload())
    key_set = KeySet.import_key_set(json.loads(json.dumps(keys.jwks())))
    signed = jws.deserialize_compact(token, key_set, algorithms=[ALGORITHM])
    assert json.loads(signed.payload)["sub"] == "ref_1"


def test_jwks_holds_public_parts_only():
    keys = SigningKeys.generate()
    keys.rotate()
    document = keys.jwks()
    assert document["keys"][0]["kid"] == keys.current_kid
    for jwk in document["keys"]:
        assert set(jwk) == {"kty", "crv", "x", "kid", "use", "alg"}
        assert jwk["use"] == "sig" and jwk["alg"] == ALGORITHM and jwk["crv"] == "Ed25519"
    assert '"d"' not in json.dumps(document)


def test_rotation_keeps_old_tokens_valid_and_retirement_ends_them(keyring):
    keys = SigningKeys.generate(keyring)
    old_kid, old_token = keys.current_kid, keys.sign(payload())
    new_kid = keys.rotate()
    assert new_kid != old_kid and keys.current_kid == new_kid
    new_token = keys.sign(payload())
    reloaded = SigningKeys.load(keyring)
    assert reloaded.current_kid == new_kid
    for verifier in (keys, reloaded):
        assert verifier.verify(old_token) == verifier.verify(new_token) == payload()
    assert independent_verify(old_token, reloaded.jwks()) == payload()

    reloaded.retire(old_kid)
    for verifier in (reloaded, SigningKeys.load(keyring)):
        with pytest.raises(InvalidAttestationSignature):
            verifier.verify(old_token)
        assert verifier.verify(new_token) == payload()
    assert old_kid not in json.dumps(SigningKeys.load(keyring).jwks())
    with pytest.raises(StopIteration):
        independent_verify(old_token, SigningKeys.load(keyring).jwks())


def test_rotation_in_another_process_is_not_lost(keyring):
    first, second = SigningKeys.generate(keyring), SigningKeys.load(keyring)
    a = first.rotate()
    b = second.rotate()  # rereads the file under the lock before changing it
    assert set(SigningKeys.load(keyring).kids) >= {a, b}


def test_the_current_key_cannot_retire():
    keys = SigningKeys.generate()
    with pytest.raises(SigningKeyError, match="rotate"):
        keys.retire(keys.current_kid)
    with pytest.raises(SigningKeyError, match="no key"):
        keys.retire("nope")


@pytest.mark.parametrize("tamper", ["payload", "signature", "header_alg", "garbage"])
def test_a_tampered_token_fails(tamper):
    keys = SigningKeys.generate()
    header, body, signature = keys.sign(payload()).split(".")
    if tamper == "payload":
        forged = payload(compliant=False)
        body = base64.urlsafe_b64encode(json.dumps(forged).encode()).rstrip(b"=").decode()
    elif tamper == "signature":
        signature = ("A" if signature[0] != "A" else "B") + signature[1:]
    elif tamper == "header_alg":
        fields = json.loads(base64.urlsafe_b64decode(header + "=="))
        fields["alg"] = "HS256"
        header = base64.urlsafe_b64encode(json.dumps(fields).encode()).rstrip(b"=").decode()
    token = f"{header}.{body}.{signature}" if tamper != "garbage" else "not.a.jws"
    with pytest.raises(InvalidAttestationSignature):
        keys.verify(token)
    if tamper in ("payload", "signature"):
        with pytest.raises(JoseError):
            independent_verify(token, keys.jwks())


def test_a_token_from_another_keyring_fails():
    with pytest.raises(InvalidAttestationSignature):
        SigningKeys.generate().verify(SigningKeys.generate().sign(payload()))


def test_payload_shape():
    assert payload(participation="enrolled", attendance={"attended": 3, "scheduled": 3}) == {
        "participation": "enrolled", "attendance": {"attended": 3, "scheduled": 3},
        "iss": "https://attestation.example", "sub": "ref_1", "jti": "att_1",
        "iat": int(ISSUED.timestamp()), "exp": int(datetime(2027, 1, 21, tzinfo=UTC).timestamp()),
        "consent_id": "con_1", "period": {"start": "2027-01-04", "end": "2027-01-10"},
        "notice": REDISCLOSURE_NOTICE}


def test_payload_refuses_anything_outside_the_claim_vocabulary():
    for name in ("program_type", "provider", "notes", "sub", "exp"):
        with pytest.raises(ValueError, match="not attestation claims"):
            payload(**{name: CANARY})
    with pytest.raises(ValueError, match="timezone"):
        attestation_payload(iss="i", attestation_id="a", referral_id="r", consent_id="c",
                            claims={}, period_start=date(2027, 1, 4),
                            period_end=date(2027, 1, 10), issued_at=datetime(2027, 1, 11),
                            expires_at=expires_at(date(2027, 1, 10)))


def test_attestation_payload_does_not_accept_provider_or_program():
    assert not set(inspect.signature(attestation_payload).parameters) & {
        "provider", "provider_name", "program_type", "level_of_care", "notes"}


def test_a_canary_in_upstream_data_never_reaches_the_jws():
    """Everything the provider and referral events carry, canaries included; only what the
    domain types hold goes on, so the signed attestation cannot contain them."""
    event = {"referral_id": "ref_1", "provider_name": CANARY, "level_of_care": CANARY,
             "program_type": CANARY, "notes": CANARY, "status": "completed",
             "start_date": date(2026, 12, 1), "end_date": date(2027, 1, 8),
             "return_to_work_date": date(2027, 1, 18)}
    enrollment = Enrollment(event["referral_id"], event["status"], event["start_date"],
                            event["end_date"], event["return_to_work_date"])
    consent = ConsentState("con_1", "ref_1", "emp_1",
                           frozenset({"participation", "attendance_summary", "completion",
                                      "return_to_work", "schedule_needs"}), date(2027, 6, 1))
    period = week_of(date(2027, 1, 8))
    records = [AttendanceRecord("rec_1", "ref_1", date(2027, 1, 5), AttendanceStatus.ATTENDED,
                                ISSUED, 1)]
    claims = build_claims(consent, enrollment, records, period, "final")
    keys = SigningKeys.generate()
    token = keys.sign(attestation_payload(
        iss="https://attestation.example", attestation_id="att_1", referral_id="ref_1",
        consent_id="con_1", claims=claims, period_start=period.start, period_end=period.end,
        issued_at=ISSUED, expires_at=expires_at(period.end)))
    decoded = json.dumps(independent_verify(token, keys.jwks()))
    assert CANARY not in decoded and "IOP" not in decoded
    assert CANARY.encode() not in base64.urlsafe_b64decode(token.split(".")[1] + "==")
