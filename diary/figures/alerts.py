"""Alerts for physicians (docs/domain.md): which patients need a look, and the daily
e-mail that tells their physician.

`send_alerts` (the management command, run every 15 minutes from cron or a systemd
timer, on any number of servers) calls `run`:
1. `refresh` tests the four rules for every active enrollment in one query
   (diary.figures.activity), raises an alert for each rule that holds and has no open episode,
   and closes the episodes whose rule no longer holds (or whose enrollment is no longer
   active). The partial unique constraint on open alerts lets only one run raise an
   episode.
2. `send_digests` sends each physician one e-mail per day (the study's calendar day)
   listing her patients' alerts that no e-mail has reported yet, by study ID and rule.
   The day is first claimed with an AlertDigest row that only one run can insert; if
   the e-mail cannot be sent the claim is given back and the next run tries again.

Alerts never carry a name or an e-mail address of a patient, and nothing about her arm.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import defaultdict
from dataclasses import dataclass
from functools import partial
from zoneinfo import ZoneInfo

from django.core.mail import EmailMessage
from django.db import transaction
from django.template.loader import render_to_string
from django.utils import timezone

from diary.audit.models import AuditAction, AuditEvent
from diary.entries import daily_mail
from diary.figures.activity import recent_activity
from diary.figures.models import Alert, AlertDigest, AlertKind
from diary.links import public_url
from diary.queries.models import DataQuery, QueryStatus
from diary.trial.dates import study_today
from diary.trial.models import Enrollment, EnrollmentStatus

logger = logging.getLogger(__name__)

# A query open this many days raises query_waiting.
QUERY_WAITING_DAYS = 7


@dataclass
class RunResult(daily_mail.MailCounts):
    """What one run of send_alerts did: the alerts raised and closed, and the digests."""

    raised: int = 0
    closed: int = 0


def refresh(now: dt.datetime, result: RunResult) -> None:
    """Raise the alerts whose rule holds now and close those whose rule has cleared."""
    holding = {}
    for activity in recent_activity(Enrollment.objects.active(), now=now):
        for kind in activity.alert_conditions():
            holding[(activity.enrollment_id, kind)] = activity.today
    # A query of hers waiting for an answer for more than a week (one query).
    waiting = (
        DataQuery.objects.filter(
            status=QueryStatus.OPEN,
            raised_at__lt=now - dt.timedelta(days=QUERY_WAITING_DAYS),
            enrollment__in=Enrollment.objects.active(),
        )
        .values_list("enrollment_id", "enrollment__timezone")
        .distinct()
    )
    for enrollment_id, zone in waiting:
        holding[(enrollment_id, AlertKind.QUERY_WAITING)] = now.astimezone(ZoneInfo(zone)).date()
    open_episodes = Alert.objects.filter(closed_at=None).values_list("pk", "enrollment_id", "kind")
    cleared, ongoing = [], set()
    for pk, enrollment_id, kind in open_episodes:
        if (enrollment_id, kind) in holding:
            ongoing.add((enrollment_id, kind))
        else:
            cleared.append(pk)
    if cleared:
        result.closed = Alert.objects.filter(pk__in=cleared, closed_at=None).update(closed_at=now)
    new = [
        Alert(enrollment_id=enrollment_id, kind=kind, raised_on=day, raised_at=now)
        for (enrollment_id, kind), day in sorted(holding.items())
        if (enrollment_id, kind) not in ongoing
    ]
    # Another run may raise the same episode at the same time: its row wins, ours is
    # dropped by the unique constraint on open alerts.
    before = Alert.objects.filter(closed_at=None).count()
    Alert.objects.bulk_create(new, ignore_conflicts=True)
    result.raised = max(0, Alert.objects.filter(closed_at=None).count() - before)


def digest_message(physician, alerts: list[Alert]) -> EmailMessage:
    context = {"alerts": alerts, "alerts_link": public_url("diary:alerts")}
    subject = render_to_string("diary/email/alert_digest_subject.txt", context)
    body = render_to_string("diary/email/alert_digest.txt", context)
    return EmailMessage(subject=" ".join(subject.split()), body=body, to=[physician.email])


def claim(physician, day: dt.date) -> AlertDigest | None:
    """The day's digest mark, or None if another run already took it (daily_mail.claim)."""
    return daily_mail.claim(AlertDigest, physician=physician, day=day)


def send_digests(now: dt.datetime, result: RunResult) -> None:
    day = study_today(now)
    unreported = (
        Alert.objects.open()
        .filter(emailed_at=None, enrollment__status=EnrollmentStatus.ACTIVE)
        .select_related("enrollment__physician")
        .order_by("enrollment__study_id", "kind")
    )
    by_physician = defaultdict(list)
    for alert in unreported:
        by_physician[alert.enrollment.physician].append(alert)
    for physician, alerts in by_physician.items():
        if not physician.email or not physician.is_active:
            continue  # they stay on her alert page
        mark = claim(physician, day)
        if mark is None:
            result.already_claimed += 1
            continue
        message = partial(digest_message, physician, alerts)
        failure = "Alert digest for %s on %s could not be sent"
        if not daily_mail.send_or_give_back(mark, message, logger, failure, physician, day):
            result.failed += 1
            continue
        sent_at = timezone.now()
        Alert.objects.filter(pk__in=[alert.pk for alert in alerts]).update(emailed_at=sent_at)
        AlertDigest.objects.filter(pk=mark.pk).update(sent_at=sent_at)
        result.sent += 1


def run(now: dt.datetime | None = None) -> RunResult:
    now = now or timezone.now()
    result = RunResult()
    refresh(now, result)
    send_digests(now, result)
    return result


def acknowledge(alert: Alert, user, note: str) -> None:
    """`user` has seen to the alert: it leaves the open list and the badge. Who, when
    and the note are kept on the alert and in the patient's audit trail."""
    with transaction.atomic():
        locked = Alert.objects.select_for_update().get(pk=alert.pk)
        if locked.acknowledged_at is not None:
            return  # acknowledged meanwhile (another tab, a colleague): the first note stays
        locked.acknowledged_at = timezone.now()
        locked.acknowledged_by = user
        locked.acknowledgement = note
        locked.save(update_fields=["acknowledged_at", "acknowledged_by", "acknowledgement"])
        AuditEvent.objects.create(
            actor=user,
            action=AuditAction.ALERT_ACKNOWLEDGED,
            protocol_id=alert.enrollment.protocol_id,
            enrollment=alert.enrollment,
            reason=note,
            details={"alert": locked.kind, "raised_on": locked.raised_on.isoformat()},
        )
