"""The models of the one `diary` app, gathered here because Django loads an app's models
from `<app>.models`. Each model lives in the package of its capability
(docs/architecture.md) and code imports it from there; the functions below are the
defaults and validators the migrations name as diary.models.<name>."""

# ruff: noqa: F401

from diary.audit.models import AuditEvent, DataAccess
from diary.entries.models import DiaryEntry, OfflineAnswer, Reminder
from diary.figures.models import Alert, AlertDigest
from diary.jobs.models import Job, JobChunk
from diary.people.models import User
from diary.queries.models import DataQuery
from diary.signoff.models import PhaseSignature
from diary.trial.dates import (
    default_timezone,
    validate_date,
    validate_start_date,
    validate_timezone,
)
from diary.trial.models import (
    Arm,
    Enrollment,
    Phase,
    Protocol,
    RandomizationSlot,
    default_reminder_time,
    new_seed,
)
from diary.visits.models import Visit
