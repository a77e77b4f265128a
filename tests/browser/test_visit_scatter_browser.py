"""Clinic visits in a real browser: the cohort page's ESR-and-response scatter (server
SVG, a dot per patient, rho in its text, its points in a toggle) and the visit form on
a phone's width."""

import datetime as dt

import pytest

from tests.browser.checks import assert_no_axe_violations, page_scroll_width
from tests.browser.conftest import TIMEOUT_MS
from tests.browser.test_summary_browser import sign_in
from tests.factories import (
    EnrollmentFactory,
    EntryFactory,
    PhysicianFactory,
    VisitFactory,
    make_arm,
)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def physician():
    return PhysicianFactory()


@pytest.fixture
def patients(physician):
    """Four open-label patients on LDN since day 15, each with a baseline ESR: the more
    ESR, the more relief. (A transactional test's database has no built-in protocols.)"""
    arm = make_arm([("baseline", 14), ("ldn", 28)])
    enrollments = []
    for n, (esr, ldn_pain) in enumerate([(8, 7), (20, 6), (35, 4), (70, 1)]):
        enrollment = EnrollmentFactory(
            study_id=f"SC-{n}", physician=physician, arm=arm, protocol=arm.protocol
        )
        start = enrollment.local_today() - dt.timedelta(days=25)
        enrollment.start_date = start
        enrollment.save()
        EntryFactory(enrollment=enrollment, date=start + dt.timedelta(days=2), pain=8)
        EntryFactory(enrollment=enrollment, date=start + dt.timedelta(days=20), pain=ldn_pain)
        VisitFactory(enrollment=enrollment, visit_date=start + dt.timedelta(days=1), esr=esr)
        enrollments.append(enrollment)
    return enrollments


def new_page(browser, width):
    context = browser.new_context(viewport={"width": width, "height": 900})
    context.set_default_timeout(TIMEOUT_MS)
    return context, context.new_page()


@pytest.mark.parametrize("width", [390, 1280])
def test_the_cohort_page_shows_the_esr_scatter(
    browser, live_server, physician, patients, width, artifacts
):
    context, page = new_page(browser, width)
    try:
        sign_in(page, live_server, physician)
        page.goto(f"{live_server.url}/physician/cohort/")
        svg = page.locator("svg.esr-scatter")
        assert svg.is_visible()
        assert svg.get_attribute("role") == "img"
        box = svg.bounding_box()
        assert 250 < box["width"] <= width
        assert page.locator("svg.esr-scatter circle.esr-dot").count() == 4
        stats = page.locator(".esr-stats").inner_text()
        assert "Spearman's rho = 1.00" in stats and "n = 4" in stats
        table = page.locator("details.esr-points table")
        assert not table.is_visible()
        page.locator("details.esr-points summary").click()
        assert table.is_visible()
        assert table.locator("tbody tr").count() == 4
        assert "SC-3" in table.inner_text()
        assert page_scroll_width(page) <= width
        assert_no_axe_violations(page, f"cohort with the ESR scatter at {width}px")
        page.screenshot(path=artifacts / f"esr-scatter-{width}.png", full_page=True)
    finally:
        context.close()


def test_the_visit_form_works_on_a_phone(browser, live_server, physician, patients, artifacts):
    enrollment = patients[0]
    context, page = new_page(browser, 390)
    try:
        sign_in(page, live_server, physician)
        page.goto(f"{live_server.url}/physician/patients/{enrollment.study_id}/")
        page.get_by_role("link", name="Record a visit").click()
        page.wait_for_url("**/visits/new/")
        assert page_scroll_width(page) <= 390
        assert_no_axe_violations(page, "visit form at 390px")
        day = enrollment.local_today() - dt.timedelta(days=3)
        page.fill("#id_visit_date", day.isoformat())
        page.fill("#id_esr", "151")
        page.get_by_role("button", name="Record the visit").click()
        assert "out of range" in page.locator("#visit-form").inner_text()
        page.fill("#id_esr", "17")
        page.fill("#id_heat_threshold", "43.5")
        page.screenshot(path=artifacts / "visit-form-390.png", full_page=True)
        page.get_by_role("button", name="Record the visit").click()
        page.wait_for_url(f"**/physician/patients/{enrollment.study_id}/#visits")
        assert "visit of" in page.locator(".alert-success").inner_text()
        row = page.locator(f"#visits tr:has-text('{day.isoformat()}')")
        assert row.is_visible() and "43.5" in row.inner_text()
        assert page_scroll_width(page) <= 390
        assert_no_axe_violations(page, "patient page with a visit at 390px")
        # Void it from the phone too.
        row.get_by_role("link", name=f"Void the visit of {day.isoformat()}").click()
        assert_no_axe_violations(page, "void form at 390px")
        page.fill("#id_reason", "Entered twice")
        page.get_by_role("button", name="Void the visit").click()
        page.wait_for_url(f"**/physician/patients/{enrollment.study_id}/#visits")
        assert "Voided:" in page.locator(f"#visits tr:has-text('{day.isoformat()}')").inner_text()
    finally:
        context.close()
