"""Regressions from the review of the referral service: racing answers on SQLite,
unreadable input, an erased employee referred again, what the metrics reveal."""

from __future__ import annotations

import base64
import json
import threading

import pytest

from referral.domain.commands import DeclineReferral
from referral.domain.errors import LinkAlreadyUsed
from shared.directory.endpoints import WebhookEndpoints

PROBLEM = "application/problem+json"


def test_racing_accept_and_decline_on_sqlite_let_exactly_one_win(world):
    for _ in range(5):
        _referral, token = world.create_direct()
        outcomes, barrier = [], threading.Barrier(2)

        def answer(kind, token=token, outcomes=outcomes, barrier=barrier):
            barrier.wait()
            try:
                if kind == "accept":
                    world.accept(token)
                else:
                    world.services.decline(DeclineReferral(token))
                outcomes.append(kind)
            except LinkAlreadyUsed:
                outcomes.append("refused")

        threads = [threading.Thread(target=answer, args=(k,)) for k in ("accept", "decline")]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sorted(outcomes) in (["accept", "refused"], ["decline", "refused"])


@pytest.mark.parametrize("path", ["/v1/referrals/ref_%00x", "/v1/referrals?employee_external_id=%00"])
def test_nul_bytes_in_the_address_are_a_400(world, path):
    r = world.client.get(path, headers=world.hr)
    assert (r.status_code, r.content_type) == (400, PROBLEM)


def cursor(created, row_id):
    raw = json.dumps([created, row_id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


@pytest.mark.parametrize("value", [
    cursor("0001-01-01T00:00:00+05:00", "ref_abc"), cursor("9999-12-31T23:59:59-05:00", "ref_a"),
    cursor("2027-01-01T00:00:00+00:00", "x\u0000"), cursor("2027-01-01T00:00:00+00:00", 7)])
def test_forged_cursors_are_a_400(world, value):
    r = world.client.get(f"/v1/referrals?cursor={value}", headers=world.hr)
    assert (r.status_code, r.content_type) == (400, PROBLEM)


def test_deeply_nested_json_and_lone_surrogates_are_a_400(world):
    deep = "[" * 100_000 + "]" * 100_000
    r = world.client.post("/v1/referrals", data=deep, headers={
        **world.hr, "Content-Type": "application/json"})
    assert r.status_code == 400 and r.content_type == PROBLEM
    body = ('{"employee": {"external_id": "E-\\ud800", "name": "A\\ud800", '
            f'"email": "a@example.com"}}, "kind": "formal", "provider_id": "{world.provider_id}"}}')
    r = world.client.post("/v1/referrals", data=body, headers={
        **world.hr, "Content-Type": "application/json"})
    assert r.status_code == 400 and r.content_type == PROBLEM


def test_a_blank_name_is_refused(world):
    r = world.client.post("/v1/referrals", headers=world.hr, json={
        "employee": {"external_id": " ", "name": "   ", "email": "a@example.com"},
        "kind": "formal", "provider_id": world.provider_id})
    assert r.status_code == 422 and {"external_id", "name"} <= set(r.json["errors"]["employee"])


def test_a_huge_webhook_timestamp_is_a_400_not_a_500(world):
    runtime = world.app.extensions["bridgeline"]
    WebhookEndpoints(runtime.directory.engine, runtime.cipher, allow_insecure_urls=True
                     ).configure("provider", world.provider_id, "http://127.0.0.1:9/hooks")
    r = world.client.post(f"/v1/webhooks/providers/{world.provider_id}", data=b"{}", headers={
        "Content-Type": "application/json", "webhook-id": "msg_1",
        "webhook-timestamp": "999999999999", "webhook-signature": "v1,AAAA"})
    assert (r.status_code, r.content_type) == (400, PROBLEM)


def test_an_erased_employee_can_be_referred_again_under_a_new_subject(world):
    first, _ = world.create_direct(external_id="E-77")
    world.services.cipher.erase_subject(first.employee_subject)
    again = world.create(external_id="E-77")
    second = world.services.get_for_hr(world.employer_id, again["id"])
    assert second.employee_subject != first.employee_subject
    assert second.contact.name == "Ada Lovelace"


def test_metrics_do_not_tell_an_accept_from_a_decline(world):
    _, token = world.create_direct()
    world.client.get(f"/r/{token}")
    world.client.post(f"/r/{token}/decline", data={})
    text = world.client.get("/metrics").get_data(as_text=True)
    assert "decline" not in text and "/r/<token>" not in text
    assert 'route="pages"' in text


def test_metrics_can_require_a_token(platform):
    from shared.config import Settings
    settings = Settings.from_env("referral", {**platform.env, "METRICS_TOKEN": "s3cret-scrape"})
    import referral.app
    from referral.bootstrap import bootstrap
    app = referral.app.create_app(bootstrap(settings, broker_probe=lambda: True))
    client = app.test_client()
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert client.get("/metrics", headers={
        "Authorization": "Bearer s3cret-scrape"}).status_code == 200
    app.extensions["bridgeline"].dispose()
