"""The patient list, the compliance calendar and the alerts in a real browser, on a
laptop (1366 px) and a phone (390 px): the calendar scrolls sideways inside its own box,
the page does not; axe-core finds no violation."""

import datetime as dt

import pytest

from diary.figures import alerts
from tests.browser.checks import assert_no_axe_violations, page_scroll_width
from tests.factories import PASSWORD, EnrollmentFactory, EntryFactory, PhysicianFactory, make_arm

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

LDN_FIRST = [("baseline", 14), ("ldn", 28), ("placebo", 28), ("followup", 14)]
PLACEBO_FIRST = [("baseline", 14), ("placebo", 28), ("ldn", 28), ("followup", 14)]
WIDTHS = {"laptop": (1366, 800), "phone": (390, 844)}


@pytest.fixture
def physician():
    """A physician with patients in both arms of the double-blind protocol: some write
    every day, one stopped three days ago, one had headaches, one has a voided day."""
    physician = PhysicianFactory()
    arm_a = make_arm(LDN_FIRST, blinding="double", code="A")
    arms = [arm_a, make_arm(PLACEBO_FIRST, code="B", protocol=arm_a.protocol)]
    for n in range(12):
        arm = arms[n % 2]
        enrollment = EnrollmentFactory(
            physician=physician, arm=arm, protocol=arm.protocol, study_id=f"FM-{n:03d}"
        )
        today = enrollment.local_today()
        enrollment.start_date = today - dt.timedelta(days=10 + n)
        enrollment.save()
        stop = 4 if n == 3 else 1
        for back in range(stop, 10 + n + 1):
            EntryFactory(
                enrollment=enrollment,
                date=today - dt.timedelta(days=back),
                headache=(n == 5 and back <= 3),
                late=(back == 6),
                voided=(n == 7 and back == 5),
                void_reason="Entered twice" if (n == 7 and back == 5) else "",
            )
    alerts.run()
    return physician


@pytest.fixture(params=list(WIDTHS))
def screen(request, browser):
    width, height = WIDTHS[request.param]
    context = browser.new_context(viewport={"width": width, "height": height})
    context.set_default_timeout(10_000)
    page = context.new_page()
    page.width = width
    yield page
    context.close()


def sign_in(page, live_server, user):
    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("#id_username", user.username)
    page.fill("#id_password", PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{live_server.url}/physician/")


def test_list_calendar_and_alerts_fit_the_screen_and_pass_axe(
    screen, expect, live_server, physician, artifacts
):
    page = screen
    sign_in(page, live_server, physician)
    expect(page.get_by_role("link", name="3 open alerts")).to_be_visible()
    expect(page.locator("table.patient-list tbody tr")).to_have_count(12)
    assert page_scroll_width(page) <= page.width
    assert_no_axe_violations(page, f"patient list at {page.width}px")

    page.get_by_role("link", name="Compliance calendar").click()
    expect(page.locator("h1")).to_have_text("Compliance calendar")
    box = page.locator(".calendar-box")
    table_width = page.locator("table.calendar").evaluate("t => t.scrollWidth")
    box_width = box.evaluate("b => b.clientWidth")
    assert page_scroll_width(page) <= page.width, "the page scrolls sideways"
    if page.width < 600:
        assert table_width > box_width, "on a phone the calendar scrolls inside its box"
        box.evaluate("b => { b.scrollLeft = b.scrollWidth; }")
        assert box.evaluate("b => b.scrollLeft") > 0
        assert page.evaluate("window.scrollX") == 0
    else:
        assert table_width <= box_width + 1, "on a laptop 28 days fit"
    expect(page.locator("td.cal-missed").first).to_be_visible()
    expect(page.locator("td.cal-voided")).to_have_count(1)
    expect(page.locator("td.phase-start[title='Treatment period 1 begins']").first).to_be_attached()
    assert "LDN" not in page.content() and "lacebo" not in page.content()
    page.screenshot(path=artifacts / f"calendar-{page.width}.png", full_page=True)
    assert_no_axe_violations(page, f"calendar at {page.width}px")

    page.get_by_role("link", name="3 open alerts").click()
    expect(page.locator("table.alerts tbody tr")).to_have_count(3)
    assert page_scroll_width(page) <= page.width
    assert_no_axe_violations(page, f"alerts at {page.width}px")
    page.get_by_label("Note for FM-003, missed_days").fill("Phoned her: she is back.")
    page.get_by_role("button", name="Acknowledge FM-003, missed_days").click()
    expect(page.get_by_text("FM-003, missed_days: acknowledged.")).to_be_visible()
    expect(page.locator("table.alerts tbody tr")).to_have_count(2)


def test_a_calendar_cell_opens_that_day_on_her_page(page, expect, live_server, physician):
    sign_in(page, live_server, physician)
    page.goto(f"{live_server.url}/physician/calendar/?q=FM-003")
    cell = page.locator("td.cal-recorded a").last
    href = cell.get_attribute("href")
    cell.click()
    day = href.split("#")[1]
    expect(page).to_have_url(f"{live_server.url}{href}")
    expect(page.locator(f"tr#{day}")).to_be_in_viewport()
