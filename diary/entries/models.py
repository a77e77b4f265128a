"""Diary entries and the reminders of them."""

from __future__ import annotations

import datetime as dt

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils.formats import date_format
from django.utils.translation import gettext
from simple_history.models import HistoricalRecords

from diary.trial.dates import validate_date
from diary.trial.models import Enrollment

# The diary items of docs/domain.md, in the order they are asked.
DIARY_ITEMS = [
    "pain",
    "fatigue",
    "sleep_quality",
    "vivid_dreams",
    "headache",
    "dose_taken",
    "tolerability",
    "notes",
]
# Diary items asked only in ldn/placebo phases (docs/domain.md); blank elsewhere.
TREATMENT_ONLY_ITEMS = ("dose_taken", "tolerability")


class DayProblem(models.TextChoices):
    """Why a day can hold no entry, with a message for each audience: the patient (in
    her language) and staff (an import's line, the admin)."""

    NO_SCHEDULE = "no_schedule", "no schedule"
    BEFORE_START = "before_start", "before the start"
    AFTER_WITHDRAWAL = "after_withdrawal", "after the withdrawal"
    AFTER_SCHEDULE = "after_schedule", "after the schedule"
    IN_FUTURE = "in_future", "in the future"

    def for_patient(self, enrollment) -> str:
        if self == DayProblem.NO_SCHEDULE:
            return gettext("Your study schedule has no days yet.")
        if self == DayProblem.BEFORE_START:
            return gettext(
                "This day is before your study started (%(start)s), so it has no diary entry."
            ) % {"start": date_format(enrollment.start_date, "DIARY_DAY_FORMAT")}
        if self == DayProblem.AFTER_WITHDRAWAL:
            return gettext("This day is after you left the study, so it has no diary entry.")
        if self == DayProblem.AFTER_SCHEDULE:
            return gettext(
                "Your study schedule ended on %(end)s, so this day has no diary entry."
            ) % {"end": date_format(enrollment.end_date, "DIARY_DAY_FORMAT")}
        return gettext("This day has not started yet; you can fill it in on the day itself.")

    def for_staff(self, enrollment, day: dt.date, today: dt.date) -> str:
        study_id = enrollment.study_id
        return {
            DayProblem.NO_SCHEDULE: f"{study_id} has no schedule (its arm has no phases)",
            DayProblem.BEFORE_START: (
                f"{day} is before the start of {study_id}'s schedule ({enrollment.start_date})"
            ),
            DayProblem.AFTER_WITHDRAWAL: (
                f"{day} is after {study_id}'s withdrawal ({enrollment.withdrawn_on})"
            ),
            DayProblem.AFTER_SCHEDULE: (
                f"{day} is after the end of {study_id}'s schedule ({enrollment.end_date})"
            ),
            DayProblem.IN_FUTURE: (
                f"{day} is in the future (today is {today} in {study_id}'s time zone, "
                f"{enrollment.zone_at()})"
            ),
        }[self]


class EntryRefused(Exception):
    """The patient may not create or change this day; the message says why."""


class EntrySource(models.TextChoices):
    PATIENT = "patient", "Patient"
    STAFF = "staff", "Entered by staff"
    IMPORT = "import", "Imported"


class DiaryEntryQuerySet(models.QuerySet):
    def counting(self):
        """Entries that count in figures: voided entries are left out (docs/domain.md)."""
        return self.filter(voided=False)


def score(low: int, high: int):
    return [MinValueValidator(low), MaxValueValidator(high)]


class DiaryEntry(models.Model):
    """One diary day of one enrollment (the day is in the patient's local calendar)."""

    enrollment = models.ForeignKey(Enrollment, on_delete=models.PROTECT, related_name="entries")
    date = models.DateField(
        help_text="The diary day, in the patient's time zone.", validators=[validate_date]
    )
    pain = models.PositiveSmallIntegerField(validators=score(0, 10))
    fatigue = models.PositiveSmallIntegerField(validators=score(0, 10))
    sleep_quality = models.PositiveSmallIntegerField(validators=score(0, 10))
    vivid_dreams = models.BooleanField()
    headache = models.BooleanField()
    dose_taken = models.BooleanField(null=True, blank=True)
    tolerability = models.PositiveSmallIntegerField(null=True, blank=True, validators=score(0, 100))
    notes = models.CharField(max_length=1000, blank=True)
    source = models.CharField(max_length=10, choices=EntrySource.choices)
    late = models.BooleanField(
        default=False, help_text="First saved by the patient after its day had ended."
    )
    voided = models.BooleanField(default=False)
    void_reason = models.TextField(blank=True)
    corrected_after_query = models.BooleanField(
        default=False,
        db_default=False,
        help_text="The patient changed this day's answers to answer a query of her study team.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    answered_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="When the patient gave the answers now stored (her phone's moment for an "
        "answer saved offline); blank for answers entered by staff or imported.",
    )
    received_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="When the server received the patient's answers now stored.",
    )
    synced_late = models.BooleanField(
        default=False,
        db_default=False,
        help_text="Answered offline inside the entry window, received after it had closed.",
    )

    objects = DiaryEntryQuerySet.as_manager()
    history = HistoricalRecords()

    class Meta:
        ordering = ["enrollment", "date"]
        verbose_name_plural = "diary entries"
        constraints = [
            models.UniqueConstraint(
                fields=["enrollment", "date"], name="one_entry_per_enrollment_and_day"
            ),
            models.CheckConstraint(condition=Q(pain__range=(0, 10)), name="pain_0_to_10"),
            models.CheckConstraint(condition=Q(fatigue__range=(0, 10)), name="fatigue_0_to_10"),
            models.CheckConstraint(
                condition=Q(sleep_quality__range=(0, 10)), name="sleep_quality_0_to_10"
            ),
            models.CheckConstraint(
                condition=Q(tolerability__isnull=True) | Q(tolerability__range=(0, 100)),
                name="tolerability_0_to_100",
            ),
            models.CheckConstraint(
                condition=~Q(voided=True) | ~Q(void_reason=""), name="void_has_reason"
            ),
            # Un-voiding clears the reason (the history keeps it).
            models.CheckConstraint(
                condition=Q(voided=True) | Q(void_reason=""), name="void_reason_only_when_voided"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.enrollment.study_id} {self.date:%Y-%m-%d}"

    # The range constraints repeat the fields' own validators (score()), which
    # full_clean runs first; a field they reject is left out of the constraint checks, and
    # a value they accept always meets its constraint. Validating them again would cost a
    # database query each on every save of the diary form; the database still enforces
    # them on every write.
    CONSTRAINTS_CHECKED_BY_VALIDATORS = frozenset(
        {"pain_0_to_10", "fatigue_0_to_10", "sleep_quality_0_to_10", "tolerability_0_to_100"}
    )

    def get_constraints(self):
        return [
            (
                model,
                [c for c in constraints if c.name not in self.CONSTRAINTS_CHECKED_BY_VALIDATORS],
            )
            for model, constraints in super().get_constraints()
        ]


class OfflineOutcome(models.TextChoices):
    SAVED = "saved", "Saved"
    UNCHANGED = "unchanged", "Unchanged (the same answers were stored)"
    KEPT_LATER = "kept_later", "Recorded in the history; a later answer of the day is kept"
    REFUSED = "refused", "Refused"


class OfflineAnswer(models.Model):
    """An answer the patient saved on her phone without a network, as it arrived: the
    phone's id for it is accepted once, and a resend gets this stored outcome."""

    client_id = models.UUIDField(unique=True)
    enrollment = models.ForeignKey(
        Enrollment, on_delete=models.PROTECT, related_name="offline_answers"
    )
    day = models.DateField(help_text="The diary day the answer was stored for (or shown).")
    answered_at = models.DateTimeField()
    received_at = models.DateTimeField()
    outcome = models.CharField(max_length=12, choices=OfflineOutcome.choices)
    message = models.TextField(blank=True, help_text="Why it was refused, in her words.")
    entry = models.ForeignKey(
        "DiaryEntry", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        ordering = ["enrollment", "received_at"]

    def __str__(self) -> str:
        return f"{self.client_id} ({self.outcome})"


class Reminder(models.Model):
    """The "already sent" mark of one reminder e-mail: one row per enrollment and diary
    day. The unique constraint lets only one copy of send_reminders (on any server) claim
    a day; the row is written before the e-mail goes out."""

    enrollment = models.ForeignKey(Enrollment, on_delete=models.CASCADE, related_name="reminders")
    date = models.DateField(help_text="The diary day reminded of, in the patient's time zone.")
    claimed_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["enrollment", "date"], name="one_reminder_per_enrollment_and_day"
            )
        ]

    def __str__(self) -> str:
        return f"{self.enrollment} {self.date}"
