"""The edges of the entry window, as the patient meets them: a day opened just before it
closed and sent just after keeps her answers (shown again, one message, and today
offered when today is open), and a read-only patient is told only what is true."""

import datetime as dt
import re
from zoneinfo import ZoneInfo

import pytest
import time_machine

from diary.entries.models import DiaryEntry, EntryRefused
from tests.entries.test_diary_views import day_url
from tests.factories import EntryFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("frozen_clock")]

LA = ZoneInfo("America/Los_Angeles")
NOW = dt.datetime(2026, 3, 10, 12, 0, tzinfo=LA)
TODAY = dt.date(2026, 3, 10)
YESTERDAY = TODAY - dt.timedelta(days=1)
# Sent one minute after midnight: yesterday (opened at 23:59 the day before) is locked.
AFTER_MIDNIGHT = dt.datetime(2026, 3, 11, 0, 1, tzinfo=LA)
NEW_TODAY = dt.date(2026, 3, 11)

ANSWERS = {
    "pain": "4",
    "fatigue": "6",
    "sleep_quality": "7",
    "vivid_dreams": "yes",
    "headache": "no",
    "dose_taken": "yes",
    "tolerability": "90",
    "notes": "Typed at 23:59, sent too late.",
}


def checked(page: str, name: str) -> str | None:
    """The value of the checked radio `name` on the page."""
    for tag in re.findall(r"<input[^>]*>", page):
        if f'name="{name}"' in tag and " checked" in tag:
            return re.search(r'value="([^"]*)"', tag).group(1)
    return None


def shows_answers(page: str) -> bool:
    return (
        checked(page, "pain") == "4"
        and checked(page, "fatigue") == "6"
        and checked(page, "sleep_quality") == "7"
        and checked(page, "vivid_dreams") == "yes"
        and checked(page, "headache") == "no"
        and "Typed at 23:59, sent too late." in page
    )


def open_yesterday_at_2359(client):
    """She opens yesterday's page at 23:59 (its last minute) and sees the form."""
    with time_machine.travel(dt.datetime(2026, 3, 10, 23, 59, tzinfo=LA), tick=False):
        page = client.get(day_url(YESTERDAY)).content.decode()
    assert f'action="{day_url(YESTERDAY)}"' in page


# Answers kept at the end of the window --------------------------------------------


def test_answers_sent_after_the_window_closed_are_shown_again_with_one_message(
    patient_client,
):
    open_yesterday_at_2359(patient_client)
    with time_machine.travel(AFTER_MIDNIGHT, tick=False):
        response = patient_client.post(day_url(YESTERDAY), ANSWERS)
    page = response.content.decode()
    assert response.status_code == 403
    assert shows_answers(page)
    assert page.count("This day is locked") == 1  # one message, not two
    assert page.count("Nothing was saved") == 1
    assert not DiaryEntry.objects.exists()


def test_today_is_offered_for_the_answers_and_saves_only_when_she_asks(patient_client):
    open_yesterday_at_2359(patient_client)
    with time_machine.travel(AFTER_MIDNIGHT, tick=False):
        page = patient_client.post(day_url(YESTERDAY), ANSWERS).content.decode()
        assert not DiaryEntry.objects.exists()  # nothing saved to another day silently
        # The form she gets back posts to today, by its date, and says so.
        assert f'action="{day_url(NEW_TODAY)}"' in page
        assert 'value="Save these answers for today"' in page
        assert "is open: you can save them for today instead" in page
        assert "You already saved today" not in page
        response = patient_client.post(day_url(NEW_TODAY), ANSWERS)
    assert response.status_code == 302
    assert response["Location"] == "/diary/"
    entry = DiaryEntry.objects.get()
    assert entry.date == NEW_TODAY
    assert (entry.pain, entry.fatigue, entry.sleep_quality) == (4, 6, 7)
    assert entry.notes == "Typed at 23:59, sent too late."


def test_the_offer_says_it_replaces_an_entry_already_saved_today(patient_client, enrollment):
    EntryFactory(enrollment=enrollment, date=NEW_TODAY, pain=2)
    with time_machine.travel(AFTER_MIDNIGHT, tick=False):
        page = patient_client.post(day_url(YESTERDAY), ANSWERS).content.decode()
    assert shows_answers(page)  # her new answers, not today's saved ones
    assert "You already saved today: saving these answers replaces today" in page
    assert DiaryEntry.objects.get().pain == 2


def test_the_day_changed_under_her_without_grace(patient_client, settings):
    # No grace day: today's page opened at 23:59 and sent after midnight is locked;
    # the new day is open and offered.
    settings.DIARY_GRACE_DAYS = 0
    with time_machine.travel(dt.datetime(2026, 3, 10, 23, 59, tzinfo=LA), tick=False):
        assert f'action="{day_url(TODAY)}"' in patient_client.get("/diary/").content.decode()
    with time_machine.travel(AFTER_MIDNIGHT, tick=False):
        response = patient_client.post(day_url(TODAY), ANSWERS)
        page = response.content.decode()
        assert response.status_code == 403
        assert shows_answers(page)
        assert page.count("This day is locked") == 1
        assert f'action="{day_url(NEW_TODAY)}"' in page
        assert patient_client.post(day_url(NEW_TODAY), ANSWERS).status_code == 302
    assert DiaryEntry.objects.get().date == NEW_TODAY


def test_grace_days_keep_a_day_open_longer(patient_client, settings):
    settings.DIARY_GRACE_DAYS = 2
    open_yesterday_at_2359(patient_client)
    with time_machine.travel(AFTER_MIDNIGHT, tick=False):
        assert patient_client.post(day_url(YESTERDAY), ANSWERS).status_code == 302
    assert DiaryEntry.objects.get().date == YESTERDAY


def test_a_refusal_under_the_lock_also_keeps_her_answers(patient_client, monkeypatch):
    # The window closes between the page's check and the locked save.
    def refuse(*args):
        raise EntryRefused("This day is locked: too late by a moment.")

    monkeypatch.setattr("diary.entries.window.record_patient_entry", refuse)
    response = patient_client.post(day_url(YESTERDAY), ANSWERS)
    page = response.content.decode()
    assert response.status_code == 403
    assert shows_answers(page)
    assert page.count("too late by a moment") == 1
    assert f'action="{day_url(TODAY)}"' in page


def test_future_day_keeps_the_answers_and_offers_today(patient_client):
    response = patient_client.post(day_url(TODAY + dt.timedelta(days=1)), ANSWERS)
    page = response.content.decode()
    assert response.status_code == 403
    assert shows_answers(page)
    assert page.count("has not started yet") == 1
    assert f'action="{day_url(TODAY)}"' in page


@pytest.mark.parametrize("status", ["completed", "withdrawn"])
def test_a_closed_diary_shows_the_answers_read_only_with_no_offer(client, enrollment, status):
    enrollment.status = status
    enrollment.withdrawn_on = TODAY - dt.timedelta(days=2) if status == "withdrawn" else None
    enrollment.save()
    client.force_login(enrollment.patient)
    response = client.post("/diary/", ANSWERS)
    page = response.content.decode()
    assert response.status_code == 403
    assert shows_answers(page)
    assert page.count("Nothing was saved") == 1
    assert "Your answers are kept below, but they are not saved." in page
    assert '<fieldset disabled class="answers-kept">' in page
    assert "submit-id-save" not in page
    assert not DiaryEntry.objects.exists()


def test_the_kept_answers_page_is_translated(patient_client, enrollment):
    from tests.people.test_translations import both, untranslated

    EntryFactory(enrollment=enrollment, date=NEW_TODAY, pain=2)
    own = {enrollment.study_id, enrollment.patient.username, ANSWERS["notes"]}
    with time_machine.travel(AFTER_MIDNIGHT, tick=False):
        pages = both(patient_client, "post", day_url(YESTERDAY), ANSWERS)
    assert "Guardar estas respuestas para hoy" in pages[1]
    assert untranslated(*pages, allowed=own) == set()
    enrollment.status = "completed"
    enrollment.save()
    pages = both(patient_client, "post", "/diary/", ANSWERS)
    assert untranslated(*pages, allowed=own) == set()


# A read-only patient is told only what is true ----------------------------------


def end(enrollment, status):
    enrollment.status = status
    enrollment.withdrawn_on = TODAY - dt.timedelta(days=2) if status == "withdrawn" else None
    enrollment.save()


@pytest.mark.parametrize(
    ("status", "said"),
    [
        ("completed", "You have completed the study; the diary is closed."),
        ("withdrawn", "You have left the study; the diary is closed."),
    ],
)
def test_a_read_only_history_does_not_offer_corrections(patient_client, enrollment, status, said):
    EntryFactory(enrollment=enrollment, date=YESTERDAY)
    end(enrollment, status)
    page = patient_client.get("/diary/history/").content.decode()
    assert said in page
    assert "correct a day" not in page
    assert ">Correct<" not in page and ">Fill in<" not in page


def test_an_active_history_says_how_long_a_day_stays_open(patient_client, enrollment):
    EntryFactory(enrollment=enrollment, date=YESTERDAY)
    page = patient_client.get("/diary/history/").content.decode()
    assert "You can fill in or correct a day until the end of the next day." in page
    assert ">Correct<" in page


@pytest.mark.parametrize("status", ["completed", "withdrawn"])
def test_read_only_settings_offer_no_reminders_and_keep_the_language(
    patient_client, enrollment, status
):
    enrollment.reminder_time = None
    enrollment.save()
    end(enrollment, status)
    page = patient_client.get("/diary/settings/").content.decode()
    assert "Reminder e-mails are off: the study has ended for you" in page
    assert 'name="reminder_time"' not in page
    assert 'name="language"' in page
    response = patient_client.post("/diary/settings/", {"reminder_time": "21:00", "language": "es"})
    assert response.status_code == 302  # the language is saved
    enrollment.refresh_from_db()
    assert enrollment.reminder_time is None  # and no reminder is turned on
    assert enrollment.reminders_paused_until is None


def test_read_only_settings_leave_a_stored_time_alone_and_send_nothing(patient_client, enrollment):
    from diary.entries import reminders

    enrollment.reminder_time = dt.time(20, 0)
    enrollment.save()
    end(enrollment, "completed")
    patient_client.post("/diary/settings/", {"reminder_time": "", "language": "en"})
    patient_client.post("/diary/settings/", {"reminder_time": "06:00", "language": "en"})
    enrollment.refresh_from_db()
    assert enrollment.reminder_time == dt.time(20, 0)  # untouched, and never used:
    late = dt.datetime(2026, 3, 10, 21, 0, tzinfo=LA)
    assert reminders.due_reminders(late) == []


def test_active_settings_still_offer_reminders(patient_client, enrollment):
    page = patient_client.get("/diary/settings/").content.decode()
    assert 'name="reminder_time"' in page
    assert "the study has ended for you" not in page
    patient_client.post("/diary/settings/", {"reminder_time": "21:00", "language": "en"})
    enrollment.refresh_from_db()
    assert enrollment.reminder_time == dt.time(21, 0)


@pytest.mark.parametrize("status", ["completed", "withdrawn"])
def test_read_only_history_and_settings_are_translated(patient_client, enrollment, status):
    from tests.people.test_translations import both, untranslated

    EntryFactory(enrollment=enrollment, date=YESTERDAY)
    end(enrollment, status)
    own = {enrollment.study_id, enrollment.patient.username}
    for url in ("/diary/history/", "/diary/settings/"):
        assert untranslated(*both(patient_client, "get", url), allowed=own) == set(), url
