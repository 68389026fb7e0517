"""`POST /v1/webhooks/providers/{provider_id}`, signed by the independent `standardwebhooks`
package as a provider would, against the wired app on SQLite."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, date, datetime, time, timedelta

import pytest
from sqlalchemy import func, select
from standardwebhooks.webhooks import Webhook

from referral.domain.commands import AcceptReferral, CreateReferral, RevokeConsent
from referral.domain.model import Contact, Kind, State, Window
from referral.domain.projections import project_for_hr
from shared.directory.endpoints import WebhookEndpoints
from shared.messaging import outbox
from shared.webhooks import generate_secret, received_webhooks

STARTED = {"schedule": [{"weekday": "tue", "start": "18:00", "end": "21:00"},
                        {"weekday": "thu", "start": "18:00", "end": "21:00"}],
           "start_date": "2027-01-05", "expected_end_date": "2027-03-30",
           "level_of_care": "IOP"}


class World:
    """The referral app, an employer, and two providers with webhook endpoints."""

    def __init__(self, platform):
        self.platform = platform
        self.app = platform.app("referral")
        self.client = self.app.test_client()
        runtime = self.app.extensions["bridgeline"]
        self.services = runtime.domain
        self.endpoints = WebhookEndpoints(platform.directory.engine, runtime.cipher,
                                          allow_insecure_urls=True)
        self.employer = platform.directory.create_employer("Acme").id
        self.provider, self.secret = self.provider_with_endpoint("Evening IOP")
        self.other_provider, self.other_secret = self.provider_with_endpoint("Weekend IOP")

    def provider_with_endpoint(self, name):
        provider = self.platform.directory.create_provider(name).id
        _, secret = self.endpoints.configure("provider", provider, "http://127.0.0.1:9/hooks")
        return provider, secret

    def referral(self, scopes=("participation",), provider=None):
        """An accepted referral (with consent when `scopes`)."""
        referral, token = self.services.create_referral(CreateReferral(
            employer_id=self.employer, provider_id=provider or self.provider, kind=Kind.FORMAL,
            external_id=f"E-{uuid.uuid4().hex[:6]}",
            contact=Contact("Ada Lovelace", "ada@example.test")))
        _, self.manage_token = self.services.accept(AcceptReferral(
            token=token, scopes=list(scopes), expires_on=None,
            signature="Ada Lovelace" if scopes else ""))
        return referral.id

    def post(self, type_, data, *, provider=None, secret=None, msg_id=None, when=None,
             body=None, headers=None):
        """A webhook as a provider sends it: body signed with `secret` by standardwebhooks."""
        provider = provider or self.provider
        if body is None:
            body = json.dumps({"type": type_, "timestamp": "2027-01-05T18:00:00Z",
                               "data": data})
        msg_id = msg_id or f"msg_{uuid.uuid4().hex}"
        when = when or datetime.now(UTC)
        signed = {"webhook-id": msg_id, "webhook-timestamp": str(int(when.timestamp())),
                  "webhook-signature": Webhook(secret or self.secret).sign(msg_id, when, body)}
        if headers is not None:
            signed = headers(signed)
        return self.client.post(f"/v1/webhooks/providers/{provider}", data=body,
                                headers=signed, content_type="application/json")

    def referral_of(self, referral_id):
        return self.services.get_for_hr(self.employer, referral_id)

    def hr_status(self, referral_id):
        return project_for_hr(self.referral_of(referral_id), self.services.clock()).status

    def hr_api_status(self, referral_id):
        token = self.platform.client_token("hr", self.employer)
        response = self.client.get(f"/v1/referrals/{referral_id}",
                                   headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 200
        return response.get_json()["status"]

    def events(self, event_type):
        with self.services.engine.connect() as conn:
            return conn.execute(select(func.count()).select_from(outbox)
                                .where(outbox.c.event_type == event_type)).scalar_one()

    def received_ids(self):
        with self.services.engine.connect() as conn:
            return conn.execute(select(received_webhooks.c.source,
                                       received_webhooks.c.webhook_id)).all()


@pytest.fixture
def world(platform):
    return World(platform)


def started(referral_id, /, **changes):
    return {"referral_id": referral_id, **STARTED, **changes}


def assert_problem(response, status):
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/problem+json"
    body = response.get_json()
    assert body["status"] == status
    return body


# -- each type applies ---------------------------------------------------------------------
def test_intake_scheduled_records_the_date_and_hr_still_sees_accepted(world):
    ref = world.referral()
    response = world.post("intake.scheduled", {"referral_id": ref, "date": "2027-01-03"})
    assert response.status_code == 204 and response.get_data() == b""
    referral = world.referral_of(ref)
    assert referral.state is State.INTAKE_SCHEDULED
    assert referral.enrollment.intake_date == date(2027, 1, 3)
    assert world.hr_status(ref) == "accepted"


def test_enrollment_started_stores_the_program_and_hr_sees_enrolled(world):
    ref = world.referral(scopes=("participation", "schedule_needs"))
    assert world.post("enrollment.started", started(ref)).status_code == 204
    referral = world.referral_of(ref)
    assert referral.state is State.ENROLLED
    e = referral.enrollment
    assert e.schedule == [Window("tue", time(18), time(21)), Window("thu", time(18), time(21))]
    assert (e.start_date, e.expected_end_date) == (date(2027, 1, 5), date(2027, 3, 30))
    assert e.level_of_care == "IOP"
    assert world.hr_status(ref) == world.hr_api_status(ref) == "enrolled"
    assert world.events("enrollment.started") == 1


def test_enrollment_completed_moves_the_referral_to_completed(world):
    ref = world.referral()
    assert world.post("enrollment.started", started(ref)).status_code == 204
    response = world.post("enrollment.completed", {
        "referral_id": ref, "date": "2027-03-28", "return_to_work_date": "2027-04-01"})
    assert response.status_code == 204
    referral = world.referral_of(ref)
    assert referral.state is State.COMPLETED
    assert referral.enrollment.end_date == date(2027, 3, 28)
    assert referral.enrollment.return_to_work_date == date(2027, 4, 1)
    assert world.hr_status(ref) == world.hr_api_status(ref) == "completed"
    assert world.events("enrollment.completed") == 1


def test_return_to_work_date_is_optional_on_completion(world):
    ref = world.referral()
    world.post("enrollment.started", started(ref))
    assert world.post("enrollment.completed",
                      {"referral_id": ref, "date": "2027-03-28"}).status_code == 204
    assert world.referral_of(ref).enrollment.return_to_work_date is None


def test_enrollment_discontinued_moves_the_referral_to_discontinued(world):
    ref = world.referral()
    world.post("intake.scheduled", {"referral_id": ref, "date": "2027-01-03"})
    response = world.post("enrollment.discontinued", {"referral_id": ref, "date": "2027-01-20"})
    assert response.status_code == 204
    assert world.referral_of(ref).state is State.DISCONTINUED
    assert world.referral_of(ref).enrollment.end_date == date(2027, 1, 20)
    assert world.hr_status(ref) == "discontinued"


def test_without_consent_the_update_applies_but_no_event_leaves_and_hr_sees_nothing(world):
    ref = world.referral(scopes=())
    assert world.post("enrollment.started", started(ref)).status_code == 204
    assert world.referral_of(ref).state is State.ENROLLED
    assert world.events("enrollment.started") == 0
    assert world.hr_status(ref) == "invited"


def test_after_revocation_no_enrollment_event_leaves_the_service(world):
    """Revocation stops every further disclosure: not even the schedule goes out."""
    ref = world.referral(scopes=("participation", "schedule_needs", "completion"))
    world.services.revoke(RevokeConsent(world.manage_token))
    assert world.post("enrollment.started", started(ref)).status_code == 204
    assert world.post("enrollment.completed",
                      {"referral_id": ref, "date": "2027-03-28"}).status_code == 204
    assert world.referral_of(ref).state is State.COMPLETED  # the provider's record is kept
    assert world.events("enrollment.started") == world.events("enrollment.completed") == 0
    assert world.hr_status(ref) == "consent_revoked"


def test_after_the_consent_lapsed_no_enrollment_event_leaves_the_service(world):
    ref = world.referral(scopes=("participation", "schedule_needs"))
    lapsed = world.referral_of(ref).consent.expires_on + timedelta(days=1)
    world.services.clock = lambda: datetime.combine(lapsed, time(12), UTC)
    assert world.post("enrollment.started", started(ref)).status_code == 204
    assert world.events("enrollment.started") == 0
    assert world.hr_status(ref) == "closed"


def test_a_webhook_signed_with_the_previous_secret_during_rotation_is_accepted(world):
    ref = world.referral()
    old = world.secret
    world.endpoints.rotate_secret(world.provider)
    assert world.post("intake.scheduled", {"referral_id": ref, "date": "2027-01-03"},
                      secret=old).status_code == 204


# -- replay --------------------------------------------------------------------------------
def test_a_resent_webhook_id_answers_204_and_changes_nothing(world):
    ref = world.referral()
    assert world.post("enrollment.started", started(ref), msg_id="msg_start").status_code == 204
    assert world.post("enrollment.completed", {"referral_id": ref, "date": "2027-03-28"},
                      msg_id="msg_done").status_code == 204
    # Applied again, a start after completion would be a 409: 204 proves it was skipped.
    again = world.post("enrollment.started", started(ref, level_of_care="Residential"),
                       msg_id="msg_start", when=datetime.now(UTC) + timedelta(seconds=30))
    assert again.status_code == 204
    referral = world.referral_of(ref)
    assert referral.state is State.COMPLETED and referral.enrollment.level_of_care == "IOP"
    assert world.events("enrollment.started") == 1
    assert sorted(world.received_ids()) == [(world.provider, "msg_done"),
                                            (world.provider, "msg_start")]


def test_the_same_webhook_id_from_two_providers_is_two_webhooks(world):
    mine, theirs = world.referral(), world.referral(provider=world.other_provider)
    assert world.post("intake.scheduled", {"referral_id": mine, "date": "2027-01-03"},
                      msg_id="msg_1").status_code == 204
    assert world.post("intake.scheduled", {"referral_id": theirs, "date": "2027-01-03"},
                      msg_id="msg_1", provider=world.other_provider,
                      secret=world.other_secret).status_code == 204
    assert world.referral_of(theirs).state is State.INTAKE_SCHEDULED


# -- authentication --------------------------------------------------------------------------
def test_a_forged_signature_is_401_and_changes_nothing(world):
    ref = world.referral()
    body = assert_problem(world.post("enrollment.started", started(ref),
                                     secret=generate_secret()), 401)
    assert body["title"] == "Invalid Webhook Signature"
    assert world.referral_of(ref).state is State.ACCEPTED
    assert world.received_ids() == []


def test_another_providers_secret_does_not_sign_for_this_provider(world):
    ref = world.referral()
    assert_problem(world.post("enrollment.started", started(ref),
                              secret=world.other_secret), 401)
    assert world.referral_of(ref).state is State.ACCEPTED


def test_a_body_changed_after_signing_is_401(world):
    ref = world.referral()
    original = json.dumps({"type": "intake.scheduled", "timestamp": "2027-01-05T18:00:00Z",
                           "data": {"referral_id": ref, "date": "2027-01-03"}})
    tampered = original.replace("2027-01-03", "2027-01-04")

    def resign_original(headers):
        headers["webhook-signature"] = Webhook(world.secret).sign(
            headers["webhook-id"], datetime.fromtimestamp(int(headers["webhook-timestamp"]), UTC),
            original)
        return headers

    assert_problem(world.post(None, None, body=tampered, headers=resign_original), 401)
    assert world.referral_of(ref).state is State.ACCEPTED


@pytest.mark.parametrize("shift", [timedelta(minutes=-6), timedelta(minutes=6)])
def test_a_timestamp_more_than_5_minutes_off_is_401(world, shift):
    ref = world.referral()
    assert_problem(world.post("enrollment.started", started(ref),
                              when=datetime.now(UTC) + shift), 401)
    assert world.referral_of(ref).state is State.ACCEPTED


def test_unknown_providers_look_exactly_like_a_bad_signature(world):
    """No way to tell which provider ids exist: same status, same problem."""
    ref = world.referral()
    without_endpoint = world.platform.directory.create_provider("No Endpoint IOP").id
    employer_endpoint_secret = world.endpoints.configure(
        "employer", world.employer, "http://127.0.0.1:9/employer")[1]
    forged = assert_problem(world.post("enrollment.started", started(ref),
                                       secret=generate_secret()), 401)
    attempts = [
        dict(provider="prv_" + "a" * 26),                       # well formed, unknown
        dict(provider="not-a-provider"),                        # malformed
        dict(provider=without_endpoint),                        # no endpoint, no secret
        # An employer's endpoint secret must not make its id a provider.
        dict(provider=world.employer, secret=employer_endpoint_secret),
    ]
    for attempt in attempts:
        body = assert_problem(world.post("enrollment.started", started(ref), **attempt), 401)
        assert {k: body[k] for k in ("type", "title", "detail")} == \
            {k: forged[k] for k in ("type", "title", "detail")}
    assert world.referral_of(ref).state is State.ACCEPTED
    assert world.received_ids() == []


# -- malformed requests ----------------------------------------------------------------------
@pytest.mark.parametrize("mangle", [
    lambda h: {k: v for k, v in h.items() if k != "webhook-signature"},
    lambda h: {k: v for k, v in h.items() if k != "webhook-id"},
    lambda h: {**h, "webhook-timestamp": "yesterday"},
    lambda h: {**h, "webhook-id": "has.dots"},
    lambda h: {**h, "webhook-signature": "v1,not*base64"},
    lambda h: {**h, "webhook-signature": "garbage"},
], ids=["no-signature", "no-id", "timestamp", "id", "signature-encoding", "signature-shape"])
def test_malformed_webhook_headers_are_400(world, mangle):
    ref = world.referral()
    assert_problem(world.post("enrollment.started", started(ref), headers=mangle), 400)
    assert world.referral_of(ref).state is State.ACCEPTED


def test_a_signed_body_that_is_not_json_is_400(world):
    body = assert_problem(world.post(None, None, body='{"type": "intake.scheduled", '), 400)
    assert body["title"] == "Malformed JSON"


def test_a_body_that_is_not_sent_as_json_is_refused_before_anything_else(world):
    response = world.client.post(f"/v1/webhooks/providers/{world.provider}", data="x=1",
                                 content_type="application/x-www-form-urlencoded")
    assert_problem(response, 415)


# -- validation ------------------------------------------------------------------------------
def errors_of(world, type_, data):
    return assert_problem(world.post(type_, data), 422)["errors"]


def test_unknown_fields_in_data_are_422_and_nothing_is_stored(world):
    ref = world.referral()
    errors = errors_of(world, "enrollment.started", started(ref, notes="talked about work"))
    assert errors == {"data": {"notes": ["Unknown field."]}}
    assert world.referral_of(ref).state is State.ACCEPTED
    assert world.received_ids() == []


def test_unknown_fields_beside_data_are_422(world):
    ref = world.referral()
    body = json.dumps({"type": "intake.scheduled", "timestamp": "2027-01-05T18:00:00Z",
                       "data": {"referral_id": ref, "date": "2027-01-03"}, "note": "x"})
    errors = assert_problem(world.post(None, None, body=body), 422)["errors"]
    assert errors == {"note": ["Unknown field."]}


def test_an_unknown_type_is_422(world):
    ref = world.referral()
    errors = errors_of(world, "enrollment.paused", {"referral_id": ref, "date": "2027-01-03"})
    assert list(errors) == ["type"]
    assert world.referral_of(ref).state is State.ACCEPTED


@pytest.mark.parametrize(("change", "expected"), [
    ({"schedule": "tue 18-21"}, {"schedule": ["Not a valid list."]}),
    ({"schedule": []}, {"schedule": ["Length must be between 1 and 21."]}),
    ({"schedule": [{"weekday": "tue", "start": "18:00", "end": "21:00"}] * 22},
     {"schedule": ["Length must be between 1 and 21."]}),
    ({"schedule": [{"weekday": "tuesday", "start": "18:00", "end": "21:00"}]},
     {"schedule": {"0": {"weekday": ["Must be one of: mon, tue, wed, thu, fri, sat, sun."]}}}),
    ({"schedule": [{"weekday": "tue", "start": "21:00", "end": "18:00"}]},
     {"schedule": {"0": {"end": ["A window ends after it starts."]}}}),
    ({"schedule": [{"weekday": "tue", "start": "18:00", "end": "18:00"}]},
     {"schedule": {"0": {"end": ["A window ends after it starts."]}}}),
    ({"schedule": [{"weekday": "tue", "start": "6pm", "end": "21:00"}]},
     {"schedule": {"0": {"start": ["A time as HH:MM (24-hour)."]}}}),
    ({"schedule": [{"weekday": "tue", "start": "18:00", "end": "21:00", "room": "B"}]},
     {"schedule": {"0": {"room": ["Unknown field."]}}}),
    ({"start_date": "soon"}, {"start_date": ["Not a valid date."]}),
    ({"expected_end_date": "2027-01-04"},
     {"expected_end_date": ["The expected end is on or after the start date."]}),
    ({"level_of_care": "x" * 101}, {"level_of_care": ["Length must be between 1 and 100."]}),
    ({"level_of_care": 3}, {"level_of_care": ["Not a valid string."]}),
    ({"referral_id": "ref_1"}, {"referral_id": ["Not a referral id."]}),
])
def test_invalid_enrollment_started_data_is_422_with_field_errors(world, change, expected):
    ref = world.referral()
    assert errors_of(world, "enrollment.started", started(ref, **change)) == {"data": expected}
    assert world.referral_of(ref).state is State.ACCEPTED


def test_the_expected_end_may_be_the_start_date(world):
    ref = world.referral()
    assert world.post("enrollment.started",
                      started(ref, expected_end_date="2027-01-05")).status_code == 204


@pytest.mark.parametrize("type_", ["intake.scheduled", "enrollment.completed",
                                   "enrollment.discontinued"])
def test_dated_updates_need_a_referral_id_and_a_date(world, type_):
    errors = errors_of(world, type_, {})
    assert errors == {"data": {"referral_id": ["Missing data for required field."],
                               "date": ["Missing data for required field."]}}
    assert errors_of(world, type_, {"referral_id": world.referral(), "date": "2027-02-30"}) \
        == {"data": {"date": ["Not a valid date."]}}


def test_only_completion_carries_a_return_to_work_date(world):
    ref = world.referral()
    errors = errors_of(world, "enrollment.discontinued", {
        "referral_id": ref, "date": "2027-01-20", "return_to_work_date": "2027-02-01"})
    assert errors == {"data": {"return_to_work_date": ["Unknown field."]}}


def test_a_rejected_webhook_id_is_not_recorded_so_the_corrected_resend_applies(world):
    ref = world.referral()
    assert_problem(world.post("enrollment.started", started(ref, level_of_care=""),
                              msg_id="msg_fix"), 422)
    assert world.post("enrollment.started", started(ref), msg_id="msg_fix").status_code == 204
    assert world.referral_of(ref).state is State.ENROLLED


# -- whose referral, which state -------------------------------------------------------------
def test_a_provider_cannot_update_another_providers_referral(world):
    theirs = world.referral(provider=world.other_provider)
    body = assert_problem(world.post("enrollment.started", started(theirs)), 404)
    assert theirs not in json.dumps(body)
    referral = world.referral_of(theirs)
    assert referral.state is State.ACCEPTED and referral.enrollment.level_of_care is None
    assert world.received_ids() == []
    assert world.events("enrollment.started") == 0


def test_an_unknown_referral_is_404(world):
    assert_problem(world.post("intake.scheduled", {"referral_id": "ref_" + "a" * 26,
                                                   "date": "2027-01-03"}), 404)
    assert world.received_ids() == []


def test_a_transition_not_allowed_is_409_and_a_later_resend_of_the_same_id_applies(world):
    ref = world.referral()
    done = {"referral_id": ref, "date": "2027-03-28", "return_to_work_date": "2027-04-01"}
    assert_problem(world.post("enrollment.completed", done, msg_id="msg_early"), 409)
    referral = world.referral_of(ref)
    assert referral.state is State.ACCEPTED
    assert referral.enrollment.end_date is None and referral.enrollment.return_to_work_date is None
    assert world.received_ids() == [] and world.events("enrollment.completed") == 0

    assert world.post("enrollment.started", started(ref)).status_code == 204
    assert world.post("enrollment.completed", done, msg_id="msg_early").status_code == 204
    assert world.referral_of(ref).state is State.COMPLETED


def test_an_update_before_the_employee_accepted_is_409(world):
    referral, _ = world.services.create_referral(CreateReferral(
        employer_id=world.employer, provider_id=world.provider, kind=Kind.FORMAL,
        external_id="E-9", contact=Contact("Ada Lovelace", "ada@example.test")))
    assert_problem(world.post("intake.scheduled", {"referral_id": referral.id,
                                                   "date": "2027-01-03"}), 409)
    assert world.referral_of(referral.id).state is State.INVITED


# -- the contract, documented --------------------------------------------------------------
def test_the_endpoint_is_documented_in_openapi(world):
    spec = world.client.get("/openapi.json").get_json()
    operation = spec["paths"]["/v1/webhooks/providers/{provider_id}"]["post"]
    assert operation["summary"] == "Apply a signed enrollment update from a provider"
    assert {"204", "400", "401", "404", "409", "415", "422"} <= set(operation["responses"])
    assert operation.get("security") == []
    assert {p["name"] for p in operation["parameters"] if p["in"] == "header"} == \
        {"webhook-id", "webhook-timestamp", "webhook-signature"}
    bodies = operation["requestBody"]["content"]["application/json"]["schema"]["oneOf"]
    names = [b["$ref"].rsplit("/", 1)[1] for b in bodies]
    schemas = spec["components"]["schemas"]
    types = {schemas[n]["properties"]["type"]["enum"][0] for n in names}
    assert types == {"intake.scheduled", "enrollment.started", "enrollment.completed",
                     "enrollment.discontinued"}

    from openapi_spec_validator import validate

    validate(spec)
