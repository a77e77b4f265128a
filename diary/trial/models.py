"""Protocols, arms, phases, enrollments and randomization lists (docs/domain.md)."""

from __future__ import annotations

import datetime as dt
import secrets
from collections import defaultdict
from functools import cached_property
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator, RegexValidator
from django.db import models
from django.db.models import F, Q
from simple_history.models import HistoricalRecords

from diary.people.models import Role
from diary.trial import phases
from diary.trial.dates import (
    ZoneRule,
    default_timezone,
    diary_day,
    rule_at,
    start_date_problem,
    validate_date,
    validate_start_date,
    validate_timezone,
    zone_named,
    zone_rules,
)
from diary.trial.phases import TREATMENT_KINDS, PhaseKind


class Blinding(models.TextChoices):
    OPEN = "open", "Open label"
    SINGLE = "single", "Single blind (patient blinded)"
    DOUBLE = "double", "Double blind (patient, physician and coordinators blinded)"


def new_seed() -> str:
    return secrets.token_hex(16)


class Protocol(models.Model):
    slug = models.SlugField(max_length=50, unique=True)
    name = models.CharField(max_length=200)
    blinding = models.CharField(max_length=10, choices=Blinding.choices)
    block_size = models.PositiveSmallIntegerField(
        default=4,
        validators=[MinValueValidator(1)],
        help_text="Permuted-block size for randomizing arms (a multiple of the number of arms).",
    )
    # Secret: drawn from a cryptographic generator when the protocol is created, shown
    # only with allocation access. It fixes the permuted-block sequence, so the
    # allocation can be reproduced and audited by those allowed to see it.
    randomization_seed = models.CharField(max_length=64, default=new_seed, editable=False)
    # End-of-study unblinding: physicians, coordinators and exports see arms and kinds
    # (patients are told separately, per enrollment).
    unblinded_at = models.DateTimeField(null=True, blank=True)
    unblinded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    unblinding_reason = models.TextField(blank=True)
    # Database lock (diary.trial.locks): every enrollment of the protocol takes no change.
    locked_at = models.DateTimeField(null=True, blank=True, editable=False)
    locked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        editable=False,
    )
    lock_reason = models.TextField(blank=True, default="", db_default="", editable=False)

    history = HistoricalRecords()

    class Meta:
        ordering = ["slug"]

    def __str__(self) -> str:
        return self.slug

    @cached_property
    def layout(self) -> phases.ProtocolLayout:
        """Every arm's phases, as they are and as a blinded reader sees them (uses
        prefetched arms and phases when there are)."""
        return phases.ProtocolLayout({arm.pk: arm.phases.all() for arm in self.arms.all()})

    def blinding_problem(self, arms: dict | None = None) -> str | None:
        """Why this protocol's blinding cannot hold with these arms' phases ({arm code:
        phases}, default the stored ones), or None. An open-label protocol has none."""
        if self.blinding == Blinding.OPEN:
            return None
        if arms is None:
            arms = {arm.code: arm.phases.all() for arm in self.arms.all()}
        return phases.ProtocolLayout(arms).blinding_problem()


class Arm(models.Model):
    protocol = models.ForeignKey(Protocol, on_delete=models.PROTECT, related_name="arms")
    code = models.CharField(max_length=20)
    name = models.CharField(max_length=200, blank=True)

    history = HistoricalRecords()

    class Meta:
        ordering = ["protocol", "code"]
        constraints = [
            models.UniqueConstraint(
                fields=["protocol", "code"], name="arm_code_unique_per_protocol"
            )
        ]

    def __str__(self) -> str:
        return f"{self.protocol.slug} / {self.code}"


class Phase(models.Model):
    arm = models.ForeignKey(Arm, on_delete=models.PROTECT, related_name="phases")
    order = models.PositiveSmallIntegerField()
    kind = models.CharField(max_length=10, choices=PhaseKind.choices)
    days = models.PositiveSmallIntegerField(validators=[MinValueValidator(1)])
    dose_mg = models.DecimalField(max_digits=5, decimal_places=2, null=True, blank=True)

    history = HistoricalRecords()

    class Meta:
        ordering = ["arm", "order"]
        constraints = [
            models.UniqueConstraint(fields=["arm", "order"], name="phase_order_unique_per_arm"),
            models.CheckConstraint(condition=Q(days__gte=1), name="phase_lasts_at_least_one_day"),
            models.CheckConstraint(
                condition=Q(dose_mg__isnull=True) | Q(kind__in=TREATMENT_KINDS),
                name="phase_dose_only_for_treatment",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.order}. {self.get_kind_display()} ({self.days} days)"

    @property
    def is_treatment(self) -> bool:
        return self.kind in TREATMENT_KINDS


def default_reminder_time() -> dt.time:
    """Reminders are on unless the patient turns them off: the trials' handhelds
    prompted every evening."""
    return dt.time(20, 0)


class EnrollmentStatus(models.TextChoices):
    SCREENING = "screening", "Screening"
    ACTIVE = "active", "Active"
    COMPLETED = "completed", "Completed"
    WITHDRAWN = "withdrawn", "Withdrawn"


class EnrollmentQuerySet(models.QuerySet):
    def active(self):
        return self.filter(status=EnrollmentStatus.ACTIVE)

    def with_schedule(self):
        """Everything a page needs to place days in phases (as any reader sees them),
        in a fixed number of queries."""
        return self.select_related("protocol", "arm", "patient", "physician").prefetch_related(
            "protocol__arms__phases"
        )

    def load_with_schedules(self) -> list[Enrollment]:
        """The enrollments with protocol, arm and its phases, in two queries.

        For long lists (summaries, exports): protocols, arms and phases are few and
        shared, so they are read once (load_protocols) instead of once per enrollment.
        """
        enrollments = list(
            self.prefetch_related(None)
            .select_related(None)
            .annotate(physician_username=F("physician__username"))
        )
        protocols, arms = load_protocols({e.protocol_id for e in enrollments})
        for enrollment in enrollments:
            if enrollment.arm_id in arms:
                enrollment.arm = arms[enrollment.arm_id]
            if enrollment.protocol_id in protocols:
                enrollment.protocol = protocols[enrollment.protocol_id]
        return enrollments


def load_protocols(protocol_ids) -> tuple[dict[int, Protocol], dict[int, Arm]]:
    """The protocols among `protocol_ids` (ids or a subquery) whose arms have phases,
    with those arms and their layout, in one query: ({pk: protocol}, {pk: arm})."""
    protocols: dict[int, Protocol] = {}
    arms: dict[int, Arm] = {}
    by_arm: dict[int, dict[int, list[Phase]]] = defaultdict(lambda: defaultdict(list))
    phases_of = (
        Phase.objects.filter(arm__protocol__in=protocol_ids)
        .select_related("arm__protocol")
        .order_by("arm__protocol_id", "arm__code", "order")
    )
    for phase in phases_of:
        arm = arms.setdefault(phase.arm_id, phase.arm)
        protocol = protocols.setdefault(arm.protocol_id, arm.protocol)
        arm.protocol = protocol
        by_arm[protocol.pk][arm.pk].append(phase)
    for pk, protocol in protocols.items():
        # Seeds the cached_property; a protocol's arms do not change while it is read.
        protocol.__dict__["layout"] = phases.ProtocolLayout(by_arm[pk])
    return protocols, arms


study_id_validator = RegexValidator(
    r"^[A-Za-z0-9][A-Za-z0-9_-]*$",
    "A study ID uses letters, digits, '-' and '_' only (no spaces), e.g. FM-013.",
)


class Enrollment(models.Model):
    """One patient's participation in one protocol, under a pseudonymous study ID."""

    study_id = models.CharField(
        "study ID", max_length=40, unique=True, validators=[study_id_validator]
    )
    patient = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="enrollments",
        limit_choices_to={"role": Role.PATIENT},
    )
    physician = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="patient_enrollments",
        limit_choices_to={"role": Role.PHYSICIAN},
        help_text="The prescribing physician.",
    )
    protocol = models.ForeignKey(Protocol, on_delete=models.PROTECT, related_name="enrollments")
    arm = models.ForeignKey(Arm, on_delete=models.PROTECT, related_name="enrollments")
    start_date = models.DateField(
        help_text="Day 1 of the schedule.", validators=[validate_start_date]
    )
    status = models.CharField(
        max_length=10, choices=EnrollmentStatus.choices, default=EnrollmentStatus.ACTIVE
    )
    withdrawn_on = models.DateField(null=True, blank=True, validators=[validate_date])
    withdrawal_reason = models.TextField(blank=True)
    timezone = models.CharField(
        max_length=64,
        default=default_timezone,
        validators=[validate_timezone],
        help_text="IANA time zone of the patient; her diary day follows it (a change "
        'counts from her next diary day: docs/domain.md, "Time zone changes").',
    )
    # The rule's record of each change of `timezone` (dates.ZoneRule, written only by
    # diary.trial.travel.change_zone): zone, from_zone, starts_at, starts_day, splits. Who,
    # when and why are in the history row of the same save.
    zone_changes = models.JSONField(default=list, blank=True, editable=False)
    randomization_number = models.PositiveIntegerField(
        null=True,
        blank=True,
        editable=False,
        help_text="The sequence number of the allocation used: the row of the protocol's "
        "randomization list, or the position in its seeded permuted-block sequence "
        "(both from 1); blank when the arm was assigned directly.",
    )
    # "Unblind the care team for this patient": her physician and coordinators see her
    # arm; she stays blinded.
    care_team_unblinded_at = models.DateTimeField(null=True, blank=True)
    care_team_unblinded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    care_team_unblinding_reason = models.TextField(blank=True)
    # "Tell the patient": she sees her arm and the names of her phases.
    patient_unblinded_at = models.DateTimeField(null=True, blank=True)
    patient_unblinded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    patient_unblinding_reason = models.TextField(blank=True)
    reminder_time = models.TimeField(
        null=True,
        blank=True,
        default=default_reminder_time,
        help_text="Local time (in the enrollment's time zone) of the daily reminder e-mail, "
        "sent only if the day is not recorded yet; blank = no reminders.",
    )
    reminders_paused_until = models.DateField(
        null=True,
        blank=True,
        validators=[validate_date],
        help_text="No reminders up to and including this day (the patient's snooze).",
    )
    # Locked for analysis (diary.trial.locks): her data take no change from any door.
    locked_at = models.DateTimeField(null=True, blank=True, editable=False)
    locked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        editable=False,
    )
    lock_reason = models.TextField(blank=True, default="", db_default="", editable=False)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = EnrollmentQuerySet.as_manager()
    history = HistoricalRecords()

    class Meta:
        ordering = ["study_id"]
        constraints = [
            models.CheckConstraint(
                condition=~Q(status=EnrollmentStatus.WITHDRAWN) | Q(withdrawn_on__isnull=False),
                name="enrollment_withdrawn_has_date",
            ),
            models.UniqueConstraint(
                fields=["protocol", "randomization_number"],
                name="one_enrollment_per_randomization_slot",
            ),
            # A patient takes part in a protocol once at a time.
            models.UniqueConstraint(
                fields=["patient", "protocol"],
                condition=Q(status__in=[EnrollmentStatus.SCREENING, EnrollmentStatus.ACTIVE]),
                name="one_open_enrollment_per_patient_and_protocol",
            ),
        ]

    def __str__(self) -> str:
        return self.study_id

    def clean_fields(self, exclude=None):
        """The fields' own validators, and the end of the schedule a new start date
        gives (by 9999-12-31) when the start date is being validated."""
        errors: dict = {}
        try:
            super().clean_fields(exclude=exclude)
        except ValidationError as error:
            errors = error.update_error_dict(errors)
        if (
            "start_date" not in (exclude or ())
            and "start_date" not in errors
            and isinstance(self.start_date, dt.date)
            and self.protocol_id
        ):
            problem = start_date_problem(
                self.start_date, ahead=None, schedule_days=self.schedule_days()
            )
            if problem:
                errors["start_date"] = [ValidationError(f"{problem}.", code="date_limit")]
        if errors:
            raise ValidationError(errors)

    def schedule_days(self) -> int:
        """The length of her schedule: her arm's, or the longest of the protocol's while
        the arm is still to be randomized."""
        lengths = {
            key: sum(plan.days for plan in arm_plans)
            for key, arm_plans in self.protocol.layout.true.items()
        }
        if self.arm_id:
            return lengths.get(self.arm_id, 0)
        return max(lengths.values(), default=0)

    def clean(self):
        if self.arm_id and self.protocol_id and self.arm.protocol_id != self.protocol_id:
            raise ValidationError({"arm": "This arm belongs to another protocol."})
        if self.status == EnrollmentStatus.WITHDRAWN and not self.withdrawn_on:
            raise ValidationError({"withdrawn_on": "Give the date of the withdrawal."})

    # Schedule -----------------------------------------------------------------------

    @cached_property
    def schedule(self) -> phases.Schedule:
        """The schedule as it is, kinds shown: the rules (entry window, which items are
        asked) use it. What a reader is shown comes from diary.trial.blinding.schedule_for."""
        return phases.Schedule(self.start_date, self.protocol.layout.plans(self.arm_id, False))

    @property
    def end_date(self) -> dt.date | None:
        return self.schedule.end

    @property
    def has_ended(self) -> bool:
        """Completed or withdrawn: her diary is read only and no reminder is sent."""
        return self.status in (EnrollmentStatus.COMPLETED, EnrollmentStatus.WITHDRAWN)

    def local_today(self, now: dt.datetime | None = None) -> dt.date:
        """Her diary day at `now` (default: this moment), in her time zone as her
        changes of it allow (docs/domain.md, "Time zone changes"): every "today" of
        a patient comes from here."""
        return diary_day(self.zone_rules, now)

    @property
    def zone_rules(self) -> list[ZoneRule]:
        """Her zone from the start, then one rule per change, in order."""
        return zone_rules(self.timezone, self.zone_changes)

    def zone_at(self, now: dt.datetime | None = None) -> str:
        """The name of the zone her diary day follows at `now` (default: this moment);
        `timezone` is the zone she chose last, which may count from tomorrow."""
        return rule_at(self.zone_rules, now).zone

    @property
    def zoneinfo(self) -> ZoneInfo:
        """The zone her diary follows now (her reminder time is a time of day there)."""
        return zone_named(self.zone_at())

    def last_data_day(self) -> dt.date | None:
        """The last day that can hold data: the schedule's end, or the withdrawal date."""
        end = self.schedule.end
        if self.withdrawn_on and (end is None or self.withdrawn_on < end):
            return self.withdrawn_on
        return end

    def contains(self, day: dt.date) -> bool:
        last = self.last_data_day()
        return last is not None and self.start_date <= day <= last


class RandomizationSlot(models.Model):
    """One row of a protocol's uploaded randomization list (CSV `sequence,arm`). Blank
    arms take the lowest unused sequence number; enrollment is refused when none is
    left. Rows are never changed once uploaded."""

    protocol = models.ForeignKey(
        Protocol, on_delete=models.PROTECT, related_name="randomization_slots"
    )
    sequence = models.PositiveIntegerField()
    arm = models.ForeignKey(Arm, on_delete=models.PROTECT, related_name="+")
    uploaded_at = models.DateTimeField(auto_now_add=True)
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        ordering = ["protocol", "sequence"]
        constraints = [
            models.UniqueConstraint(
                fields=["protocol", "sequence"], name="one_randomization_slot_per_sequence"
            )
        ]

    def __str__(self) -> str:
        return f"{self.protocol.slug} #{self.sequence}"
