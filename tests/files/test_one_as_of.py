"""One as-of for everything on a page or a file (issue 23, defect 7).

DEMO-003 in the demo data: ldn-fm-2009 (single blind: her physician sees the phases),
America/Chicago, 60 days in, stopped writing 3 days ago. Just after her midnight the
study's clock (America/Los_Angeles) is still on the day before; a patient in Honolulu is
the other way round. Her page and her PDF report take her today for everything: the
summary table, the chart's last day, "day N", the captions and the file name.
"""

import datetime as dt
import re
from zoneinfo import ZoneInfo

import pytest

from diary.trial.models import Enrollment
from tests.factories import EnrollmentFactory, EntryFactory, PhysicianFactory, builtin_arm
from tests.files.test_reports import pdf_text

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("frozen_clock")]

LA = ZoneInfo("America/Los_Angeles")
NOW = dt.datetime(2026, 12, 2, 22, 30, tzinfo=LA)  # 00:30 on 3 December in Chicago

# (her time zone, the moment, her today, the study's today)
MIDNIGHTS = {
    "her day ahead of the study's": (
        "America/Chicago",
        dt.datetime(2026, 12, 2, 22, 30, tzinfo=LA),
        dt.date(2026, 12, 3),
        dt.date(2026, 12, 2),
    ),
    "her day behind the study's": (
        "Pacific/Honolulu",
        dt.datetime(2026, 12, 3, 0, 30, tzinfo=LA),
        dt.date(2026, 12, 2),
        dt.date(2026, 12, 3),
    ),
}
# ldn-fm-2009, arm P: baseline days 1-14, placebo 15-28, LDN 29-84, washout 85-98.
# Her today is study day 61: LDN day 33; for her (blinded, one merged "Treatment" of
# days 15-84) treatment day 47 of 70.
STUDY_DAY, LDN_DAY, TREATMENT_DAY = 61, 33, 47


@pytest.fixture(params=list(MIDNIGHTS), ids=list(MIDNIGHTS))
def midnight(request, frozen_clock):
    zone, moment, her_today, study_today = MIDNIGHTS[request.param]
    assert moment.astimezone(ZoneInfo(zone)).date() == her_today
    assert moment.astimezone(LA).date() == study_today != her_today
    frozen_clock.move_to(moment)
    physician = PhysicianFactory(username="dr-demo", first_name="Ada", last_name="Byron")
    start = her_today - dt.timedelta(days=STUDY_DAY - 1)
    enrollment = EnrollmentFactory(
        study_id="DEMO-003",
        physician=physician,
        arm=builtin_arm("ldn-fm-2009", "P"),
        timezone=zone,
        start_date=start,
    )
    # She stopped writing 3 days before her today.
    for offset in range(STUDY_DAY - 3):
        EntryFactory(
            enrollment=enrollment,
            date=start + dt.timedelta(days=offset),
            pain=3 + offset % 5,
            dose_taken=True if offset >= 14 else None,
            tolerability=90 if offset >= 14 else None,
        )
    return Enrollment.objects.get(pk=enrollment.pk), her_today


def test_the_report_table_and_chart_end_on_one_day(client, midnight):
    enrollment, her_today = midnight
    client.force_login(enrollment.physician)
    response = client.get("/physician/patients/DEMO-003/report.pdf")
    assert response.status_code == 200
    text = pdf_text(response.content)
    table_as_of = re.search(r"As of\s+(\d{4}-\d\d-\d\d)", text).group(1)
    figures_as_of = re.search(r"Figures as of (\d{4}-\d\d-\d\d)", text).group(1)
    chart_start, chart_end = re.search(
        r"Daily pain from (\d{4}-\d\d-\d\d) to (\d{4}-\d\d-\d\d)", text
    ).groups()
    assert table_as_of == figures_as_of == chart_end == her_today.isoformat()
    assert chart_start == enrollment.start_date.isoformat()
    assert f"{STUDY_DAY - 3} of {STUDY_DAY} days recorded" in text
    # The table's elapsed days: baseline and placebo whole, LDN up to her today.
    elapsed = re.search(r"Elapsed days\s+([\d\s]+)", text).group(1).split()
    assert elapsed[:4] == ["14", "14", str(LDN_DAY), "0"]
    # The file's name carries the same day.
    assert response["Content-Disposition"] == (
        f'attachment; filename="report-DEMO-003-{her_today:%Y-%m-%d}.pdf"'
    )


def test_the_physician_page_day_n_is_the_table_elapsed_days(client, midnight):
    enrollment, her_today = midnight
    client.force_login(enrollment.physician)
    response = client.get("/physician/patients/DEMO-003/")
    assert response.status_code == 200
    page = response.content.decode()
    assert f"Study day {STUDY_DAY} · LDN, day {LDN_DAY}" in page
    assert response.context["as_of"] == her_today
    assert f"Figures as of {her_today:%Y-%m-%d}" in page
    ldn = next(phase for phase in response.context["summary"].phases if phase.label == "LDN")
    assert ldn.elapsed_days == response.context["status_row"].phase_day == LDN_DAY
    cell = f'<td data-figure="elapsed_days">{LDN_DAY}</td>'
    assert cell in page
    # The entries by phase count the same days.
    phases = {phase.label: phase for phase in response.context["phases"]}
    assert phases["LDN"].elapsed_days == LDN_DAY
    assert phases["LDN"].rows[-1].date == her_today
    assert f"{LDN_DAY - 3} entries in {LDN_DAY} elapsed days" in page
    # The chart holds nothing after the page's day.
    chart = response.context["chart"]
    recorded = [
        day for day, pain in zip(chart["labels"], chart["pain"], strict=True) if pain is not None
    ]
    assert max(recorded) <= her_today.isoformat()


def test_her_own_page_says_the_same_day_without_the_arm(client, midnight):
    enrollment, her_today = midnight
    client.force_login(enrollment.patient)
    response = client.get("/diary/")
    assert response.status_code == 200
    page = response.content.decode()
    assert response.context["today"] == response.context["day"] == her_today
    assert f"Study day {STUDY_DAY}" in page
    # Single blind: she sees one "Treatment", never LDN or placebo.
    assert f"Treatment, day {TREATMENT_DAY} of 70" in page
    main = page.split("<main", 1)[1]
    assert "LDN" not in main and "Placebo" not in main and "placebo" not in main
    assert response.context["trend"]["end"] == her_today
