"""Her diary home: where she is, which of the last 7 days are missing, her pain trend."""

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
import time_machine

from diary.figures import charts
from diary.figures.overview import last_week
from diary.trial import blinding
from diary.trial.models import Enrollment
from tests.factories import EnrollmentFactory, EntryFactory, make_arm

pytestmark = pytest.mark.django_db

LA = ZoneInfo("America/Los_Angeles")
TODAY = dt.date(2026, 3, 20)


@pytest.fixture
def enrollment():
    arm = make_arm([("baseline", 14), ("ldn", 84)], blinding="single")
    enrollment = EnrollmentFactory(
        arm=arm, protocol=arm.protocol, start_date=TODAY - dt.timedelta(days=16)
    )
    for back, pain in [(16, 8), (15, 7), (10, 6), (5, 5), (4, 5), (2, 4)]:
        EntryFactory(enrollment=enrollment, date=TODAY - dt.timedelta(days=back), pain=pain)
    return Enrollment.objects.with_schedule().get(pk=enrollment.pk)


def test_the_last_7_days_say_recorded_missing_open_or_locked(enrollment):
    entries = list(enrollment.entries.counting())
    with time_machine.travel(dt.datetime(2026, 3, 20, 12, tzinfo=LA), tick=False):
        week = last_week(enrollment, entries, TODAY)
    assert [(d["date"].day, d["state"]) for d in week] == [
        (14, "missed"),
        (15, "done"),
        (16, "done"),
        (17, "missed"),
        (18, "done"),
        (19, "open"),  # yesterday: still inside the grace day
        (20, "open"),  # today
    ]
    assert [d["is_today"] for d in week] == [False] * 6 + [True]


def test_days_before_the_start_are_not_diary_days(enrollment):
    enrollment.start_date = TODAY - dt.timedelta(days=2)
    week = last_week(enrollment, [], TODAY)
    assert [d["state"] for d in week] == ["none"] * 4 + ["missed", "open", "open"]


def test_the_trend_breaks_at_missed_days_and_labels_phases_neutrally_when_blinded(enrollment):
    entries = list(enrollment.entries.counting())
    trend = charts.pain_trend(
        enrollment, entries, TODAY, blinding.schedule_for(enrollment, enrollment.patient)
    )
    # Runs of recorded days: 4-5 March (a line), 10 March (alone), 15-16 March (a line),
    # 18 March (alone).
    assert len(trend["lines"]) == 2
    assert len(trend["points"]) == 6
    assert [band["label"] for band in trend["bands"]] == ["Baseline", "Treatment"]
    assert (trend["recorded_days"], trend["days"]) == (6, 17)
    assert (trend["latest"], trend["low"], trend["high"]) == (4, 4, 8)
    # Pain 8 is drawn higher (a smaller y) than pain 4; 10 is the top of the plot.
    first, last = trend["points"][0], trend["points"][-1]
    assert first["y"] < last["y"]
    assert trend["grid"][-1] == {"value": 10, "y": trend["top"]}
    unblinded = charts.pain_trend(enrollment, entries, TODAY, enrollment.schedule)
    assert [band["label"] for band in unblinded["bands"]] == ["Baseline", "LDN"]


def test_no_trend_before_the_first_entry(enrollment):
    assert charts.pain_trend(enrollment, [], TODAY, enrollment.schedule) is None


def test_the_diary_home_shows_progress_and_the_chart_but_no_treatment_name(client, enrollment):
    client.force_login(enrollment.patient)
    with time_machine.travel(dt.datetime(2026, 3, 20, 12, tzinfo=LA), tick=False):
        page = client.get("/diary/").content.decode()
    assert "Study day 17" in page
    assert "Treatment, day 3 of 84" in page
    assert "Your last 7 days" in page
    assert 'href="/diary/2026-03-19/"' in page
    assert 'role="img"' in page and "Your pain so far" in page
    assert "LDN" not in page.split("<main", 1)[1]


def test_the_manifest_is_public_and_names_the_start_page(client):
    response = client.get("/manifest.webmanifest")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/manifest+json"
    data = response.json()
    assert data["start_url"] == "/diary/"
    assert data["name"] == "Pain Diary"
    spanish = client.get("/manifest.webmanifest", HTTP_ACCEPT_LANGUAGE="es").json()
    assert spanish["name"] == "Diario del dolor"


def test_the_last_saved_time_is_in_her_time_zone(client):
    arm = make_arm([("baseline", 28)])
    enrollment = EnrollmentFactory(
        arm=arm, protocol=arm.protocol, timezone="America/New_York", start_date=TODAY
    )
    client.force_login(enrollment.patient)
    new_york = ZoneInfo("America/New_York")
    with time_machine.travel(dt.datetime(2026, 3, 20, 4, 47, tzinfo=new_york), tick=False):
        EntryFactory(enrollment=enrollment, date=TODAY)
        page = client.get("/diary/").content.decode()
    assert "(last saved 4:47 a.m.)" in page
