"""Daily reminder e-mails, and the link in them that pauses or stops them.

`send_reminders` (the management command, run every few minutes from cron or a systemd
timer on any number of servers) calls `send_due_reminders`. A reminder is due for an
enrollment when, in the patient's own time zone, it is past her reminder time, today is
a day of her schedule that she can still fill in, she has not recorded it, and her
reminders are not paused. It is sent at most once per diary day: the day is first
claimed with a row whose unique constraint only one run can insert.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from functools import partial

from django.conf import settings
from django.core import signing
from django.core.mail import EmailMessage
from django.template.loader import render_to_string
from django.utils import timezone, translation

from diary.entries import daily_mail, window
from diary.entries.models import DiaryEntry, Reminder
from diary.links import public_url
from diary.people.languages import language_of
from diary.trial.dates import local_today, zone_named
from diary.trial.models import Enrollment

logger = logging.getLogger(__name__)


@dataclass
class RunResult(daily_mail.MailCounts):
    """What one run of send_reminders did."""


REMINDER_LINK_SALT = "diary.reminders"


def reminder_link_token(enrollment: Enrollment) -> str:
    """The secret of a reminder e-mail's pause/stop link: signed, so it works without
    signing in and cannot be made up for another enrollment. It does not expire: an old
    e-mail can always stop the reminders."""
    return signing.Signer(salt=REMINDER_LINK_SALT).sign_object(enrollment.pk)


def settings_link(enrollment: Enrollment) -> str:
    token = reminder_link_token(enrollment)
    return public_url("reminder_link", token)


def is_due(enrollment: Enrollment, now: dt.datetime, recorded: bool, reminded: bool) -> bool:
    """Whether her reminder for the current diary day should go out at `now`."""
    if enrollment.reminder_time is None or recorded or reminded:
        return False
    day = enrollment.local_today(now)
    # A time of day in the zone her diary follows at `now` (after a change, from
    # her first day in the new zone).
    if now.astimezone(zone_named(enrollment.zone_at(now))).time() < enrollment.reminder_time:
        return False
    paused = enrollment.reminders_paused_until
    if paused and day <= paused:
        return False
    # Active, within the schedule, not after a withdrawal: the day can be filled in.
    return window.patient_refusal(enrollment, day, day) is None


def due_reminders(now: dt.datetime) -> list[tuple[Enrollment, dt.date]]:
    """Enrollments whose reminder is due at `now`, with the diary day; four queries."""
    enrollments = list(
        Enrollment.objects.active()
        .filter(reminder_time__isnull=False, patient__is_active=True)
        .with_schedule()
    )
    # Every diary day is within a day of UTC's date, after zone changes too (the
    # lag of docs/domain.md, "Time zone changes", keeps it so).
    utc_today = local_today("UTC", now)
    days = (utc_today - dt.timedelta(days=1), utc_today + dt.timedelta(days=1))
    recorded = set(
        DiaryEntry.objects.counting()
        .filter(date__range=days, enrollment__in=[e.pk for e in enrollments])
        .values_list("enrollment_id", "date")
    )
    reminded = set(Reminder.objects.filter(date__range=days).values_list("enrollment_id", "date"))
    due = []
    for enrollment in enrollments:
        day = enrollment.local_today(now)
        key = (enrollment.pk, day)
        if is_due(enrollment, now, key in recorded, key in reminded):
            due.append((enrollment, day))
    return due


def claim(enrollment: Enrollment, day: dt.date) -> Reminder | None:
    """Insert the day's mark, or None if another run already did (daily_mail.claim)."""
    return daily_mail.claim(Reminder, enrollment=enrollment, date=day)


def reminder_message(enrollment: Enrollment, day: dt.date) -> EmailMessage:
    patient = enrollment.patient
    link = settings_link(enrollment)
    with translation.override(language_of(patient)):
        context = {
            "enrollment": enrollment,
            "patient": patient,
            "day": day,
            "today_link": public_url("diary:today"),
            "settings_link": link,
            "snooze_days": settings.REMINDER_SNOOZE_DAYS,
        }
        subject = render_to_string("diary/email/reminder_subject.txt", context)
        body = render_to_string("diary/email/reminder.txt", context)
    return EmailMessage(
        subject=" ".join(subject.split()),
        body=body,
        to=[patient.email],
        # RFC 2369 / 8058: mail programs show an "Unsubscribe" button that posts here.
        headers={
            "List-Unsubscribe": f"<{link}>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
        },
    )


def send_due_reminders(now: dt.datetime | None = None) -> RunResult:
    now = now or timezone.now()
    result = RunResult()
    for enrollment, day in due_reminders(now):
        if not enrollment.patient.email:
            continue
        mark = claim(enrollment, day)
        if mark is None:
            result.already_claimed += 1
            continue
        # She may have saved the day between the query above and the claim.
        if DiaryEntry.objects.counting().filter(enrollment=enrollment, date=day).exists():
            continue
        message = partial(reminder_message, enrollment, day)
        failure = "Reminder for %s on %s could not be sent"
        if not daily_mail.send_or_give_back(mark, message, logger, failure, enrollment, day):
            result.failed += 1
            continue
        Reminder.objects.filter(pk=mark.pk).update(sent_at=timezone.now())
        result.sent += 1
    return result


# The e-mail's link -----------------------------------------------------------------


def pause(enrollment: Enrollment, today: dt.date, how: str) -> None:
    enrollment.reminders_paused_until = today + dt.timedelta(days=settings.REMINDER_SNOOZE_DAYS - 1)
    _save(enrollment, f"Reminders paused by the patient ({how})")


def stop(enrollment: Enrollment, how: str) -> None:
    enrollment.reminder_time = None
    _save(enrollment, f"Reminders stopped by the patient ({how})")


def set_time(enrollment: Enrollment, time: dt.time | None, how: str) -> None:
    enrollment.reminder_time = time
    enrollment.reminders_paused_until = None
    change = f"set to {time:%H:%M}" if time else "stopped"
    _save(enrollment, f"Reminders {change} by the patient ({how})")


def _save(enrollment: Enrollment, reason: str) -> None:
    enrollment._change_reason = reason
    enrollment.save(update_fields=["reminder_time", "reminders_paused_until"])
