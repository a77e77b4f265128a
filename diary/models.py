"""The models of the one `diary` app, which Django loads from here. Each lives in the
package of its capability (docs/architecture.md); code imports it from there. This
module only gathers them for Django, and keeps the names the migrations refer to
(diary.models.new_seed, validate_date, ...)."""

# ruff: noqa: F401

from diary.audit.models import (
    AuditAction,
    AuditEvent,
    DataAccess,
)
from diary.entries.models import (
    DIARY_ITEMS,
    TREATMENT_ONLY_ITEMS,
    DayProblem,
    DiaryEntry,
    DiaryEntryQuerySet,
    EntryRefused,
    EntrySource,
    Reminder,
    score,
)
from diary.figures.models import (
    Alert,
    AlertDigest,
    AlertKind,
    AlertQuerySet,
)
from diary.people.models import (
    Role,
    User,
)
from diary.trial.dates import (
    FIRST_DATE,
    START_DAYS_AHEAD,
    date_problem,
    default_timezone,
    start_date_problem,
    validate_date,
    validate_start_date,
    validate_timezone,
    zone_named,
)
from diary.trial.models import (
    Arm,
    Blinding,
    Enrollment,
    EnrollmentQuerySet,
    EnrollmentStatus,
    Phase,
    Protocol,
    RandomizationSlot,
    default_reminder_time,
    load_protocols,
    new_seed,
    study_id_validator,
)
