"""Input limits: no date before 2000-01-01, a start date at most 365 days after today,
no schedule past 9999-12-31, refused with a message at every door (the admin, the
imports, staff entries, --as-of); and a date the database holds anyway (a row written
before the rule, or by SQL) never stops a page, a file or a command."""

import datetime as dt
import json
from io import StringIO
from zoneinfo import ZoneInfo

import pytest
from django.core import mail
from django.core.management import CommandError, call_command

from diary.entries.models import DiaryEntry
from diary.trial import dates
from diary.trial.models import Enrollment
from diary.visits.models import Visit
from tests.factories import (
    CoordinatorFactory,
    EnrollmentFactory,
    EntryFactory,
    PhysicianFactory,
    VisitFactory,
    builtin_arm,
    make_arm,
)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("frozen_clock")]

LA = ZoneInfo("America/Los_Angeles")
# 20:30 in Los Angeles on 2026-03-10: reminders at 20:00 are due.
NOW = dt.datetime(2026, 3, 10, 20, 30, tzinfo=LA)
TODAY = NOW.date()
SORTS = [
    "study_id",
    "-study_id",
    "compliance",
    "-compliance",
    "missed",
    "-missed",
    "last_entry",
    "-last_entry",
    "phase",
    "-phase",
]


# The rule ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("day", "message"),
    [
        (dt.date(1999, 12, 31), "Start date must be on or after 2000-01-01"),
        (dt.date(2027, 3, 11), "Start date must be at most 365 days after today (2027-03-10)"),
        (dt.date(9999, 12, 1), "Start date must be at most 365 days after today (2027-03-10)"),
    ],
)
def test_the_start_date_rule_says_what_to_fix(day, message):
    assert dates.start_date_problem(day) == message


def test_the_start_date_rule_accepts_its_limits():
    assert dates.start_date_problem(dt.date(2000, 1, 1)) is None
    assert dates.start_date_problem(dt.date(2027, 3, 10)) is None


def test_a_schedule_past_9999_12_31_is_refused():
    late = dt.date(9999, 12, 1)
    assert dates.start_date_problem(late, ahead=None, schedule_days=31) is None
    assert dates.start_date_problem(late, ahead=None, schedule_days=32) == (
        "Start date 9999-12-01 is too late: its schedule would end after 9999-12-31"
    )


# Every door refuses -----------------------------------------------------------------


@pytest.fixture
def coordinator(client):
    user = CoordinatorFactory()
    client.force_login(user)
    return user


@pytest.mark.parametrize(
    ("start", "message"),
    [
        ("1999-12-31", "Start date must be on or after 2000-01-01."),
        ("2027-03-11", "Start date must be at most 365 days after today (2027-03-10)."),
        ("9999-12-01", "Start date must be at most 365 days after today (2027-03-10)."),
    ],
)
def test_the_admin_refuses_a_start_date_out_of_limits(client, coordinator, start, message):
    physician = PhysicianFactory()
    protocol = builtin_arm("ldn-fm-2013", "A").protocol
    response = client.post(
        "/admin/diary/enrollment/add/",
        {
            "study_id": "FM-900",
            "email": "new@example.org",
            "physician": physician.pk,
            "protocol": protocol.pk,
            "arm": "",
            "start_date": start,
            "timezone": "America/Los_Angeles",
            "reminder_time": "20:00",
            "status": "active",
            "language": "en",
        },
    )
    assert response.status_code == 200
    assert message in response.content.decode().replace("&#x27;", "'")
    assert not Enrollment.objects.filter(study_id="FM-900").exists()


def write(tmp_path, text):
    path = tmp_path / "file.csv"
    path.write_text(text, encoding="utf-8")
    return str(path)


def problems_of(command, path, *args):
    err = StringIO()
    with pytest.raises(CommandError):
        call_command(command, path, *args, stdout=StringIO(), stderr=err)
    return err.getvalue().splitlines()


ENROLLMENT_HEADER = "study_id,username,email,physician,protocol,start_date,status,withdrawn_on\n"


@pytest.mark.parametrize(
    ("cells", "message"),
    [
        ("1999-12-31,,", "line 2: start_date must be on or after 2000-01-01"),
        ("2027-03-11,,", "line 2: start_date must be at most 365 days after today (2027-03-10)"),
        ("9999-12-01,,", "line 2: start_date must be at most 365 days after today (2027-03-10)"),
    ],
)
def test_import_enrollments_refuses_a_date_out_of_limits(tmp_path, cells, message):
    PhysicianFactory(username="drx")
    path = write(
        tmp_path, ENROLLMENT_HEADER + f"FM-900,ann,ann@example.org,drx,ldn-fm-2013,{cells}\n"
    )
    assert problems_of("import_enrollments", path) == [message]
    assert not Enrollment.objects.exists()


ENTRY_HEADER = "study_id,date,pain,fatigue,sleep_quality,vivid_dreams,headache\n"


@pytest.mark.parametrize(
    ("day", "message"),
    [
        ("1999-12-31", "line 2: date must be on or after 2000-01-01"),
        ("9999-12-31", "line 2: 9999-12-31 is after the end of FM-001's schedule"),
    ],
)
def test_import_entries_refuses_a_date_out_of_limits(tmp_path, day, message):
    EnrollmentFactory(study_id="FM-001", start_date=dt.date(2026, 2, 1))
    path = write(tmp_path, ENTRY_HEADER + f"FM-001,{day},5,5,5,no,no\n")
    problems = problems_of("import_entries", path)
    assert len(problems) == 1
    assert problems[0].startswith(message)
    assert not DiaryEntry.objects.exists()


def test_staff_entry_refuses_a_date_before_2000(client, coordinator):
    enrollment = EnrollmentFactory(start_date=dt.date(2026, 2, 1))
    response = client.post(
        "/admin/diary/diaryentry/add/",
        {
            "enrollment": enrollment.pk,
            "date": "1999-12-31",
            "pain": 5,
            "fatigue": 5,
            "sleep_quality": 5,
            "change_reason": "paper diary",
        },
    )
    assert response.status_code == 200
    assert "Date must be on or after 2000-01-01." in response.content.decode()
    assert not DiaryEntry.objects.exists()


@pytest.mark.parametrize("as_of", ["1999-12-31", "0001-01-01"])
def test_as_of_before_2000_is_refused(as_of):
    with pytest.raises(CommandError, match="must be on or after 2000-01-01"):
        call_command("export_summaries", "--as-of", as_of, stdout=StringIO())


def test_the_cohort_page_refuses_an_as_of_before_2000(client, coordinator):
    response = client.get("/physician/cohort/", {"as_of": "1999-12-31"})
    assert "must be on or after 2000-01-01" in response.content.decode()


# A date the database holds anyway -----------------------------------------------------


@pytest.fixture(params=["9999-12-01", "9999-12-31", "0001-01-01"])
def stuck(request):
    """One enrollment whose start date was written by SQL outside the limits (in year
    9999, or year 1), beside one that is well, with the same physician; and an
    open-label one (whose kinds everyone sees) with an entry, a withdrawal and a pause of
    her reminders on the calendar's last days."""
    start = dt.date.fromisoformat(request.param)
    physician = PhysicianFactory(username="alice")
    well = EnrollmentFactory(study_id="FM-001", physician=physician, start_date=dt.date(2026, 2, 1))
    EntryFactory(enrollment=well, date=dt.date(2026, 3, 1))
    bad = EnrollmentFactory(study_id="FM-999", physician=physician, start_date=TODAY)
    Enrollment.objects.filter(pk=bad.pk).update(start_date=start)
    arm = make_arm([("baseline", 14), ("ldn", 84), ("followup", 14)])
    late = EnrollmentFactory(
        study_id="OL-999", physician=physician, arm=arm, protocol=arm.protocol, start_date=TODAY
    )
    entry = EntryFactory(enrollment=late, date=TODAY)
    DiaryEntry.objects.filter(pk=entry.pk).update(date=dt.date(9999, 12, 31))
    # Clinic visits on the calendar's edges: on her start, and on its last day.
    for enrollment, day in ((bad, start), (late, dt.date(9999, 12, 31))):
        visit = VisitFactory(enrollment=enrollment, visit_date=TODAY)
        Visit.objects.filter(pk=visit.pk).update(visit_date=day)
    Enrollment.objects.filter(pk=late.pk).update(
        start_date=dt.date(9999, 12, 25),
        reminders_paused_until=dt.date(9999, 12, 31),
    )
    withdrawn = EnrollmentFactory(
        study_id="OL-998", physician=physician, arm=arm, protocol=arm.protocol, start_date=TODAY
    )
    Enrollment.objects.filter(pk=withdrawn.pk).update(
        start_date=start, status="withdrawn", withdrawn_on=dt.date(9999, 12, 31)
    )
    return physician, well, bad


def test_a_start_date_in_9999_stops_no_page(client, stuck):
    physician, well, bad = stuck
    coordinator = CoordinatorFactory()
    for user in (physician, coordinator):
        client.force_login(user)
        for sort in SORTS:
            for url in ("/physician/", "/physician/calendar/"):
                response = client.get(url, {"sort": sort})
                assert response.status_code == 200, (url, sort)
                assert "FM-999" in response.content.decode()
        for study_id in ("FM-999", "OL-999", "OL-998", "FM-001"):
            assert client.get(f"/physician/patients/{study_id}/").status_code == 200
            response = client.get(f"/physician/patients/{study_id}/report.pdf")
            assert response.status_code == 200
            assert response["Content-Type"] == "application/pdf"
        assert client.get("/physician/cohort/").status_code == 200
        assert client.get("/physician/alerts/").status_code == 200
    for patient in (bad.patient, Enrollment.objects.get(study_id="OL-999").patient):
        client.force_login(patient)
        for url in (
            "/diary/",
            "/diary/history/",
            "/diary/settings/",
            "/diary/9999-12-31/",
            "/diary/0001-01-01/",
        ):
            assert client.get(url).status_code in (200, 403, 404), url
    client.force_login(coordinator)
    for url in (
        "/exports/",
        "/admin/diary/enrollment/",
        "/admin/diary/enrollment/?phase=treatment",
        f"/admin/diary/enrollment/{bad.pk}/change/",
        f"/admin/diary/enrollment/{bad.pk}/audit/",
        "/admin/diary/diaryentry/",
        "/admin/diary/visit/",
    ):
        assert client.get(url).status_code == 200, url


def test_a_start_date_in_9999_stops_no_file(stuck):
    for args in (
        ["export_summaries", "--format", "json"],
        ["export_summaries", "--format", "csv"],
        ["export_summaries", "--format", "json", "--unblinded", "--reason", "DSMB"],
        ["export_entries"],
        ["export_fhir"],
        ["export_visits"],
        ["export_visits", "--unblinded", "--reason", "DSMB"],
    ):
        out = StringIO()
        call_command(*args, stdout=out, stderr=StringIO())
        assert ("FM-999" if args[0] != "export_entries" else "FM-001") in out.getvalue(), args
    assert "OL-999,9999-12-31" in _run("export_visits")
    summary = json.loads(_run("export_summaries", "--format", "json"))
    assert summary


def _run(*args):
    out = StringIO()
    call_command(*args, stdout=out, stderr=StringIO())
    return out.getvalue()


def test_a_start_date_in_9999_stops_no_reminder_or_alert(stuck):
    _physician, well, _bad = stuck
    _run("send_reminders")
    # Everyone else is still reminded.
    assert [message.to for message in mail.outbox] == [[well.patient.email]]
    _run("send_alerts")


# No other door picks an arm -----------------------------------------------------------


def test_the_admin_change_page_never_changes_the_arm_or_the_start_date(client, coordinator):
    enrollment = EnrollmentFactory(start_date=dt.date(2026, 2, 1))
    other = builtin_arm("ldn-fm-2013", "B")
    response = client.post(
        f"/admin/diary/enrollment/{enrollment.pk}/change/",
        {
            "physician": enrollment.physician.pk,
            "status": "active",
            "timezone": "America/Los_Angeles",
            "reminder_time": "20:00",
            "arm": other.pk,
            "arm_allocation": other.pk,
            "start_date": "9999-12-01",
            "change_reason": "try",
        },
    )
    assert response.status_code == 302
    enrollment.refresh_from_db()
    assert (enrollment.arm.code, enrollment.start_date) == ("A", dt.date(2026, 2, 1))


def test_the_admin_change_page_refuses_a_pause_before_2000(client, coordinator):
    enrollment = EnrollmentFactory(start_date=dt.date(2026, 2, 1))
    response = client.post(
        f"/admin/diary/enrollment/{enrollment.pk}/change/",
        {
            "physician": enrollment.physician.pk,
            "status": "active",
            "timezone": "America/Los_Angeles",
            "reminder_time": "20:00",
            "reminders_paused_until": "1999-12-31",
            "change_reason": "try",
        },
    )
    assert response.status_code == 200
    assert "Date must be on or after 2000-01-01." in response.content.decode()


def test_a_stuck_enrollment_can_still_be_closed_in_the_admin(client, coordinator):
    # Its start date is not on the change page, so the limits do not stop other changes.
    enrollment = EnrollmentFactory(start_date=TODAY)
    Enrollment.objects.filter(pk=enrollment.pk).update(start_date=dt.date(9999, 12, 1))
    response = client.post(
        f"/admin/diary/enrollment/{enrollment.pk}/change/",
        {
            "physician": enrollment.physician.pk,
            "status": "completed",
            "timezone": "America/Los_Angeles",
            "reminder_time": "",
            "change_reason": "entered with a wrong start date",
        },
    )
    assert response.status_code == 302
    enrollment.refresh_from_db()
    assert (enrollment.status, enrollment.reminder_time) == ("completed", None)


@pytest.mark.parametrize("value", ["20260310", "2026-W10-2", "2026-02-30", "tomorrow"])
def test_export_summaries_takes_as_of_in_yyyy_mm_dd_only(value):
    from django.core.management import CommandError, call_command

    with pytest.raises(CommandError, match="YYYY-MM-DD"):
        call_command("export_summaries", "--as-of", value)
