"""Alerts: the rules that tell a physician a patient needs attention."""

from __future__ import annotations

import logging

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from diary.figures.patient_figures import LOW_COMPLIANCE_PCT
from diary.trial.models import Enrollment

logger = logging.getLogger(__name__)


class AlertKind(models.TextChoices):
    """The rules that tell a physician a patient needs attention (docs/domain.md)."""

    MISSED_DAYS = "missed_days", "No entry on the last 3 diary days"
    LOW_COMPLIANCE = (
        "low_compliance",
        f"Compliance under {LOW_COMPLIANCE_PCT}% over the last 14 diary days",
    )
    LOW_TOLERABILITY = "low_tolerability", "Tolerability of 50 or less in one of the last 3 entries"
    SIDE_EFFECTS = "side_effects", "Headache on 3 recorded days in a row"
    QUERY_WAITING = "query_waiting", "A data query open (not answered) for more than 7 days"


class AlertQuerySet(models.QuerySet):
    def open(self):
        """Raised and not acknowledged, while its condition still holds."""
        return self.filter(closed_at=None, acknowledged_at=None)


class Alert(models.Model):
    """One episode of an alert rule for one enrollment: raised when the rule first holds,
    closed when it no longer does (a later episode is a new alert). A physician or
    coordinator acknowledges it with a note."""

    enrollment = models.ForeignKey(Enrollment, on_delete=models.PROTECT, related_name="alerts")
    kind = models.CharField(max_length=20, choices=AlertKind.choices)
    raised_on = models.DateField(help_text="The patient's diary day it was raised on.")
    raised_at = models.DateTimeField(default=timezone.now)
    closed_at = models.DateTimeField(null=True, blank=True)
    emailed_at = models.DateTimeField(null=True, blank=True)
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    acknowledgement = models.TextField(blank=True)

    objects = AlertQuerySet.as_manager()

    class Meta:
        ordering = ["-raised_at"]
        constraints = [
            # Once per episode: two runs of send_alerts cannot raise it twice.
            models.UniqueConstraint(
                fields=["enrollment", "kind"],
                condition=Q(closed_at__isnull=True),
                name="one_open_alert_per_enrollment_and_kind",
            ),
            models.CheckConstraint(
                condition=Q(acknowledged_at__isnull=True) | ~Q(acknowledgement=""),
                name="acknowledged_alert_has_a_note",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.enrollment} {self.kind} {self.raised_on}"


class AlertDigest(models.Model):
    """The "already sent" mark of a physician's alert e-mail of one day: the unique
    constraint lets only one run of send_alerts, on any server, send it."""

    physician = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="alert_digests"
    )
    day = models.DateField()
    claimed_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["physician", "day"], name="one_alert_digest_per_physician_and_day"
            )
        ]

    def __str__(self) -> str:
        return f"{self.physician} {self.day}"
