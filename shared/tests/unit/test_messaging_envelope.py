"""CloudEvent envelope, traceparent handling and queue arguments."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from shared.messaging import CloudEvent, MalformedEvent, Topology, tracing


def make_event(**overrides):
    fields = dict(type="referral.created", source="/referral", subject="ref_1",
                  tenant="emp_1", data={"referral_id": "ref_1"})
    fields.update(overrides)
    return CloudEvent(**fields)


def test_round_trip_keeps_every_attribute():
    event = make_event(key_subject="sub_1", sensitive_fields=("employee.name", "records.*.x"),
                       time=datetime(2027, 1, 5, 18, 30, 0, 120000, tzinfo=UTC))
    parsed = CloudEvent.from_json(event.to_json().encode())
    assert parsed == event
    assert parsed.routing_key == "referral.created"


def test_json_uses_cloudevents_names_and_rfc3339_utc():
    event = make_event(key_subject="sub_1", sensitive_fields=("employee.name",),
                       time=datetime(2027, 1, 5, 18, 30, tzinfo=UTC))
    body = json.loads(event.to_json())
    assert body["specversion"] == "1.0"
    assert body["time"] == "2027-01-05T18:30:00Z"
    assert body["keysubject"] == "sub_1"
    assert body["sensitivefields"] == "employee.name"
    assert body["id"].startswith("evt_")
    assert all(name.isalnum() and name.islower() for name in body)


def test_optional_attributes_are_left_out_when_unset():
    body = json.loads(make_event(subject=None, tenant=None).to_json())
    assert not {"subject", "tenant", "keysubject", "sensitivefields"} & set(body)


@pytest.mark.parametrize("event_type", ["referral.*", "referral.#", "Referral.Created",
                                        "referral", "referral..created", ""])
def test_types_that_would_be_unsafe_routing_keys_are_refused(event_type):
    with pytest.raises(ValueError):
        make_event(type=event_type)


def test_sensitive_fields_need_a_key_subject():
    with pytest.raises(ValueError, match="key_subject"):
        make_event(sensitive_fields=("employee.name",))


def test_naive_time_is_refused():
    with pytest.raises(ValueError):
        make_event(time=datetime(2027, 1, 5))


@pytest.mark.parametrize("body", [
    b"not json", b"\xff\xfe", b"[1, 2]", b"{}",
    json.dumps({"specversion": "0.3", "id": "e", "source": "s", "type": "a.b",
                "time": "2027-01-05T00:00:00Z", "data": {}}).encode(),
    json.dumps({"specversion": "1.0", "id": "e", "source": "s", "type": "a.b",
                "time": "2027-01-05T00:00:00Z", "data": [1]}).encode(),
    json.dumps({"specversion": "1.0", "id": "e", "source": "s", "type": "a.b",
                "time": "2027-01-05T00:00:00", "data": {}}).encode(),
    json.dumps({"specversion": "1.0", "id": 7, "source": "s", "type": "a.b",
                "time": "2027-01-05T00:00:00Z", "data": {}}).encode(),
    json.dumps({"specversion": "1.0", "id": "e", "source": "s", "type": "a.#",
                "time": "2027-01-05T00:00:00Z", "data": {}}).encode(),
    json.dumps({"specversion": "1.0", "id": "e", "source": "s", "type": "a.b",
                "time": "2027-01-05T00:00:00Z", "data": {}, "datacontenttype": "text/xml"}).encode(),
])
def test_malformed_bodies_raise_malformed_event(body):
    with pytest.raises(MalformedEvent):
        CloudEvent.from_json(body)


def test_traceparent_child_keeps_the_trace_and_changes_the_span():
    parent = tracing.new_traceparent()
    child = tracing.child_of(parent)
    assert tracing.is_valid(parent) and tracing.is_valid(child)
    assert child.split("-")[1] == parent.split("-")[1]
    assert child.split("-")[2] != parent.split("-")[2]


@pytest.mark.parametrize("parent", [None, "", "garbage",
                                    "00-00000000000000000000000000000000-0000000000000001-01",
                                    "00-0af7651916cd43dd8448eb211c80319c-0000000000000000-01"])
def test_invalid_parent_starts_a_new_trace(parent):
    child = tracing.child_of(parent)
    assert tracing.is_valid(child)
    assert parent is None or child.split("-")[1] not in parent


def test_traced_block_makes_outgoing_events_continue_the_trace():
    incoming = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    assert tracing.current_traceparent() is None
    with tracing.traced(incoming):
        outgoing = tracing.outgoing_traceparent()
    assert outgoing.split("-")[1] == "0af7651916cd43dd8448eb211c80319c"
    assert tracing.current_traceparent() is None
    assert tracing.outgoing_traceparent().split("-")[1] != "0af7651916cd43dd8448eb211c80319c"


def test_service_queue_is_a_quorum_queue_with_at_least_once_dead_lettering():
    topology = Topology("bl.events", delivery_limit=4)
    assert topology.queue("attestation") == "bl.events.attestation"
    assert topology.dead_letter_queue("attestation") == "bl.events.attestation.dlq"
    assert topology.queue_arguments("attestation") == {
        "x-queue-type": "quorum",
        "x-dead-letter-exchange": "bl.events.dlx",
        "x-dead-letter-routing-key": "bl.events.attestation",
        "x-dead-letter-strategy": "at-least-once",
        "x-overflow": "reject-publish",
        "x-delivery-limit": 4,
    }
