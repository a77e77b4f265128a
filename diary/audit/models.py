"""What happened and who read what: study events that are not a change of a row, and
the access log."""

from __future__ import annotations

import getpass

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models


class AuditAction(models.TextChoices):
    UNBLINDED_EXPORT = "unblinded_export", "Unblinded export"
    # (The stored value predates telling patients: it is the care team's unblinding.)
    UNBLINDED_CARE_TEAM = "unblinded_patient", "Care team unblinded for a patient"
    PATIENT_TOLD = "patient_told", "Patient told her arm"
    UNBLINDED_PROTOCOL = "unblinded_protocol", "Protocol unblinded"
    RANDOMIZATION_LIST = "randomization_list", "Randomization list uploaded"
    ACCOUNT_CHANGED = "account_changed", "Account rights changed"
    SIGN_IN_LOCKED = "sign_in_locked", "Sign-in locked"
    SIGN_IN_UNLOCKED = "sign_in_unlocked", "Sign-in unlocked"
    SECOND_FACTOR_ENROLLED = "second_factor_set", "Second factor set up"
    SECOND_FACTOR_REMOVED = "second_factor_removed", "Second factor removed"
    INVITATION_SENT = "invitation_sent", "Invitation sent"
    PASSWORD_LINK_SENT = "password_link_sent", "Password reset link sent"
    ALERT_ACKNOWLEDGED = "alert_acknowledged", "Alert acknowledged"
    # import_enrollments --unblinded --reason: allocations moved in from another system.
    UNBLINDED_IMPORT = "unblinded_import", "Allocations imported"
    # Review and sign-off (diary.signoff, diary.queries, diary.trial.locks).
    PHASE_SIGNED = "phase_signed", "Phase review signed"
    SIGNATURE_FAILED = "signature_failed", "Phase review signature refused"
    SIGNATURE_INVALIDATED = "signature_invalidated", "Phase review signature invalidated"
    QUERY_RAISED = "query_raised", "Query raised"
    QUERY_ANSWERED = "query_answered", "Query answered"
    QUERY_CLOSED = "query_closed", "Query closed"
    QUERY_REOPENED = "query_reopened", "Query reopened"
    ENROLLMENT_LOCKED = "enrollment_locked", "Enrollment locked"
    ENROLLMENT_UNLOCKED = "enrollment_unlocked", "Enrollment unlocked"
    PROTOCOL_LOCKED = "protocol_locked", "Protocol locked (database lock)"
    PROTOCOL_UNLOCKED = "protocol_unlocked", "Protocol unlocked"


class AuditEvent(models.Model):
    """Study events that are not a change of a row (those are in the history tables),
    such as an export that reveals blinded allocations: who, when, what and why."""

    at = models.DateTimeField(auto_now_add=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    # Who acted when there is no account, e.g. "shell:root" for a management command.
    actor_name = models.CharField(max_length=150, blank=True)
    action = models.CharField(max_length=30, choices=AuditAction.choices)
    protocol = models.ForeignKey(
        "Protocol", null=True, blank=True, on_delete=models.PROTECT, related_name="audit_events"
    )
    enrollment = models.ForeignKey(
        "Enrollment",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="audit_events",
    )
    # The account an invitation went to (patients' and physicians' invitations).
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    reason = models.TextField(blank=True)
    details = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-at"]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M} {self.get_action_display()}"

    @property
    def who(self) -> str:
        return self.actor.username if self.actor_id else self.actor_name


class DataAccess(models.Model):
    """Who opened which patient's data, when: every physician's or coordinator's view
    of a patient's pages, and every file of patient data. Kept apart from the audit
    trail of changes (it records reading, not changing)."""

    at = models.DateTimeField(auto_now_add=True, db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    # Who read when there is no account, e.g. "shell:root" for an export command.
    actor_name = models.CharField(max_length=150, blank=True)
    what = models.CharField(max_length=100)
    # The patient whose data was read; blank for a file of many patients.
    study_id = models.CharField("study ID", max_length=40, blank=True, db_index=True)
    # What a file of many patients held, e.g. "ldn-fm-2013, 30 enrollments".
    scope = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["-at"]
        verbose_name = "data access"
        verbose_name_plural = "access log"

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M} {self.who} {self.what} {self.study_id}".strip()

    @property
    def who(self) -> str:
        return self.actor.username if self.actor_id else self.actor_name


def shell_actor() -> str:
    """Who ran a management command, for the audit trail and the access log
    ("shell:<login>")."""
    try:
        return f"shell:{getpass.getuser()}"
    except (KeyError, OSError):  # no login name (e.g. an unnamed uid in a container)
        return "shell:unknown"


def required_reason(reason: str | None, what: str) -> str:
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError(f"Give a reason for {what}; it is kept in the audit trail.")
    return reason
