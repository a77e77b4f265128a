"""Legibility on a phone (390 px) and on a desktop: long notes wrap, voided days say so,
and the physician pages' filters fold behind a "Filters" toggle on a phone."""

import datetime as dt

import pytest

from tests.browser.conftest import TIMEOUT_MS
from tests.factories import PASSWORD, EnrollmentFactory, EntryFactory, PhysicianFactory, make_arm

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}
LONG_WORD = "x" * 300


@pytest.fixture
def enrollment():
    """Day 21 of an open-label schedule; a 300-character word in two notes (one on a
    locked day, one on a day later voided with a reason)."""
    arm = make_arm([("baseline", 14), ("ldn", 28)], blinding="open")
    enrollment = EnrollmentFactory(arm=arm, protocol=arm.protocol, physician=PhysicianFactory())
    start = enrollment.local_today() - dt.timedelta(days=20)
    enrollment.start_date = start
    enrollment.save()
    for n in range(18):
        EntryFactory(enrollment=enrollment, date=start + dt.timedelta(days=n), pain=5)
    noted = enrollment.entries.get(date=start + dt.timedelta(days=10))
    noted.notes = f"Felt {LONG_WORD} today"
    noted.save()
    voided = enrollment.entries.get(date=start + dt.timedelta(days=12))
    voided.notes = LONG_WORD
    voided.voided, voided.void_reason = True, "Entered for the wrong patient"
    voided.save()
    return enrollment


def context_page(browser, viewport):
    context = browser.new_context(viewport=viewport)
    context.set_default_timeout(TIMEOUT_MS)
    return context, context.new_page()


def sign_in(page, base_url, user, lands_on):
    page.goto(f"{base_url}/accounts/login/")
    page.fill("#id_username", user.username)
    page.fill("#id_password", PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{base_url}{lands_on}")


def assert_no_sideways_scroll(page, what):
    width, inner = page.evaluate("[document.scrollingElement.scrollWidth, window.innerWidth]")
    assert width <= inner, f"{what} scrolls sideways: {width}px wide in {inner}px"


def test_a_long_unbroken_note_wraps_on_a_phone(browser, live_server, enrollment):
    context, page = context_page(browser, PHONE)
    try:
        sign_in(page, live_server.url, enrollment.patient, "/diary/")
        page.goto(f"{live_server.url}/diary/history/")
        assert_no_sideways_scroll(page, "her history")
        day = enrollment.start_date + dt.timedelta(days=10)
        page.goto(f"{live_server.url}/diary/{day:%Y-%m-%d}/")
        note = page.locator(".entry-notes")
        assert LONG_WORD in note.inner_text()
        assert note.bounding_box()["width"] <= PHONE["width"]
        assert_no_sideways_scroll(page, "her day page")
        context.clear_cookies()
        sign_in(page, live_server.url, enrollment.physician, "/physician/")
        page.goto(f"{live_server.url}/physician/patients/{enrollment.study_id}/")
        assert page.locator("td.notes", has_text=LONG_WORD).count() == 2
        assert_no_sideways_scroll(page, "the physician's patient page")
        # The table keeps its width: the note's cell wraps rather than growing 300 x's wide.
        cell = page.locator("td.notes", has_text="Felt").bounding_box()
        assert cell["width"] < 400
    finally:
        context.close()


def test_a_voided_day_reads_voided_to_her_and_to_her_physician(browser, live_server, enrollment):
    context, page = context_page(browser, PHONE)
    try:
        sign_in(page, live_server.url, enrollment.patient, "/diary/")
        page.goto(f"{live_server.url}/diary/history/")
        voided = page.locator("td.day-voided")
        assert voided.count() == 1 and voided.is_visible()
        assert voided.inner_text().startswith("Voided")
        assert "wrong patient" not in page.content()
        context.clear_cookies()
        sign_in(page, live_server.url, enrollment.physician, "/physician/")
        page.goto(f"{live_server.url}/physician/patients/{enrollment.study_id}/")
        mark = page.locator("tr.day-voided-row .day-voided")
        assert mark.inner_text() == "Voided (not counted): Entered for the wrong patient"
        assert mark.is_visible()
        # The mark itself is not struck through, the values are.
        assert "line-through" not in mark.evaluate("e => getComputedStyle(e).textDecorationLine")
        pain = page.locator("tr.day-voided-row td").nth(1)
        assert "line-through" in pain.evaluate("e => getComputedStyle(e).textDecorationLine")
    finally:
        context.close()
