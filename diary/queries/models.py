"""A data query of the study team on one day or one visit of an enrollment."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from diary.trial.models import Enrollment
from diary.visits.models import Visit

QUERY_TEXT_MAX = 1000


class QueryTarget(models.TextChoices):
    ENTRY = "entry", "Diary day"
    VISIT = "visit", "Clinic visit"


class QueryStatus(models.TextChoices):
    OPEN = "open", "Open"
    ANSWERED = "answered", "Answered"
    CLOSED = "closed", "Closed"


class DataQueryQuerySet(models.QuerySet):
    def unresolved(self):
        """Open or answered: not closed yet (what blocks a lock)."""
        return self.exclude(status=QueryStatus.CLOSED)


class DataQuery(models.Model):
    """A question of her physician or a coordinator about one diary day (an entry or a
    missing day: `date`) or one clinic visit (`visit`). Its steps (raised, answered,
    closed, reopened) are audit events; the row holds the latest of each."""

    enrollment = models.ForeignKey(Enrollment, on_delete=models.PROTECT, related_name="queries")
    target = models.CharField(max_length=10, choices=QueryTarget.choices)
    # The diary day asked about (a visit query: the visit's date when it was raised).
    date = models.DateField()
    visit = models.ForeignKey(
        Visit, null=True, blank=True, on_delete=models.PROTECT, related_name="queries"
    )
    text = models.TextField(max_length=QUERY_TEXT_MAX)
    status = models.CharField(max_length=10, choices=QueryStatus.choices, default=QueryStatus.OPEN)
    raised_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    raised_at = models.DateTimeField()
    answered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    answered_at = models.DateTimeField(null=True, blank=True)
    answer = models.TextField(max_length=QUERY_TEXT_MAX, blank=True)
    closed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    closed_at = models.DateTimeField(null=True, blank=True)
    close_note = models.TextField(max_length=QUERY_TEXT_MAX, blank=True)
    # The patient was e-mailed about it (days only).
    emailed_at = models.DateTimeField(null=True, blank=True)

    objects = DataQueryQuerySet.as_manager()

    class Meta:
        ordering = ["-raised_at"]
        verbose_name = "data query"
        verbose_name_plural = "data queries"
        indexes = [models.Index(fields=["enrollment", "status"], name="query_enrollment_status")]
        constraints = [
            models.CheckConstraint(
                condition=Q(target="entry", visit__isnull=True)
                | Q(target="visit", visit__isnull=False),
                name="query_target_matches_visit",
            ),
        ]

    def __str__(self) -> str:
        return f"Query #{self.pk}"
