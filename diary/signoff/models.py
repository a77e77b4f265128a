"""Phase review e-signatures (21 CFR Part 11: 11.50, 11.70, 11.200)."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from diary.trial.models import Enrollment


class SignatureMeaning(models.TextChoices):
    REVIEWED = "reviewed", "Reviewed"
    APPROVED = "approved", "Approved"


class PhaseSignatureQuerySet(models.QuerySet):
    def valid(self):
        return self.filter(invalidated_at=None)


class PhaseSignature(models.Model):
    """One signature of one phase review, as the signer saw the phase. Never edited or
    deleted: a later change to the phase's entries or visits sets invalidated_at and
    invalidated_by_change once, and signing again adds a new signature."""

    enrollment = models.ForeignKey(Enrollment, on_delete=models.PROTECT, related_name="signatures")
    signer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    printed_name = models.CharField(max_length=300)
    meaning = models.CharField(max_length=10, choices=SignatureMeaning.choices)
    signed_at = models.DateTimeField()
    # The phase as the signer saw it (her schedule's span, in her blinding).
    phase_order = models.PositiveSmallIntegerField()
    phase = models.CharField(max_length=100)
    first_day = models.DateField()
    last_day = models.DateField()
    # SHA-256 (hex) of the canonical JSON of `content`: exactly what the review page showed.
    content_sha256 = models.CharField(max_length=64)
    content = models.JSONField()
    invalidated_at = models.DateTimeField(null=True, blank=True)
    invalidated_by_change = models.CharField(max_length=300, blank=True)

    objects = PhaseSignatureQuerySet.as_manager()

    class Meta:
        ordering = ["enrollment", "phase_order", "signed_at"]
        indexes = [
            models.Index(fields=["enrollment", "invalidated_at"], name="signature_enrollment_valid")
        ]

    def __str__(self) -> str:
        return f"{self.enrollment} phase {self.phase_order} signed {self.signed_at:%Y-%m-%d}"

    @property
    def status(self) -> str:
        return "invalidated" if self.invalidated_at else "valid"
