"""CSV imports of DOMAIN.md ("File formats"): users, enrollments, diary entries.

Each import reads and checks the whole file first, collecting every problem as
"line N: what is wrong" (N = line in the file, header = line 1), and loads all of it
in one transaction, or nothing. Rows equal to what is already stored are skipped, so
importing the same file twice changes nothing; a row that contradicts stored data is
a problem, never a silent overwrite of clinical data.
"""

from __future__ import annotations

import csv
import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from simple_history.utils import bulk_create_with_history

from diary.models import (
    DiaryEntry,
    Enrollment,
    EnrollmentStatus,
    EntrySource,
    Protocol,
    Role,
    User,
    study_id_validator,
    validate_timezone,
)
from diary.randomization import assign_arm

YES = {"yes", "y", "true", "1"}
NO = {"no", "n", "false", "0"}


class ImportFailed(Exception):
    def __init__(self, problems: list[str]):
        super().__init__(f"{len(problems)} problem(s)")
        self.problems = problems


@dataclass
class Outcome:
    created: int = 0
    unchanged: int = 0
    problems: list[str] = field(default_factory=list)


def read_rows(path, required: list[str], optional: list[str]):
    """(line number, row dict) of a UTF-8 CSV; header problems raise ImportFailed."""
    try:
        text = Path(path).read_bytes()
    except OSError as error:
        raise ImportFailed([f"cannot read {path}: {error.strerror}"]) from None
    try:
        content = text.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = text[: error.start].count(b"\n") + 1
        raise ImportFailed([f"line {line}: the file is not UTF-8 text"]) from None
    reader = csv.reader(content.splitlines())
    header = next(reader, None)
    if not header:
        raise ImportFailed(["line 1: the file is empty; it needs a header row"])
    names = [name.strip().lower() for name in header]
    problems = []
    missing = [name for name in required if name not in names]
    unknown = [name for name in names if name not in required + optional]
    repeated = sorted({name for name in names if names.count(name) > 1})
    if missing:
        problems.append(f"line 1: missing column(s): {', '.join(missing)}")
    if unknown:
        problems.append(
            f"line 1: unknown column(s): {', '.join(unknown)} "
            f"(expected {', '.join(required + optional)})"
        )
    if repeated:
        problems.append(f"line 1: repeated column(s): {', '.join(repeated)}")
    if problems:
        raise ImportFailed(problems)
    rows = []
    for number, cells in enumerate(reader, start=2):
        if not any(cell.strip() for cell in cells):
            continue  # blank line
        if len(cells) != len(names):
            problems.append(f"line {number}: {len(cells)} cells, the header has {len(names)}")
            continue
        row = {name: cell.strip() for name, cell in zip(names, cells, strict=True)}
        for name in optional:
            row.setdefault(name, "")
        rows.append((number, row))
    if problems:
        raise ImportFailed(problems)
    return rows


def parse_date(value: str, name: str = "date") -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise ValueError(f'{name} "{value}" is not a date in YYYY-MM-DD form') from None


def parse_yes_no(value: str, name: str, required: bool) -> bool | None:
    lowered = value.lower()
    if lowered in YES:
        return True
    if lowered in NO:
        return False
    if not value and not required:
        return None
    if not value:
        raise ValueError(f"{name} is required (yes or no)")
    raise ValueError(f'{name} "{value}" must be yes or no (also y/n, true/false, 1/0)')


def parse_score(value: str, name: str, high: int, required: bool) -> int | None:
    if not value and not required:
        return None
    try:
        number = int(value)
    except ValueError:
        number = None
    if number is None or not 0 <= number <= high:
        raise ValueError(f'{name} "{value}" must be a whole number from 0 to {high}')
    return number


def _finish(problems: list[str]) -> None:
    if problems:
        raise ImportFailed(problems)


# Users ----------------------------------------------------------------------------


def import_users(path) -> Outcome:
    rows = read_rows(path, ["username", "email", "role"], [])
    outcome = Outcome()
    existing = {
        u.username: u for u in User.objects.filter(username__in=[r["username"] for _, r in rows])
    }
    seen, new = {}, []
    for number, row in rows:
        username, email, role = row["username"], row["email"], row["role"].lower()
        line = f"line {number}:"
        if not username:
            outcome.problems.append(f"{line} username is required")
            continue
        if username in seen:
            outcome.problems.append(
                f'{line} username "{username}" appears again (first on line {seen[username]})'
            )
            continue
        seen[username] = number
        if role not in Role.values:
            outcome.problems.append(
                f'{line} role "{row["role"]}" must be one of {", ".join(Role.values)}'
            )
            continue
        if email and "@" not in email:
            outcome.problems.append(f'{line} email "{email}" is not an e-mail address')
            continue
        user = existing.get(username)
        if user is None:
            new.append(User(username=username, email=email, role=role))
        elif user.role != role or (email and user.email != email):
            outcome.problems.append(
                f'{line} user "{username}" already exists with other values '
                f"({user.role}, {user.email or 'no e-mail'})"
            )
        else:
            outcome.unchanged += 1
    _finish(outcome.problems)
    with transaction.atomic():
        for user in new:
            user.set_unusable_password()  # invited later to choose a password
            user.save()
    outcome.created = len(new)
    return outcome


# Enrollments ----------------------------------------------------------------------

ENROLLMENT_COLUMNS = ["study_id", "username", "email", "physician", "protocol", "start_date"]
ENROLLMENT_OPTIONAL = ["arm", "timezone", "status", "withdrawn_on"]


def import_enrollments(path) -> Outcome:
    rows = read_rows(path, ENROLLMENT_COLUMNS, ENROLLMENT_OPTIONAL)
    outcome = Outcome()
    usernames = {r["username"] for _, r in rows} | {r["physician"] for _, r in rows}
    users = {u.username: u for u in User.objects.filter(username__in=usernames)}
    protocols = {p.slug: p for p in Protocol.objects.prefetch_related("arms")}
    existing = {
        e.study_id: e
        for e in Enrollment.objects.select_related(
            "patient", "physician", "protocol", "arm"
        ).filter(study_id__in=[r["study_id"] for _, r in rows])
    }
    seen: dict[str, int] = {}
    planned = []
    for number, row in rows:
        line = f"line {number}:"
        problems = []
        study_id = row["study_id"]
        try:
            study_id_validator(study_id)
        except ValidationError:
            problems.append(f'study ID "{study_id}" may only use letters, digits, "-" and "_"')
        if study_id in seen:
            problems.append(f'study ID "{study_id}" appears again (first on line {seen[study_id]})')
        seen.setdefault(study_id, number)
        physician = users.get(row["physician"])
        if physician is None or physician.role != Role.PHYSICIAN:
            problems.append(f'physician "{row["physician"]}" does not exist or is not a physician')
        protocol = protocols.get(row["protocol"])
        arm = None
        if protocol is None:
            problems.append(
                f'protocol "{row["protocol"]}" does not exist (known: {", ".join(protocols)})'
            )
        elif row["arm"]:
            arm = next((a for a in protocol.arms.all() if a.code == row["arm"]), None)
            if arm is None:
                codes = ", ".join(a.code for a in protocol.arms.all())
                problems.append(f'arm "{row["arm"]}" is not an arm of {protocol.slug} ({codes})')
        start = withdrawn_on = None
        try:
            start = parse_date(row["start_date"], "start_date")
        except ValueError as error:
            problems.append(str(error))
        timezone = row["timezone"] or settings.TIME_ZONE
        try:
            validate_timezone(timezone)
        except ValidationError:
            problems.append(f'timezone "{timezone}" is not a known IANA time zone name')
        status = (row["status"] or EnrollmentStatus.ACTIVE).lower()
        if status not in EnrollmentStatus.values:
            problems.append(
                f'status "{row["status"]}" must be one of {", ".join(EnrollmentStatus.values)}'
            )
        if row["withdrawn_on"]:
            try:
                withdrawn_on = parse_date(row["withdrawn_on"], "withdrawn_on")
            except ValueError as error:
                problems.append(str(error))
        if status == EnrollmentStatus.WITHDRAWN and not row["withdrawn_on"]:
            problems.append("withdrawn_on is required when status is withdrawn")
        if start and withdrawn_on and withdrawn_on < start:
            problems.append("withdrawn_on is before start_date")
        patient = users.get(row["username"])
        if not row["username"]:
            problems.append("username is required")
        elif patient is not None and patient.role != Role.PATIENT:
            problems.append(f'user "{row["username"]}" exists and is not a patient')
        elif patient is not None and row["email"] and patient.email != row["email"]:
            problems.append(f'user "{row["username"]}" exists with another e-mail address')
        elif row["email"] and "@" not in row["email"]:
            problems.append(f'email "{row["email"]}" is not an e-mail address')
        if problems:
            outcome.problems.extend(f"{line} {p}" for p in problems)
            continue
        values = {
            "protocol": protocol,
            "arm": arm,
            "physician": physician,
            "start_date": start,
            "timezone": timezone,
            "status": status,
            "withdrawn_on": withdrawn_on,
        }
        current = existing.get(study_id)
        if current is not None:
            differs = [
                name
                for name, value in values.items()
                if value is not None and getattr(current, name) != value
            ]
            if current.patient.username != row["username"]:
                differs.insert(0, "username")
            if differs:
                outcome.problems.append(
                    f"{line} study ID {study_id} already exists with another "
                    f"{', '.join(differs)}; change it in the admin"
                )
            else:
                outcome.unchanged += 1
            continue
        planned.append((row, values))
    _finish(outcome.problems)
    with transaction.atomic():
        for row, values in planned:
            patient = users.get(row["username"])
            if patient is None:
                patient = User(username=row["username"], email=row["email"], role=Role.PATIENT)
                patient.set_unusable_password()  # invited later to choose a password
                patient.save()
                users[patient.username] = patient
            enrollment = Enrollment(study_id=row["study_id"], patient=patient, **values)
            if enrollment.arm_id is None:
                assign_arm(enrollment)  # DOMAIN.md: a blank arm is randomized
            enrollment._change_reason = "Imported"
            enrollment.save()
            outcome.created += 1
    return outcome


# Entries --------------------------------------------------------------------------

ENTRY_COLUMNS = ["study_id", "date", "pain", "fatigue", "sleep_quality", "vivid_dreams", "headache"]
ENTRY_OPTIONAL = ["dose_taken", "tolerability", "notes"]
ITEMS = [
    "pain",
    "fatigue",
    "sleep_quality",
    "vivid_dreams",
    "headache",
    "dose_taken",
    "tolerability",
    "notes",
]


def _entry_values(row: dict) -> tuple[dict, list[str]]:
    values, problems = {}, []
    for name in ("pain", "fatigue", "sleep_quality"):
        try:
            values[name] = parse_score(row[name], name, 10, required=True)
        except ValueError as error:
            problems.append(str(error))
    for name in ("vivid_dreams", "headache"):
        try:
            values[name] = parse_yes_no(row[name], name, required=True)
        except ValueError as error:
            problems.append(str(error))
    try:
        values["dose_taken"] = parse_yes_no(row["dose_taken"], "dose_taken", required=False)
    except ValueError as error:
        problems.append(str(error))
    try:
        values["tolerability"] = parse_score(row["tolerability"], "tolerability", 100, False)
    except ValueError as error:
        problems.append(str(error))
    if len(row["notes"]) > 1000:
        problems.append(f"notes are {len(row['notes'])} characters; at most 1000 are allowed")
    values["notes"] = row["notes"]
    return values, problems


def import_entries(path, source_name: str = "") -> Outcome:
    rows = read_rows(path, ENTRY_COLUMNS, ENTRY_OPTIONAL)
    outcome = Outcome()
    study_ids = {row["study_id"] for _, row in rows}
    enrollments = {
        e.study_id: e
        for e in Enrollment.objects.filter(study_id__in=study_ids).load_with_schedules()
    }
    stored = {
        (entry.enrollment_id, entry.date): entry
        for entry in DiaryEntry.objects.filter(enrollment__study_id__in=study_ids)
    }
    seen: dict[tuple, int] = {}
    new = []
    for number, row in rows:
        line = f"line {number}:"
        problems = []
        enrollment = enrollments.get(row["study_id"])
        if enrollment is None:
            problems.append(f'unknown study ID "{row["study_id"]}"')
        day = None
        try:
            day = parse_date(row["date"])
        except ValueError as error:
            problems.append(str(error))
        values, value_problems = _entry_values(row)
        problems.extend(value_problems)
        if enrollment is not None and day is not None:
            key = (row["study_id"], day)
            if key in seen:
                problems.append(
                    f"{row['study_id']} {day} appears again (first on line {seen[key]})"
                )
            seen.setdefault(key, number)
            problems.extend(_day_problems(enrollment, day, values))
        if problems:
            outcome.problems.extend(f"{line} {p}" for p in problems)
            continue
        current = stored.get((enrollment.pk, day))
        if current is not None:
            if all(getattr(current, name) == values[name] for name in ITEMS):
                outcome.unchanged += 1
            else:
                outcome.problems.append(
                    f"{line} {enrollment.study_id} already has an entry for {day} with other "
                    "values; correct it in the admin"
                )
            continue
        new.append(DiaryEntry(enrollment=enrollment, date=day, source=EntrySource.IMPORT, **values))
    _finish(outcome.problems)
    with transaction.atomic():
        bulk_create_with_history(
            new,
            DiaryEntry,
            batch_size=5000,
            default_change_reason=f"Imported from {source_name or Path(path).name}",
        )
    outcome.created = len(new)
    return outcome


def _day_problems(enrollment: Enrollment, day: dt.date, values: dict) -> list[str]:
    """DOMAIN.md: past days within the schedule, not after withdrawn_on, not in the
    future; treatment-only items blank outside ldn/placebo phases."""
    if day < enrollment.start_date:
        return [f"{day} is before the start of {enrollment.study_id} ({enrollment.start_date})"]
    if enrollment.withdrawn_on and day > enrollment.withdrawn_on:
        return [f"{day} is after {enrollment.study_id} withdrew ({enrollment.withdrawn_on})"]
    if not enrollment.contains(day):
        return [
            f"{day} is after the end of {enrollment.study_id}'s schedule ({enrollment.end_date})"
        ]
    if day > enrollment.local_today():
        return [f"{day} is in the future for {enrollment.study_id}"]
    span = enrollment.schedule.span_on(day)
    problems = []
    if not span.is_treatment:
        for name in ("dose_taken", "tolerability"):
            if values.get(name) is not None:
                problems.append(
                    f"{name} must be blank outside LDN and placebo phases "
                    f"({day} is in the {span.kind} phase)"
                )
    return problems
