"""The Bridgeline story (issue 7), as reusable steps over real HTTP: used by the e2e test
(`tests/e2e/test_story.py`, on the `stack` fixture) and by `make demo`
(`deploy/scripts/demo.py`, against the services `make run` started).

    story = Story(urls, cli, narrator=Narrator())
    story.run()          # every step, in order; each asserts what every party sees

Each step drives the parties as integrators would: HR, the specialist and the manager
through the REST APIs with bearer tokens made by the `bridgeline` CLI; the employee
through the HTML pages (forms posted with the page's CSRF token, as a browser does); the
provider and the employer through signed webhooks, received by real local HTTP servers
(`WebhookReceiver`) and verified with the independent `standardwebhooks` package.
Everything asynchronous is polled with a deadline, never waited for with a fixed sleep.

Only one ordering differs from the plain telling of the story: the provider reports the
attendance of the two completed weeks *before* `enrollment.started`. The attestation
service attests every completed week as soon as it knows the enrollment started
(`attestation/domain/issuance.py`: a week is due once it is over, whatever attendance is
in), so attendance reported after that would never reach an attestation.
"""

from __future__ import annotations

import contextlib
import html
import json
import re
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urlsplit

import requests
from joserfc import jws
from joserfc.jwk import KeySet
from standardwebhooks.webhooks import Webhook

from shared.webhooks.testing import WebhookReceiver

SCOPES = ("participation", "attendance_summary", "schedule_needs")
PROGRAM = [{"weekday": day, "start": "18:00", "end": "21:00"} for day in ("mon", "wed", "thu")]
WORK = [{"weekday": day, "start": "09:00", "end": "17:30"}
        for day in ("mon", "tue", "wed", "thu", "fri")]
SESSION_OFFSETS = (0, 2, 3)  # Mon, Wed, Thu from a Monday
CLAIMS = {"participation", "attendance", "compliant", "completion", "return_to_work"}
MANAGER_KEYS = {"id", "status", "schedule_impact", "effective"}


# -- a small narrator: what each party sees, step by step ---------------------------------
class Narrator:
    """Prints each step and, per party, what that party saw (the demo's output)."""

    WIDTH = 12

    def __init__(self, out: Callable[[str], None] = print) -> None:
        self.out = out
        self.number = 0

    def step(self, title: str) -> None:
        self.number += 1
        self.out(f"\n{self.number:>2}. {title}")

    def sees(self, party: str, what: str) -> None:
        lines = what.splitlines() or [""]
        self.out(f"    {party:<{self.WIDTH}}| {lines[0]}")
        for line in lines[1:]:
            self.out(f"    {'':<{self.WIDTH}}| {line}")


class Quiet(Narrator):
    def __init__(self) -> None:
        super().__init__(lambda _line: None)


def poll(what: str, probe: Callable[[], Any], timeout: float = 60.0,
         interval: float = 0.25) -> Any:
    """`probe()`'s first truthy result, or AssertionError naming `what` after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        result = probe()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not seen within {timeout:g} s")
        time.sleep(interval)


# -- HTML forms, read as a browser would submit them ---------------------------------------
class _FormReader(HTMLParser):
    """The successful controls of every <form>: inputs (checked ones only for radios and
    checkboxes), the selected option of each select, textareas."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.forms: list[dict[str, Any]] = []
        self._select: str | None = None
        self._textarea: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            self.forms.append({"action": a.get("action", ""), "fields": []})
        elif not self.forms:
            return
        elif tag == "input" and a.get("name"):
            kind = a.get("type", "text")
            if kind in ("radio", "checkbox") and "checked" not in a:
                return
            if kind not in ("submit", "button"):
                self.forms[-1]["fields"].append((a["name"], a.get("value", "")))
        elif tag == "select":
            self._select = a.get("name")
        elif tag == "option" and self._select and "selected" in a:
            self.forms[-1]["fields"].append((self._select, a.get("value", "")))
        elif tag == "textarea":
            self._textarea = a.get("name")
            self.forms[-1]["fields"].append((self._textarea, ""))

    def handle_data(self, data: str) -> None:
        if self._textarea and self.forms:
            name, value = self.forms[-1]["fields"][-1]
            self.forms[-1]["fields"][-1] = (name, value + data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "select":
            self._select = None
        elif tag == "textarea":
            self._textarea = None


def read_form(page: str, action_contains: str = "") -> list[tuple[str, str]]:
    reader = _FormReader()
    reader.feed(page)
    for form in reader.forms:
        if action_contains in form["action"]:
            return list(form["fields"])
    raise AssertionError(f"no form posting to …{action_contains} on the page")


def form_value(fields: list[tuple[str, str]], name: str) -> str:
    return next(value for key, value in fields if key == name)


def visible_text(page: str) -> str:
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", page)).split())


# -- the story -------------------------------------------------------------------------------
@dataclass
class Party:
    token: str

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


@dataclass
class Timeline:
    """Dates relative to today (UTC, as the services count): the program started on the
    Monday two weeks ago, so two ISO weeks of it are complete."""

    today: date = field(default_factory=lambda: datetime.now(UTC).date())

    @property
    def start(self) -> date:
        return self.today - timedelta(days=self.today.weekday(), weeks=2)

    @property
    def expected_end(self) -> date:
        return self.start + timedelta(weeks=10)

    def sessions(self, week: int) -> list[date]:
        monday = self.start + timedelta(weeks=week)
        return [monday + timedelta(days=d) for d in SESSION_OFFSETS]


class Story:
    def __init__(self, urls: dict[str, str], cli: Callable[..., list[str]], *,
                 narrator: Narrator | None = None, timeout: float = 60.0,
                 employee: dict[str, str] | None = None,
                 colleague: dict[str, str] | None = None, purpose: str | None = None,
                 limitations: str | None = None, level_of_care: str | None = None,
                 note: str | None = None) -> None:
        """`urls`: the base URL of each service; `cli(*args)`: the `bridgeline` CLI,
        returning its output lines; `timeout`: how long to wait for each asynchronous
        effect (a webhook, an event reaching another service).

        The people and their words default to the demo's; pass others to tell the same
        story with them (the canary test, `tests/e2e/test_canary_story.py`, passes
        distinctive ones): `employee` and `colleague` as the HR API takes them
        (`external_id`, `name`, `email`, optionally `phone`), HR's `purpose` of the
        referral, the employee's functional `limitations`, the provider's
        `level_of_care`, and a `note` the specialist and HR add to each accommodation
        action."""
        self.urls = {name: url.rstrip("/") for name, url in urls.items()}
        self.cli = cli
        self.say = narrator or Quiet()
        self.timeout = timeout
        self.http = requests.Session()
        self.when = Timeline()
        suffix = uuid.uuid4().hex[:6]
        self.employee = employee or {"external_id": f"E-{suffix}", "name": "Grace Hopper",
                                     "email": f"grace.{suffix}@example.com"}
        self.colleague = colleague or {
            "external_id": f"{self.employee['external_id']}-C", "name": "Alan Kay",
            "email": f"alan.{uuid.uuid4().hex[:6]}@example.com"}
        self.purpose = purpose
        self.limitations = (limitations
                            or "Evening sessions leave me exhausted; I need to leave on time.")
        self.level_of_care = level_of_care or "IOP"
        self.note = note
        self.attestations: list[dict[str, Any]] = []

    # -- plumbing ------------------------------------------------------------------------------
    def url(self, service: str, path: str) -> str:
        return self.urls[service] + path

    def api(self, method: str, service: str, path: str, party: Party,
            expect: int = 200, **kwargs: Any) -> Any:
        response = self.http.request(method, self.url(service, path), headers={
            **party.auth, **kwargs.pop("headers", {})}, timeout=10, **kwargs)
        assert response.status_code == expect, (method, path, response.status_code,
                                                response.text[:500])
        return response.json() if response.content else None

    def page(self, service: str, path: str, expect: int = 200,
             data: list[tuple[str, str]] | None = None) -> str:
        if data is None:
            response = self.http.get(self.url(service, path), timeout=10)
        else:
            response = self.http.post(self.url(service, path), data=data, timeout=10)
        assert response.status_code == expect, (path, response.status_code,
                                                visible_text(response.text)[:500])
        assert response.headers["Content-Type"].startswith("text/html")
        return response.text

    def provider_webhook(self, path: str, type_: str, data: dict[str, Any]) -> Any:
        body = json.dumps({"type": type_, "timestamp": datetime.now(UTC).isoformat(),
                           "data": data})
        msg_id = f"msg_{uuid.uuid4().hex}"
        now = datetime.now(UTC)
        headers = {"webhook-id": msg_id, "webhook-timestamp": str(int(now.timestamp())),
                   "webhook-signature": Webhook(self.provider_secret).sign(msg_id, now, body),
                   "Content-Type": "application/json"}
        service = "attestation" if path.endswith("/attendance") else "referral"
        response = self.http.post(self.url(service, path), data=body, headers=headers,
                                  timeout=10)
        assert 200 <= response.status_code < 300, (type_, response.status_code, response.text)
        return response.json() if response.content else None

    def hr_referral(self) -> dict[str, Any]:
        return self.api("GET", "referral", f"/v1/referrals/{self.referral_id}", self.hr)

    def assert_hr_sees_nothing_personal(self, body: Any) -> None:
        """HR's bodies never carry the name, the email, the phone, the level of care, the
        program options, the functional limitations or the notes on the accommodation."""
        dumped = json.dumps(body, ensure_ascii=False)
        for secret in (self.employee["name"], self.employee["email"], self.limitations,
                       self.employee.get("phone"), self.note,
                       '"evening"', "level_of_care", "program_options"):
            if secret is None:
                continue
            assert secret not in dumped, f"HR saw {secret!r}"
        assert f'"{self.level_of_care}"' not in dumped

    # -- the steps -----------------------------------------------------------------------------
    @contextlib.contextmanager
    def receivers(self) -> Iterator[Story]:
        """The provider's and the employer's webhook endpoints, listening meanwhile."""
        with WebhookReceiver() as provider_hooks, WebhookReceiver() as employer_hooks:
            self.provider_hooks, self.employer_hooks = provider_hooks, employer_hooks
            yield self

    def until_the_provider_has_the_referral(self) -> None:
        """The first steps: the directory, the referral, the consent, the provider's
        signed `referral.accepted` (inside `receivers()`)."""
        self.setup()
        self.hr_refers()
        self.employee_consents()
        self.provider_receives_referral()

    def run(self, *more: Callable[[], None]) -> None:
        """Every step, in order; then each of `more` (steps of the caller's, e.g. the
        canary test's), while the webhook receivers still listen."""
        with self.receivers():
            self.until_the_provider_has_the_referral()
            self.provider_reports_enrollment()
            self.accommodation_learns_schedule()
            self.schedule_conflicts()
            self.employee_requests_accommodation()
            self.specialist_and_hr_decide()
            self.manager_sees_only_the_impact()
            self.hr_receives_attestations()
            self.employee_sees_disclosures()
            self.employee_revokes()
            self.nothing_more_after_revocation()
            for step in more:
                step()

    def setup(self) -> None:
        self.say.step("The directory: an employer, a provider, three employer clients")
        lines = self.cli("employers", "create", "--name", "Acme Logistics",
                         "--webhook-url", self.employer_hooks.url)
        self.employer_id, self.employer_secret = lines[-1], lines[-2]
        assert self.employer_id.startswith("emp_") and self.employer_secret.startswith("whsec_")
        provider_id, self.provider_secret = self.cli(
            "providers", "create", "--name", "Evening IOP",
            "--webhook-url", self.provider_hooks.url)[-1].split()
        self.provider_id = provider_id
        roles = {}
        for role in ("hr", "specialist", "manager"):
            roles[role] = Party(self.cli("clients", "create", "--employer", self.employer_id,
                                         "--role", role)[-1])
        self.hr, self.specialist, self.manager = roles["hr"], roles["specialist"], roles["manager"]
        for service in self.urls:
            me = self.api("GET", service, "/v1/me", self.hr)
            assert me["employer_id"] == self.employer_id and me["role"] == "hr"
        self.say.sees("operator", f"employer {self.employer_id} (webhooks to "
                      f"{self.employer_hooks.url})\nprovider {self.provider_id} (webhooks to "
                      f"{self.provider_hooks.url})\nclients: hr, specialist, manager")

    def hr_refers(self) -> None:
        self.say.step("HR creates a formal referral")
        created = self.refer(self.employee)
        self.referral_id = created["id"]
        self.link_path = urlsplit(created["link"]["url"]).path
        self.say.sees("HR", f"{self.referral_id}: status {created['status']}, employee "
                      f"{created['employee']}\nlink to hand to the employee: /r/…")

    def refer(self, employee: dict[str, str]) -> dict[str, Any]:
        created = self.api("POST", "referral", "/v1/referrals", self.hr, expect=201,
                           headers={"Idempotency-Key": str(uuid.uuid4())}, json={
                               "employee": employee, "kind": "formal",
                               "provider_id": self.provider_id, "link_ttl_days": 14,
                               **({"purpose": self.purpose} if self.purpose else {})})
        assert created["status"] == "invited" and created["kind"] == "formal"
        assert created["employee"] == {"external_id": employee["external_id"]}
        self.assert_hr_sees_nothing_personal({k: v for k, v in created.items() if k != "link"})
        assert urlsplit(created["link"]["url"]).path.startswith("/r/")
        return created

    def consent(self, link_path: str, name: str, scopes: tuple[str, ...]) -> str:
        """The employee's consent through the page; returns the manage page's path."""
        fields = read_form(self.page("referral", link_path), "/accept")
        form = [("csrf_token", form_value(fields, "csrf_token")),
                *[("scopes", s) for s in scopes], ("program_options", "evening"),
                ("shared_contact", "email"), ("signature", name)]
        accepted = self.page("referral", f"{link_path}/accept", data=form)
        match = re.search(r'href="([^"]+/m/[A-Za-z0-9_-]{43})"', accepted)
        assert match, "the confirmation page links the manage page"
        return urlsplit(html.unescape(match.group(1))).path

    def employee_consents(self) -> None:
        self.say.step("The employee opens the link and consents to "
                      + " + ".join(SCOPES))
        page = self.page("referral", self.link_path)
        words = visible_text(page)
        assert "Acme Logistics has referred you to Evening IOP" in words
        assert self.employee["name"] in words
        forged = [*[("scopes", s) for s in SCOPES], ("signature", self.employee["name"])]
        self.page("referral", f"{self.link_path}/accept", expect=403, data=forged)
        self.manage_path = self.consent(self.link_path, self.employee["name"], SCOPES)
        self.page("referral", self.link_path, expect=409)  # the link answers once
        view = self.hr_referral()
        assert view["status"] == "accepted", view
        assert view["consent"]["status"] == "granted"
        assert sorted(view["consent"]["scopes"]) == sorted(SCOPES)
        self.assert_hr_sees_nothing_personal(view)
        self.say.sees("employee", "the referral, a preview of what Acme will and will not "
                      "see, the consent form;\nticks " + ", ".join(SCOPES)
                      + ", shares the email, signs → manage page /m/…")
        self.say.sees("HR", f"status {view['status']}, consent {view['consent']['status']}, "
                      f"scopes {view['consent']['scopes']}")

    def provider_receives_referral(self) -> None:
        self.say.step("The provider receives the signed referral.accepted webhook")
        received = poll("referral.accepted at the provider",
                        lambda: self.provider_hooks.received[:1], self.timeout)[0]
        payload = Webhook(self.provider_secret).verify(received.body, received.headers)
        assert payload["type"] == "referral.accepted"
        data = payload["data"]
        assert data["referral_id"] == self.referral_id
        assert data["contact"] == {"name": self.employee["name"],
                                   "email": self.employee["email"]}
        assert data["program_options"] == ["evening"]
        assert sorted(data["consent"]["scopes"]) == sorted(SCOPES)
        self.say.sees("provider", f"signature verified (standardwebhooks); {payload['type']} "
                      f"for {data['referral_id']}\ncontact {data['contact']}, options "
                      f"{data['program_options']}, consent {data['consent']['scopes']}")

    def provider_reports_enrollment(self) -> None:
        self.say.step("The provider reports attendance of the two completed weeks, then "
                      "enrollment.started (Mon/Wed/Thu 18:00-21:00)")
        records = [{"id": f"att-{self.referral_id}-{d.isoformat()}",
                    "referral_id": self.referral_id, "date": d.isoformat(),
                    "status": "attended"} for week in (0, 1) for d in self.when.sessions(week)]
        answer = self.provider_webhook(
            f"/v1/webhooks/providers/{self.provider_id}/attendance", "attendance.reported",
            {"records": records})
        assert answer == {"accepted": 6, "unchanged": 0, "corrected": 0, "rejected": []}, answer
        self.provider_webhook(f"/v1/webhooks/providers/{self.provider_id}",
                              "enrollment.started", {
                                  "referral_id": self.referral_id, "schedule": PROGRAM,
                                  "start_date": self.when.start.isoformat(),
                                  "expected_end_date": self.when.expected_end.isoformat(),
                                  "level_of_care": self.level_of_care})
        view = poll("HR's referral view: enrolled",
                    lambda: (v := self.hr_referral())["status"] == "enrolled" and v,
                    self.timeout)
        self.assert_hr_sees_nothing_personal(view)
        self.say.sees("provider", f"attendance: {answer}; enrollment.started from "
                      f"{self.when.start} (level of care {self.level_of_care})")
        self.say.sees("HR", f"status {view['status']} — no schedule, no level of care")

    def accommodation_learns_schedule(self) -> None:
        self.say.step("HR issues an accommodation link; it opens pre-filled with the "
                      "program's times")
        link = self.api("POST", "accommodation", "/v1/accommodation-links", self.hr,
                        expect=201, headers={"Idempotency-Key": str(uuid.uuid4())}, json={
                            "employee": {"external_id": self.employee["external_id"]},
                            "referral_id": self.referral_id})
        self.accommodation_path = urlsplit(link["url"]).path
        assert self.accommodation_path.startswith("/a/")

        def prefilled() -> str | None:
            page = self.page("accommodation", self.accommodation_path)
            return page if 'id="suggestion-note"' in page else None

        page = poll("the pre-filled accommodation form", prefilled, self.timeout)
        fields = read_form(page, self.accommodation_path)
        self.form = fields
        windows = [(form_value(fields, f"windows-{i}-weekday"),
                    form_value(fields, f"windows-{i}-start"),
                    form_value(fields, f"windows-{i}-end"))
                   for i in range(int(form_value(fields, "rows")))]
        assert windows == [(d, "17:15", "21:00") for d in ("mon", "wed", "thu")], windows
        assert form_value(fields, "type") == "schedule_change"
        assert form_value(fields, "start_date") == self.when.start.isoformat()
        assert form_value(fields, "end_date") == self.when.expected_end.isoformat()
        self.say.sees("employee", "the form, pre-filled: " + ", ".join(
            f"{d} {s}-{e}" for d, s, e in windows) + f" from {self.when.start}")

    def schedule_conflicts(self) -> None:
        self.say.step("HR checks the work schedule against the program's")
        report = self.api("POST", "accommodation", "/v1/schedule/conflicts", self.hr, json={
            "work_schedule": WORK, "program_schedule": PROGRAM, "travel_minutes": 45})
        text_ = report["suggestion"]["text"]
        assert "17:15" in text_ and all(d in text_ for d in ("Mon", "Wed", "Thu")), text_
        assert "Tue" not in text_ and "Fri" not in text_, text_
        assert [(c["shift"]["weekday"], c["kind"], c["minutes_short"])
                for c in report["conflicts"]] == [(d, "travel", 15)
                                                  for d in ("mon", "wed", "thu")], report
        assert [(c["shift"]["weekday"], c["leave_at"])
                for c in report["suggestion"]["changes"]] == [
            (d, "17:15") for d in ("mon", "wed", "thu")], report["suggestion"]
        self.say.sees("HR", f"{len(report['conflicts'])} conflicts; suggestion: {text_!r}")

    def employee_requests_accommodation(self) -> None:
        self.say.step("The employee sends the request through the link page")
        form = [(k, self.limitations if k == "functional_limitations" else v)
                for k, v in self.form]
        page = self.page("accommodation", self.accommodation_path, data=form)
        match = re.search(r'<span id="reference">(acc_[a-z0-9]+)</span>', page)
        assert match, visible_text(page)[:300]
        self.accommodation_id = match.group(1)
        self.page("accommodation", self.accommodation_path, expect=409)  # spent
        self.say.sees("employee", f"request sent, reference {self.accommodation_id}")

    def specialist_and_hr_decide(self) -> None:
        self.say.step("The specialist reviews and approves; HR implements")
        path = f"/v1/accommodations/{self.accommodation_id}"
        seen = self.api("GET", "accommodation", path, self.specialist)
        assert seen["functional_limitations"] == self.limitations
        assert seen["status"] == "submitted" and seen["submitted_by"] == "employee"
        note = {"note": self.note} if self.note else {}
        for party, action in ((self.specialist, "start_review"), (self.specialist, "approve"),
                              (self.hr, "implement")):
            case = self.api("POST", "accommodation", f"{path}/actions", party,
                            json={"action": action, **note})
        assert case["status"] == "implemented"
        if self.note:
            history = self.api("GET", "accommodation", path, self.specialist)["history"]
            assert [h["note"] for h in history] == [self.note] * 3, history
        hr_view = self.api("GET", "accommodation", path, self.hr)
        assert "functional_limitations" not in hr_view
        assert "medical_documentation" not in hr_view
        assert all("note" not in h for h in hr_view["history"])
        self.assert_hr_sees_nothing_personal(hr_view)
        self.say.sees("specialist", f"everything, including the limitations: "
                      f"{seen['functional_limitations']!r}")
        self.say.sees("HR", f"type {hr_view['type']}, status {hr_view['status']}, "
                      f"impact {_impact(hr_view['schedule_impact'])}, no clinical fields")

    def manager_sees_only_the_impact(self) -> None:
        self.say.step("The manager sees only the schedule impact")
        view = self.api("GET", "accommodation", f"/v1/accommodations/{self.accommodation_id}",
                        self.manager)
        assert set(view) == MANAGER_KEYS, view
        assert view["status"] == "implemented"
        assert view["schedule_impact"] == [
            {"weekday": d, "unavailable_from": "17:15", "unavailable_to": "21:00"}
            for d in ("mon", "wed", "thu")]
        assert view["effective"] == {"start": self.when.start.isoformat(),
                                     "end": self.when.expected_end.isoformat()}
        listed = self.api("GET", "accommodation", "/v1/accommodations", self.manager)["data"]
        assert all(set(item) == MANAGER_KEYS for item in listed)
        dumped = json.dumps([view, listed], ensure_ascii=False)
        for word in ("schedule_change", "reason", "note", "type", self.limitations,
                     *([self.note] if self.note else [])):
            assert word not in dumped, f"the manager saw {word!r}"
        self.say.sees("manager", f"{view['status']}: {_impact(view['schedule_impact'])}, "
                      f"effective {view['effective']['start']} to {view['effective']['end']}"
                      "\n(no type, no reason, no note)")

    def hr_receives_attestations(self) -> None:
        self.say.step("HR receives signed weekly attestations and verifies them "
                      "against the JWKS")
        weeks = [(self.when.sessions(w)[0], self.when.sessions(w)[0] + timedelta(days=6))
                 for w in (0, 1)]

        def listed() -> list[dict[str, Any]] | None:
            items = self.api("GET", "attestation",
                             f"/v1/attestations?referral_id={self.referral_id}", self.hr)["data"]
            return items if len(items) >= len(weeks) else None

        items = sorted(poll("two weekly attestations", listed, self.timeout),
                       key=lambda a: a["period"]["start"])
        assert [(a["period"]["start"], a["period"]["end"]) for a in items] == [
            (s.isoformat(), e.isoformat()) for s, e in weeks], items
        jwks = self.http.get(self.url("attestation", "/.well-known/jwks.json"), timeout=10)
        assert jwks.status_code == 200
        keys = KeySet.import_key_set(jwks.json())
        for a in items:
            assert a["kind"] == "weekly"
            assert a["employee"] == {"external_id": self.employee["external_id"]}
            assert a["claims"] == {"participation": "enrolled",
                                   "attendance": {"attended": 3, "scheduled": 3},
                                   "compliant": True}, a["claims"]
            assert a["further_information"] == "authorised"
            assert set(a["claims"]) <= CLAIMS
            self.assert_hr_sees_nothing_personal(a)
            payload = verify_jws(a["jws"], keys)
            assert {k: payload[k] for k in a["claims"]} == a["claims"]
            assert payload["sub"] == self.referral_id and payload["jti"] == a["id"]
            assert payload["period"] == a["period"]
            assert payload["consent_id"] == a["consent_id"]
        self.attestations = items
        hooks = poll("attestation.issued at the employer",
                     lambda: (r := self.issued_webhooks()) and len(r) >= len(items) and r,
                     self.timeout)
        assert sorted(h["data"]["id"] for h in hooks) == sorted(a["id"] for a in items)
        for hook in hooks:
            verify_jws(hook["data"]["jws"], keys)
            self.assert_hr_sees_nothing_personal(hook)
        for a in items:
            self.say.sees("HR", f"{a['period']['start']}..{a['period']['end']}: "
                          f"{json.dumps(a['claims'])}\n  JWS verified against /.well-known/"
                          f"jwks.json (kid {jws.extract_compact(a['jws'].encode()).headers()['kid'][:12]}…)")
        self.say.sees("employer", f"{len(hooks)} signed attestation.issued webhooks, "
                      "signatures verified")

    def issued_webhooks(self) -> list[dict[str, Any]]:
        out = []
        for received in list(self.employer_hooks.received):
            payload = Webhook(self.employer_secret).verify(received.body, received.headers)
            assert payload["type"] == "attestation.issued"
            out.append(payload)
        return out

    def employee_sees_disclosures(self) -> None:
        self.say.step("The employee's manage page lists what was disclosed")

        def logged() -> str | None:
            page = self.page("referral", self.manage_path)
            return page if 'id="no-disclosures"' not in page else None

        page = poll("disclosures on the manage page", logged, self.timeout)
        rows = re.findall(r"<tr><td>(.*?)</td><td>(.*?)</td><td>(.*?)</td>", page, re.S)
        assert rows, visible_text(page)[:300]
        self.say.sees("employee", f"{len(rows)} disclosures, e.g. "
                      + " / ".join(visible_text(c) for c in rows[0]))

    def employee_revokes(self) -> None:
        self.say.step("The employee revokes the consent on the manage page")
        page = self.page("referral", self.manage_path)
        token = form_value(read_form(page, "/revoke"), "csrf_token")
        self.page("referral", f"{self.manage_path}/revoke", data=[("csrf_token", token)])
        view = self.hr_referral()
        assert view["status"] == "consent_revoked", view
        assert view["consent"]["status"] == "revoked"

        def not_authorised() -> list[dict[str, Any]] | None:
            items = self.api("GET", "attestation",
                             f"/v1/attestations?referral_id={self.referral_id}", self.hr)["data"]
            return items if all(a["further_information"] == "not_authorised"
                                for a in items) else None

        items = poll("attestations marked not_authorised", not_authorised, self.timeout)
        assert len(items) == len(self.attestations)
        self.say.sees("employee", "revoked")
        self.say.sees("HR", f"referral status {view['status']}; every attestation: "
                      "further_information not_authorised")

    def nothing_more_after_revocation(self) -> None:
        self.say.step("The provider reports more attendance and the completion: nothing "
                      "new for HR (a colleague with a live consent, as a control, gets hers)")
        today = self.when.today
        answer = self.provider_webhook(
            f"/v1/webhooks/providers/{self.provider_id}/attendance", "attendance.reported",
            {"records": [{"id": f"att-{self.referral_id}-{today.isoformat()}",
                          "referral_id": self.referral_id, "date": today.isoformat(),
                          "status": "attended"}]})
        assert answer["accepted"] == 1, answer
        self.provider_webhook(f"/v1/webhooks/providers/{self.provider_id}",
                              "enrollment.completed",
                              {"referral_id": self.referral_id, "date": today.isoformat()})
        # The control: the same provider events for a colleague whose consent is live, sent
        # after Grace's through the same services, relay and queue. Once her final
        # attestation is in, Grace's events have been through the pipeline too.
        colleague = self.colleague
        created = self.refer(colleague)
        self.consent(urlsplit(created["link"]["url"]).path, colleague["name"],
                     ("participation", "completion"))
        started = {"schedule": PROGRAM, "start_date": today.isoformat(),
                   "expected_end_date": (today + timedelta(weeks=8)).isoformat(),
                   "level_of_care": self.level_of_care}
        for type_, data in (("enrollment.started", started),
                            ("enrollment.completed", {"date": today.isoformat()})):
            self.provider_webhook(f"/v1/webhooks/providers/{self.provider_id}", type_,
                                  {"referral_id": created["id"], **data})

        def final() -> list[dict[str, Any]] | None:
            items = self.api("GET", "attestation",
                             f"/v1/attestations?referral_id={created['id']}", self.hr)["data"]
            return items or None

        (control,) = poll("the colleague's final attestation", final, self.timeout)
        assert control["kind"] == "final"
        assert control["claims"]["completion"] == {"status": "completed",
                                                   "date": today.isoformat()}
        items = self.api("GET", "attestation",
                         f"/v1/attestations?referral_id={self.referral_id}", self.hr)["data"]
        assert sorted(a["id"] for a in items) == sorted(a["id"] for a in self.attestations)
        assert all(a["further_information"] == "not_authorised" for a in items)
        poll("the colleague's attestation.issued", lambda: any(
            h["data"]["id"] == control["id"] for h in self.issued_webhooks()), self.timeout)
        mine = [h for h in self.issued_webhooks()
                if h["data"]["referral_id"] == self.referral_id]
        assert len(mine) == len(self.attestations)
        view = self.hr_referral()
        assert view["status"] == "consent_revoked"
        assert view["consent"]["status"] == "revoked"
        self.say.sees("provider", "attendance for today: accepted; enrollment.completed: "
                      "stored (and not forwarded: the consent is revoked)")
        self.say.sees("HR", f"still {len(items)} attestations for {self.referral_id}, none "
                      f"new; referral {view['status']}\n(the colleague's final attestation "
                      f"arrived: {json.dumps(control['claims'])})")
        self.say.sees("employer", f"still {len(mine)} attestation.issued webhooks about "
                      "this referral")


def verify_jws(token: str, keys: KeySet) -> dict[str, Any]:
    """The payload of a compact JWS, verified with the published keys only."""
    header = jws.extract_compact(token.encode("ascii")).headers()
    verified = jws.deserialize_compact(token, keys, algorithms=[header["alg"]])
    return json.loads(verified.payload)


def _impact(impact: list[dict[str, str]]) -> str:
    return ", ".join(f"{w['weekday']} {w['unavailable_from']}-{w['unavailable_to']}"
                     for w in impact)
