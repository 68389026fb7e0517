"""The authorization matrix: every bearer-authenticated operation of every service's
OpenAPI document x every kind of caller gets exactly the expected status.

The cells are generated from the documents themselves (built once at collection time):
each path and method with a `security` requirement, its allowed roles from `x-roles`.
`OPERATIONS` below says how to call each one (query, body, which resource it names); an
operation the table does not know fails its cells, so a new endpoint cannot slip through
untested, and `test_every_operation_is_in_the_matrix_or_public` fails on it as well.

Expected status per caller (from `shared/web/auth.py`, where `@requires_roles` is the
outermost decorator of every view: it authenticates, then checks the role, before any
body validation, idempotency or tenant lookup runs):

- no token, a malformed token, a wrong secret, a revoked client: 401 (problem+json, `WWW-Authenticate`);
  authentication comes first, so this holds whatever the role or body.
- a valid token whose role is not in `x-roles`: 403, also on another tenant's ids (the
  role check runs before the lookup, and says nothing about the resource).
  The provider and admin roles fall here on every employer endpoint.
- an allowed role of employer A: the documented success code (the lowest 2xx of the
  operation); lists show A's seeded resource.
- employer B's hr: on A's resource ids 404 (never 403); on lists and reports 200 with
  none of A's data; creates and pure computations succeed in B's own tenant.

Provider webhooks carry no bearer token (`security: []`): the Standard Webhooks signature
with the provider's secret is the authentication. They are covered by their own tests at
the bottom. Every error anywhere is `application/problem+json`.

`pytest tests/authz -s` prints the matrix.
"""

from __future__ import annotations

import functools
import json
import re
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

SERVICES = ("referral", "accommodation", "attestation")
HTTP_METHODS = ("get", "put", "post", "patch", "delete")
PROBLEM = "application/problem+json"
KNOWN_ROLES = {"hr", "specialist", "manager", "provider", "admin"}

# The callers (defined with their tokens in conftest.py), in the order of the printout.
CALLER_NAMES = ("hr_A", "specialist_A", "manager_A", "hr_B", "provider_P", "admin",
                "revoked_hr_A", "wrong_secret", "malformed", "anonymous")
CALLER_ROLE = {"hr_A": "hr", "specialist_A": "specialist", "manager_A": "manager",
               "hr_B": "hr", "provider_P": "provider", "admin": "admin"}
CALLER_TENANT = {"hr_A": "A", "specialist_A": "A", "manager_A": "A", "hr_B": "B",
                 "provider_P": "P"}
UNAUTHENTICATED = ("revoked_hr_A", "wrong_secret", "malformed", "anonymous")


# -- how to call each operation ------------------------------------------------------------
@dataclass(frozen=True)
class Op:
    """How the matrix calls one operation.

    `body(mark)`: the JSON body (mark: an external-id prefix, A's marker for A's callers).
    `fresh`: path parameters that A's own allowed callers get a new resource for, because
    the call changes its state (so every cell can succeed, in any order).
    `shows(world, json)`: for A's callers, that the response shows A's seeded data, so the
    "none of A's data" check on B's answer is not vacuous.
    """

    query: dict[str, str] = field(default_factory=dict)
    body: Callable[[str], dict[str, Any]] | None = None
    fresh: dict[str, str] = field(default_factory=dict)
    shows: Callable[[Any, Any], bool] | None = None


def _referral_body(mark: str) -> dict[str, Any]:
    # provider_id is filled in by the cell (the world's provider P).
    return {"employee": {"external_id": f"{mark}-new", "name": "Grace Hopper",
                         "email": "grace@example.com"}, "kind": "formal"}


def _listed(resource: str) -> Callable[[Any, Any], bool]:
    return lambda world, body: any(item.get("id") == world.ids[resource]
                                   for item in body["data"])


def _report_shows_a(world: Any, body: Any) -> bool:
    """A's referrals were created in January 2027 (>= 10 of them, so not suppressed)."""
    months = [row["label"] for row in body["by_month"]["rows"]]
    return "2027-01" in months or bool(body["by_kind"]["totals"]["total"]["count"])


REQUESTED = {"schedule": [{"weekday": "mon", "start": "17:15", "end": "21:00"}],
             "start_date": "2027-01-04", "end_date": "2027-03-26"}

OPERATIONS: dict[tuple[str, str, str], Op] = {
    ("referral", "GET", "/v1/me"): Op(),
    ("referral", "GET", "/v1/referrals"): Op(shows=_listed("referral_id")),
    ("referral", "POST", "/v1/referrals"): Op(body=_referral_body),
    ("referral", "GET", "/v1/referrals/{referral_id}"): Op(),
    ("accommodation", "GET", "/v1/me"): Op(),
    ("accommodation", "GET", "/v1/accommodations"): Op(shows=_listed("accommodation_id")),
    ("accommodation", "POST", "/v1/accommodations"): Op(body=lambda mark: {
        "employee": {"external_id": f"{mark}-new"}, "type": "schedule_change",
        "requested": REQUESTED}),
    ("accommodation", "GET", "/v1/accommodations/{accommodation_id}"): Op(),
    ("accommodation", "POST", "/v1/accommodations/{accommodation_id}/actions"): Op(
        body=lambda mark: {"action": "start_review"},
        fresh={"accommodation_id": "accommodation"}),
    ("accommodation", "POST", "/v1/accommodation-links"): Op(body=lambda mark: {
        "employee": {"external_id": f"{mark}-link"}}),
    ("accommodation", "POST", "/v1/schedule/conflicts"): Op(body=lambda mark: {
        "travel_minutes": 45,
        "work_schedule": [{"weekday": "mon", "start": "09:00", "end": "17:30"}],
        "program_schedule": [{"weekday": "mon", "start": "18:00", "end": "21:00"}]}),
    ("attestation", "GET", "/v1/me"): Op(),
    ("attestation", "GET", "/v1/attestations"): Op(shows=_listed("attestation_id")),
    ("attestation", "GET", "/v1/attestations/{attestation_id}"): Op(),
    ("attestation", "GET", "/v1/reports/utilization"): Op(
        query={"from": "2027-01-01", "to": "2027-12-31"}, shows=_report_shows_a),
}

# Operations without a bearer requirement, each with where it is covered.
PUBLIC: dict[tuple[str, str, str], str] = {
    **{(s, "GET", "/healthz"): "health" for s in SERVICES},
    **{(s, "GET", "/readyz"): "health" for s in SERVICES},
    ("attestation", "GET", "/.well-known/jwks.json"): "public keys",
    ("referral", "POST", "/v1/webhooks/providers/{provider_id}"):
        "signed webhook: test_referral_webhook_*",
    ("attestation", "POST", "/v1/webhooks/providers/{provider_id}/attendance"):
        "signed webhook: test_attendance_webhook_*",
}

# Cells that fail because of a real authorization bug: (service, METHOD, path, caller)
# -> reason. Each is xfail(strict=True), so fixing the bug makes the cell fail until the
# entry is removed. None known.
KNOWN_BUGS: dict[tuple[str, str, str, str], str] = {}


# -- the OpenAPI documents, at collection time ------------------------------------------------
@functools.cache
def openapi_documents() -> dict[str, dict[str, Any]]:
    """Each service's `/openapi.json`, from apps built on a throwaway platform."""
    from conftest import Platform  # the repository's root conftest

    with tempfile.TemporaryDirectory() as tmp:
        platform = Platform(Path(tmp))
        try:
            docs = {}
            for service in SERVICES:
                response = platform.app(service).test_client().get("/openapi.json")
                assert response.status_code == 200
                docs[service] = response.get_json()
            return docs
        finally:
            platform.close()


def operations(docs: dict[str, dict[str, Any]]) -> list[tuple[str, str, str, dict[str, Any]]]:
    found = []
    for service, doc in docs.items():
        for path, item in doc["paths"].items():
            for method, op in item.items():
                if method in HTTP_METHODS:
                    found.append((service, method.upper(), path, op))
    return found


def secured(op: dict[str, Any], doc: dict[str, Any]) -> bool:
    security = op.get("security", doc.get("security")) or []
    return any(requirement for requirement in security)


def bearer_operations() -> list[tuple[str, str, str, dict[str, Any]]]:
    docs = openapi_documents()
    return [o for o in operations(docs) if secured(o[3], docs[o[0]])]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "cell" not in metafunc.fixturenames:
        return
    params = []
    for service, method, path, op in bearer_operations():
        for caller in CALLER_NAMES:
            reason = KNOWN_BUGS.get((service, method, path, caller))
            marks = [pytest.mark.xfail(strict=True, reason=reason)] if reason else []
            params.append(pytest.param((service, method, path, op, caller), marks=marks,
                                       id=f"{service}:{method} {path}:{caller}"))
    metafunc.parametrize("cell", params)


# -- expectations -----------------------------------------------------------------------------
def success_code(op: dict[str, Any]) -> int:
    codes = [int(code) for code in op["responses"] if code.isdigit() and code.startswith("2")]
    assert codes, "the operation documents no success response"
    return min(codes)


def expected_status(path: str, op: dict[str, Any], caller: str) -> tuple[int, str]:
    if caller in UNAUTHENTICATED:
        return 401, "no valid token"
    if CALLER_ROLE[caller] not in op["x-roles"]:
        return 403, "role not in x-roles"
    if CALLER_TENANT.get(caller) == "B" and "{" in path:
        return 404, "another employer's resource"
    return success_code(op), "allowed"


@pytest.fixture(scope="module")
def matrix() -> Any:
    """Collects (operation, caller) -> got/expected; printed at the end (`-s`)."""
    cells: dict[tuple[str, str], dict[str, str]] = {}
    yield cells
    if not cells:
        return
    rows = sorted({row for row, _ in cells}, key=lambda r: r)
    width = max(len(r) for r in rows)
    short = {"hr_A": "hrA", "specialist_A": "specA", "manager_A": "mgrA", "hr_B": "hrB",
             "provider_P": "prvP", "admin": "admin", "revoked_hr_A": "revoked",
             "wrong_secret": "badsecret", "malformed": "malformed", "anonymous": "no-token"}
    header = " | ".join(f"{short[c]:>9}" for c in CALLER_NAMES)
    lines = ["", f"authorization matrix: {len(rows)} operations x {len(CALLER_NAMES)} callers"
                 " (got; '!' = not the expected status, 'x' = known bug)",
             f"{'operation':<{width}} | {header}", "-" * (width + 3 + len(header))]
    for row in rows:
        shown = []
        for caller in CALLER_NAMES:
            result = cells.get((row, caller))
            shown.append(f"{result['text'] if result else '-':>9}")
        lines.append(f"{row:<{width}} | " + " | ".join(shown))
    print("\n".join(lines))


def assert_problem(response: Any, status: int) -> None:
    assert response.mimetype == PROBLEM, (status, response.mimetype,
                                          response.get_data(as_text=True))
    problem = response.get_json()
    assert problem["status"] == status and problem.get("title"), problem


def call(world: Any, service: str, method: str, path: str, caller: str,
         *, fresh: bool) -> Any:
    spec = OPERATIONS[(service, method, path)]

    def fill(match: re.Match[str]) -> str:
        name = match.group(1)
        if fresh and name in spec.fresh:
            assert spec.fresh[name] == "accommodation", name
            return world.create_accommodation("E-ALPHA-fresh")
        return world.ids[name]

    url = re.sub(r"\{([^}]+)\}", fill, path)
    mark = "E-ALPHA" if CALLER_TENANT.get(caller) == "A" else "E-OTHER"
    kwargs: dict[str, Any] = {"headers": world.headers(caller), "query_string": spec.query}
    if spec.body is not None:
        body = spec.body(mark)
        if (service, path) == ("referral", "/v1/referrals"):
            body["provider_id"] = world.provider_p
        kwargs["json"] = body
    return world.clients[service].open(url, method=method, **kwargs)


def test_cell(cell: Any, authz_world: Any, matrix: Any) -> None:
    service, method, path, op, caller = cell
    row = f"{service[:5]} {method} {path}"
    if (service, method, path) not in OPERATIONS:
        matrix[(row, caller)] = {"text": "??"}
        pytest.fail(f"{service} {method} {path} is not in OPERATIONS: say how the matrix "
                    "calls it (query, body, the resource it names)")
    expected, why = expected_status(path, op, caller)
    allowed_a = CALLER_TENANT.get(caller) == "A" and expected < 300
    response = call(authz_world, service, method, path, caller, fresh=allowed_a)
    got = response.status_code
    matrix[(row, caller)] = {"text": f"{got}" + ("" if got == expected else "!")
                             + ("x" if (service, method, path, caller) in KNOWN_BUGS else "")}
    assert got == expected, (f"{service} {method} {path} as {caller}: expected {expected} "
                             f"({why}), got {got}: {response.get_data(as_text=True)[:300]}")
    if got >= 400:
        assert_problem(response, got)
        if got == 401:
            assert response.headers.get("WWW-Authenticate", "").startswith("Bearer")
        return
    body = response.get_json()
    spec = OPERATIONS[(service, method, path)]
    if CALLER_TENANT.get(caller) == "B":
        text = json.dumps(body)
        leaked = [n for n in (authz_world.employer_a, "E-ALPHA", *authz_world.ids.values())
                  if n in text]
        assert not leaked, f"{service} {method} {path} shows employer B {leaked}: {text[:300]}"
        if spec.shows is not None:
            assert not spec.shows(authz_world, body), text[:300]
    if allowed_a and spec.shows is not None:
        assert spec.shows(authz_world, body), json.dumps(body)[:300]
    if path == "/v1/me":
        assert body["role"] == CALLER_ROLE[caller]
        tenant = {"A": authz_world.employer_a, "B": authz_world.employer_b}
        assert body["employer_id"] == tenant.get(CALLER_TENANT.get(caller, ""))


# -- completeness ---------------------------------------------------------------------------
def test_every_operation_is_in_the_matrix_or_public(authz_world: Any) -> None:
    docs = {s: authz_world.clients[s].get("/openapi.json").get_json() for s in SERVICES}
    seen = set()
    for service, method, path, op in operations(docs):
        key = (service, method, path)
        seen.add(key)
        if secured(op, docs[service]):
            assert key in OPERATIONS, f"{key} needs an entry in OPERATIONS"
            assert op.get("security") == [{"bearerAuth": []}], key
            roles = op.get("x-roles")
            assert roles and set(roles) <= KNOWN_ROLES, (key, roles)
        else:
            assert key in PUBLIC, (f"{key} has no security requirement: add it to PUBLIC "
                                   "with where it is covered, or require a role")
    assert set(OPERATIONS) <= seen, f"stale OPERATIONS entries: {set(OPERATIONS) - seen}"
    assert set(PUBLIC) <= seen, f"stale PUBLIC entries: {set(PUBLIC) - seen}"


def test_every_api_route_is_documented(authz_world: Any) -> None:
    """A `/v1` route missing from OpenAPI would escape the matrix."""
    for service, app in authz_world.apps.items():
        doc = authz_world.clients[service].get("/openapi.json").get_json()
        for rule in app.url_map.iter_rules():
            if not rule.rule.startswith("/v1"):
                continue
            path = re.sub(r"<(?:[^:>]+:)?([^>]+)>", r"{\1}", rule.rule)
            documented = {m.upper() for m in doc["paths"].get(path, {}) if m in HTTP_METHODS}
            methods = set(rule.methods or ()) - {"HEAD", "OPTIONS"}
            assert methods <= documented, (service, rule.rule, methods - documented)


def test_the_matrix_covers_every_caller_kind() -> None:
    assert len(bearer_operations()) == len(OPERATIONS)
    assert set(CALLER_NAMES) == {*CALLER_ROLE, *UNAUTHENTICATED}


# -- provider webhooks: the signature is the authentication ------------------------------
def test_referral_webhook_signed_by_the_referrals_provider_is_applied(authz_world: Any) -> None:
    w = authz_world
    referral_id = w.accepted_referral("E-ALPHA-wh1")
    r = w.post_enrollment_update(w.provider_p, w.secret_p, referral_id)
    assert r.status_code == 204, r.get_data(as_text=True)


def test_referral_webhook_signed_with_another_providers_secret_is_401(authz_world: Any) -> None:
    w = authz_world
    referral_id = w.accepted_referral("E-ALPHA-wh2")
    r = w.post_enrollment_update(w.provider_p, w.secret_q, referral_id)
    assert r.status_code == 401
    assert_problem(r, 401)
    # Nothing was applied: the right provider's own update still goes through.
    assert w.post_enrollment_update(w.provider_p, w.secret_p, referral_id).status_code == 204


def test_referral_webhook_about_a_referral_routed_to_another_provider_is_404(
        authz_world: Any) -> None:
    w = authz_world
    referral_id = w.accepted_referral("E-ALPHA-wh3")  # routed to P
    r = w.post_enrollment_update(w.provider_q, w.secret_q, referral_id)
    assert r.status_code == 404
    assert_problem(r, 404)


def test_referral_webhook_for_an_unknown_provider_is_401(authz_world: Any) -> None:
    w = authz_world
    r = w.post_enrollment_update("prv_" + "a" * 26, w.secret_p, w.ids["referral_id"])
    assert r.status_code == 401
    assert_problem(r, 401)


@pytest.mark.parametrize("caller", ["hr_A", "provider_P"])
def test_referral_webhook_does_not_take_a_bearer_token(authz_world: Any, caller: str) -> None:
    w = authz_world
    r = w.post_enrollment_update(w.provider_p, w.secret_p, w.ids["referral_id"],
                                 headers=w.headers(caller))
    assert r.status_code == 400  # the webhook-* headers are missing
    assert_problem(r, 400)


def attendance(referral_id: str, record_id: str) -> list[dict[str, Any]]:
    return [{"id": record_id, "referral_id": referral_id, "date": "2027-01-12",
             "status": "attended"}]


def test_attendance_webhook_signed_by_the_referrals_provider_is_accepted(
        authz_world: Any) -> None:
    w = authz_world
    referral_id = w.attestation_referral("E-ALPHA-att1")
    r = w.post_attendance(w.provider_p, w.secret_p, attendance(referral_id, "ok-1"))
    assert r.status_code == 200, r.get_data(as_text=True)
    assert r.get_json()["accepted"] == 1 and r.get_json()["rejected"] == []


def test_attendance_webhook_signed_with_another_providers_secret_is_401(
        authz_world: Any) -> None:
    w = authz_world
    referral_id = w.attestation_referral("E-ALPHA-att2")
    r = w.post_attendance(w.provider_p, w.secret_q, attendance(referral_id, "forged-1"))
    assert r.status_code == 401
    assert_problem(r, 401)


def test_attendance_webhook_about_a_referral_routed_to_another_provider_is_rejected(
        authz_world: Any) -> None:
    """Documented per record: the other provider's records are rejected one by one."""
    w = authz_world
    referral_id = w.attestation_referral("E-ALPHA-att3")  # routed to P
    r = w.post_attendance(w.provider_q, w.secret_q, attendance(referral_id, "q-1"))
    assert r.status_code == 200, r.get_data(as_text=True)
    result = r.get_json()
    assert result["accepted"] == 0 and result["corrected"] == 0, result
    assert [item["id"] for item in result["rejected"]] == ["q-1"], result
    # And it did not take P's record id: P's own report of it is still new.
    r = w.post_attendance(w.provider_p, w.secret_p, attendance(referral_id, "q-1"))
    assert r.get_json()["accepted"] == 1, r.get_json()


def test_attendance_webhook_for_an_unknown_provider_is_401(authz_world: Any) -> None:
    w = authz_world
    r = w.post_attendance("prv_" + "a" * 26, w.secret_p, attendance(w.ids["referral_id"], "u"))
    assert r.status_code == 401
    assert_problem(r, 401)


@pytest.mark.parametrize("caller", ["hr_A", "provider_P"])
def test_attendance_webhook_does_not_take_a_bearer_token(authz_world: Any, caller: str) -> None:
    w = authz_world
    body = json.dumps({"type": "attendance.reported", "timestamp": "2027-01-10T18:00:00Z",
                       "data": {"records": attendance(w.ids["referral_id"], "b-1")}})
    r = w.clients["attestation"].post(f"/v1/webhooks/providers/{w.provider_p}/attendance",
                                      data=body, headers=w.headers(caller),
                                      content_type="application/json")
    assert r.status_code == 400
    assert_problem(r, 400)


# -- around the matrix ---------------------------------------------------------------------
@pytest.mark.parametrize("service", SERVICES)
@pytest.mark.parametrize("authorization", [
    "Basic aHI6c2VjcmV0", "Bearer", "Bearer    ", "TOKEN", "Bearer bl1.cli_x.y",
])
def test_other_authorization_headers_are_401(authz_world: Any, service: str,
                                             authorization: str) -> None:
    r = authz_world.clients[service].get("/v1/me", headers={"Authorization": authorization})
    assert r.status_code == 401
    assert_problem(r, 401)


@pytest.mark.parametrize("service", SERVICES)
def test_a_bare_token_without_the_scheme_is_401(authz_world: Any, service: str) -> None:
    token = authz_world.tokens["hr_A"]
    r = authz_world.clients[service].get("/v1/me", headers={"Authorization": token})
    assert r.status_code == 401
    assert_problem(r, 401)


@pytest.mark.parametrize("service, path, query", [
    ("referral", "/v1/referrals", {"employee_external_id": "E-ALPHA-1"}),
    ("accommodation", "/v1/accommodations", {"employee_external_id": "E-ALPHA-2"}),
    ("attestation", "/v1/attestations", {"employee_external_id": "E-ALPHA-3"}),
    ("attestation", "/v1/attestations", {"referral_id": "<attestation referral>"}),
])
def test_another_employers_filters_on_as_identifiers_find_nothing(
        authz_world: Any, service: str, path: str, query: dict[str, str]) -> None:
    w = authz_world
    if query.get("referral_id"):
        query = {"referral_id": w.attestation_referral_id}
    mine = w.clients[service].get(path, query_string=query, headers=w.headers("hr_A"))
    assert mine.status_code == 200 and len(mine.get_json()["data"]) == 1, mine.get_json()
    theirs = w.clients[service].get(path, query_string=query, headers=w.headers("hr_B"))
    assert theirs.status_code == 200, theirs.get_data(as_text=True)
    assert theirs.get_json()["data"] == []


@pytest.mark.parametrize("service, path", [
    ("referral", "/v1/referrals"),
    ("accommodation", "/v1/accommodations"),
    ("accommodation", "/v1/accommodation-links"),
])
def test_an_idempotency_key_never_replays_another_clients_response(
        authz_world: Any, service: str, path: str) -> None:
    """Keys are per client: the same key and body from employer B is a new request."""
    w = authz_world
    body = OPERATIONS[(service, "POST", path)].body("E-SAMEKEY")  # type: ignore[misc]
    if service == "referral":
        body["provider_id"] = w.provider_p
    key = {"Idempotency-Key": f"authz-{service}-{path}"}
    first = w.clients[service].post(path, json=body, headers={**w.headers("hr_A"), **key})
    again = w.clients[service].post(path, json=body, headers={**w.headers("hr_A"), **key})
    assert first.status_code == again.status_code == 201
    assert again.headers.get("Idempotent-Replayed") == "true"  # the key is honoured...
    other = w.clients[service].post(path, json=body, headers={**w.headers("hr_B"), **key})
    assert other.status_code == 201, other.get_data(as_text=True)
    assert other.headers.get("Idempotent-Replayed") is None  # ...but only for its client
    assert other.get_json() != first.get_json()
    if "id" in first.get_json():
        assert other.get_json()["id"] != first.get_json()["id"]
    for forbidden in ("manager_A", "provider_P"):  # a key does not get past the role check
        r = w.clients[service].post(path, json=body, headers={**w.headers(forbidden), **key})
        assert r.status_code == 403
        assert_problem(r, 403)


@pytest.mark.parametrize("caller, status", [("hr_B", 404), ("manager_A", 403),
                                            ("provider_P", 403), ("anonymous", 401)])
def test_a_refused_action_changes_nothing(authz_world: Any, caller: str, status: int) -> None:
    w = authz_world
    case_id = w.create_accommodation("E-ALPHA-untouched")
    url = f"/v1/accommodations/{case_id}/actions"
    client = w.clients["accommodation"]
    before = client.get(f"/v1/accommodations/{case_id}", headers=w.headers("specialist_A"))
    r = client.post(url, json={"action": "start_review"}, headers=w.headers(caller))
    assert r.status_code == status
    assert_problem(r, status)
    case = client.get(f"/v1/accommodations/{case_id}", headers=w.headers("specialist_A"))
    assert case.get_json()["status"] == "submitted", case.get_json()
    assert case.get_json() == before.get_json()


# -- another employer's ids inside a body ----------------------------------------------------
SCHEDULE_OF_A = {"schedule": [{"weekday": "tue", "start": "19:10", "end": "21:50"}],
                 "start_date": "2027-02-01", "expected_end_date": "2027-04-30"}


def test_a_link_naming_another_employers_referral_shows_nothing_of_it(
        authz_world: Any) -> None:
    w = authz_world
    referral_id = w.ids["referral_id"]  # A's referral
    services = w.apps["accommodation"].extensions["bridgeline"].domain
    with services.engine.begin() as conn:
        services.record_program_schedule(conn, {"referral_id": referral_id,
                                                "employer_id": w.employer_a, **SCHEDULE_OF_A})
    client = w.clients["accommodation"]

    def page_for(caller: str) -> tuple[int, str]:
        r = client.post("/v1/accommodation-links", headers=w.headers(caller),
                        json={"employee": {"external_id": f"E-{caller}-link"},
                              "referral_id": referral_id})
        if r.status_code != 201:
            assert_problem(r, r.status_code)
            return r.status_code, ""
        path = "/" + r.get_json()["url"].split("/", 3)[3]
        return r.status_code, client.get(path).get_data(as_text=True)

    status, mine = page_for("hr_A")
    assert status == 201 and "18:25" in mine and "2027-04-30" in mine  # 19:10 less travel
    status, theirs = page_for("hr_B")
    assert status in (201, 404, 422)
    assert "18:25" not in theirs and "21:50" not in theirs and "2027-04-30" not in theirs
