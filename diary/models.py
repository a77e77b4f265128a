"""The domain (docs/domain.md): protocols, arms, phases, enrollments, diary entries."""

from __future__ import annotations

import datetime as dt
import logging
import secrets
from collections import defaultdict
from functools import cached_property
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from django.conf import settings
from django.contrib.auth.models import AbstractUser, UserManager
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models, transaction
from django.db.models import F, Q
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext, ngettext
from simple_history.models import HistoricalRecords

from diary import phases
from diary.phases import TREATMENT_KINDS, PhaseKind

logger = logging.getLogger(__name__)


class Role(models.TextChoices):
    PATIENT = "patient", "Patient"
    PHYSICIAN = "physician", "Physician"
    COORDINATOR = "coordinator", "Coordinator"


class User(AbstractUser):
    """Everyone who signs in. A patient's name and e-mail live only here, never on
    the pseudonymous enrollment."""

    role = models.CharField(max_length=20, choices=Role.choices, default=Role.PATIENT)
    # The language of her pages and e-mails (reminders are sent outside any request):
    # the one she last chose, or the one her browser asked for when she signed in.
    language = models.CharField(max_length=10, choices=settings.LANGUAGES, blank=True)
    allocation_access = models.BooleanField(
        default=False,
        help_text="Sees arms, seeds and randomization lists, unblinds, and downloads "
        "unblinded files (the unblinded statistician or pharmacist). Staff accounts only; "
        "granted and revoked by a superuser.",
    )

    # Locked by too many failed sign-ins from anywhere (diary.signin) until a coordinator
    # unlocks it; failures are counted from her last sign-in or unlock.
    sign_in_locked_at = models.DateTimeField(null=True, blank=True, editable=False)
    sign_in_unlocked_at = models.DateTimeField(null=True, blank=True, editable=False)

    objects = UserManager()
    # Who changed an account's role or rights, when and why. The password hash is not
    # copied into the history; a sign-in (last_login) writes no history row.
    history = HistoricalRecords(excluded_fields=["password", "last_login"])

    def save(self, *args, **kwargs):
        # Coordinators work in the Django admin.
        if self.role == Role.COORDINATOR:
            self.is_staff = True
        update_fields = kwargs.get("update_fields")
        if update_fields is not None and set(update_fields) <= {"last_login", "password"}:
            self.skip_history_when_saving = True
        try:
            super().save(*args, **kwargs)
        finally:
            self.__dict__.pop("skip_history_when_saving", None)

    # Coordinators manage everything of the study app in the admin without having to be
    # given permissions one by one.
    COORDINATOR_APPS = frozenset({"diary"})

    def has_perm(self, perm, obj=None) -> bool:
        if self.is_coordinator and perm.split(".", 1)[0] in self.COORDINATOR_APPS:
            return True
        return super().has_perm(perm, obj)

    def has_module_perms(self, app_label) -> bool:
        if self.is_coordinator and app_label in self.COORDINATOR_APPS:
            return True
        return super().has_module_perms(app_label)

    @property
    def is_coordinator(self) -> bool:
        return self.is_active and (self.role == Role.COORDINATOR or self.is_superuser)

    @property
    def is_physician(self) -> bool:
        return self.is_active and self.role == Role.PHYSICIAN

    @property
    def is_patient(self) -> bool:
        return self.is_active and self.role == Role.PATIENT

    @property
    def has_allocation_access(self) -> bool:
        """The unblinded statistician or pharmacist (see diary.blinding)."""
        return self.is_active and self.is_staff and self.allocation_access


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


def default_timezone() -> str:
    return settings.TIME_ZONE


def validate_timezone(value: str) -> None:
    if value not in available_timezones():
        raise ValidationError(
            "%(value)s is not a known time zone; use an IANA name such as America/Los_Angeles.",
            params={"value": value},
        )


def zone_named(name: str) -> ZoneInfo:
    """The time zone of an enrollment's `timezone`. Saved forms validate the name; a bad
    value from elsewhere must not break pages, so the study's default zone stands in and
    the problem is logged."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        logger.error("Unknown time zone %r; using %s", name, settings.TIME_ZONE)
        return ZoneInfo(settings.TIME_ZONE)


# Input limits (docs/domain.md, "Input limits"): every form, import and command that
# takes a date asks these, so that any date the app accepts can be shown, summarised,
# exported and reminded about.
FIRST_DATE = dt.date(2000, 1, 1)
START_DAYS_AHEAD = 365


def date_problem(
    day: dt.date,
    what: str = "Date",
    *,
    ahead: int | None = None,
    schedule_days: int = 0,
    today: dt.date | None = None,
) -> str | None:
    """Why `day` is out of the input limits, in words that say what to fix (no final
    period: the admin adds one, an import's "line N:" does not), or None. `what` names
    the date ("Start date", "start_date"); `ahead`: at most this many days after today
    (the study's today unless given); `schedule_days`: the schedule that starts on
    `day` must end by 9999-12-31."""
    if day < FIRST_DATE:
        return f"{what} must be on or after {FIRST_DATE.isoformat()}"
    if ahead is not None:
        latest = phases.add_days(today or timezone.localdate(), ahead)
        if day > latest:
            return f"{what} must be at most {ahead} days after today ({latest.isoformat()})"
    if schedule_days and (phases.LAST_DAY - day).days < schedule_days - 1:
        return (
            f"{what} {day.isoformat()} is too late: its schedule would end after "
            f"{phases.LAST_DAY.isoformat()}"
        )
    return None


def start_date_problem(
    day: dt.date,
    what: str = "Start date",
    *,
    ahead: int | None = START_DAYS_AHEAD,
    schedule_days: int = 0,
    today: dt.date | None = None,
) -> str | None:
    """date_problem for the first day of a schedule: at most START_DAYS_AHEAD days
    after today."""
    return date_problem(day, what, ahead=ahead, schedule_days=schedule_days, today=today)


def validate_date(value: dt.date) -> None:
    """The input limits of any date field (a diary day, a withdrawal, a pause)."""
    problem = date_problem(value)
    if problem:
        raise ValidationError(f"{problem}.", code="date_limit")


def validate_start_date(value: dt.date) -> None:
    """The input limits of a start date (the schedule's end is checked by
    Enrollment.clean_fields, which knows the arm)."""
    problem = start_date_problem(value)
    if problem:
        raise ValidationError(f"{problem}.", code="date_limit")


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
        help_text="IANA time zone of the patient; her diary day follows it.",
    )
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
        asked) use it. What a reader is shown comes from diary.blinding.schedule_for."""
        return phases.Schedule(self.start_date, self.protocol.layout.plans(self.arm_id, False))

    @property
    def end_date(self) -> dt.date | None:
        return self.schedule.end

    def local_today(self, now: dt.datetime | None = None) -> dt.date:
        """Today's diary day in the patient's own time zone (docs/domain.md)."""
        now = now or timezone.now()
        return now.astimezone(self.zoneinfo).date()

    @property
    def zoneinfo(self) -> ZoneInfo:
        return zone_named(self.timezone)

    def last_data_day(self) -> dt.date | None:
        """The last day that can hold data: the schedule's end, or the withdrawal date."""
        end = self.schedule.end
        if self.withdrawn_on and (end is None or self.withdrawn_on < end):
            return self.withdrawn_on
        return end

    def contains(self, day: dt.date) -> bool:
        last = self.last_data_day()
        return last is not None and self.start_date <= day <= last

    # Entry window -------------------------------------------------------------------

    def day_problem(self, day: dt.date, today: dt.date) -> DayProblem | None:
        """Why `day` can hold no entry at all (for the patient and for staff alike): it
        lies outside her schedule, after her withdrawal, or in the future."""
        if self.end_date is None:
            return DayProblem.NO_SCHEDULE
        if day < self.start_date:
            return DayProblem.BEFORE_START
        if self.withdrawn_on and day > self.withdrawn_on:
            return DayProblem.AFTER_WITHDRAWAL
        if not self.contains(day):
            return DayProblem.AFTER_SCHEDULE
        if day > today:
            return DayProblem.IN_FUTURE
        return None

    def patient_entry_refusal(self, day: dt.date, today: dt.date) -> str | None:
        """Why the patient may not create or change the entry for `day`, or None: a day
        that can hold no entry, an enrollment that is not active, or a day whose window
        has closed (from the start of D until the end of D + DIARY_GRACE_DAYS)."""
        problem = self.day_problem(day, today)
        if problem is not None:
            return problem.for_patient(self)
        if self.status != EnrollmentStatus.ACTIVE:
            return {
                EnrollmentStatus.SCREENING: gettext(
                    "Your enrollment has not started yet; the study team will activate it."
                ),
                EnrollmentStatus.COMPLETED: gettext(
                    "You have completed the study; the diary is closed."
                ),
                EnrollmentStatus.WITHDRAWN: gettext(
                    "You have left the study; the diary is closed."
                ),
            }[self.status]
        grace = settings.DIARY_GRACE_DAYS
        if today > day + dt.timedelta(days=grace):
            return ngettext(
                "This day is locked: a day can be filled in or corrected until the end of "
                "the next day. If something needs fixing, ask your study coordinator.",
                "This day is locked: a day can be filled in or corrected until the end of "
                "the %(grace)d days after it. If something needs fixing, ask your study "
                "coordinator.",
                grace,
            ) % {"grace": grace}
        return None

    def staff_entry_problems(self, day: dt.date, values: dict, today: dt.date) -> list[str]:
        """Why staff (an import, a coordinator's correction) may not record `values` for
        `day`; empty when they may: past days within the schedule, not after the
        withdrawal (the patient's entry window does not apply); dose_taken and
        tolerability only in LDN and placebo phases."""
        problem = self.day_problem(day, today)
        if problem is not None:
            return [problem.for_staff(self, day, today)]
        span = self.schedule.span_on(day)
        if span.is_treatment:
            return []
        label = PhaseKind(span.kind).label.lower()
        return [
            f"{name} must be blank outside LDN and placebo phases ({day} is in the {label} phase)"
            for name in TREATMENT_ONLY_ITEMS
            if values.get(name) is not None
        ]

    def record_patient_entry(self, day: dt.date, values: dict, user) -> tuple[DiaryEntry, bool]:
        """Create or update the patient's entry for `day` in one transaction.

        The enrollment row is locked first, so two saves of the same day (a double tap,
        a retry on a bad connection, two app servers) run one after the other, and the
        entry window is checked again under that lock: a save either happens whole
        with its history row, or not at all. Returns the entry and whether it changed.
        Raises EntryRefused when the day is not open for the patient.
        """
        with transaction.atomic():
            locked = Enrollment.objects.select_for_update().get(pk=self.pk)
            locked.__dict__["schedule"] = self.schedule  # keep the one already built
            today = locked.local_today()
            refusal = locked.patient_entry_refusal(day, today)
            if refusal:
                raise EntryRefused(refusal)
            entry = DiaryEntry.objects.filter(enrollment=locked, date=day).first()
            first_counting_save = True
            if entry is None:
                entry = DiaryEntry(enrollment=locked, date=day)
                reason = "Recorded by the patient"
            elif entry.voided:
                # A voided day is missing for her; saving it again makes it count with
                # her new answers. The history keeps the voided values and the reason.
                entry.voided, entry.void_reason = False, ""
                reason = "Recorded again by the patient after it was voided"
            elif all(getattr(entry, name) == value for name, value in values.items()):
                return entry, False
            else:
                reason = "Corrected by the patient"
                first_counting_save = False
            if first_counting_save:
                entry.source = EntrySource.PATIENT
                entry.late = today > day  # first saved after its day ended
            for name, value in values.items():
                setattr(entry, name, value)
            entry._history_user = user
            entry._change_reason = reason
            entry.save()
            return entry, True


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
            ) % {"start": date_format(enrollment.start_date)}
        if self == DayProblem.AFTER_WITHDRAWAL:
            return gettext("This day is after you left the study, so it has no diary entry.")
        if self == DayProblem.AFTER_SCHEDULE:
            return gettext(
                "Your study schedule ended on %(end)s, so this day has no diary entry."
            ) % {"end": date_format(enrollment.end_date)}
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
                f"{enrollment.timezone})"
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
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

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
        Protocol, null=True, blank=True, on_delete=models.PROTECT, related_name="audit_events"
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


class AlertKind(models.TextChoices):
    """The rules that tell a physician a patient needs attention (docs/domain.md)."""

    MISSED_DAYS = "missed_days", "No entry on the last 3 diary days"
    LOW_COMPLIANCE = "low_compliance", "Compliance under 80% over the last 14 diary days"
    LOW_TOLERABILITY = "low_tolerability", "Tolerability of 50 or less in one of the last 3 entries"
    SIDE_EFFECTS = "side_effects", "Headache on 3 recorded days in a row"


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
