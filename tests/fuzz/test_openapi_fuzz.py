"""schemathesis against each service's own `/openapi.json`, with valid credentials.

For every operation of every service, Hypothesis generates requests from the OpenAPI
document (schemathesis' positive and negative modes: schema-valid and deliberately
invalid parameters and bodies), sends them in-process to the WSGI app with a bearer token
of a role the operation's `x-roles` allows, and checks each response: never a 5xx, a
documented status (every operation documents `default`, so this only catches statuses
outside it), the documented content type, headers and body schema. Negative mode also
mutates the bearer token itself now and then (the request goes without it): those cases
are counted apart.

The world is the root conftest's `platform` (SQLite in tmp, broker probe faked), fresh for
each operation so that its result depends on nothing else: one employer with HR,
specialist and manager clients, one provider with a webhook endpoint, and one (accepted)
referral, one accommodation case and one signed attestation of that employer. Path ids
are drawn about half the time from these, and half of the schema-valid bodies and queries
have their `*_id` fields set to them, so generated requests reach real resources too.

The provider webhooks (`security: []`) are Standard Webhooks: unsigned generated requests
are refused with 400/401, which must still be documented problem+json. Three in four of
their generated JSON bodies are signed with the provider's real secret instead, so that
body validation behind the signature check is fuzzed as well.

`OPERATIONS` lists every operation with its number of examples, and
`test_operations_are_all_listed` fails when a service documents one it does not list.
Requests sent per service are printed in the terminal summary (`tests/fuzz/conftest.py`);
`test_cases_per_service` asserts that those sent with valid credentials (or to operations
that take none) are at least `MIN_CASES_PER_SERVICE`.
"""

from __future__ import annotations

import json
import uuid
from collections import Counter
from datetime import UTC, datetime
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from standardwebhooks.webhooks import Webhook

from shared.directory.endpoints import WebhookEndpoints
from shared.ids import new_id

MIN_CASES_PER_SERVICE = 300
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_headers_conformance, response_schema_conformance]
SEED_NOW = datetime(2027, 1, 11, 9, 0, tzinfo=UTC)  # a Monday: the week of Jan 4 is over
DURING = datetime(2027, 1, 6, 12, 0, tzinfo=UTC)
REQUESTED = {"schedule": [{"weekday": "mon", "start": "17:15", "end": "21:00"}],
             "start_date": "2027-01-04", "end_date": "2027-03-26"}

# Known failures: (service, "METHOD /path") -> reason. Marked xfail(strict=True) so the
# suite stays green while the bug is open and turns red once it is fixed (remove the entry).
KNOWN_FAILURES: dict[tuple[str, str], str] = {}

# service -> "METHOD /path" -> max_examples. Operations without parameters or bodies
# exhaust their (tiny) input space after a few examples, whatever the number here.
OPERATIONS: dict[str, dict[str, int]] = {
    "referral": {
        "GET /healthz": 5,
        "GET /readyz": 5,
        "GET /v1/me": 20,
        "GET /v1/referrals": 150,
        "POST /v1/referrals": 200,
        "GET /v1/referrals/{referral_id}": 100,
        "POST /v1/webhooks/providers/{provider_id}": 200,
    },
    "accommodation": {
        "GET /healthz": 5,
        "GET /readyz": 5,
        "GET /v1/me": 20,
        "GET /v1/accommodations": 100,
        "POST /v1/accommodations": 150,
        "GET /v1/accommodations/{accommodation_id}": 80,
        "POST /v1/accommodations/{accommodation_id}/actions": 150,
        "POST /v1/accommodation-links": 100,
        "POST /v1/schedule/conflicts": 150,
    },
    "attestation": {
        "GET /healthz": 5,
        "GET /readyz": 5,
        "GET /v1/me": 20,
        "GET /v1/attestations": 150,
        "GET /v1/attestations/{attestation_id}": 100,
        "POST /v1/webhooks/providers/{provider_id}/attendance": 200,
        "GET /v1/reports/utilization": 150,
        "GET /.well-known/jwks.json": 5,
    },
}

ROLES_WITH_EMPLOYER = ("hr", "specialist", "manager")


# -- the world ----------------------------------------------------------------------------------
class FuzzWorld:
    def __init__(self, platform: Any, service: str) -> None:
        self.platform = platform
        self.service = service
        directory = platform.directory
        self.employer = directory.create_employer("Fuzz Corp").id
        self.provider = directory.create_provider("Fuzz IOP").id
        if service == "attestation":
            self._signing_keys()
        # Endpoints before the app reads the directory's parties.
        cipher = platform.runtime(service).cipher
        endpoints = WebhookEndpoints(directory.engine, cipher, allow_insecure_urls=True)
        _, self.provider_secret = endpoints.configure("provider", self.provider,
                                                      "http://127.0.0.1:9/fuzz-hooks")
        endpoints.configure("employer", self.employer, "http://127.0.0.1:9/fuzz-employer")
        self.tokens: dict[str, str] = {}
        for role in ROLES_WITH_EMPLOYER:
            _, token = directory.create_client(role, employer_id=self.employer)
            self.tokens[role] = str(token)
        _, token = directory.create_client("provider", provider_id=self.provider)
        self.tokens["provider"] = str(token)
        _, token = directory.create_client("admin")
        self.tokens["admin"] = str(token)

        self.app = platform.app(service)
        self.client = self.app.test_client()
        self.path_ids: dict[str, str] = {"provider_id": self.provider}
        self.last_status: int | None = None
        getattr(self, f"_seed_{service}")()
        self.schema = schemathesis.openapi.from_wsgi("/openapi.json", self.app)

    def auth(self, role: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[role]}"}

    # -- seeding ----------------------------------------------------------------------------
    def _seed_referral(self) -> None:
        body = {"employee": {"external_id": "FUZZ-1", "name": "Ada Lovelace",
                             "email": "ada@example.com"},
                "kind": "formal", "provider_id": self.provider}
        r = self.client.post("/v1/referrals", json=body, headers=self.auth("hr"))
        assert r.status_code == 201, r.get_data(as_text=True)
        created = r.get_json()
        # Accepted by the employee, so the provider's signed updates reach it.
        from referral.domain.commands import AcceptReferral

        self.app.extensions["bridgeline"].domain.accept(AcceptReferral(
            token=created["link"]["url"].rsplit("/", 1)[1], scopes=["participation"],
            expires_on=None, signature="Ada Lovelace", program_options=["evening"],
            shared_contact=["email"]))
        self.path_ids["referral_id"] = created["id"]

    def _seed_accommodation(self) -> None:
        body = {"employee": {"external_id": "FUZZ-2"}, "type": "schedule_change",
                "requested": REQUESTED}
        r = self.client.post("/v1/accommodations", json=body, headers=self.auth("hr"))
        assert r.status_code == 201, r.get_data(as_text=True)
        self.path_ids["accommodation_id"] = r.get_json()["id"]

    def _signing_keys(self) -> None:
        from attestation.adapters.signing import SigningKeys
        from attestation.config import signing_keys_path

        path = signing_keys_path(self.platform.settings["attestation"])
        path.parent.mkdir(parents=True, exist_ok=True)
        SigningKeys.generate(path)

    def _seed_attestation(self) -> None:
        """One of the employer's referrals as the attestation service learns it from the
        referral service's events, three attended sessions, and the week's attestation."""
        from attestation.entrypoints.consumer import event_handlers
        from shared.messaging import CloudEvent

        runtime = self.app.extensions["bridgeline"]
        domain = runtime.domain
        domain.clock = lambda: DURING
        domain.grace_days = 0
        handlers = event_handlers(domain)
        referral_id, subject, consent_id = new_id("ref"), new_id("sub"), new_id("con")

        def feed(type_: str, data: dict[str, Any]) -> None:
            event = CloudEvent(type=type_, source="/referral", subject=referral_id,
                               tenant=self.employer, key_subject=subject,
                               data={"referral_id": referral_id, "employer_id": self.employer,
                                     "provider_id": self.provider, **data}, time=SEED_NOW)
            with runtime.sessions.begin() as session:
                handlers[type_](session, event)

        feed("referral.created", {"kind": "formal", "employee": {"external_id": "FUZZ-3"},
                                  "link_expires_at": "2027-01-25T00:00:00+00:00"})
        feed("consent.granted", {
            "consent_id": consent_id, "scopes": ["attendance_summary", "participation"],
            "expires_on": "2027-06-30", "recipient": {"employer_id": self.employer, "role": "hr"},
            "purpose": "to support your employment", "signed_at": SEED_NOW.isoformat(),
            "form_version": "2027-01",
            "employee": {"name": "Ada Lovelace", "external_id": "FUZZ-3"}})
        feed("enrollment.started", {"start_date": "2027-01-04",
                                    "expected_end_date": "2027-03-30", "level_of_care": "IOP"})
        records = [{"id": f"seed-{i}", "referral_id": referral_id,
                    "date": f"2027-01-0{4 + i}", "status": "attended"} for i in range(3)]
        body = json.dumps({"type": "attendance.reported", "timestamp": "2027-01-10T18:00:00Z",
                           "data": {"records": records}})
        r = self.client.post(f"/v1/webhooks/providers/{self.provider}/attendance", data=body,
                             headers=self.signed(body), content_type="application/json")
        assert r.status_code == 200, r.get_data(as_text=True)
        assert domain.issue_due(SEED_NOW) == 1
        r = self.client.get("/v1/attestations", headers=self.auth("hr"),
                            query_string={"referral_id": referral_id})
        assert r.status_code == 200, r.get_data(as_text=True)
        (issued,) = r.get_json()["data"]
        self.path_ids["attestation_id"] = issued["id"]
        self.path_ids["referral_id"] = referral_id

    # -- webhooks ---------------------------------------------------------------------------
    def signed(self, body: str) -> dict[str, str]:
        msg_id = f"msg_{uuid.uuid4().hex}"
        when = datetime.now(UTC)
        return {"webhook-id": msg_id, "webhook-timestamp": str(int(when.timestamp())),
                "webhook-signature": Webhook(self.provider_secret).sign(msg_id, when, body)}


# -- parametrization ------------------------------------------------------------------------------
def _params() -> list[Any]:
    """One test per operation with every check; an operation with a known failure gets a
    strict xfail there, plus a second test with only `not_a_server_error`, so the known
    (schema) failure does not stop it being fuzzed for 5xx."""
    params = []
    for service, operations in OPERATIONS.items():
        for label, max_examples in operations.items():
            reason = KNOWN_FAILURES.get((service, label))
            marks = [pytest.mark.xfail(strict=True, reason=reason)] if reason else []
            params.append(pytest.param(service, label, max_examples, "all", marks=marks,
                                       id=f"{service}:{label}"))
            if reason:
                params.append(pytest.param(service, label, max_examples, "5xx",
                                           id=f"{service}:{label}:5xx-only"))
    return params


def _strategy(world: FuzzWorld, label: str) -> st.SearchStrategy[tuple[Any, ...]]:
    """(case, role whose token is sent or None, sign a webhook body?, use seeded ids?)."""
    method, path = label.split(" ", 1)
    operation = world.schema[path][method]
    fixed = {name: world.path_ids[name] for name in
             (p.name for p in operation.path_parameters) if name in world.path_ids}
    cases = []
    for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
        cases.append(operation.as_strategy(generation_mode=mode))
        if fixed:
            cases.append(operation.as_strategy(generation_mode=mode, path_parameters=fixed))
    roles = operation.definition.raw.get("x-roles")
    secured = bool(operation.definition.raw.get("security"))
    role = st.sampled_from(roles) if roles else st.just("hr" if secured else None)
    # Three in four webhook bodies signed: unsigned ones all stop at the signature check.
    sign = (st.integers(0, 3).map(bool) if path.startswith("/v1/webhooks/")
            else st.just(False))
    return st.tuples(st.one_of(cases), role, sign, st.booleans())


def _use_seeded_ids(value: Any, ids: dict[str, str]) -> Any:
    """`value` with every field named like a seeded resource's id set to that id."""
    if isinstance(value, dict):
        return {key: ids[key] if key in ids and isinstance(item, str)
                else _use_seeded_ids(item, ids) for key, item in value.items()}
    if isinstance(value, list):
        return [_use_seeded_ids(item, ids) for item in value]
    return value


def exercise(world: FuzzWorld, drawn: tuple[Any, ...], checks: list[Any]) -> Any:
    """Send one generated case as `drawn` says and validate the response with `checks`."""
    case, role, sign, seeded = drawn
    headers = world.auth(role) if role else {}
    if seeded and case.meta is not None \
            and case.meta.generation.mode is GenerationMode.POSITIVE:
        # Schema-valid data that names the seeded resources (a random provider_id in a
        # body would only ever get "no such provider").
        case.body = _use_seeded_ids(case.body, world.path_ids)
        if case.query:
            case.query = _use_seeded_ids(case.query, world.path_ids)
    if sign and isinstance(case.body, dict | list):
        # Signed with the real provider's secret: the exact bytes sent are the bytes
        # signed, so body validation behind the signature check is reached.
        case.path_parameters = {**(case.path_parameters or {}), "provider_id": world.provider}
        body = json.dumps(case.body)
        signed = {**(case.headers or {}), **world.signed(body)}
        response = world.client.open(case.formatted_path, method=case.method, data=body,
                                     content_type="application/json",
                                     query_string=case.query, headers=signed)
        world.last_status = response.status_code
        case.validate_response(response, checks=checks, headers=signed)
        return response
    response = case.call(headers=headers)
    world.last_status = response.status_code
    case.validate_response(response, checks=checks, headers=headers)
    return response


@pytest.mark.slow
@pytest.mark.parametrize(("service", "label", "max_examples", "checks"), _params())
def test_operation_conforms(platform: Any, fuzz_tally: Any, service: str, label: str,
                            max_examples: int, checks: str) -> None:
    world = FuzzWorld(platform, service)
    method, path = label.split(" ", 1)
    fuzz_tally.documented[(service, label)] = set(world.schema[path][method].definition
                                                  .raw.get("responses", {}))
    statuses = fuzz_tally.statuses.setdefault((service, label), Counter())
    selected = CHECKS if checks == "all" else [not_a_server_error]

    @settings(max_examples=max_examples, deadline=None, derandomize=True, database=None,
              phases=[Phase.explicit, Phase.generate, Phase.shrink],
              suppress_health_check=list(HealthCheck), print_blob=True)
    @given(drawn=_strategy(world, label))
    def run(drawn: tuple[Any, ...]) -> None:
        fuzz_tally.cases[service] += 1
        case = drawn[0]
        if drawn[1] is not None and case.operation.schema.is_security_param_negated(case):
            # Negative mode sometimes targets the bearer token itself: sent without it.
            fuzz_tally.without_credentials[service] += 1
        world.last_status = None
        try:
            exercise(world, drawn, selected)
        finally:
            if world.last_status is not None:
                statuses[world.last_status] += 1

    run()
    fuzz_tally.operations_run.setdefault(service, set()).add(label)


@pytest.mark.parametrize("service", list(OPERATIONS))
def test_operations_are_all_listed(platform: Any, service: str) -> None:
    """Every documented operation is fuzzed (a new one must be added to OPERATIONS)."""
    app = platform.app(service)
    document = app.test_client().get("/openapi.json").get_json()
    documented = {f"{method.upper()} {path}" for path, item in document["paths"].items()
                  for method in item if method in {"get", "post", "put", "patch", "delete"}}
    assert documented == set(OPERATIONS[service])


@pytest.mark.slow
@pytest.mark.parametrize("service", list(OPERATIONS))
def test_cases_per_service(fuzz_tally: Any, service: str) -> None:
    """Runs after the operations (file order); skipped when they were not all selected."""
    ran = fuzz_tally.operations_run.get(service, set())
    if not set(OPERATIONS[service]) <= ran:
        pytest.skip(f"not every operation of {service} ran in this session")
    # Counted without the cases schemathesis sent without the bearer token on purpose.
    with_credentials = fuzz_tally.cases[service] - fuzz_tally.without_credentials[service]
    assert with_credentials >= MIN_CASES_PER_SERVICE, (fuzz_tally.cases,
                                                       fuzz_tally.without_credentials)
