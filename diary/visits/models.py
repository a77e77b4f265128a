"""Clinic visits: one enrollment's clinic contact on one date, with its measures."""

from __future__ import annotations

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from simple_history.models import HistoricalRecords

from diary.trial.dates import validate_date
from diary.trial.models import Enrollment
from diary.visits.measures import BY_NAME


class VisitSource(models.TextChoices):
    STAFF = "staff", "Entered by staff"
    IMPORT = "import", "Imported"


class VisitQuerySet(models.QuerySet):
    def counting(self):
        """Visits that count in figures: voided ones are left out."""
        return self.filter(voided=False)


def _range(name: str):
    measure = BY_NAME[name]
    return [
        MinValueValidator(
            measure.low,
            f"{measure.label} must be at least {measure.shown(measure.low)} {measure.unit}.",
        ),
        MaxValueValidator(
            measure.high,
            f"{measure.label} must be at most {measure.shown(measure.high)} {measure.unit}.",
        ),
    ]


class Visit(models.Model):
    """A clinic visit of one enrollment (at most one counting visit per date). Any
    measure may be blank: not done."""

    enrollment = models.ForeignKey(Enrollment, on_delete=models.PROTECT, related_name="visits")
    visit_date = models.DateField(validators=[validate_date])
    esr = models.PositiveSmallIntegerField(
        "ESR (mm/h)",
        null=True,
        blank=True,
        validators=_range("esr"),
        help_text="Erythrocyte sedimentation rate, Westergren, 0-150 mm/h; blank = not done.",
    )
    pressure_threshold = models.DecimalField(
        "pressure pain threshold (kg/cm2)",
        max_digits=3,
        decimal_places=1,
        null=True,
        blank=True,
        validators=_range("pressure_threshold"),
        help_text="Pressure algometry, mean of the sites tested, 0.0-15.0 kg/cm2; blank = not "
        "done.",
    )
    heat_threshold = models.DecimalField(
        "heat pain threshold (°C)",
        max_digits=3,
        decimal_places=1,
        null=True,
        blank=True,
        validators=_range("heat_threshold"),
        help_text="Thermode, 30.0-52.0 °C; blank = not done.",
    )
    notes = models.CharField(max_length=1000, blank=True)
    source = models.CharField(max_length=10, choices=VisitSource.choices)
    voided = models.BooleanField(default=False)
    void_reason = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = VisitQuerySet.as_manager()
    history = HistoricalRecords()

    class Meta:
        ordering = ["enrollment", "visit_date"]
        constraints = [
            # A voided visit leaves its date free for the right one.
            models.UniqueConstraint(
                fields=["enrollment", "visit_date"],
                condition=Q(voided=False),
                name="one_visit_per_enrollment_and_date",
                violation_error_message="This patient already has a visit on that date.",
            ),
            models.CheckConstraint(
                condition=Q(esr__isnull=True) | Q(esr__range=(0, 150)), name="esr_0_to_150"
            ),
            models.CheckConstraint(
                condition=Q(pressure_threshold__isnull=True) | Q(pressure_threshold__range=(0, 15)),
                name="pressure_threshold_0_to_15",
            ),
            models.CheckConstraint(
                condition=Q(heat_threshold__isnull=True) | Q(heat_threshold__range=(30, 52)),
                name="heat_threshold_30_to_52",
            ),
            models.CheckConstraint(
                condition=~Q(voided=True) | ~Q(void_reason=""), name="visit_void_has_reason"
            ),
            models.CheckConstraint(
                condition=Q(voided=True) | Q(void_reason=""),
                name="visit_void_reason_only_when_voided",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.enrollment.study_id} visit {self.visit_date:%Y-%m-%d}"

    def measures(self) -> dict:
        return {name: getattr(self, name) for name in BY_NAME}
