"""The employee's accommodation link in a real browser: open it, find the program's times
filled in, add a time, get an error next to the field, send, reach the confirmation. axe-core
checks every page the employee can see (WCAG 2.1 AA and axe's best practices) and finds
nothing: the form, the form with errors, the confirmation, and the 404, 409, 410 and 429
pages."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from tests.support.browser import assert_accessible, assert_accessible_when_locked_out

pytestmark = pytest.mark.browser

REFERRAL_ID = "ref_" + "b" * 26
LIMITS = "Tired and slow after evening sessions; Quillby canary"


@pytest.fixture
def world(platform, served):
    employer = platform.directory.create_employer("Acme").id
    tokens = {role: platform.directory.create_client(role, employer_id=employer)[1]
              for role in ("hr", "specialist")}
    served.as_ = {role: {"Authorization": f"Bearer {t}"} for role, t in tokens.items()}

    def new_link(referral_id=None):
        body = {"employee": {"external_id": "E-7"},
                **({"referral_id": referral_id} if referral_id else {})}
        response = served.client.post("/v1/accommodation-links", json=body,
                                      headers=served.as_["hr"])
        assert response.status_code == 201, response.json
        return response.json["url"]

    with served.services.engine.begin() as conn:
        served.services.record_program_schedule(conn, {
            "referral_id": REFERRAL_ID, "employer_id": employer,
            "schedule": [{"weekday": "mon", "start": "18:00", "end": "21:00"},
                         {"weekday": "thu", "start": "18:00", "end": "21:00"}],
            "start_date": "2027-01-04", "expected_end_date": "2027-03-26"})
    served.new_link = new_link
    return served


def manager_lines(page):
    return [t.strip() for t in page.locator("#manager-times li").all_inner_texts()]


def test_request_a_schedule_change_from_the_program_suggestion(world, page):
    link = world.new_link(REFERRAL_ID)
    assert link.startswith(world.base + "/a/")
    page.goto(link)
    assert page.title() == "Ask for a change at work \u00b7 Bridgeline"
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.className") == "skip-link"
    assert "We filled in the times your program needs, including travel; change anything." \
        in page.locator("#suggestion-note").inner_text()
    assert page.get_by_label("A change to my work schedule").is_checked()
    assert page.locator("#windows-0-weekday").input_value() == "mon"
    assert page.locator("#windows-0-start").input_value() == "17:15"
    assert page.locator("#windows-1-weekday").input_value() == "thu"
    assert page.get_by_label("Start date").input_value() == "2027-01-04"
    assert manager_lines(page) == ["Monday, not available from 17:15 to 21:00",
                                   "Thursday, not available from 17:15 to 21:00"]
    assert_accessible(page, "request form")

    page.get_by_role("button", name="Add another time").click()
    page.wait_for_url(re.compile(r"#window-2$"))
    assert page.locator("fieldset.field-row").count() == 3
    assert page.locator("#windows-0-start").input_value() == "17:15"  # kept
    page.locator("#windows-2-weekday").select_option("sat")
    page.locator("#windows-2-start").fill("09:00")
    page.locator("#windows-2-end").fill("08:00")
    page.get_by_label("End date (optional)").fill("2026-12-31")
    page.get_by_label("How your condition affects your work (optional)").fill(LIMITS)
    page.get_by_role("button", name="Send my request").click()
    page.get_by_role("heading", name="Please check these").wait_for()
    assert "must be after the start time" in page.locator("#windows-2-end-error").inner_text()
    assert "on or after the start date" in page.locator("#end_date-error").inner_text()
    assert page.get_by_label("How your condition affects your work (optional)").input_value() \
        == LIMITS
    assert_accessible(page, "request form with errors")

    page.get_by_role("link", name=re.compile("^End date: ")).click()
    page.get_by_label("End date (optional)").fill("2027-03-26")
    page.locator("#windows-2-end").fill("12:30")
    page.get_by_role("button", name="Send my request").click()
    page.get_by_role("heading", name="Your request was sent").wait_for()
    steps = page.locator("#next-steps").inner_text()
    assert "within 5 business days" in steps and "within 15 business days" in steps
    assert "Saturday, from 09:00 to 12:30" in page.content()
    assert_accessible(page, "confirmation page")

    case_id = page.locator("#reference").inner_text()
    case = world.client.get(f"/v1/accommodations/{case_id}",
                            headers=world.as_["specialist"]).json
    assert case["functional_limitations"] == LIMITS
    assert [w["weekday"] for w in case["requested"]["schedule"]] == ["mon", "thu", "sat"]
    assert case["referral_id"] == REFERRAL_ID

    response = page.goto(link)
    assert response.status == 409
    page.get_by_role("heading", name="This link was already used").wait_for()
    assert_accessible(page, "409 page")


def test_a_row_is_added_without_javascript(world, page_without_js):
    page = page_without_js
    page.goto(world.new_link())
    assert page.locator("fieldset.field-row").count() == 1
    page.locator("#windows-0-weekday").select_option("tue")
    page.get_by_role("button", name="Add another time").click()
    page.wait_for_url(re.compile(r"#window-1$"))
    assert page.locator("fieldset.field-row").count() == 2
    assert page.locator("#windows-0-weekday").input_value() == "tue"


def test_the_refusal_pages_are_accessible(world, page):
    response = page.goto(f"{world.base}/a/{'A' * 43}")
    assert response.status == 404
    page.get_by_role("heading", name="We could not find this page").wait_for()
    assert_accessible(page, "404 page")

    link = world.new_link()
    now = world.services.clock()
    world.services.clock = lambda: now + timedelta(days=31)
    response = page.goto(link)
    assert response.status == 410
    page.get_by_role("heading", name="This link has expired").wait_for()
    assert_accessible(page, "410 page")

    assert_accessible_when_locked_out(page, world.app, link)
