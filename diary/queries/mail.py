"""The e-mail to a patient when her study team asks about a diary day: in her language,
with no clinical content (not the day, not the question), only that there is a question
and a link to sign in. Sent after the query's commit; one that could not be sent then
(no mail server for a moment, a crashed process) is sent by the next scheduled run:
`emailed_at` stays empty until a run claims and sends it."""

from __future__ import annotations

import logging

from django.core.mail import EmailMessage
from django.db import transaction
from django.template.loader import render_to_string
from django.utils import timezone, translation

from diary.links import public_url
from diary.people.languages import language_of
from diary.queries.models import DataQuery, QueryTarget
from diary.security import after_response

logger = logging.getLogger(__name__)


def query_message(query: DataQuery) -> EmailMessage:
    patient = query.enrollment.patient
    with translation.override(language_of(patient)):
        context = {"patient": patient, "questions_link": public_url("diary:questions")}
        subject = render_to_string("diary/email/query_subject.txt", context)
        body = render_to_string("diary/email/query.txt", context)
    return EmailMessage(subject=" ".join(subject.split()), body=body, to=[patient.email])


def send(query_id: int) -> bool:
    """Claim the query's e-mail (only one run can), send it; give the claim back if it
    cannot be sent, so the next run tries again."""
    now = timezone.now()
    claimed = DataQuery.objects.filter(pk=query_id, emailed_at=None).update(emailed_at=now)
    if not claimed:
        return False
    query = DataQuery.objects.select_related("enrollment__patient").get(pk=query_id)
    if not query.enrollment.patient.email:
        return True  # nobody to write to; her diary shows the question
    try:
        query_message(query).send()
    except Exception:
        logger.exception("The e-mail about query #%s could not be sent", query_id)
        DataQuery.objects.filter(pk=query_id, emailed_at=now).update(emailed_at=None)
        return False
    return True


def send_after_commit(query: DataQuery) -> None:
    transaction.on_commit(lambda: after_response(lambda: send(query.pk)))


def send_pending() -> int:
    """The scheduled run: every day query whose e-mail has not gone out yet."""
    pending = DataQuery.objects.filter(target=QueryTarget.ENTRY, emailed_at=None).values_list(
        "pk", flat=True
    )
    return sum(send(pk) for pk in list(pending[:500]))
