"""The charts beyond pain in a real browser: on the physician's patient page Chart.js
draws pain, fatigue, sleep quality, tolerability and the headache / vivid-dream marks at
a phone's and a desktop's width; with JavaScript off the server's SVG shows instead; her
own page draws its SVG charts at 390 px without scrolling sideways."""

import datetime as dt

import pytest

from tests.browser.checks import page_scroll_width
from tests.browser.conftest import TIMEOUT_MS
from tests.browser.test_summary_browser import sign_in
from tests.factories import PASSWORD, EnrollmentFactory, EntryFactory, PhysicianFactory, make_arm

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

CANVASES = ["#pain-chart", "#fatigue-chart", "#sleep_quality-chart", "#tolerability-chart"]


@pytest.fixture
def enrollment():
    """ldn-fm-2013's arm A (double blind), day 30: baseline and 16 treatment days
    recorded. (A transactional test's database has no built-in protocols.)"""
    arm = make_arm(
        [("baseline", 14), ("ldn", 84), ("placebo", 28), ("followup", 28)], blinding="double"
    )
    enrollment = EnrollmentFactory(arm=arm, protocol=arm.protocol, physician=PhysicianFactory())
    start = enrollment.local_today() - dt.timedelta(days=29)
    enrollment.start_date = start
    enrollment.save()
    for n in range(30):
        treatment = n >= 14
        EntryFactory(
            enrollment=enrollment,
            date=start + dt.timedelta(days=n),
            pain=6 if n < 14 else 3,
            fatigue=7 if n < 14 else 4,
            sleep_quality=3 if n < 14 else 6,
            headache=n % 6 == 0,
            vivid_dreams=n % 4 == 0,
            dose_taken=True if treatment else None,
            tolerability=85 if treatment else None,
        )
    return enrollment


def new_page(browser, width, javascript=True):
    context = browser.new_context(
        viewport={"width": width, "height": 900}, java_script_enabled=javascript
    )
    context.set_default_timeout(TIMEOUT_MS)
    return context, context.new_page()


def painted_pixels(page, selector) -> int:
    """How many pixels of the canvas are not transparent: the chart was drawn."""
    return page.evaluate(
        """(selector) => {
            const canvas = document.querySelector(selector);
            const { width, height } = canvas;
            const data = canvas.getContext("2d").getImageData(0, 0, width, height).data;
            let painted = 0;
            for (let i = 3; i < data.length; i += 4) { if (data[i] > 0) painted++; }
            return painted;
        }""",
        selector,
    )


@pytest.mark.parametrize("width", [390, 1280])
def test_the_physician_page_draws_every_chart(browser, live_server, enrollment, width, artifacts):
    context, page = new_page(browser, width)
    try:
        sign_in(page, live_server, enrollment.physician)
        page.goto(f"{live_server.url}/physician/patients/{enrollment.study_id}/")
        page.wait_for_function(
            "() => window.Chart && Chart.getChart(document.querySelector('#marks-chart'))"
        )
        for selector in CANVASES + ["#marks-chart"]:
            canvas = page.locator(selector)
            assert canvas.is_visible(), selector
            box = canvas.bounding_box()
            assert 200 < box["width"] <= width and box["height"] > 100, (selector, box)
            assert painted_pixels(page, selector) > 1000, selector
        # The days so far, not the whole 154-day schedule.
        labels = page.evaluate("Chart.getChart(document.querySelector('#pain-chart')).data.labels")
        assert len(labels) == 30
        # The canvases took the SVG's place; the means table stays.
        assert page.locator(".chart-fallback:visible").count() == 0
        assert page.locator("table.phase-means").is_visible()
        assert page.locator("table.phase-means thead th").all_inner_texts() == [
            "Phase",
            "Baseline",
            "Treatment",
        ]
        assert page_scroll_width(page) <= width
        page.screenshot(path=artifacts / f"charts-physician-{width}.png", full_page=True)
    finally:
        context.close()


def test_without_javascript_the_physician_page_shows_the_svg_charts(
    browser, live_server, enrollment, artifacts
):
    context, page = new_page(browser, 390, javascript=False)
    try:
        page.goto(f"{live_server.url}/accounts/login/")
        page.fill("#id_username", enrollment.physician.username)
        page.fill("#id_password", PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url(f"{live_server.url}/physician/")
        page.goto(f"{live_server.url}/physician/patients/{enrollment.study_id}/")
        fallbacks = page.locator(".chart-fallback svg")
        assert fallbacks.count() == 5
        for i in range(5):
            svg = fallbacks.nth(i)
            assert svg.is_visible()
            assert svg.bounding_box()["width"] > 300
        assert page.locator("svg polyline.pain-line").count() >= 1
        assert page.locator("svg polyline.series-line").count() >= 3
        assert page.locator("svg line.mean-line").count() >= 5
        assert page.locator("svg .mark.mark-headache").count() == 5
        for selector in CANVASES:
            assert not page.locator(selector).is_visible()
        assert page_scroll_width(page) <= 390
        page.screenshot(path=artifacts / "charts-physician-no-js-390.png", full_page=True)
    finally:
        context.close()


def test_her_own_page_draws_her_charts_at_phone_width(browser, live_server, enrollment, artifacts):
    context, page = new_page(browser, 390)
    try:
        page.goto(f"{live_server.url}/accounts/login/")
        page.fill("#id_username", enrollment.patient.username)
        page.fill("#id_password", PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        page.goto(f"{live_server.url}/diary/")
        for selector in ["#fatigue-svg", "#sleep_quality-svg", "#tolerability-svg", "#marks-svg"]:
            svg = page.locator(selector)
            assert svg.is_visible(), selector
            assert 300 < svg.bounding_box()["width"] <= 390
        assert page.locator("table.phase-means").is_visible()
        main = page.locator("main").inner_text()
        assert "LDN" not in main and "Placebo" not in main
        assert page_scroll_width(page) <= 390
        page.screenshot(path=artifacts / "charts-patient-390.png", full_page=True)
    finally:
        context.close()
