"""The employee's journey in a real browser: open a referral link, watch the preview follow
the ticked scopes, sign, accept, follow the manage link shown, revoke. axe-core checks every
page the employee can see (WCAG 2.1 AA and axe's best practices) and finds nothing."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from tests.support.browser import assert_accessible, assert_accessible_when_locked_out

pytestmark = pytest.mark.browser

@pytest.fixture
def world(platform, served):
    employer = platform.directory.create_employer("Acme").id
    provider = platform.directory.create_provider("Evening IOP").id
    _, hr_token = platform.directory.create_client("hr", employer_id=employer)
    hr = {"Authorization": f"Bearer {hr_token}"}

    def new_link():
        response = served.client.post("/v1/referrals", headers=hr, json={
            "employee": {"external_id": "E-1", "name": "Ana Lima", "email": "ana@example.com",
                         "phone": "+1 555 0100"},
            "kind": "supervisory", "provider_id": provider})
        assert response.status_code == 201
        return response.json["id"], response.json["link"]["url"]

    def hr_status(referral_id):
        return served.client.get(f"/v1/referrals/{referral_id}", headers=hr).json["status"]

    served.employer, served.new_link, served.hr_status = employer, new_link, hr_status
    return served


def lines(page, list_id):
    return [t.strip() for t in page.locator(f"#{list_id} li").all_inner_texts()]


def test_accept_with_consent_then_revoke_from_the_manage_link(world, page):
    referral_id, link = world.new_link()
    assert link.startswith(world.base + "/r/")
    page.goto(link)
    assert page.title().startswith("Your referral to Evening IOP")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.className") == "skip-link"
    assert lines(page, "will-see") == ["Nothing at all."]
    assert page.locator("#preview-button").is_hidden()  # the script took over the preview
    assert_accessible(page, "referral page")

    page.get_by_label("Each week, how many scheduled sessions you attended").check()
    assert lines(page, "will-see") == [
        "Whether you accepted the referral and are enrolled in a program",
        "Each week, how many scheduled sessions you attended, and whether that meets the "
        "program's expectations"]
    assert "Your diagnosis or why you are in treatment" in lines(page, "will-not-see")
    page.get_by_label("Whether you completed the program or stopped").check()
    assert len(lines(page, "will-see")) == 3
    assert_accessible(page, "referral page with a live preview")

    # the server's preview (what a browser without JavaScript gets) reads the same
    page.evaluate("document.getElementById('preview-button').click()")
    page.wait_for_url(re.compile(r"/preview#preview$"))
    assert len(lines(page, "will-see")) == 3
    assert page.get_by_label("Whether you completed the program or stopped").is_checked()
    assert_accessible(page, "server-rendered preview")

    page.get_by_label("Type your full name to sign").fill("Ana Lim")
    page.get_by_label("Evening sessions").check()
    page.get_by_role("button", name="Accept the referral").click()
    assert page.locator("#signature-error").inner_text().endswith(
        "Type your name exactly as shown: Ana Lima.")
    assert_accessible(page, "consent form with an error")

    page.get_by_label("Type your full name to sign").fill("Ana Lima")
    page.get_by_role("button", name="Accept the referral").click()
    page.get_by_role("heading", name="You accepted the referral").wait_for()
    assert_accessible(page, "confirmation page")
    assert world.hr_status(referral_id) == "accepted"

    manage = page.locator("#manage-link")
    assert manage.inner_text() == manage.get_attribute("href")
    manage.click()
    page.get_by_role("heading", name="Your referral to Evening IOP").wait_for()
    assert "Nothing has been shared with Acme so far." in page.content()
    assert_accessible(page, "manage page")

    page.get_by_role("button", name="Revoke my consent now").click()
    page.get_by_role("heading", name="Your consent is revoked").wait_for()
    assert_accessible(page, "revocation confirmation")
    assert world.hr_status(referral_id) == "consent_revoked"
    page.get_by_role("link", name="Back to your referral").click()
    assert "You revoked your consent on" in page.locator("#consent-status").inner_text()
    assert_accessible(page, "manage page after revocation")


def test_the_preview_works_without_javascript(world, page_without_js):
    page = page_without_js
    _, link = world.new_link()
    page.goto(link)
    button = page.get_by_role("button", name="Update the preview")
    assert button.is_visible()
    page.get_by_label("The return-to-work date your provider gives").check()
    button.click()
    page.wait_for_url(re.compile(r"/preview#preview$"))
    assert lines(page, "will-see") == [
        "Whether you accepted the referral and are enrolled in a program",
        "The return-to-work date your provider gives"]
    assert page.get_by_label("The return-to-work date your provider gives").is_checked()
    page.get_by_role("button", name="Decline the referral").click()
    page.get_by_role("heading", name="You declined the referral").wait_for()


def test_the_other_employee_pages_are_accessible(world, page):
    page.goto(f"{world.base}/start/{world.employer}")
    assert "Acme will never know." in page.locator(".callout").inner_text()
    assert_accessible(page, "self-referral page")
    page.get_by_role("button", name="Ask for a referral").click()
    assert page.locator("#name-error").is_visible()
    assert_accessible(page, "self-referral page with errors")
    page.get_by_label("Evening IOP").check()
    page.get_by_label("Your name").fill("Ana Lima")
    page.get_by_label("Phone number (optional)").fill("+1 555 0100")
    page.get_by_role("button", name="Ask for a referral").click()
    page.get_by_role("heading", name="Your request was sent").wait_for()
    assert_accessible(page, "self-referral confirmation")
    page.locator("#manage-link").click()
    assert "You asked for this referral yourself" in page.content()
    assert_accessible(page, "self-referral manage page")

    response = page.goto(f"{world.base}/r/{'A' * 43}")
    assert response.status == 404
    assert_accessible(page, "404 page")

    _, link = world.new_link()
    now = world.services.clock()
    world.services.clock = lambda: now + timedelta(days=15)
    response = page.goto(link)
    assert response.status == 410
    assert_accessible(page, "410 page")

    assert_accessible_when_locked_out(page, world.app, link)
