"""`POST /v1/webhooks/providers/{provider_id}/attendance`, signed by the independent
`standardwebhooks` package as a provider would."""

from __future__ import annotations

import json

from sqlalchemy import func, select

from attestation.adapters.orm import attendance_records


def count_rows(world):
    with world.services.engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(attendance_records)).scalar_one()


def assert_problem(response, status):
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/problem+json"
    return response.get_json()


def test_a_batch_is_accepted_then_unchanged_then_corrected_with_history(world):
    ref = world.referral()
    records = world.week(ref, ["attended", "attended", "absent_excused"])
    first = world.post_attendance(records)
    assert first.status_code == 200, first.get_data(as_text=True)
    assert first.get_json() == {"accepted": 3, "unchanged": 0, "corrected": 0, "rejected": []}
    again = world.post_attendance(records)
    assert again.get_json() == {"accepted": 0, "unchanged": 3, "corrected": 0, "rejected": []}
    records[2]["status"] = "attended"
    fixed = world.post_attendance(records + world.week(ref, ["attended"], prefix="n"))
    assert fixed.get_json() == {"accepted": 1, "unchanged": 2, "corrected": 1, "rejected": []}
    assert count_rows(world) == 5  # 3 + the correction as version 2 + the new one


def test_records_for_another_providers_referral_are_rejected_one_by_one(world):
    mine, theirs = world.referral(), world.referral(provider=world.other_provider)
    records = world.week(mine, ["attended"]) + world.week(theirs, ["attended"], prefix="x")
    body = world.post_attendance(records).get_json()
    assert body["accepted"] == 1
    assert body["rejected"] == [{"id": records[1]["id"],
                                 "error": "The referral is not routed to this provider."}]
    assert count_rows(world) == 1


def test_a_replayed_webhook_id_answers_the_same_and_changes_nothing(world):
    ref = world.referral()
    records = world.week(ref, ["attended", "attended"])
    first = world.post_attendance(records, msg_id="msg_replay_1").get_json()
    records[0]["status"] = "absent_unexcused"  # a different body under the same id
    replay = world.post_attendance(records, msg_id="msg_replay_1")
    assert replay.status_code == 200 and replay.get_json() == first
    assert count_rows(world) == 2


def test_a_thousand_records_are_fine_and_1001_are_refused(world):
    ref = world.referral()
    records = [{"id": f"r-{i}", "referral_id": ref.id, "date": "2027-01-05",
                "status": "attended"} for i in range(1001)]
    body = assert_problem(world.post_attendance(records), 422)
    assert "records" in json.dumps(body["errors"])
    assert count_rows(world) == 0
    assert world.post_attendance(records[:1000]).get_json()["accepted"] == 1000
    assert world.post_attendance(records[:1000]).get_json()["unchanged"] == 1000


def test_unknown_fields_and_free_text_are_refused(world):
    ref = world.referral()
    record = world.week(ref, ["attended"])[0]
    body = assert_problem(world.post_attendance([{**record, "note": "talked about it"}]), 422)
    assert "note" in json.dumps(body["errors"])
    assert_problem(world.post_attendance([{**record, "status": "felt better"}]), 422)
    assert_problem(world.post_attendance([{**record, "id": "a long free text id"}]), 422)
    assert_problem(world.post_attendance([]), 422)
    assert count_rows(world) == 0


def test_forged_unknown_and_wrong_type_deliveries_are_refused(world):
    ref = world.referral()
    records = world.week(ref, ["attended"])
    assert_problem(world.post_attendance(records, secret=world.other_secret), 401)
    assert_problem(world.post_attendance(records, provider="prv_" + "a" * 26), 401)
    wrong_type = json.dumps({"type": "enrollment.started", "timestamp": "2027-01-10T18:00:00Z",
                             "data": {"records": records}})
    assert_problem(world.post_attendance([], body=wrong_type), 422)
    unsigned = world.client.post(f"/v1/webhooks/providers/{world.provider}/attendance",
                                 json={"type": "attendance.reported"})
    assert unsigned.status_code in (400, 401)
    assert count_rows(world) == 0


def test_stale_malformed_and_oversized_deliveries_are_4xx_problems(world):
    from datetime import UTC, datetime, timedelta

    from standardwebhooks.webhooks import Webhook

    ref = world.referral()
    body = json.dumps({"type": "attendance.reported", "timestamp": "2027-01-10T18:00:00Z",
                       "data": {"records": world.week(ref, ["attended"])}})
    url = f"/v1/webhooks/providers/{world.provider}/attendance"
    stale = datetime.now(UTC) - timedelta(minutes=6)
    headers = {"webhook-id": "msg_stale", "webhook-timestamp": str(int(stale.timestamp())),
               "webhook-signature": Webhook(world.secret).sign("msg_stale", stale, body)}
    assert_problem(world.client.post(url, data=body, headers=headers,
                                     content_type="application/json"), 401)
    for broken in ({**headers, "webhook-timestamp": "yesterday"},
                   {k: v for k, v in headers.items() if k != "webhook-signature"}):
        assert_problem(world.client.post(url, data=body, headers=broken,
                                         content_type="application/json"), 400)
    huge = "x" * (world.app.config["MAX_CONTENT_LENGTH"] + 1)
    assert_problem(world.client.post(url, data=huge, headers=headers,
                                     content_type="application/json"), 413)
    signed_garbage = "{not json"
    now = datetime.now(UTC)
    garbage_headers = {"webhook-id": "msg_g", "webhook-timestamp": str(int(now.timestamp())),
                       "webhook-signature": Webhook(world.secret).sign("msg_g", now,
                                                                       signed_garbage)}
    assert_problem(world.client.post(url, data=signed_garbage, headers=garbage_headers,
                                     content_type="application/json"), 400)
    assert count_rows(world) == 0
