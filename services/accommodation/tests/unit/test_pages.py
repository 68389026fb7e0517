"""The employee's accommodation link (`/a/<token>`), through the Flask test client on a
wired app (SQLite): the form, adding a row without JavaScript, the program's suggestion,
sending, what the specialist and the manager then see through the API, single use,
expiry, unknown links, CSRF, per-field validation and the security headers."""

from __future__ import annotations

import html
import json
import re
from datetime import timedelta

import pytest

from shared.web.pages import CONTENT_SECURITY_POLICY

CSP = ("default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self'; "
       "form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
REFERRAL_ID = "ref_" + "a" * 26
LIMITS = "Cannot concentrate after 16:00; Zorblax canary fatigue"
UNKNOWN_TOKEN = "A" * 43
WINDOW_MON = {"windows-0-weekday": "mon", "windows-0-start": "17:15", "windows-0-end": "21:00"}
GOOD = {"type": "schedule_change", "rows": "2", **WINDOW_MON,
        "windows-1-weekday": "thu", "windows-1-start": "17:15", "windows-1-end": "21:00",
        "start_date": "2027-01-04", "end_date": "2027-03-26", "hours_per_week": "32"}


def issue_link(acc, referral_id=None):
    body = {"employee": {"external_id": "E-1"}, **({"referral_id": referral_id}
                                                   if referral_id else {})}
    response = acc.client.post("/v1/accommodation-links", json=body, headers=acc.as_("hr"))
    assert response.status_code == 201, response.json
    url = response.json["url"]
    return url[url.index("/a/"):]


def record_program(acc, referral_id=REFERRAL_ID):
    with acc.services.engine.begin() as conn:
        acc.services.record_program_schedule(conn, {
            "referral_id": referral_id, "employer_id": acc.employer_id,
            "schedule": [{"weekday": "mon", "start": "18:00", "end": "21:00"},
                         {"weekday": "wed", "start": "18:00", "end": "21:00"}],
            "start_date": "2027-01-04", "expected_end_date": "2027-03-26"})


def text(response):
    return html.unescape(response.get_data(as_text=True))


def csrf_of(response):
    return re.search(r'name="csrf_token" value="([0-9a-f]{64})"', text(response)).group(1)


def send(acc, link, **fields):
    form = {"csrf_token": csrf_of(acc.client.get(link)), **fields}
    return acc.client.post(link, data=form)


def field_error(response, field):
    match = re.search(rf'<p class="field-error" id="{re.escape(field)}-error">(.*?)</p>',
                      text(response), re.S)
    return match.group(1) if match else None


def rows(response):
    return re.findall(r'<fieldset class="field-row" id="window-(\d+)"', text(response))


def selected_day(response, row):
    block = re.search(rf'<select name="windows-{row}-weekday".*?</select>', text(response),
                      re.S).group(0)
    match = re.search(r'<option value="(\w*)" selected>', block)
    return match.group(1) if match else None


def input_value(response, name):
    return re.search(rf'name="{re.escape(name)}" id="[^"]+" value="([^"]*)"',
                     text(response)).group(1)


def assert_page_headers(response):
    assert response.mimetype == "text/html"
    assert response.headers["Content-Security-Policy"] == CSP == CONTENT_SECURITY_POLICY
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    page = text(response)
    assert "<script" not in page and "style=" not in page


def cases(acc, role="specialist"):
    response = acc.client.get("/v1/accommodations", headers=acc.as_(role))
    assert response.status_code == 200
    return response.json["data"]


# -- the form ------------------------------------------------------------------------------
def test_the_form_asks_in_plain_words_and_promises_the_manager_never_sees_why(acc):
    link = issue_link(acc)
    response = acc.client.get(link)
    page = text(response)
    assert response.status_code == 200
    assert_page_headers(response)
    assert "<h1>Ask for a change at work</h1>" in page
    for words in ("A change to my work schedule", "Fewer working hours", "Working from home",
                  "Time off now and then", "Time away from work", "Something else"):
        assert f">{words}</label>" in page
    assert rows(response) == ["0"]
    assert 'for="windows-0-weekday">Day</label>' in page
    assert "Only the accommodation specialist reads this: never your manager" in page
    assert "stored encrypted" in page
    assert "Your manager never sees why." in page
    assert 'id="suggestion-note"' not in page
    assert 'maxlength="5000"' in page
    assert 'href="/assets/shared/pages.css"' in page


def test_the_shared_stylesheet_is_served(acc):
    response = acc.client.get("/assets/shared/pages.css")
    assert response.status_code == 200 and response.mimetype == "text/css"
    assert ".field-row" in response.get_data(as_text=True)
    response.close()


def test_adding_a_row_without_javascript_keeps_what_was_typed(acc):
    link = issue_link(acc)
    # the button posts to the address of the row it adds, so the page opens at that row
    assert f'formaction="{link}#window-1"' in text(acc.client.get(link))
    response = send(acc, link, type="schedule_change", rows="1", **WINDOW_MON,
                    start_date="2027-01-04", functional_limitations=LIMITS, add_row="1")
    assert response.status_code == 200
    assert rows(response) == ["0", "1"]
    assert selected_day(response, 0) == "mon" and selected_day(response, 1) == ""
    assert input_value(response, "windows-0-start") == "17:15"
    assert input_value(response, "start_date") == "2027-01-04"
    assert LIMITS in text(response)
    assert 'id="error-summary-title"' not in text(response)  # no checks while adding a row
    assert f'formaction="{link}#window-2"' in text(response)
    # the manager preview follows the rows typed so far
    assert "Monday, not available from 17:15 to 21:00" in text(response)
    assert cases(acc) == []


def test_at_most_21_rows(acc):
    link = issue_link(acc)
    response = send(acc, link, rows="21", add_row="1")
    assert len(rows(response)) == 21
    assert 'id="add-row-button"' not in text(response)
    assert "You can list up to 21 times." in text(response)
    assert len(rows(send(acc, link, rows="999", add_row="1"))) == 21


def test_the_program_suggestion_is_filled_in_with_travel_time(acc):
    record_program(acc)
    link = issue_link(acc, REFERRAL_ID)
    response = acc.client.get(link)
    page = text(response)
    assert response.status_code == 200
    assert "We filled in the times your program needs, including travel; change anything." in page
    assert rows(response) == ["0", "1"]
    assert [selected_day(response, 0), selected_day(response, 1)] == ["mon", "wed"]
    assert input_value(response, "windows-0-start") == "17:15"  # 45 minutes of travel
    assert input_value(response, "windows-1-end") == "21:00"
    assert input_value(response, "start_date") == "2027-01-04"
    assert input_value(response, "end_date") == "2027-03-26"
    assert re.search(r'value="schedule_change"\s+aria-describedby="type-1-hint"\s+checked', page)
    assert "Wednesday, not available from 17:15 to 21:00" in page
    assert "Monday 4 January 2027 until Friday 26 March 2027" in page


# -- sending -------------------------------------------------------------------------------
def test_sending_opens_a_case_the_specialist_sees_whole_and_the_manager_without_why(acc):
    link = issue_link(acc)
    response = send(acc, link, **GOOD, functional_limitations=LIMITS)
    page = text(response)
    assert response.status_code == 200, field_error(response, "type")
    assert_page_headers(response)
    assert "<h1>Your request was sent</h1>" in page
    assert "Sent. It is waiting for the accommodation specialist to review it." in page
    assert "within 5 business days" in page and "within 15 business days" in page
    case_id = re.search(r'<span id="reference">(acc_\w+)</span>', page).group(1)
    assert LIMITS not in page

    [listed] = cases(acc)
    assert listed["id"] == case_id and listed["submitted_by"] == "employee"
    specialist = acc.get(case_id, "specialist").json
    assert specialist["functional_limitations"] == LIMITS
    assert specialist["type"] == "schedule_change"
    assert specialist["requested"] == {
        "schedule": [{"weekday": "mon", "start": "17:15", "end": "21:00"},
                     {"weekday": "thu", "start": "17:15", "end": "21:00"}],
        "start_date": "2027-01-04", "end_date": "2027-03-26", "hours_per_week": 32.0}
    assert f"by {specialist['acknowledge_due'][:4]}" not in page  # dates are in words
    hr = acc.get(case_id, "hr").json
    assert "functional_limitations" not in hr
    manager = acc.get(case_id, "manager").json
    assert set(manager) == {"id", "status", "schedule_impact", "effective"}
    assert "Zorblax" not in json.dumps(manager) and "Zorblax" not in json.dumps(hr)


def test_the_suggestion_can_be_sent_as_it_is(acc):
    record_program(acc)
    link = issue_link(acc, REFERRAL_ID)
    first = acc.client.get(link)
    form = {"csrf_token": csrf_of(first), "type": "schedule_change", "rows": "2",
            "start_date": "2027-01-04", "end_date": "2027-03-26"}
    for i, day in enumerate(("mon", "wed")):
        form |= {f"windows-{i}-weekday": day, f"windows-{i}-start": "17:15",
                 f"windows-{i}-end": "21:00"}
    assert acc.client.post(link, data=form).status_code == 200
    [case] = cases(acc, "hr")
    assert case["referral_id"] == REFERRAL_ID
    assert acc.get(case["id"], "specialist").json.get("functional_limitations") is None


def test_a_used_link_is_a_409_page(acc):
    link = issue_link(acc)
    token = csrf_of(acc.client.get(link))
    assert acc.client.post(link, data={"csrf_token": token, **GOOD}).status_code == 200
    for response in (acc.client.get(link),
                     acc.client.post(link, data={"csrf_token": token, **GOOD})):
        assert response.status_code == 409
        assert_page_headers(response)
        assert "This link was already used" in text(response)
    assert len(cases(acc)) == 1


def test_an_expired_link_is_a_410_page(acc):
    link = issue_link(acc)
    token = csrf_of(acc.client.get(link))
    now = acc.services.clock()
    acc.services.clock = lambda: now + timedelta(days=31)
    for response in (acc.client.get(link),
                     acc.client.post(link, data={"csrf_token": token, **GOOD})):
        assert response.status_code == 410
        assert_page_headers(response)
        assert "This link has expired" in text(response)
    assert cases(acc) == []


@pytest.mark.parametrize("token", [UNKNOWN_TOKEN, "short", "x" * 500, "%00", "%E2%9C%93"])
def test_an_unknown_or_malformed_link_is_a_404_page(acc, token):
    response = acc.client.get(f"/a/{token}")
    assert response.status_code == 404
    assert_page_headers(response)
    assert "We could not find this page" in text(response)


def test_posts_without_the_right_csrf_token_are_refused(acc):
    link, other_link = issue_link(acc), issue_link(acc)
    good = csrf_of(acc.client.get(link))
    other = csrf_of(acc.client.get(other_link))
    for data in ({}, {"csrf_token": "0" * 64}, {"csrf_token": other}, {"csrf_token": "\u00e9"}):
        response = acc.client.post(link, data={**GOOD, **data})
        assert response.status_code == 403
        assert_page_headers(response)
        assert "This form could not be sent" in text(response)
    response = acc.client.post(link, data={**GOOD, "csrf_token": good},
                               headers={"Sec-Fetch-Site": "cross-site"})
    assert response.status_code == 403
    assert cases(acc) == []
    response = acc.client.post(link, data={**GOOD, "csrf_token": good},
                               headers={"Sec-Fetch-Site": "same-origin"})
    assert response.status_code == 200


# -- validation ------------------------------------------------------------------------------
@pytest.mark.parametrize(("fields", "field", "message"), [
    ({"type": ""}, "type", "Choose the kind of change"),
    ({"type": "sabbatical"}, "type", "Choose the kind of change"),
    ({"windows-0-weekday": "funday"}, "windows-0-weekday", "Choose a day of the week."),
    ({"windows-0-start": "5pm"}, "windows-0-start", "for example 17:15"),
    ({"windows-0-end": "24:00"}, "windows-0-end", "for example 17:15"),
    ({"windows-0-end": "17:00"}, "windows-0-end", "must be after the start time"),
    ({"windows-1-weekday": "mon", "windows-1-start": "20:00"}, "windows-1-start",
     "overlaps another time on Monday (17:15 to 21:00)"),
    ({"rows": "1", "windows-0-weekday": "", "windows-0-start": "", "windows-0-end": ""},
     "windows", "at least one day and time"),
    ({"start_date": ""}, "start_date", "Enter the date the change should start."),
    ({"start_date": "04/01/2027"}, "start_date", "year-month-day"),
    ({"end_date": "2027-02-30"}, "end_date", "year-month-day"),
    ({"end_date": "2027-01-03"}, "end_date", "on or after the start date"),
    ({"hours_per_week": "81"}, "hours_per_week", "from 0 to 80"),
    ({"hours_per_week": "-1"}, "hours_per_week", "from 0 to 80"),
    ({"hours_per_week": "lots"}, "hours_per_week", "from 0 to 80"),
    ({"functional_limitations": "x" * 5001}, "functional_limitations",
     "at most 5000 characters: this has 5001"),
])
def test_bad_answers_re_render_the_form_with_422_at_the_field(acc, fields, field, message):
    link = issue_link(acc)
    response = send(acc, link, **{**GOOD, **fields})
    page = text(response)
    assert response.status_code == 422
    assert_page_headers(response)
    error = field_error(response, field)
    assert error and message in error, error
    assert f'href="#{field}-field"' in page  # the summary links to the field
    assert "<title>Error: " in page
    if field not in ("type", "windows"):
        control = re.search(rf'<(input|select|textarea)[^>]*name="{field}"[^>]*>', page).group(0)
        assert f"{field}-error" in control and 'aria-invalid="true"' in control
    assert cases(acc) == []


def test_empty_rows_are_ignored_and_other_kinds_need_no_times(acc):
    link = issue_link(acc)
    response = send(acc, link, type="remote_work", rows="3", start_date="2027-01-04",
                    functional_limitations="  \r\n  ")
    assert response.status_code == 200
    [case] = cases(acc)
    specialist = acc.get(case["id"], "specialist").json
    assert specialist["type"] == "remote_work"
    assert specialist["requested"]["schedule"] == []
    assert specialist["requested"]["end_date"] is None
    assert specialist["functional_limitations"] is None


def test_the_limitations_are_not_in_the_database_in_plain_text(acc):
    link = issue_link(acc)
    assert send(acc, link, **GOOD, functional_limitations=LIMITS).status_code == 200
    with acc.services.engine.connect() as conn:
        dump = "\n".join(conn.connection.driver_connection.iterdump())
    assert "Zorblax" not in dump


def test_link_tokens_and_limitations_never_reach_the_logs(acc, caplog):
    caplog.set_level("DEBUG")
    link = issue_link(acc)
    token = link.rsplit("/", 1)[1]
    assert send(acc, link, **GOOD, functional_limitations=LIMITS).status_code == 200
    acc.client.get(link)
    logged = " ".join(f"{r.getMessage()} {r.__dict__}" for r in caplog.records)
    assert "'route': 'pages'" in logged  # the access log did log these requests
    assert token not in logged and "Zorblax" not in logged
