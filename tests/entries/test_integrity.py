"""Nothing lost, nothing forged: each reproduction of a data-integrity problem, as a test."""

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from django.db import IntegrityError, transaction

from diary.entries.models import DiaryEntry
from diary.trial.models import Enrollment
from tests.factories import (
    CoordinatorFactory,
    EnrollmentFactory,
    EntryFactory,
    PhysicianFactory,
    builtin_arm,
    make_arm,
)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("frozen_clock")]

LA = ZoneInfo("America/Los_Angeles")
NOW = dt.datetime(2026, 3, 10, 12, 0, tzinfo=LA)
TODAY = NOW.date()
ANSWERS = {
    "pain": "2",
    "fatigue": "3",
    "sleep_quality": "8",
    "vivid_dreams": "no",
    "headache": "no",
    "dose_taken": "yes",
    "tolerability": "95",
    "notes": "",
}


@pytest.fixture
def enrollment():
    arm = make_arm([("baseline", 14), ("ldn", 28), ("followup", 14)])
    return EnrollmentFactory(
        arm=arm, protocol=arm.protocol, start_date=TODAY - dt.timedelta(days=18)
    )


def void(entry, reason="Entered for the wrong patient"):
    entry.voided, entry.void_reason = True, reason
    entry._change_reason = "Voided"
    entry.save()


# Voided days ------------------------------------------------------------------------


def test_a_voided_day_is_missing_for_the_patient_and_counts_again_once_she_saves_it(
    client, enrollment
):
    entry = EntryFactory(enrollment=enrollment, date=TODAY, pain=9, notes="wrong patient")
    void(entry)
    client.force_login(enrollment.patient)
    page = client.get("/diary/").content.decode()
    assert "You already saved this day" not in page
    assert 'value="9" checked' not in page and "wrong patient" not in page
    assert "state-open week-today" in page  # her strip: not recorded yet
    history = client.get("/diary/history/").content.decode()
    assert "wrong patient" not in history

    response = client.post("/diary/", ANSWERS, follow=True)
    assert "Your entry for today is saved." in response.content.decode()
    entry.refresh_from_db()
    assert (entry.voided, entry.void_reason, entry.pain, entry.source) == (False, "", 2, "patient")
    # The history keeps the voided values and the reason.
    versions = list(entry.history.order_by("history_date"))
    assert [(v.voided, v.pain, v.void_reason) for v in versions] == [
        (False, 9, ""),
        (True, 9, "Entered for the wrong patient"),
        (False, 2, ""),
    ]
    assert versions[-1].history_change_reason == (
        "Recorded again by the patient after it was voided"
    )
    assert DiaryEntry.objects.counting().filter(enrollment=enrollment).count() == 1


def test_a_voided_day_says_it_was_voided_to_her_and_to_staff_with_the_reason(client, enrollment):
    """Not shown as a recorded day nor as a plain missed one: her history and day page say
    "Voided" (without the reason, which is for staff); the physician's page says it, with
    the reason, and counts it among the missed days."""
    yesterday = TODAY - dt.timedelta(days=1)
    old_day = TODAY - dt.timedelta(days=5)
    for day in (yesterday, old_day):
        void(EntryFactory(enrollment=enrollment, date=day, pain=9, notes="wrong patient"))
    client.force_login(enrollment.patient)
    history = client.get("/diary/history/").content.decode()
    assert history.count('class="day-voided"><strong>Voided</strong>') == 2
    assert "Entered for the wrong patient" not in history and "wrong patient" not in history
    open_page = client.get(f"/diary/{yesterday:%Y-%m-%d}/").content.decode()
    assert "<strong>Voided</strong>" in open_page and "fill it in again" in open_page
    locked_page = client.get(f"/diary/{old_day:%Y-%m-%d}/").content.decode()
    assert "<strong>Voided</strong>" in locked_page
    assert "No entry was recorded for this day." not in locked_page
    assert "Entered for the wrong patient" not in open_page + locked_page

    client.force_login(enrollment.physician)
    page = client.get(f"/physician/patients/{enrollment.study_id}/").content.decode()
    assert page.count("<strong>Voided</strong> (not counted): Entered for the wrong patient") == 2
    assert page.count("missed</span> (1 voided)") == 2  # one in each phase
    assert page.count('class="day-voided-row"') == 2


def test_unvoiding_in_the_admin_clears_the_reason_and_asks_its_own(client, enrollment):
    entry = EntryFactory(enrollment=enrollment, date=TODAY - dt.timedelta(days=3))
    void(entry)
    client.force_login(CoordinatorFactory())
    data = {
        "pain": entry.pain,
        "fatigue": entry.fatigue,
        "sleep_quality": entry.sleep_quality,
        "vivid_dreams": "no",
        "headache": "no",
        "dose_taken": "yes",
        "tolerability": "90",
        "notes": "",
        "void_reason": entry.void_reason,
        "change_reason": "",
    }
    url = f"/admin/diary/diaryentry/{entry.pk}/change/"
    assert "Say why you make this change" in client.post(url, data).content.decode()
    response = client.post(url, {**data, "change_reason": "It was the right patient after all"})
    assert response.status_code == 302, response.content.decode()
    entry.refresh_from_db()
    assert (entry.voided, entry.void_reason) == (False, "")
    assert entry.history.first().history_change_reason == "It was the right patient after all"
    with pytest.raises(IntegrityError), transaction.atomic():
        DiaryEntry.objects.filter(pk=entry.pk).update(void_reason="stale")


# One open enrollment per patient and protocol -----------------------------------------


def test_a_patient_cannot_be_enrolled_twice_in_one_protocol(client):
    first = EnrollmentFactory(study_id="FM-001")
    with pytest.raises(IntegrityError), transaction.atomic():
        EnrollmentFactory(patient=first.patient, protocol=first.protocol, study_id="FM-002")
    client.force_login(CoordinatorFactory())
    response = client.post(
        "/admin/diary/enrollment/add/",
        {
            "study_id": "FM-003",
            "email": first.patient.email,
            "physician": PhysicianFactory().pk,
            "protocol": first.protocol.pk,
            "arm": "",
            "start_date": "2026-03-01",
            "timezone": "America/Chicago",
            "status": "active",
        },
    )
    assert (
        "This patient already takes part in ldn-fm-2013 as FM-001 (active); complete or "
        "withdraw that enrollment before enrolling her again."
    ) in response.content.decode()
    # Once that enrollment has ended, she may take part again.
    Enrollment.objects.filter(pk=first.pk).update(status="completed")
    EnrollmentFactory(patient=first.patient, protocol=first.protocol, study_id="FM-004")
    # Another protocol is no problem either.
    EnrollmentFactory(patient=first.patient, arm=builtin_arm("ldn-fm-2009", "P"))


# Input -------------------------------------------------------------------------------


def test_notes_count_a_line_break_as_one_character(client, enrollment):
    client.force_login(enrollment.patient)
    lines = "\r\n".join(["x" * 99] * 10)  # 990 letters and 9 line breaks: 999 characters
    response = client.post("/diary/", {**ANSWERS, "notes": lines})
    assert response.status_code == 302, response.content.decode()
    entry = DiaryEntry.objects.get()
    assert entry.notes == "\n".join(["x" * 99] * 10) and len(entry.notes) == 999
    too_long = lines + "\r\nxx"
    page = client.post("/diary/", {**ANSWERS, "notes": too_long}).content.decode()
    assert "(you wrote 1002)" in page


def test_a_past_days_questions_name_that_day(client, enrollment):
    client.force_login(enrollment.patient)
    page = client.get(f"/diary/{TODAY - dt.timedelta(days=1):%Y-%m-%d}/").content.decode()
    assert "Did you have a headache on Monday 9 March?" in page
    assert "Did you take the study capsule on Monday 9 March?" in page
    assert "How well did you sleep the night before Monday 9 March?" in page
    assert "today" not in page.split("<form", 1)[1].split("</form>")[0].lower()
    response = client.post(f"/diary/{TODAY - dt.timedelta(days=1):%Y-%m-%d}/", {"pain": "3"})
    assert "Answer yes or no: did you have a headache on Monday 9 March?" in (
        response.content.decode()
    )
    today = client.get("/diary/").content.decode()
    assert "Did you have a headache today?" in today


@pytest.mark.parametrize("as_of", ["2026-03-11", "2027-03-01", "garbage", "03/01/2026"])
def test_an_as_of_after_today_or_not_a_date_is_refused(client, enrollment, as_of):
    client.force_login(CoordinatorFactory())
    for url in ("/physician/cohort/", "/exports/"):
        response = client.get(url, {"as_of": as_of, "what": "summaries.json"})
        assert response.status_code == 400, url
        page = response.content.decode()
        assert "is after today (2026-03-10)" in page or "as YYYY-MM-DD" in page
    from django.core.management import CommandError, call_command

    if as_of[:4].isdigit() and "-" in as_of:
        with pytest.raises(CommandError, match="after today"):
            call_command("export_summaries", "--as-of", as_of)


def test_a_nul_byte_in_the_address_or_a_form_is_refused_not_an_error(client, enrollment):
    client.force_login(CoordinatorFactory())
    assert client.get("/physician/patients/%00/").status_code == 400
    assert client.get("/physician/cohort/", {"protocol": "ldn\x00"}).status_code == 400
    client.force_login(enrollment.patient)
    response = client.post("/diary/", {**ANSWERS, "notes": "a\x00b"})
    assert response.status_code == 400
    assert not DiaryEntry.objects.exists()


def test_head_on_healthz_answers_200(client):
    assert client.head("/healthz").status_code == 200
    assert client.get("/healthz").content == b"ok"


# Ended enrollments -------------------------------------------------------------------


def test_a_withdrawn_patient_reads_no_phase_and_a_closed_diary(client):
    arm = builtin_arm("ldn-fm-2013", "A")
    start = TODAY - dt.timedelta(days=50)
    enrollment = EnrollmentFactory(
        arm=arm, start_date=start, status="withdrawn", withdrawn_on=start + dt.timedelta(33)
    )
    client.force_login(enrollment.patient)
    page = client.get("/diary/").content.decode()
    assert (
        "Study day" not in page
        and "Treatment" not in page.split("<main", 1)[1].split('class="trend')[0]
    )
    assert "You left the study on Saturday 21 February 2026." in page
    assert "Daily reminder e-mail" not in page
    assert "<form" not in page.split("<main", 1)[1].split("<footer")[0]


def test_a_completed_patient_is_thanked_with_a_summary_of_her_days(client):
    arm = make_arm([("baseline", 10)])
    enrollment = EnrollmentFactory(
        arm=arm, protocol=arm.protocol, start_date=TODAY - dt.timedelta(days=20), status="completed"
    )
    for offset in range(7):
        EntryFactory(enrollment=enrollment, date=enrollment.start_date + dt.timedelta(offset))
    client.force_login(enrollment.patient)
    page = client.get("/diary/").content.decode()
    assert "You have completed the study. Thank you for taking part!" in page
    assert "You recorded 7 of your 10 diary days." in page
    assert "Daily reminder e-mail" not in page
    future = client.get(f"/diary/{TODAY - dt.timedelta(days=2):%Y-%m-%d}/").content.decode()
    assert "Your study schedule ended on" in future


# Safe files --------------------------------------------------------------------------

FORMULAS = ['=HYPERLINK("http://x","y")', "+SUM(1)", "-2+3+cmd|' /C calc'!A0", "@SUM(1,1)"]


def test_every_csv_neutralises_cells_a_spreadsheet_would_run(client, enrollment):
    for offset, note in enumerate(FORMULAS):
        EntryFactory(
            enrollment=enrollment, date=enrollment.start_date + dt.timedelta(offset), notes=note
        )
    EntryFactory(
        enrollment=enrollment, date=enrollment.start_date + dt.timedelta(9), notes="\t=1+1"
    )
    from io import StringIO

    from django.core.management import call_command

    out = StringIO()
    call_command("export_entries", stdout=out)
    client.force_login(CoordinatorFactory())
    download = client.get("/exports/", {"what": "entries.csv"})
    for text in (out.getvalue(), b"".join(download.streaming_content).decode()):
        for note in FORMULAS:
            assert f",{note}" not in text and f',"{note}' not in text
        assert "'=HYPERLINK" in text and "'+SUM(1)" in text and "'@SUM(1,1)" in text
        assert "'-2+3+cmd" in text and "'\t=1+1" in text
    entry = DiaryEntry.objects.first()
    entry.pain, entry._change_reason = 1, "=2+2"
    entry.save()
    audit = client.get(f"/admin/diary/enrollment/{enrollment.pk}/audit.csv")
    text = b"".join(audit.streaming_content).decode()
    assert ",'=2+2\n" in text and ",=2+2" not in text
    # Numbers stay numbers, negative ones too.
    from diary.files.exports import safe_cell

    assert [safe_cell(v) for v in (-3, "-12.5", "+4", 7.5, "2026-03-10")] == [
        -3,
        "-12.5",
        "+4",
        7.5,
        "2026-03-10",
    ]
    assert safe_cell("\t=1+1") == "'\t=1+1" and safe_cell("\r=1") == "'\r=1"


# Access log --------------------------------------------------------------------------


def test_every_staff_view_of_a_patients_data_is_in_the_access_log(client, enrollment):
    from diary.audit.models import DataAccess

    entry = EntryFactory(enrollment=enrollment, date=TODAY)
    client.force_login(enrollment.physician)
    client.get(f"/physician/patients/{enrollment.study_id}/")
    coordinator = CoordinatorFactory()
    client.force_login(coordinator)
    client.get(f"/admin/diary/enrollment/{enrollment.pk}/change/")
    client.get(f"/admin/diary/enrollment/{enrollment.pk}/audit/")
    client.get(f"/admin/diary/diaryentry/{entry.pk}/change/")
    client.get("/exports/", {"what": "entries.csv"})
    rows = [(row.who, row.what, row.study_id) for row in DataAccess.objects.order_by("at", "pk")]
    assert rows == [
        (enrollment.physician.username, "patient page", enrollment.study_id),
        (coordinator.username, "enrollment (admin)", enrollment.study_id),
        (coordinator.username, "audit trail", enrollment.study_id),
        (coordinator.username, "diary entry 2026-03-10 (admin)", enrollment.study_id),
        (coordinator.username, "entries.csv", ""),
    ]
    assert DataAccess.objects.order_by("pk").last().scope == "all protocols, 1 enrollments"
    page = client.get("/admin/diary/dataaccess/").content.decode()
    assert "patient page" in page and "entries.csv" in page
    assert (
        client.get(f"/admin/diary/dataaccess/{DataAccess.objects.first().pk}/change/").status_code
        == 200
    )
    assert client.post("/admin/diary/dataaccess/add/").status_code == 403
    # Reading is not a change: the patient's audit trail does not list it.
    trail = client.get(f"/admin/diary/enrollment/{enrollment.pk}/audit/").content.decode()
    assert "patient page" not in trail
    # The patient reading her own diary is not logged.
    before = DataAccess.objects.count()
    client.force_login(enrollment.patient)
    client.get("/diary/")
    assert DataAccess.objects.count() == before


def test_every_response_carries_a_csp_without_unsafe_inline_and_a_permissions_policy(client):
    for url in ("/accounts/login/", "/healthz", "/no-such-page/", "/manifest.webmanifest"):
        response = client.get(url)
        policy = response["Content-Security-Policy"]
        assert "script-src 'self'" in policy and "style-src 'self'" in policy, url
        assert "unsafe-inline" not in policy and "frame-ancestors 'none'" in policy, url
        assert "camera=()" in response["Permissions-Policy"], url
        assert "geolocation=()" in response["Permissions-Policy"], url
