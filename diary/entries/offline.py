"""Answers saved on the patient's phone without a network, arriving later (docs/domain.md,
"Offline diary"). Each carries the phone's id for it (a UUID), the moment she answered
(with its UTC offset) and the day her page showed. The server accepts an id once and
answers a resend with the stored outcome; every rule of an online save applies (the
form's ranges, the entry window at the answered moment, her enrollment's status, locks),
through the same form and the same save (`window.record_patient_entry`)."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext, ngettext

from diary.entries.forms import DiaryEntryForm
from diary.entries.models import DiaryEntry, EntryRefused, OfflineAnswer, OfflineOutcome
from diary.entries.window import patient_refusal, record_patient_entry
from diary.trial.models import Enrollment

# How far ahead of the server's clock an answered moment may be (a phone's clock drifts).
CLOCK_TOLERANCE = dt.timedelta(minutes=5)


class BadAnswer(ValueError):
    """The sent answer cannot be read at all (not a refusal: nothing is stored)."""


@dataclass(frozen=True)
class Sent:
    """What the phone is told about one queued answer."""

    outcome: str  # an OfflineOutcome value, or "foreign"
    message: str
    day: dt.date | None

    def as_json(self) -> dict:
        return {
            "result": self.outcome,
            "message": self.message,
            "day": self.day.isoformat() if self.day else None,
            "day_label": date_format(self.day, "DIARY_DAY_FORMAT") if self.day else "",
        }


def read(payload: dict) -> tuple[uuid.UUID, dt.datetime, dt.date, dict]:
    """The client id, the answered moment, the day shown and the answers, or BadAnswer."""
    if not isinstance(payload, dict):
        raise BadAnswer("Send one answer as a JSON object.")
    try:
        client_id = uuid.UUID(str(payload.get("client_id", "")))
    except ValueError:
        raise BadAnswer("client_id must be a UUID.") from None
    try:
        answered_at = dt.datetime.fromisoformat(str(payload.get("answered_at", "")))
    except ValueError:
        raise BadAnswer("answered_at must be an ISO 8601 moment with its UTC offset.") from None
    if answered_at.tzinfo is None:
        raise BadAnswer("answered_at must carry its UTC offset (e.g. 2026-03-10T21:05:00-08:00).")
    try:
        day = dt.date.fromisoformat(str(payload.get("day", "")))
    except ValueError:
        raise BadAnswer("day must be a date (YYYY-MM-DD).") from None
    answers = payload.get("answers")
    if not isinstance(answers, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in answers.items()
    ):
        raise BadAnswer("answers must be an object of the form's fields and their values.")
    return client_id, answered_at, day, answers


def receive(enrollment: Enrollment, user, payload: dict) -> Sent:
    """Store one queued answer of the signed-in patient (or refuse it, with her reason)
    once; a resend of the same client id gets the stored outcome and changes nothing."""
    client_id, answered_at, day, answers = read(payload)
    stored = _stored(client_id, enrollment)
    if stored is not None:
        return stored
    try:
        with transaction.atomic():
            outcome, message, entry = _apply(enrollment, user, answered_at, day, answers)
            OfflineAnswer.objects.create(
                client_id=client_id,
                enrollment=enrollment,
                day=day,
                answered_at=answered_at,
                received_at=timezone.now(),
                outcome=outcome,
                message=message,
                entry=entry,
            )
    except IntegrityError:
        # The same answer sent twice at once: the other request stored it first.
        stored = _stored(client_id, enrollment)
        if stored is None:
            raise
        return stored
    return Sent(outcome, message, day)


def _stored(client_id: uuid.UUID, enrollment: Enrollment) -> Sent | None:
    row = OfflineAnswer.objects.filter(client_id=client_id).first()
    if row is None:
        return None
    if row.enrollment_id != enrollment.pk:
        # Another patient's id: nothing changes and nothing of hers is told.
        return Sent("foreign", gettext("This answer cannot be sent from this account."), None)
    return Sent(row.outcome, row.message, row.day)


def _apply(enrollment, user, answered_at, day, answers):
    """(outcome, message, entry) for one answer, saved through the online save."""
    now = timezone.now()
    zone = enrollment.zoneinfo
    if answered_at > now + CLOCK_TOLERANCE:
        return (
            OfflineOutcome.REFUSED,
            gettext(
                "Your phone's clock is ahead: this answer says it was given at %(then)s, "
                "but it is now %(now)s. Set your phone's date and time right, then answer "
                "again."
            )
            % {
                "then": date_format(answered_at.astimezone(zone), "DATETIME_FORMAT"),
                "now": date_format(now.astimezone(zone), "DATETIME_FORMAT"),
            },
            None,
        )
    days = settings.DIARY_OFFLINE_DAYS
    if now - answered_at > dt.timedelta(days=days):
        return (
            OfflineOutcome.REFUSED,
            ngettext(
                "This answer waited on your phone for more than %(days)d day, so it can "
                "no longer be sent. If that day matters, tell your study coordinator.",
                "This answer waited on your phone for more than %(days)d days, so it can "
                "no longer be sent. If that day matters, tell your study coordinator.",
                days,
            )
            % {"days": days},
            None,
        )
    answered_on = answered_at.astimezone(zone).date()
    refusal = patient_refusal(enrollment, day, answered_on)
    if refusal:
        return OfflineOutcome.REFUSED, refusal, None
    span = enrollment.schedule.span_on(day)
    form = DiaryEntryForm(answers, treatment_phase=span.is_treatment, action="")
    if not form.is_valid():
        problems = [
            f"{form.fields[name].label}: {' '.join(errors)}" if name in form.fields else errors[0]
            for name, errors in form.errors.items()
        ]
        message = gettext("Nothing was saved: %(problems)s") % {"problems": " ".join(problems)}
        return OfflineOutcome.REFUSED, message, None
    values = {name: form.cleaned_data.get(name) for name in DiaryEntryForm.Meta.fields}
    if not span.is_treatment:
        values["dose_taken"] = values["tolerability"] = None
    before = DiaryEntry.objects.filter(enrollment=enrollment, date=day).first()
    try:
        entry, changed = record_patient_entry(
            enrollment, day, values, user, answered_at=answered_at
        )
    except EntryRefused as refused:
        return OfflineOutcome.REFUSED, str(refused), None
    if not changed:
        return OfflineOutcome.UNCHANGED, "", entry
    if before is not None and entry.answered_at != answered_at:
        return (
            OfflineOutcome.KEPT_LATER,
            gettext(
                "You answered this day again later; your later answers are kept and these "
                "are in its history."
            ),
            entry,
        )
    return OfflineOutcome.SAVED, "", entry
