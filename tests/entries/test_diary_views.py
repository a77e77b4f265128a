"""The patient's diary: today's form, past days, the entry window, validation, history."""

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.test import Client
from django.urls import reverse
from django.utils.formats import date_format

from diary.entries.models import DiaryEntry, EntrySource
from tests.factories import (
    CoordinatorFactory,
    EnrollmentFactory,
    EntryFactory,
    PatientFactory,
    make_arm,
)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("frozen_clock")]

LA = ZoneInfo("America/Los_Angeles")
# Noon in Los Angeles on 2026-03-10.
NOW = dt.datetime(2026, 3, 10, 12, 0, tzinfo=LA)
TODAY = dt.date(2026, 3, 10)

VALID = {
    "pain": "4",
    "fatigue": "6",
    "sleep_quality": "7",
    "vivid_dreams": "yes",
    "headache": "no",
    "notes": "Tired after work.",
}
TREATMENT = {**VALID, "dose_taken": "yes", "tolerability": "90"}


def day_url(day):
    return reverse("diary:day", args=[day])


# Who may see the diary -------------------------------------------------------------


def test_anonymous_is_sent_to_sign_in(client):
    for url in ("/diary/", "/diary/history/", "/diary/2026-03-09/"):
        response = client.get(url)
        assert response.status_code == 302
        assert response["Location"].startswith("/accounts/login/")


def test_physician_and_coordinator_get_404_on_the_patient_diary(client, enrollment):
    for user in (enrollment.physician, CoordinatorFactory()):
        client.force_login(user)
        assert client.get("/diary/").status_code == 404
        assert client.get("/diary/history/").status_code == 404
        assert client.post("/diary/", TREATMENT).status_code == 404
    assert not DiaryEntry.objects.exists()


def test_home_sends_each_role_to_its_page(client, enrollment):
    client.force_login(enrollment.patient)
    assert client.get("/")["Location"] == "/diary/"
    client.force_login(enrollment.physician)
    assert client.get("/")["Location"] == "/physician/"


def test_patient_sees_only_her_own_diary(client, enrollment):
    EntryFactory(enrollment=enrollment, date=dt.date(2026, 3, 9), notes="mine")
    other = EnrollmentFactory(arm=enrollment.arm, protocol=enrollment.protocol)
    EntryFactory(enrollment=other, date=dt.date(2026, 3, 9), notes="someone else's")
    client.force_login(other.patient)
    page = client.get("/diary/history/").content.decode()
    assert other.study_id in page
    assert enrollment.study_id not in page
    page = client.get("/diary/2026-03-09/").content.decode()
    assert "someone else" in page
    assert "mine" not in page


def test_patient_without_enrollment_is_told_the_diary_is_not_open(client):
    client.force_login(PatientFactory())
    response = client.get("/diary/")
    assert response.status_code == 200
    assert "not open yet" in response.content.decode()


# Today's form ----------------------------------------------------------------------


def test_today_shows_study_day_phase_and_every_item(patient_client):
    page = patient_client.get("/diary/").content.decode()
    assert "Study day 19" in page
    assert "LDN, day 5" in page
    for question in (
        "Your average pain over the last 24 hours",
        "Your average fatigue over the last 24 hours",
        "How well did you sleep last night?",
        "Did you have vivid or unusual dreams last night?",
        "Did you have a headache today?",
        "Did you take today&#x27;s study capsule?",
        "How well are you tolerating the study capsules?",
        "Anything else (side effects, events)?",
    ):
        assert question in page
    assert "0 = no pain" in page and "10 = worst pain imaginable" in page


def test_baseline_day_does_not_ask_about_capsules(client, enrollment):
    client.force_login(enrollment.patient)
    page = client.get(day_url(dt.date(2026, 3, 9))).content.decode()
    assert "capsule" in page  # 2026-03-09 is LDN day 4
    enrollment.start_date = dt.date(2026, 3, 5)  # today is baseline day 6
    enrollment.save()
    page = client.get("/diary/").content.decode()
    assert "Baseline, day 6" in page
    assert "capsule" not in page


def test_saving_today_creates_one_entry_with_a_confirmation(patient_client, enrollment):
    response = patient_client.post("/diary/", TREATMENT, follow=True)
    assert "Your entry for today is saved" in response.content.decode()
    entry = DiaryEntry.objects.get()
    assert entry.enrollment == enrollment
    assert entry.date == TODAY
    assert (entry.pain, entry.fatigue, entry.sleep_quality) == (4, 6, 7)
    assert entry.vivid_dreams is True and entry.headache is False
    assert entry.dose_taken is True and entry.tolerability == 90
    assert entry.notes == "Tired after work."
    assert entry.source == EntrySource.PATIENT
    assert entry.late is False


def test_saving_again_the_same_day_updates_the_one_entry(patient_client):
    patient_client.post("/diary/", TREATMENT)
    response = patient_client.post("/diary/", {**TREATMENT, "pain": "2"}, follow=True)
    assert "is updated" in response.content.decode()
    assert DiaryEntry.objects.count() == 1
    assert DiaryEntry.objects.get().pain == 2


def test_resaving_unchanged_answers_writes_no_history(patient_client):
    patient_client.post("/diary/", TREATMENT)
    response = patient_client.post("/diary/", TREATMENT, follow=True)
    assert "already up to date" in response.content.decode()
    assert DiaryEntry.history.count() == 1


def test_the_form_shows_the_saved_answers(patient_client):
    patient_client.post("/diary/", TREATMENT)
    page = patient_client.get("/diary/").content.decode()
    assert 'value="4" checked' in page or 'checked value="4"' in page or "checked" in page
    form = patient_client.get("/diary/").context["form"]
    assert form.initial["vivid_dreams"] == "yes"
    assert form.initial["headache"] == "no"
    assert form.initial["pain"] == 4


def test_every_change_is_kept_in_history_with_who_when_and_old_value(patient_client, enrollment):
    patient_client.post("/diary/", TREATMENT)
    with time_machine.travel(NOW + dt.timedelta(hours=2), tick=False):
        patient_client.post("/diary/", {**TREATMENT, "pain": "8"})
    entry = DiaryEntry.objects.get()
    first, second = entry.history.order_by("history_date")
    assert first.pain == 4 and second.pain == 8
    assert first.history_type == "+" and second.history_type == "~"
    assert first.history_user == enrollment.patient == second.history_user
    assert second.history_date - first.history_date == dt.timedelta(hours=2)
    assert first.history_change_reason == "Recorded by the patient"
    assert second.history_change_reason == "Corrected by the patient"


def test_outside_treatment_phases_capsule_answers_are_stored_blank(client, enrollment):
    enrollment.start_date = dt.date(2026, 3, 5)  # baseline
    enrollment.save()
    client.force_login(enrollment.patient)
    client.post("/diary/", {**VALID, "dose_taken": "yes", "tolerability": "50"})
    entry = DiaryEntry.objects.get()
    assert entry.dose_taken is None and entry.tolerability is None


# Validation ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("pain", "", "Choose your pain score from 0 to 10."),
        ("pain", "11", "Pain must be a whole number between 0 and 10."),
        ("pain", "-1", "Pain must be a whole number between 0 and 10."),
        ("pain", "four", "Pain must be a whole number between 0 and 10."),
        ("fatigue", "", "Choose your fatigue score from 0 to 10."),
        ("fatigue", "12", "Fatigue must be a whole number between 0 and 10."),
        ("sleep_quality", "", "Choose your sleep quality score from 0 to 10."),
        ("sleep_quality", "10.5", "Sleep quality must be a whole number between 0 and 10."),
        ("vivid_dreams", "", "Answer yes or no: did you have vivid or unusual dreams?"),
        ("vivid_dreams", "maybe", "Answer yes or no."),
        ("headache", "", "Answer yes or no: did you have a headache today?"),
        ("dose_taken", "", "Answer yes or no: did you take today&#x27;s study capsule?"),
        ("tolerability", "", "Choose your tolerability score from 0 to 100."),
        ("tolerability", "101", "Tolerability must be a whole number between 0 and 100."),
        ("notes", "x" * 1001, "Notes can be at most 1000 characters (you wrote 1001)"),
    ],
)
def test_invalid_answer_reshows_the_form_with_a_message_and_saves_nothing(
    patient_client, field, value, message
):
    response = patient_client.post("/diary/", {**TREATMENT, field: value})
    assert response.status_code == 400
    page = response.content.decode()
    assert message in page
    assert "Nothing was saved yet" in page
    assert f'id="error_1_id_{field}"' in page  # the message sits next to its field
    assert not DiaryEntry.objects.exists()


def test_invalid_correction_keeps_the_saved_entry(patient_client):
    patient_client.post("/diary/", TREATMENT)
    response = patient_client.post("/diary/", {**TREATMENT, "pain": "99"})
    assert response.status_code == 400
    assert DiaryEntry.objects.get().pain == 4


def test_notes_are_optional_and_may_be_1000_characters(patient_client):
    patient_client.post("/diary/", {**TREATMENT, "notes": ""})
    assert DiaryEntry.objects.get().notes == ""
    patient_client.post("/diary/", {**TREATMENT, "notes": "x" * 1000})
    assert len(DiaryEntry.objects.get().notes) == 1000


def test_all_boundary_scores_are_accepted(patient_client):
    patient_client.post(
        "/diary/",
        {**TREATMENT, "pain": "0", "fatigue": "10", "sleep_quality": "0", "tolerability": "100"},
    )
    entry = DiaryEntry.objects.get()
    assert (entry.pain, entry.fatigue, entry.sleep_quality, entry.tolerability) == (0, 10, 0, 100)


# The entry window ------------------------------------------------------------------


def test_yesterday_is_still_open_and_saved_as_late(patient_client):
    response = patient_client.post(day_url(TODAY - dt.timedelta(days=1)), TREATMENT)
    assert response.status_code == 302
    entry = DiaryEntry.objects.get()
    assert entry.date == TODAY - dt.timedelta(days=1)
    assert entry.late is True


def test_last_allowed_moment_for_a_day_is_the_end_of_the_next_day(patient_client):
    day = dt.date(2026, 3, 9)
    with time_machine.travel(dt.datetime(2026, 3, 10, 23, 59, 59, tzinfo=LA), tick=False):
        assert patient_client.post(day_url(day), TREATMENT).status_code == 302
    assert DiaryEntry.objects.get().date == day


def test_day_locks_at_midnight_after_the_grace_day(patient_client):
    day = dt.date(2026, 3, 9)
    with time_machine.travel(dt.datetime(2026, 3, 11, 0, 0, 1, tzinfo=LA), tick=False):
        response = patient_client.post(day_url(day), TREATMENT)
        assert response.status_code == 403
        assert "This day is locked" in response.content.decode()
        page = patient_client.get(day_url(day)).content.decode()
    assert "This day is locked" in page
    assert "diary-form" not in page
    assert not DiaryEntry.objects.exists()


def test_locked_day_shows_its_entry_read_only(patient_client, enrollment):
    EntryFactory(enrollment=enrollment, date=dt.date(2026, 3, 1), pain=7)
    page = patient_client.get(day_url(dt.date(2026, 3, 1))).content.decode()
    assert "This day is locked" in page
    assert "Your entry for this day" in page
    assert 'name="pain"' not in page


def test_correcting_a_locked_day_is_refused_and_keeps_the_entry(patient_client, enrollment):
    EntryFactory(enrollment=enrollment, date=dt.date(2026, 3, 1), pain=7)
    response = patient_client.post(day_url(dt.date(2026, 3, 1)), {**TREATMENT, "pain": "1"})
    assert response.status_code == 403
    assert DiaryEntry.objects.get().pain == 7


def test_grace_days_follow_the_setting(patient_client, settings):
    settings.DIARY_GRACE_DAYS = 2
    response = patient_client.post(day_url(TODAY - dt.timedelta(days=2)), TREATMENT)
    assert response.status_code == 302
    response = patient_client.post(day_url(TODAY - dt.timedelta(days=3)), TREATMENT)
    assert response.status_code == 403


def test_future_day_is_refused_with_a_message(patient_client):
    tomorrow = TODAY + dt.timedelta(days=1)
    page = patient_client.get(day_url(tomorrow)).content.decode()
    assert "has not started yet" in page
    response = patient_client.post(day_url(tomorrow), TREATMENT)
    assert response.status_code == 403
    assert not DiaryEntry.objects.exists()


def test_day_before_the_start_is_refused(patient_client):
    before = dt.date(2026, 2, 19)
    assert "before your study started" in patient_client.get(day_url(before)).content.decode()
    assert patient_client.post(day_url(before), VALID).status_code == 403
    assert not DiaryEntry.objects.exists()


def test_first_day_of_the_schedule_is_open_on_the_day(client, enrollment):
    enrollment.start_date = TODAY
    enrollment.save()
    client.force_login(enrollment.patient)
    assert client.post("/diary/", VALID).status_code == 302
    assert DiaryEntry.objects.get().date == TODAY


def test_day_after_the_schedule_is_refused(client, enrollment):
    enrollment.start_date = dt.date(2026, 1, 1)  # 56 days: last day 2026-02-25
    enrollment.save()
    client.force_login(enrollment.patient)
    page = client.get("/diary/").content.decode()
    end = date_format(dt.date(2026, 2, 25), "DIARY_DAY_FORMAT")
    assert f"Your study schedule ended on {end}, so this day has no diary entry." in page
    assert "Study day" not in page  # no phase after the schedule
    assert client.post("/diary/", VALID).status_code == 403
    assert not DiaryEntry.objects.exists()


def test_impossible_date_in_the_url_is_404(patient_client):
    assert patient_client.get("/diary/2026-02-30/").status_code == 404
    assert patient_client.get("/diary/2026-13-01/").status_code == 404


@pytest.mark.parametrize("status", ["screening", "completed"])
def test_only_an_active_enrollment_accepts_entries(client, enrollment, status):
    enrollment.status = status
    enrollment.save()
    client.force_login(enrollment.patient)
    response = client.post("/diary/", TREATMENT)
    assert response.status_code == 403
    assert not DiaryEntry.objects.exists()


def test_withdrawn_patient_cannot_enter_data_and_keeps_her_entries(client, enrollment):
    EntryFactory(enrollment=enrollment, date=dt.date(2026, 3, 1))
    enrollment.status = "withdrawn"
    enrollment.withdrawn_on = dt.date(2026, 3, 9)
    enrollment.save()
    client.force_login(enrollment.patient)
    assert client.post("/diary/", TREATMENT).status_code == 403
    assert client.post(day_url(dt.date(2026, 3, 9)), TREATMENT).status_code == 403
    assert DiaryEntry.objects.count() == 1
    assert "2026" in client.get("/diary/history/").content.decode()


def test_today_follows_the_patients_time_zone(client, enrollment):
    # 02:00 UTC on 2026-03-11 is still the evening of 2026-03-10 in Los Angeles,
    # and already the morning of 2026-03-11 in Madrid.
    enrollment.timezone = "Europe/Madrid"
    enrollment.save()
    client.force_login(enrollment.patient)
    with time_machine.travel(dt.datetime(2026, 3, 11, 2, 0, tzinfo=dt.UTC), tick=False):
        client.post("/diary/", TREATMENT)
    assert DiaryEntry.objects.get().date == dt.date(2026, 3, 11)
    enrollment.timezone = "America/Los_Angeles"
    enrollment.save()
    with time_machine.travel(dt.datetime(2026, 3, 11, 2, 0, tzinfo=dt.UTC), tick=False):
        client.post("/diary/", TREATMENT)
    assert sorted(DiaryEntry.objects.values_list("date", flat=True)) == [
        dt.date(2026, 3, 10),
        dt.date(2026, 3, 11),
    ]


# History ---------------------------------------------------------------------------


def test_history_lists_every_day_with_entries_and_gaps(patient_client, enrollment):
    EntryFactory(enrollment=enrollment, date=dt.date(2026, 3, 9), pain=3)
    page = patient_client.get("/diary/history/").content.decode()
    assert "Mon 9 Mar" in page
    assert "No entry" in page  # e.g. 2026-03-08
    response = patient_client.get("/diary/history/")
    days = response.context["days"]
    assert days[0].date == TODAY and days[-1].date == enrollment.start_date
    assert len(days) == 19
    assert [d.editable for d in days[:3]] == [True, True, False]


def test_history_blinds_treatment_labels_on_blinded_protocols(client):
    arm = make_arm([("baseline", 14), ("ldn", 28)], blinding="single")
    enrollment = EnrollmentFactory(arm=arm, protocol=arm.protocol, start_date=dt.date(2026, 2, 20))
    client.force_login(enrollment.patient)
    for url in ("/diary/", "/diary/history/"):
        page = client.get(url).content.decode()
        assert "Treatment" in page and "Treatment period" not in page
        assert "LDN" not in page
        assert "Placebo" not in page


# Query counts ----------------------------------------------------------------------


def test_diary_page_query_count_does_not_grow_with_entries(
    patient_client, enrollment, django_assert_num_queries
):
    # session, user, her enrollments (with protocol and arm), the phases of its protocol,
    # her entries, her per-phase figures (the means beside her symptom charts), her
    # study team's questions waiting for her
    with django_assert_num_queries(7):
        patient_client.get("/diary/")
    for offset in range(1, 18):
        EntryFactory(enrollment=enrollment, date=TODAY - dt.timedelta(days=offset))
    EnrollmentFactory.create_batch(3, arm=enrollment.arm, protocol=enrollment.protocol)
    with django_assert_num_queries(7):
        patient_client.get("/diary/")


def test_history_query_count_does_not_grow_with_entries(
    patient_client, enrollment, django_assert_num_queries
):
    with django_assert_num_queries(5):
        patient_client.get("/diary/history/")
    for offset in range(1, 18):
        EntryFactory(enrollment=enrollment, date=TODAY - dt.timedelta(days=offset))
    with django_assert_num_queries(5):
        patient_client.get("/diary/history/")


def test_form_opened_before_midnight_and_sent_after_saves_the_day_it_showed(patient_client):
    with time_machine.travel(dt.datetime(2026, 3, 10, 23, 58, tzinfo=LA), tick=False):
        page = patient_client.get("/diary/").content.decode()
    assert 'action="/diary/2026-03-10/"' in page
    with time_machine.travel(dt.datetime(2026, 3, 11, 0, 1, tzinfo=LA), tick=False):
        response = patient_client.post("/diary/2026-03-10/", TREATMENT)
    assert response.status_code == 302
    entry = DiaryEntry.objects.get()
    assert entry.date == TODAY
    assert entry.late is True  # first saved after its day ended


def test_posting_today_by_its_date_saves_today_and_returns_to_the_diary(patient_client):
    response = patient_client.post(day_url(TODAY), TREATMENT)
    assert response["Location"] == "/diary/"
    assert DiaryEntry.objects.get().date == TODAY


def test_expired_form_token_says_nothing_was_saved(enrollment):
    client = Client(enforce_csrf_checks=True)
    client.force_login(enrollment.patient)
    response = client.post("/diary/", TREATMENT)
    assert response.status_code == 403
    assert "Nothing was saved" in response.content.decode()
    assert not DiaryEntry.objects.exists()
