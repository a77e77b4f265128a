"""The physician's patient page and cohort page draw their charts in a real browser."""

import datetime as dt

import pytest

from tests.factories import PASSWORD, EnrollmentFactory, EntryFactory, PhysicianFactory, make_arm

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def enrollment():
    arm = make_arm([("baseline", 14), ("ldn", 28)], blinding="open")
    enrollment = EnrollmentFactory(arm=arm, protocol=arm.protocol, physician=PhysicianFactory())
    start = enrollment.local_today() - dt.timedelta(days=20)
    enrollment.start_date = start
    enrollment.save()
    for n in range(14):
        EntryFactory(enrollment=enrollment, date=start + dt.timedelta(days=n), pain=6)
    for n in range(14, 20):
        EntryFactory(enrollment=enrollment, date=start + dt.timedelta(days=n), pain=3)
    return enrollment


def sign_in(page, live_server, user):
    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("#id_username", user.username)
    page.fill("#id_password", PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{live_server.url}/physician/")


def chart_points(page, selector):
    """How many data points Chart.js drew on the canvas."""
    return page.evaluate(
        """(selector) => {
            const chart = Chart.getChart(document.querySelector(selector));
            return chart ? chart.data.datasets[0].data.filter((v) => v !== null).length : 0;
        }""",
        selector,
    )


def test_patient_page_draws_the_daily_pain_chart_and_the_summary(page, live_server, enrollment):
    sign_in(page, live_server, enrollment.physician)
    page.goto(f"{live_server.url}/physician/patients/{enrollment.study_id}/")
    page.wait_for_function(
        "() => window.Chart && Chart.getChart(document.querySelector('#pain-chart'))"
    )
    assert chart_points(page, "#pain-chart") == 20
    box = page.locator("#pain-chart").bounding_box()
    assert box["width"] > 200 and box["height"] > 100
    table = page.locator("table.summary-table")
    reduction = table.locator("tr", has_text="Pain reduction").locator("td").all_inner_texts()
    assert reduction == ["—", "50.0%"]
    compliance = table.locator("tr", has_text="Compliance").locator("td").all_inner_texts()
    assert compliance[0] == "100.0%"


def test_cohort_page_draws_mean_pain_per_phase(page, live_server, enrollment):
    sign_in(page, live_server, enrollment.physician)
    page.goto(f"{live_server.url}/physician/cohort/")
    page.wait_for_function(
        "() => window.Chart && Chart.getChart(document.querySelector('canvas.cohort-chart'))"
    )
    assert chart_points(page, "canvas.cohort-chart") == 2  # baseline and LDN
    means = page.evaluate(
        "Chart.getChart(document.querySelector('canvas.cohort-chart')).data.datasets[0].data"
    )
    assert means == [6, 3]
    row = page.locator("table.summary-table tr", has_text="Pain, mean").first
    assert row.locator("td").all_inner_texts() == ["6.0", "3.0"]
