"""The charts beyond pain (issue 23): fatigue, sleep quality and tolerability over the
days so far, the phases shaded as the reader may see them, each phase's means (the
reader's own per-phase figures) and the headache and vivid-dream days as marks; the
physician's pain chart over the days so far, drawn without JavaScript too."""

import datetime as dt
import json
import re

import pytest
from django.utils import translation

from diary.figures import charts
from diary.figures.patient_figures import summarize_enrollment
from diary.trial import blinding
from tests.factories import (
    EnrollmentFactory,
    EntryFactory,
    PhysicianFactory,
    builtin_arm,
    make_arm,
)

# 2026-05-20 in the study's time zone.
NOW = dt.datetime(2026, 5, 20, 20, 0, tzinfo=dt.UTC)
TODAY = dt.date(2026, 5, 20)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("frozen_clock")]


def diary(enrollment, days: int, treatment_from: int = 15, treatment_to: int = 126):
    """An entry on every day 1..`days`, but day 3: fatigue and sleep follow the day's
    number, tolerability in the treatment window, a headache every 5th day and vivid
    dreams every 7th."""
    for n in range(1, days + 1):
        if n == 3:
            continue
        treatment = treatment_from <= n <= treatment_to
        EntryFactory(
            enrollment=enrollment,
            date=enrollment.start_date + dt.timedelta(days=n - 1),
            pain=n % 11,
            fatigue=n % 10,
            sleep_quality=(n * 3) % 11,
            headache=n % 5 == 0,
            vivid_dreams=n % 7 == 0,
            dose_taken=True if treatment else None,
            tolerability=80 + n % 20 if treatment else None,
        )
    return list(enrollment.entries.all())


def day_number(day: int, enrollment) -> dt.date:
    return enrollment.start_date + dt.timedelta(days=day - 1)


@pytest.fixture(autouse=True)
def english():
    """Phase labels are in the language of the page; these tests read them in English
    (an earlier test may leave another language active in this thread)."""
    with translation.override("en"):
        yield


@pytest.fixture
def physician():
    return PhysicianFactory()


def enrolled(physician, code="A", slug="ldn-fm-2013", days_in=20, **kwargs):
    return EnrollmentFactory(
        physician=physician,
        arm=builtin_arm(slug, code),
        start_date=TODAY - dt.timedelta(days=days_in - 1),
        **kwargs,
    )


# The days shown -------------------------------------------------------------------------


def test_the_series_span_day_one_to_the_as_of_day_with_gaps_for_missed_days(physician):
    enrollment = enrolled(physician, days_in=20)
    entries = diary(enrollment, 20)
    schedule = blinding.schedule_for(enrollment, physician)
    chart = charts.daily_chart(enrollment, entries, schedule, TODAY)
    assert len(chart["labels"]) == 20
    assert chart["labels"][0] == enrollment.start_date.isoformat()
    assert chart["labels"][-1] == TODAY.isoformat()
    assert chart["fatigue"][:5] == [1, 2, None, 4, 5]
    assert chart["sleep_quality"][:2] == [3, 6]
    # Tolerability is asked in the treatment phases only.
    assert chart["tolerability"][13] is None and chart["tolerability"][14] == 95
    assert [i + 1 for i, yes in enumerate(chart["headache"]) if yes] == [5, 10, 15, 20]
    assert [i + 1 for i, yes in enumerate(chart["vivid_dreams"]) if yes] == [7, 14]
    assert chart["top"] == {"pain": 10, "fatigue": 10, "sleep_quality": 10, "tolerability": 100}


def test_an_earlier_as_of_day_ends_every_chart_there(physician):
    enrollment = enrolled(physician, days_in=20)
    entries = diary(enrollment, 20)
    schedule = blinding.schedule_for(enrollment, physician)
    as_of = day_number(10, enrollment)
    chart = charts.daily_chart(enrollment, entries, schedule, as_of)
    assert chart["labels"][-1] == as_of.isoformat()
    assert [p["label"] for p in chart["phases"]] == ["Baseline"]
    assert chart["phases"][0]["to"] == 9
    summary = summarize_enrollment(enrollment, as_of, physician)
    trends = charts.measure_trends(enrollment, entries, as_of, schedule, summary)
    assert trends["end"] == as_of
    assert [row["label"] for row in trends["means"]] == ["Baseline"]
    assert trends["charts"][0]["days"] == 10


def test_a_withdrawn_patients_charts_stop_on_her_withdrawal(physician):
    enrollment = enrolled(physician, days_in=20)
    entries = diary(enrollment, 12)
    enrollment.status, enrollment.withdrawn_on = "withdrawn", day_number(12, enrollment)
    enrollment.save()
    schedule = blinding.schedule_for(enrollment, physician)
    chart = charts.daily_chart(enrollment, entries, schedule, TODAY)
    assert chart["labels"][-1] == day_number(12, enrollment).isoformat()


def test_voided_entries_are_left_out(physician):
    enrollment = enrolled(physician, days_in=5)
    entries = diary(enrollment, 5)
    voided = next(e for e in entries if e.date == day_number(5, enrollment))
    voided.voided = True
    schedule = blinding.schedule_for(enrollment, physician)
    chart = charts.daily_chart(enrollment, entries, schedule, TODAY)
    assert chart["fatigue"][4] is None and chart["headache"][4] is None


def test_nothing_is_drawn_before_day_one_or_before_any_entry(physician):
    enrollment = enrolled(physician, days_in=5)
    schedule = blinding.schedule_for(enrollment, physician)
    summary = summarize_enrollment(enrollment, TODAY, physician)
    assert charts.measure_trends(enrollment, [], TODAY, schedule, summary) is None
    before = enrollment.start_date - dt.timedelta(days=1)
    assert charts.daily_chart(enrollment, [], schedule, before)["labels"] == []
    assert charts.measure_trends(enrollment, [], before, schedule, summary) is None


# Phase bands and means ------------------------------------------------------------------


def test_each_phase_mean_is_the_readers_per_phase_figure(physician):
    enrollment = enrolled(physician, days_in=20)
    entries = diary(enrollment, 20)
    schedule = blinding.schedule_for(enrollment, physician)
    summary = summarize_enrollment(enrollment, TODAY, physician)
    chart = charts.daily_chart(enrollment, entries, schedule, TODAY, summary)
    trends = charts.measure_trends(enrollment, entries, TODAY, schedule, summary)
    for phase, band, row in zip(summary.phases, chart["phases"], trends["means"], strict=False):
        assert band["label"] == row["label"] == phase.label
        assert band["means"]["fatigue"] == pytest.approx(phase.fatigue_mean, abs=0.01)
        assert row["fatigue_mean"] == phase.fatigue_mean
        assert row["sleep_quality_mean"] == phase.sleep_quality_mean
        assert row["tolerability_mean"] == phase.tolerability_mean
        assert row["headache_days"] == phase.headache_days
        assert row["vivid_dreams_days"] == phase.vivid_dreams_days
    # Phases not begun are left out; the baseline has no tolerability mean to draw.
    assert [row["label"] for row in trends["means"]] == ["Baseline", "Treatment"]
    tolerability = next(c for c in trends["charts"] if c["name"] == "tolerability")
    assert [line["label"] for line in tolerability["mean_lines"]] == ["Treatment"]
    fatigue = trends["charts"][0]
    assert [line["label"] for line in fatigue["mean_lines"]] == ["Baseline", "Treatment"]
    # The dashed mean line sits at the mean on the chart's 0-10 scale.
    baseline = fatigue["mean_lines"][0]
    expected = fatigue["top"] + (10 - summary.phases[0].fatigue_mean) / 10 * fatigue["plot_height"]
    assert baseline["y"] == pytest.approx(expected, abs=0.1)


def test_headache_and_vivid_dream_days_are_marks_on_the_days_axis(physician):
    enrollment = enrolled(physician, days_in=20)
    entries = diary(enrollment, 20)
    schedule = blinding.schedule_for(enrollment, physician)
    summary = summarize_enrollment(enrollment, TODAY, physician)
    trends = charts.measure_trends(enrollment, entries, TODAY, schedule, summary)
    rows = {row["name"]: row for row in trends["marks"]["rows"]}
    assert len(rows["headache"]["marks"]) == 4 and len(rows["vivid_dreams"]["marks"]) == 2
    fatigue = trends["charts"][0]
    # Day 5 is the 5th of 20 days: the same x as the series above.
    day5 = [p["x"] for p in fatigue["points"]][3]  # day 3 is missing
    assert rows["headache"]["marks"][0] == day5
    assert trends["marks"]["bands"] == fatigue["bands"]


def test_a_reader_who_sees_the_kinds_gets_them_as_bands(physician):
    """ldn-fm-2009 is single blind: her physician sees the phases by name."""
    enrollment = enrolled(physician, "P", slug="ldn-fm-2009", days_in=40)
    entries = diary(enrollment, 40, treatment_to=84)
    schedule = blinding.schedule_for(enrollment, physician)
    summary = summarize_enrollment(enrollment, TODAY, physician)
    chart = charts.daily_chart(enrollment, entries, schedule, TODAY, summary)
    assert [(p["label"], p["from"], p["to"]) for p in chart["phases"]] == [
        ("Baseline", 0, 13),
        ("Placebo", 14, 27),
        ("LDN", 28, 39),
    ]


# Blinding -----------------------------------------------------------------------------


def _everything(enrollment, reader, as_of):
    entries = list(enrollment.entries.all())
    schedule = blinding.schedule_for(enrollment, reader)
    summary = summarize_enrollment(enrollment, as_of, reader)
    return (
        charts.daily_chart(enrollment, entries, schedule, as_of, summary),
        charts.measure_trends(enrollment, entries, as_of, schedule, summary),
    )


@pytest.mark.parametrize("reader_kind", ["physician", "patient"])
def test_a_blinded_reader_cannot_tell_the_arms_apart(physician, reader_kind):
    """Day 130 of ldn-fm-2013: arm A had LDN then placebo, arm B placebo then LDN. With
    the same start and the same answers, a blinded reader's charts are the same: one
    "Treatment" band (days 15-126), the same colours, labels, means and marks."""
    seen = []
    for code in ("A", "B"):
        enrollment = enrolled(physician, code, days_in=130)
        diary(enrollment, 130)
        reader = physician if reader_kind == "physician" else enrollment.patient
        seen.append(_everything(enrollment, reader, TODAY))
    (chart_a, trends_a), (chart_b, trends_b) = seen
    assert chart_a == chart_b
    assert trends_a == trends_b
    assert [(p["label"], p["from"], p["to"]) for p in chart_a["phases"]] == [
        ("Baseline", 0, 13),
        ("Treatment", 14, 125),
        ("Follow-up", 126, 129),
    ]
    text = json.dumps(chart_a) + repr(trends_a)
    assert "LDN" not in text and "Placebo" not in text and "placebo" not in text


def test_a_blinded_patient_sees_one_treatment_band_on_a_single_blind_protocol(physician):
    enrollment = enrolled(physician, "P", slug="ldn-fm-2009", days_in=40)
    diary(enrollment, 40, treatment_to=84)
    chart, trends = _everything(enrollment, enrollment.patient, TODAY)
    assert [(p["label"], p["from"], p["to"]) for p in chart["phases"]] == [
        ("Baseline", 0, 13),
        ("Treatment", 14, 39),
    ]
    assert [row["label"] for row in trends["means"]] == ["Baseline", "Treatment"]


# The pages ------------------------------------------------------------------------------


def _scripts(page: str) -> list[str]:
    return re.findall(r"<script\b[^>]*>", page)


def test_the_physician_page_shows_every_chart_without_script_and_passes_data_as_json(
    client, physician
):
    enrollment = enrolled(physician, days_in=20)
    diary(enrollment, 20)
    client.force_login(physician)
    response = client.get(f"/physician/patients/{enrollment.study_id}/")
    assert response.status_code == 200
    page = response.content.decode()
    # No inline script (CSP): each <script> loads a file, or is json_script's data.
    for tag in _scripts(page):
        assert "src=" in tag or 'type="application/json"' in tag, tag
    data = re.search(
        r'<script id="daily-chart-data" type="application/json">(.*?)</script>', page, re.S
    )
    assert json.loads(data.group(1))["labels"][-1] == TODAY.isoformat()
    # The SVG drawn on the server for pain and every measure, and the marks.
    assert page.count('class="chart-fallback"') == 5
    for name in ("pain-chart", "fatigue-chart", "sleep_quality-chart", "tolerability-chart"):
        assert f'id="{name}"' in page
    assert 'id="marks-chart"' in page
    assert 'class="pain-line"' in page and 'class="series-line"' in page
    assert page.count('class="mark mark-headache"') == 4
    # Each chart has a text alternative: a caption, a description, a table of means.
    assert 'id="fatigue-desc"' in page and "<figcaption" in page
    assert 'class="table table-sm table-bordered align-middle phase-means"' in page


def test_the_patients_own_page_shows_her_charts_with_her_blinded_labels(client, physician):
    enrollment = enrolled(physician, "B", days_in=130)
    diary(enrollment, 130)
    client.force_login(enrollment.patient)
    response = client.get("/diary/")
    assert response.status_code == 200
    measures = response.context["measures"]
    assert measures["end"] == response.context["today"]
    assert [row["label"] for row in measures["means"]] == ["Baseline", "Treatment", "Follow-up"]
    page = response.content.decode()
    assert 'id="fatigue-svg"' in page and 'id="marks-svg"' in page
    assert "daily-chart-data" not in page  # her page needs no script for its charts
    main = page.split("<main", 1)[1]
    assert "LDN" not in main and "Placebo" not in main and "placebo" not in main


def test_an_open_label_patient_sees_her_phases_by_name(client):
    arm = make_arm([("baseline", 14), ("ldn", 28)], blinding="open")
    enrollment = EnrollmentFactory(
        arm=arm, protocol=arm.protocol, start_date=TODAY - dt.timedelta(days=19)
    )
    diary(enrollment, 20, treatment_to=42)
    client.force_login(enrollment.patient)
    response = client.get("/diary/")
    assert [row["label"] for row in response.context["measures"]["means"]] == [
        "Baseline",
        "LDN",
    ]
