"""The employee's HTML pages, through the Flask test client on a wired app (SQLite): the
referral link (preview without JavaScript, accept, decline), the manage link (consent copy,
disclosure log, revoke), the self-referral page, CSRF, error pages and security headers.
What HR sees afterwards is checked through the HR API, as an integrator would."""

from __future__ import annotations

import html
import json
import re
from datetime import timedelta
from types import SimpleNamespace

import pytest

from referral.domain.consent import NEVER_SHARED, SCOPE_DESCRIPTIONS, Scope
from referral.entrypoints.pages.wording import sentence
from shared.contract import REDISCLOSURE_NOTICE

CSP = ("default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self'; "
       "form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
UNKNOWN_TOKEN = "A" * 43


@pytest.fixture
def world(platform):
    employer = platform.directory.create_employer("Acme").id
    provider = platform.directory.create_provider("Evening IOP").id
    _, hr_token = platform.directory.create_client("hr", employer_id=employer)
    app = platform.app("referral")
    return SimpleNamespace(app=app, client=app.test_client(), employer=employer,
                           provider=provider, hr={"Authorization": f"Bearer {hr_token}"},
                           services=app.extensions["bridgeline"].domain,
                           base=app.extensions["bridgeline"].settings.public_base_url)


def refer(world, name="Ana Lima", phone=None):
    """A referral from HR: (its id, the path of its link)."""
    response = world.client.post("/v1/referrals", headers=world.hr, json={
        "employee": {"external_id": "E-1", "name": name, "email": "ana@example.com",
                     **({"phone": phone} if phone else {})},
        "kind": "return_to_work", "provider_id": world.provider})
    assert response.status_code == 201, response.json
    url = response.json["link"]["url"]
    return response.json["id"], url[url.index("/r/"):]


def hr_view(world, referral_id):
    response = world.client.get(f"/v1/referrals/{referral_id}", headers=world.hr)
    assert response.status_code == 200
    return response.json


def text(response):
    return html.unescape(response.get_data(as_text=True))


def csrf_of(response):
    return re.search(r'name="csrf_token" value="([0-9a-f]{64})"', text(response)).group(1)


def items(page, list_id):
    block = re.search(rf'<ul id="{list_id}"[^>]*>(.*?)</ul>', page, re.S).group(1)
    return [html.unescape(i.strip()) for i in re.findall(r"<li>(.*?)</li>", block, re.S)]


def accept(world, link, **fields):
    page = world.client.get(link)
    form = {"csrf_token": csrf_of(page), **fields}
    return world.client.post(f"{link}/accept", data=form)


def manage_path(world, response):
    match = re.search(r'href="([^"]+/m/[A-Za-z0-9_-]{43})"', text(response))
    assert match, "the confirmation links the manage page"
    assert match.group(1).startswith(world.base + "/m/")
    return match.group(1)[len(world.base):]


def assert_page_headers(response):
    assert response.mimetype == "text/html"
    assert response.headers["Content-Security-Policy"] == CSP
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert '<html lang="en">' in text(response)
    assert 'href="#main"' in text(response)


# -- the referral link --------------------------------------------------------------------
def test_the_referral_page_says_who_referred_whom_and_what_the_employer_will_see(world):
    _, link = refer(world, phone="+1 555 0100")
    response = world.client.get(link)
    page = text(response)
    assert response.status_code == 200
    assert_page_headers(response)
    assert "Acme has referred you to Evening IOP" in page
    assert "return-to-work referral" in page
    for scope in Scope:
        assert f'name="scopes" id="scopes-{list(Scope).index(scope) + 1}" value="{scope}"' in page
    for option in ("evening", "weekend", "virtual"):
        assert 'name="program_options"' in page and f'value="{option}"' in page
    assert 'value="email"' in page and 'value="phone"' in page
    today = world.services.clock().date()
    assert f'value="{today + timedelta(days=120)}"' in page
    assert f'max="{today + timedelta(days=365)}"' in page
    assert items(page, "will-see") == ["Nothing at all."]
    assert "Ana Lima" in page and "Human Resources" in page
    assert "revoke" in page.lower() and "Type your full name to sign" in page
    assert "you do not need to sign" in page


def test_the_phone_choice_is_offered_only_when_hr_gave_a_phone_number(world):
    _, link = refer(world)
    assert 'value="phone"' not in text(world.client.get(link))


def test_preview_without_javascript_lists_what_the_ticked_scopes_share(world):
    _, link = refer(world)
    response = world.client.post(f"{link}/preview", data={
        "scopes": ["completion", "return_to_work"], "program_options": ["evening"],
        "signature": "Ana", "expires_on": "", "shared_contact": ["email"]})
    page = text(response)
    assert response.status_code == 200
    assert_page_headers(response)
    assert items(page, "will-see") == [sentence(SCOPE_DESCRIPTIONS[s]) for s in (
        Scope.PARTICIPATION, Scope.COMPLETION, Scope.RETURN_TO_WORK)]
    assert items(page, "will-not-see") == [sentence(t) for t in (
        SCOPE_DESCRIPTIONS[Scope.ATTENDANCE_SUMMARY], SCOPE_DESCRIPTIONS[Scope.SCHEDULE_NEEDS],
        *NEVER_SHARED)]
    # the form keeps what was filled in
    assert re.search(r'value="completion"\s+checked', page)
    assert not re.search(r'value="attendance_summary"\s+checked', page)
    assert re.search(r'value="evening"\s+checked', page)
    assert re.search(r'value="email"\s+checked', page)
    assert 'name="signature" id="signature" value="Ana"' in page


def test_preview_with_nothing_ticked_says_the_employer_learns_nothing(world):
    _, link = refer(world)
    page = text(world.client.post(f"{link}/preview", data={}))
    assert items(page, "will-see") == ["Nothing at all."]
    assert items(page, "will-not-see")[0].startswith("Anything at all")


def test_the_live_preview_data_matches_the_server_preview(world):
    _, link = refer(world)
    page = text(world.client.get(link))
    assert "/assets/pages/preview.js" in page
    assert "<script>" not in page and "style=" not in page  # nothing inline: the CSP forbids it
    data = json.loads(re.search(r"data-previews='([^']*)'", page).group(1))
    shown = data["previews"]["attendance_summary"]
    assert [data["texts"][i] for i in shown[0]] == [
        sentence(SCOPE_DESCRIPTIONS[Scope.PARTICIPATION]),
        sentence(SCOPE_DESCRIPTIONS[Scope.ATTENDANCE_SUMMARY])]
    assert len(data["previews"]) == 2 ** len(Scope)


def test_accepting_with_scopes_grants_consent_and_shows_the_manage_link(world):
    referral_id, link = refer(world)
    response = accept(world, link, scopes=["attendance_summary"], signature="  ana   lima ",
                      program_options=["evening", "virtual"], shared_contact=["email"])
    page = text(response)
    assert response.status_code == 200, page
    assert_page_headers(response)
    assert "You accepted the referral" in page
    assert "Keep it private" in page
    manage_path(world, response)
    view = hr_view(world, referral_id)
    assert view["status"] == "accepted"
    assert view["consent"]["status"] == "granted"
    assert view["consent"]["scopes"] == ["attendance_summary", "participation"]
    today = world.services.clock().date()
    assert view["consent"]["expires_at"] == str(today + timedelta(days=120))


def test_accepting_with_a_chosen_end_date_keeps_it(world):
    referral_id, link = refer(world)
    end = world.services.clock().date() + timedelta(days=30)
    response = accept(world, link, scopes=["completion"], signature="Ana Lima",
                      expires_on=end.isoformat())
    assert response.status_code == 200
    assert hr_view(world, referral_id)["consent"]["expires_at"] == str(end)


def test_accepting_without_scopes_shares_nothing_and_needs_no_signature(world):
    referral_id, link = refer(world)
    response = accept(world, link)
    assert response.status_code == 200
    assert "nothing is shared with Acme" in text(response)
    view = hr_view(world, referral_id)
    assert view["status"] == "invited"
    assert view["consent"]["status"] == "none"
    page = text(world.client.get(manage_path(world, response)))
    assert "nothing about this referral is" in page and "shared with Acme" in page
    assert 'id="revoke-button"' not in page


def test_declining_tells_the_employer_nothing(world):
    referral_id, link = refer(world)
    csrf = csrf_of(world.client.get(link))
    response = world.client.post(f"{link}/decline", data={"csrf_token": csrf})
    assert response.status_code == 200
    assert_page_headers(response)
    assert "You declined the referral" in text(response)
    assert f"/start/{world.employer}" in text(response)
    assert hr_view(world, referral_id)["status"] == "invited"


def test_an_answered_link_is_a_409_page(world):
    _, link = refer(world)
    csrf = csrf_of(world.client.get(link))
    assert accept(world, link).status_code == 200
    for response in (world.client.get(link),
                     world.client.post(f"{link}/accept", data={"csrf_token": csrf}),
                     world.client.post(f"{link}/decline", data={"csrf_token": csrf}),
                     world.client.post(f"{link}/preview", data={})):
        assert response.status_code == 409
        assert_page_headers(response)
        assert "already answered" in text(response)


def test_an_expired_link_is_a_410_page(world):
    referral_id, link = refer(world)
    csrf = csrf_of(world.client.get(link))
    now = world.services.clock()
    world.services.clock = lambda: now + timedelta(days=15)
    for response in (world.client.get(link),
                     world.client.post(f"{link}/accept", data={"csrf_token": csrf}),
                     world.client.post(f"{link}/decline", data={"csrf_token": csrf})):
        assert response.status_code == 410
        assert_page_headers(response)
        assert "This link has expired" in text(response)
    assert hr_view(world, referral_id)["status"] == "closed"


@pytest.mark.parametrize("token", [UNKNOWN_TOKEN, "short", "x" * 5000, "%00", "with%20space", "%E2%9C%93"])
def test_an_unknown_or_malformed_link_is_a_404_page(world, token):
    for response in (world.client.get(f"/r/{token}"), world.client.get(f"/m/{token}")):
        assert response.status_code == 404
        assert_page_headers(response)
        assert "We could not find this page" in text(response)


def test_posts_without_the_right_csrf_token_are_refused(world):
    referral_id, link = refer(world)
    good = csrf_of(world.client.get(link))
    _, other_link = refer(world, name="Bo Chen")
    other = csrf_of(world.client.get(other_link))
    for data in ({}, {"csrf_token": "0" * 64}, {"csrf_token": other}, {"csrf_token": "é"}):
        for action in ("accept", "decline"):
            response = world.client.post(f"{link}/{action}", data=data)
            assert response.status_code == 403
            assert_page_headers(response)
    response = world.client.post(f"{link}/accept", data={"csrf_token": good},
                                 headers={"Sec-Fetch-Site": "cross-site"})
    assert response.status_code == 403
    assert hr_view(world, referral_id)["status"] == "invited"
    response = world.client.post(f"{link}/accept", data={"csrf_token": good},
                                 headers={"Sec-Fetch-Site": "same-origin"})
    assert response.status_code == 200


def test_a_signature_that_is_not_the_employee_name_is_a_422_next_to_the_field(world):
    referral_id, link = refer(world)
    response = accept(world, link, scopes=["completion"], signature="Someone Else")
    page = text(response)
    assert response.status_code == 422
    assert_page_headers(response)
    error = re.search(r'<p class="field-error" id="signature-error">(.*?)</p>', page, re.S)
    assert "Type your name exactly as shown: Ana Lima." in error.group(1)
    field = re.search(r'<input type="text" name="signature"[^>]*>', page, re.S).group(0)
    assert 'aria-describedby="signature-hint signature-error"' in field
    assert 'aria-invalid="true"' in field
    assert 'href="#signature-field"' in page  # the summary links to the field
    assert re.search(r'value="completion"\s+checked', page)
    assert hr_view(world, referral_id)["consent"]["status"] == "none"


@pytest.mark.parametrize(("fields", "field", "message"), [
    ({"scopes": ["completion"]}, "signature", "Type your full name to sign."),
    ({"scopes": ["completion"], "signature": "A" * 201}, "signature", "at most 200"),
    ({"expires_on": "2020-01-01"}, "expires_on", "after today"),
    ({"expires_on": "2999-01-01"}, "expires_on", "within one year"),
    ({"expires_on": "31/12/2027"}, "expires_on", "year-month-day"),
    ({"expires_on": "9" * 50}, "expires_on", "at most 10"),
    ({"scopes": ["diagnosis"]}, "scopes", "Choose only from the listed items."),
    ({"program_options": ["inpatient"]}, "program_options", "listed options"),
    ({"shared_contact": ["phone"]}, "shared_contact", "listed contact details"),
])
def test_invalid_answers_re_render_the_form_with_422(world, fields, field, message):
    referral_id, link = refer(world)
    response = accept(world, link, **fields)
    assert response.status_code == 422
    error = re.search(rf'id="{field}-error">(.*?)</p>', text(response), re.S)
    assert error and message in error.group(1)
    assert hr_view(world, referral_id)["status"] == "invited"


# -- the manage link ----------------------------------------------------------------------
def test_the_manage_page_shows_the_consent_copy_and_an_empty_log(world):
    _, link = refer(world)
    response = accept(world, link, scopes=["completion"], signature="Ana Lima")
    manage = world.client.get(manage_path(world, response))
    page = text(manage)
    assert manage.status_code == 200
    assert_page_headers(manage)
    assert "You accepted the referral" in page
    for element in ("Ana Lima", "Evening IOP", "Acme, Human Resources",
                    sentence(SCOPE_DESCRIPTIONS[Scope.COMPLETION]),
                    "To support your employment", "revoke this consent at any time",
                    "Form version", "2026-11", REDISCLOSURE_NOTICE, "Signed on"):
        assert element in page, element
    assert "Nothing has been shared with Acme so far." in page
    assert 'id="revoke-button"' in page


def test_the_manage_page_lists_disclosures(world):
    referral_id, link = refer(world)
    response = accept(world, link, scopes=["attendance_summary"], signature="Ana Lima")
    now = world.services.clock()
    consent_id = world.services.get_for_hr(world.employer, referral_id).consent.id
    with world.services.engine.begin() as conn:
        world.services.record_disclosure(conn, {
            "id": "dis_1", "referral_id": referral_id, "consent_id": consent_id,
            "recipient": f"hr@{world.employer}", "information": "participation, attendance",
            "purpose": "employment support", "channel": "api", "disclosed_at": now})
    page = text(world.client.get(manage_path(world, response)))
    row = re.search(r"<tbody>(.*?)</tbody>", page, re.S).group(1)
    assert "Acme (Human Resources)" in row
    assert "whether you are taking part; sessions attended of those scheduled" in row
    assert "employment support" in row and "Read by your employer" in row
    assert "Nothing has been shared" not in page


def test_revoking_on_the_manage_page_takes_effect_at_once(world):
    referral_id, link = refer(world)
    response = accept(world, link, scopes=["completion"], signature="Ana Lima")
    path = manage_path(world, response)
    csrf = csrf_of(world.client.get(path))
    assert world.client.post(f"{path}/revoke", data={"csrf_token": "0" * 64}).status_code == 403
    assert world.client.post(f"{path}/revoke", data={"csrf_token": csrf},
                             headers={"Sec-Fetch-Site": "cross-site"}).status_code == 403
    assert hr_view(world, referral_id)["status"] == "accepted"
    revoked = world.client.post(f"{path}/revoke", data={"csrf_token": csrf})
    assert revoked.status_code == 200
    assert_page_headers(revoked)
    assert "Your consent is revoked" in text(revoked)
    view = hr_view(world, referral_id)
    assert view["status"] == "consent_revoked"
    assert view["consent"]["status"] == "revoked"
    page = text(world.client.get(path))
    assert "You revoked your consent on" in page and 'id="revoke-button"' not in page
    again = world.client.post(f"{path}/revoke", data={"csrf_token": csrf})
    assert again.status_code == 409
    assert "There is no consent to revoke" in text(again)


def test_revoking_an_unknown_manage_link_is_a_404_page(world):
    response = world.client.post(f"/m/{UNKNOWN_TOKEN}/revoke", data={})
    assert response.status_code in (403, 404)
    assert_page_headers(response)


# -- the self-referral page ---------------------------------------------------------------
def test_the_self_referral_page_promises_the_employer_will_never_know(world):
    response = world.client.get(f"/start/{world.employer}")
    page = text(response)
    assert response.status_code == 200
    assert_page_headers(response)
    assert "Acme will never know" in page
    assert f'value="{world.provider}"' in page and "Evening IOP" in page


def test_a_self_referral_reaches_a_manage_page_and_nothing_hr_can_see(world):
    page = world.client.get(f"/start/{world.employer}")
    response = world.client.post(f"/start/{world.employer}", data={
        "csrf_token": csrf_of(page), "provider_id": world.provider, "name": "Ana Lima",
        "email": "ana@example.com", "phone": "", "program_options": ["weekend"]})
    assert response.status_code == 200, text(response)
    assert_page_headers(response)
    assert "Acme is not" in text(response) and "told" in text(response)
    manage = text(world.client.get(manage_path(world, response)))
    assert "You asked for this referral yourself" in manage
    listing = world.client.get("/v1/referrals", headers=world.hr)
    assert listing.status_code == 200
    assert listing.json["data"] == []


@pytest.mark.parametrize(("fields", "field"), [
    ({"provider_id": "prv_unknown"}, "provider_id"),
    ({"name": ""}, "name"),
    ({"name": "A" * 201}, "name"),
    ({"email": "not-an-email"}, "email"),
    ({"email": "a@" + "b" * 260 + ".com"}, "email"),
    ({"phone": "call me maybe"}, "phone"),
    ({"phone": "1" * 31}, "phone"),
    ({"program_options": ["inpatient"]}, "program_options"),
])
def test_a_bad_self_referral_is_a_422_with_the_message_at_the_field(world, fields, field):
    page = world.client.get(f"/start/{world.employer}")
    data = {"csrf_token": csrf_of(page), "provider_id": world.provider, "name": "Ana Lima",
            **fields}
    response = world.client.post(f"/start/{world.employer}", data=data)
    assert response.status_code == 422
    assert re.search(rf'id="{field}-error"', text(response))


def test_self_referral_needs_a_known_employer_and_the_csrf_token(world):
    assert world.client.get("/start/emp_unknown").status_code == 404
    assert world.client.get("/start/" + "e" * 500).status_code == 404
    response = world.client.post(f"/start/{world.employer}", data={
        "csrf_token": "0" * 64, "provider_id": world.provider, "name": "Ana Lima"})
    assert response.status_code == 403


# -- the rest -----------------------------------------------------------------------------
def test_the_stylesheet_and_script_are_served_from_the_service(world):
    css = world.client.get("/assets/shared/pages.css")
    js = world.client.get("/assets/pages/preview.js")
    assert css.status_code == 200 and css.mimetype == "text/css"
    assert js.status_code == 200 and "javascript" in js.mimetype
    assert "@media print" in css.get_data(as_text=True)


def test_link_tokens_never_reach_the_logs(world, caplog):
    caplog.set_level("DEBUG")
    _, link = refer(world)
    token = link.rsplit("/", 1)[1]
    response = accept(world, link, scopes=["completion"], signature="Ana Lima")
    manage_token = manage_path(world, response).rsplit("/", 1)[1]
    world.client.get(f"/m/{manage_token}")
    logged = " ".join(f"{r.getMessage()} {r.__dict__}" for r in caplog.records)
    assert "'route': 'pages'" in logged  # the access log did log these requests
    assert token not in logged and manage_token not in logged
