"""Data queries (the Data Resolution Workflow): the one place for who raises, answers,
closes and reopens a query, what each step needs, and the patient's correction of a
queried day outside her entry window. Every step is an audit event; none touches
locked data."""

from __future__ import annotations

import datetime as dt

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext

from diary.audit.models import AuditAction, AuditEvent
from diary.entries.models import DiaryEntry, EntrySource
from diary.entries.window import day_problem
from diary.queries.models import QUERY_TEXT_MAX, DataQuery, QueryStatus, QueryTarget
from diary.trial.locks import lock_problem, patient_lock_message
from diary.trial.models import Enrollment
from diary.visits.models import Visit


class QueryRefused(ValidationError):
    """Nothing changed; the message says what to fix."""


def _text(value: str, what: str) -> str:
    value = (value or "").strip()
    if not value:
        raise QueryRefused(f"Write {what}.")
    if len(value) > QUERY_TEXT_MAX:
        raise QueryRefused(
            f"{what[0].upper()}{what[1:]} is {len(value)} characters long; keep it to "
            f"{QUERY_TEXT_MAX}."
        )
    return value


def _staff(enrollment: Enrollment, by) -> None:
    if not (by.is_coordinator or (by.is_physician and enrollment.physician_id == by.pk)):
        raise QueryRefused("Only her physician or a coordinator raises and closes queries.")


def _event(action, query: DataQuery, by, *, reason: str = "", details=None) -> None:
    AuditEvent.objects.create(
        action=action,
        actor=by,
        actor_name=by.username,
        protocol_id=query.enrollment.protocol_id,
        enrollment=query.enrollment,
        reason=reason,
        details={"query": f"#{query.pk}", "target": query.target, "date": f"{query.date}"}
        | (details or {}),
    )


def _lock(enrollment: Enrollment) -> Enrollment:
    """Her enrollment row, locked for this transaction, refused if her data are locked."""
    locked = Enrollment.objects.select_for_update().select_related("protocol").get(pk=enrollment.pk)
    problem = lock_problem(locked)
    if problem:
        raise QueryRefused(problem)
    return locked


def raise_query(
    enrollment: Enrollment,
    by,
    *,
    text: str,
    date: dt.date | None = None,
    visit: Visit | None = None,
) -> DataQuery:
    """A query on one diary day (an entry or a missing day) or on one visit of hers."""
    _staff(enrollment, by)
    text = _text(text, "the question")
    if (date is None) == (visit is None):
        raise QueryRefused("A query is about one diary day or one visit: choose one.")
    with transaction.atomic():
        locked = _lock(enrollment)
        if visit is not None:
            if visit.enrollment_id != enrollment.pk:
                raise QueryRefused("That visit is not hers.")
            target, day = QueryTarget.VISIT, visit.visit_date
        else:
            problem = day_problem(enrollment, date, enrollment.local_today())
            if problem is not None:
                raise QueryRefused(problem.for_staff(enrollment, date, enrollment.local_today()))
            target, day = QueryTarget.ENTRY, date
        query = DataQuery.objects.create(
            enrollment=locked,
            target=target,
            date=day,
            visit=visit,
            text=text,
            raised_by=by,
            raised_at=timezone.now(),
        )
        _event(AuditAction.QUERY_RAISED, query, by, details={"text": text})
    if target == QueryTarget.ENTRY:
        from diary.queries import mail

        mail.send_after_commit(query)
    return query


def answer_query(query: DataQuery, by, answer: str) -> DataQuery:
    """A day query is answered by the patient, in her words; a visit query by staff."""
    with transaction.atomic():
        query = DataQuery.objects.select_for_update().select_related("enrollment").get(pk=query.pk)
        enrollment = query.enrollment
        if query.target == QueryTarget.ENTRY:
            if enrollment.patient_id != by.pk:
                raise QueryRefused(
                    "A question about a diary day is answered by the patient herself; staff "
                    "never answer for her."
                )
            locked = patient_lock_message(enrollment)
            if locked:
                raise QueryRefused(locked)
            answer = (answer or "").strip()
            if not answer:
                raise QueryRefused(gettext("Write your answer."))
            if len(answer) > QUERY_TEXT_MAX:
                raise QueryRefused(
                    gettext("Your answer is %(n)d characters long; keep it to %(max)d.")
                    % {"n": len(answer), "max": QUERY_TEXT_MAX}
                )
        else:
            _staff(enrollment, by)
            answer = _text(answer, "the answer")
            problem = lock_problem(enrollment)
            if problem:
                raise QueryRefused(problem)
        if query.status == QueryStatus.CLOSED:
            raise QueryRefused(
                gettext("This question is closed already; your study team has what it needs.")
                if query.target == QueryTarget.ENTRY
                else "This query is closed; reopen it with a reason first."
            )
        query.status = QueryStatus.ANSWERED
        query.answer, query.answered_by, query.answered_at = answer, by, timezone.now()
        query.save(update_fields=["status", "answer", "answered_by", "answered_at"])
        _event(AuditAction.QUERY_ANSWERED, query, by, details={"answer": answer})
    return query


def _staff_step(query: DataQuery, by) -> DataQuery:
    """The query as stored, its row locked for this transaction, for a staff step: her
    physician or a coordinator, on data not locked."""
    query = DataQuery.objects.select_for_update().select_related("enrollment").get(pk=query.pk)
    _staff(query.enrollment, by)
    problem = lock_problem(query.enrollment)
    if problem:
        raise QueryRefused(problem)
    return query


def close_query(query: DataQuery, by, note: str) -> DataQuery:
    note = _text(note, "a note on how it was resolved")
    with transaction.atomic():
        query = _staff_step(query, by)
        if query.status == QueryStatus.CLOSED:
            raise QueryRefused("This query is closed already.")
        query.status = QueryStatus.CLOSED
        query.close_note, query.closed_by, query.closed_at = note, by, timezone.now()
        query.save(update_fields=["status", "close_note", "closed_by", "closed_at"])
        _event(AuditAction.QUERY_CLOSED, query, by, reason=note)
    return query


def reopen_query(query: DataQuery, by, reason: str) -> DataQuery:
    reason = _text(reason, "the reason for reopening it")
    with transaction.atomic():
        query = _staff_step(query, by)
        if query.status != QueryStatus.CLOSED:
            raise QueryRefused("Only a closed query is reopened.")
        query.status = QueryStatus.OPEN
        query.save(update_fields=["status"])
        _event(AuditAction.QUERY_REOPENED, query, by, reason=reason)
    return query


def open_questions(enrollment: Enrollment) -> int:
    """How many questions of her study team about her days wait for her answer."""
    return DataQuery.objects.filter(
        enrollment=enrollment, target=QueryTarget.ENTRY, status=QueryStatus.OPEN
    ).count()


def correctable_query(enrollment: Enrollment, day: dt.date) -> DataQuery | None:
    """Her query on `day` not yet closed: while there is one she may correct the day
    outside its entry window."""
    return (
        DataQuery.objects.filter(enrollment=enrollment, target=QueryTarget.ENTRY, date=day)
        .unresolved()
        .order_by("raised_at")
        .first()
    )


def correct_queried_day(query: DataQuery, values: dict, user) -> tuple[DiaryEntry, bool]:
    """The patient changes her answers of a queried day, even after its window: hers
    (source patient), reason "answer to query #N", flagged corrected_after_query."""
    with transaction.atomic():
        enrollment = Enrollment.objects.select_for_update().get(pk=query.enrollment_id)
        enrollment.__dict__["schedule"] = query.enrollment.schedule
        query = DataQuery.objects.select_for_update().get(pk=query.pk)
        if enrollment.patient_id != user.pk or query.target != QueryTarget.ENTRY:
            raise QueryRefused(gettext("Only the patient corrects her own diary day."))
        locked = patient_lock_message(enrollment)
        if locked:
            raise QueryRefused(locked)
        if query.status == QueryStatus.CLOSED:
            raise QueryRefused(
                gettext("This question is closed already; your study team has what it needs.")
            )
        problem = day_problem(enrollment, query.date, enrollment.local_today())
        if problem is not None:
            raise QueryRefused(problem.for_patient(enrollment))
        entry = DiaryEntry.objects.filter(enrollment=enrollment, date=query.date).first()
        if entry is None:
            entry = DiaryEntry(enrollment=enrollment, date=query.date, late=True)
        elif entry.voided:
            entry.voided, entry.void_reason = False, ""
        elif all(getattr(entry, name) == value for name, value in values.items()):
            return entry, False
        for name, value in values.items():
            setattr(entry, name, value)
        entry.source = EntrySource.PATIENT
        entry.corrected_after_query = True
        entry.answered_at = entry.received_at = timezone.now()
        entry._history_user = user
        entry._change_reason = f"answer to query #{query.pk}"
        entry.save()
    return entry, True
