"""Signing and verifying, checked against the independent `standardwebhooks` package."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta

import pytest
from flask import Flask, request
from standardwebhooks import Webhook

from shared.web.errors import register_error_handlers
from shared.web.problems import Problem
from shared.webhooks import generate_secret, signed_headers, verified_webhook, verify
from shared.webhooks.signing import secret_key

BODY = json.dumps({"type": "enrollment.started", "timestamp": "2027-01-05T18:00:00Z",
                   "data": {"referral_id": "ref_1"}}).encode()


def theirs(secret, body=BODY, msg_id="msg_2KWPBgLlAfxdpx2AI54pPJ85f4W", when=None):
    """Headers as the `standardwebhooks` package signs them."""
    when = when or datetime.now(UTC)
    return {"webhook-id": msg_id, "webhook-timestamp": str(int(when.timestamp())),
            "webhook-signature": Webhook(secret).sign(msg_id, when, body.decode())}


def problem_of(headers, body=BODY, secrets=None, now=None):
    with pytest.raises(Problem) as caught:
        verify(headers, body, secrets or [SECRET], now)
    return caught.value


SECRET = generate_secret()


# -- secrets -----------------------------------------------------------------------------
def test_a_secret_is_whsec_and_base64_of_24_to_64_random_bytes():
    for length in (24, 32, 64):
        secret = generate_secret(length)
        assert secret.startswith("whsec_")
        assert len(base64.b64decode(secret[6:], validate=True)) == length
    assert generate_secret() != generate_secret()
    for length in (23, 65):
        with pytest.raises(ValueError):
            generate_secret(length)


@pytest.mark.parametrize("bad", ["", "whsec_", "sk_" + "A" * 40, "whsec_not*base64",
                                 "whsec_" + base64.b64encode(b"x" * 23).decode(),
                                 "whsec_" + base64.b64encode(b"x" * 65).decode()])
def test_a_malformed_secret_is_refused_without_being_quoted(bad):
    with pytest.raises(ValueError) as caught:
        secret_key(bad)
    if bad[6:]:
        assert bad[6:] not in str(caught.value)


# -- what we send, verified by standardwebhooks -------------------------------------------
def test_standardwebhooks_verifies_what_we_sign():
    headers = signed_headers("whd_1", int(datetime.now(UTC).timestamp()), BODY, [SECRET])
    assert Webhook(SECRET).verify(BODY, headers) == json.loads(BODY)
    assert headers["webhook-signature"].startswith("v1,")


def test_during_a_rotation_both_signatures_are_sent_and_either_secret_verifies():
    new, old = generate_secret(), generate_secret()
    headers = signed_headers("whd_1", int(datetime.now(UTC).timestamp()), BODY, [new, old])
    assert len(headers["webhook-signature"].split(" ")) == 2
    assert Webhook(new).verify(BODY, headers)
    assert Webhook(old).verify(BODY, headers)
    with pytest.raises(Exception, match="No matching signature"):
        Webhook(generate_secret()).verify(BODY, headers)


def test_what_we_sign_covers_id_timestamp_and_body():
    now = int(datetime.now(UTC).timestamp())
    original = signed_headers("whd_1", now, BODY, [SECRET])["webhook-signature"]
    assert signed_headers("whd_2", now, BODY, [SECRET])["webhook-signature"] != original
    assert signed_headers("whd_1", now + 1, BODY, [SECRET])["webhook-signature"] != original
    assert signed_headers("whd_1", now, BODY + b" ", [SECRET])["webhook-signature"] != original


def test_signing_without_a_secret_is_an_error():
    with pytest.raises(ValueError):
        signed_headers("whd_1", 1, BODY, [])


# -- what standardwebhooks signs, accepted by us ------------------------------------------
def test_we_accept_what_standardwebhooks_signs():
    webhook = verify(theirs(SECRET), BODY, [SECRET])
    assert (webhook.id, webhook.type) == ("msg_2KWPBgLlAfxdpx2AI54pPJ85f4W", "enrollment.started")
    assert webhook.data == {"referral_id": "ref_1"}
    assert webhook.occurred_at == datetime(2027, 1, 5, 18, 0, tzinfo=UTC)
    assert "referral_id" not in repr(webhook)


def test_any_of_our_secrets_accepts_during_a_rotation():
    old = generate_secret()
    assert verify(theirs(old), BODY, [SECRET, old]).id


def test_header_names_are_case_insensitive():
    headers = {name.upper(): value for name, value in theirs(SECRET).items()}
    assert verify(headers, BODY, [SECRET]).type == "enrollment.started"


def test_a_signature_list_with_other_versions_and_a_wrong_one_still_matches():
    headers = theirs(SECRET)
    bogus = "v1," + base64.b64encode(b"\0" * 32).decode()
    headers["webhook-signature"] = f"v1a,AAAA {bogus} {headers['webhook-signature']}"
    assert verify(headers, BODY, [SECRET]).id


# -- what we refuse -----------------------------------------------------------------------
def test_a_tampered_body_is_refused_with_401():
    tampered = BODY.replace(b"ref_1", b"ref_2")
    assert problem_of(theirs(SECRET), tampered).status == 401


def test_the_wrong_secret_is_refused_with_401():
    problem = problem_of(theirs(generate_secret()))
    assert (problem.status, problem.title) == (401, "Invalid Webhook Signature")
    assert "WWW-Authenticate" in problem.headers


def test_no_configured_secret_refuses_everything_with_401():
    with pytest.raises(Problem) as caught:
        verify(theirs(SECRET), BODY, [])
    assert caught.value.status == 401


@pytest.mark.parametrize("skew", [timedelta(minutes=5, seconds=2), -timedelta(minutes=5, seconds=2),
                                  timedelta(days=1), -timedelta(days=1)])
def test_timestamps_more_than_5_minutes_off_either_way_are_refused(skew):
    now = datetime.now(UTC)
    problem = problem_of(theirs(SECRET, when=now + skew), now=now)
    assert (problem.status, problem.title) == (401, "Webhook Timestamp Out Of Tolerance")


@pytest.mark.parametrize("skew", [timedelta(minutes=4, seconds=58), -timedelta(minutes=4, seconds=58)])
def test_timestamps_within_5_minutes_are_accepted(skew):
    now = datetime.now(UTC)
    assert verify(theirs(SECRET, when=now + skew), BODY, [SECRET], now).id


@pytest.mark.parametrize("missing", ["webhook-id", "webhook-timestamp", "webhook-signature"])
def test_a_missing_header_is_refused_with_400(missing):
    headers = theirs(SECRET)
    del headers[missing]
    assert problem_of(headers).status == 400


@pytest.mark.parametrize("name, value", [
    ("webhook-timestamp", "1.5e9"), ("webhook-timestamp", "-1"), ("webhook-timestamp", "soon"),
    ("webhook-timestamp", "9" * 40), ("webhook-id", "has.dot"), ("webhook-id", "x" * 256),
    ("webhook-id", "with space"), ("webhook-id", "id\n"), ("webhook-timestamp", "1\n"), ("webhook-signature", "v1"), ("webhook-signature", ","),
    ("webhook-signature", "v1,not*base64"), ("webhook-signature", " ".join(["v1a,AA"] * 17)),
    ("webhook-signature", "   "),
])
def test_a_malformed_header_is_refused_with_400(name, value):
    headers = theirs(SECRET)
    headers[name] = value
    problem = problem_of(headers)
    assert problem.status == 400
    assert value not in (problem.detail or "") or len(value) < 3


def test_a_signature_list_with_no_v1_entry_is_refused_with_401():
    headers = theirs(SECRET)
    headers["webhook-signature"] = "v1a,AAAA v2,BBBB"
    assert problem_of(headers).status == 401


@pytest.mark.parametrize("body", [b"not json", b"{\"type\": ", b""])
def test_a_signed_body_that_is_not_json_is_refused_with_400(body):
    problem = problem_of(theirs(SECRET, body=body), body)
    assert (problem.status, problem.title) == (400, "Malformed JSON")


def test_a_signed_body_that_is_not_utf8_is_refused_with_400():
    body = b"\xff\xfe{}"  # standardwebhooks cannot sign bytes that are not text; we can
    headers = signed_headers("whd_1", int(datetime.now(UTC).timestamp()), body, [SECRET])
    assert problem_of(headers, body).status == 400


@pytest.mark.parametrize("payload, field", [
    ([1, 2], "_schema"),
    ({"timestamp": "2027-01-05T18:00:00Z", "data": {}}, "type"),
    ({"type": "has space", "timestamp": "2027-01-05T18:00:00Z", "data": {}}, "type"),
    ({"type": "a.b\n", "timestamp": "2027-01-05T18:00:00Z", "data": {}}, "type"),
    ({"type": "a.b", "data": {}}, "timestamp"),
    ({"type": "a.b", "timestamp": "2027-01-05T18:00:00", "data": {}}, "timestamp"),
    ({"type": "a.b", "timestamp": "2027-01-05", "data": {}}, "timestamp"),
    ({"type": "a.b", "timestamp": 1790000000, "data": {}}, "timestamp"),
    ({"type": "a.b", "timestamp": "2027-01-05T18:00:00Z"}, "data"),
    ({"type": "a.b", "timestamp": "2027-01-05T18:00:00Z", "data": [1]}, "data"),
    ({"type": "a.b", "timestamp": "2027-01-05T18:00:00Z", "data": {}, "notes": "x"}, "notes"),
])
def test_a_signed_body_of_the_wrong_shape_is_refused_with_422_and_field_errors(payload, field):
    body = json.dumps(payload).encode()
    problem = problem_of(theirs(SECRET, body=body), body)
    assert problem.status == 422
    assert field in problem.errors


def test_a_bad_body_is_only_looked_at_once_the_signature_holds():
    problem = problem_of(theirs(generate_secret(), body=b"not json"), b"not json")
    assert problem.status == 401


# -- through a Flask view and the shared error handler --------------------------------------
@pytest.fixture
def client():
    app = Flask("test")
    register_error_handlers(app)

    @app.post("/hooks")
    def receive():
        webhook = verified_webhook(request, [SECRET])
        return {"id": webhook.id, "type": webhook.type}

    return app.test_client()


def test_a_view_gets_the_verified_webhook(client):
    response = client.post("/hooks", data=BODY, headers=theirs(SECRET))
    assert response.status_code == 200
    assert response.json == {"id": "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W", "type": "enrollment.started"}


@pytest.mark.parametrize("mangle", [
    lambda h: h.pop("webhook-id"),
    lambda h: h.update({"webhook-timestamp": "0"}),
    lambda h: h.update({"webhook-signature": "garbage"}),
    lambda h: h.update({"webhook-signature": "v1,****"}),
])
def test_a_bad_webhook_gets_a_4xx_problem_never_a_5xx(client, mangle):
    headers = theirs(SECRET)
    mangle(headers)
    response = client.post("/hooks", data=BODY, headers=headers)
    assert 400 <= response.status_code < 500
    assert response.mimetype == "application/problem+json"
    assert response.json["status"] == response.status_code
