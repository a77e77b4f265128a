"""CSV imports of docs/domain.md ("File formats"): users, enrollments, diary entries.

Each import checks the whole file before it loads anything, collecting every problem
as "line N: what is wrong" (N = line in the file, header = line 1), then loads all of it
in one transaction, or nothing. Rows equal to what is already stored are skipped, so
importing the same file twice changes nothing; a row that contradicts stored data is a
problem, never a silent overwrite of clinical data.

Files are streamed, never read whole: a first reading collects the keys the rows refer
to (usernames, study IDs), which are then looked up with one query per table, and a
second reading checks every row. Entry files (hundreds of thousands of rows) are read a
third time to build and bulk-create the entries in chunks.
"""

from __future__ import annotations

import csv
import datetime as dt
import re
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.db.models.functions import Lower
from django.utils import timezone
from simple_history.utils import bulk_create_with_history

from diary.accounts import new_account
from diary.audit import shell_actor
from diary.models import (
    AuditAction,
    AuditEvent,
    DiaryEntry,
    Enrollment,
    EnrollmentStatus,
    EntrySource,
    Protocol,
    RandomizationSlot,
    Role,
    User,
    validate_timezone,
)
from diary.randomization import assign_arm, list_rows_left
from diary.study import (
    OPEN_STATUSES,
    EnrolmentProblem,
    WithdrawalProblem,
    enrolment_problem,
    withdrawal_problems,
)

YES = {"yes", "y", "true", "1"}
NO = {"no", "n", "false", "0"}
ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
WHOLE_NUMBER = re.compile(r"[0-9]+")
NOTES_MAX = DiaryEntry._meta.get_field("notes").max_length
# Entries are built and inserted this many at a time, so memory stays flat.
ENTRY_CHUNK = 2000


class FileUnreadable(Exception):
    """The file cannot be opened or read at all; the message says why."""


class ImportFailed(Exception):
    """The file has problems; nothing was imported. `problems` are "line N: ..." lines."""

    def __init__(self, problems: list[str]):
        super().__init__(f"{len(problems)} problem(s)")
        self.problems = problems


@dataclass
class Outcome:
    created: int = 0
    unchanged: int = 0


# Reading ----------------------------------------------------------------------------

_EXTRA = "\x00extra cells"  # DictReader's key for cells beyond the header


class _Lines:
    """The file's lines, counted, remembering where the current CSV row began (a quoted
    cell may span lines, and the csv module skips blank lines)."""

    def __init__(self, file):
        self.file = file
        self.number = 0
        self.row_start = 0

    def __iter__(self):
        return self

    def __next__(self) -> str:
        line = next(self.file)
        self.number += 1
        if not self.row_start and line.strip("\r\n"):
            self.row_start = self.number
        return line


class CsvRows:
    """The rows of a UTF-8 CSV file as (line number, {column: stripped cell}).

    Iterating reads the file again from the start. Header problems raise ImportFailed
    at once; a row that cannot be read (wrong number of cells, not UTF-8, ...) is left
    out and recorded in `problems` as (line, message).
    """

    def __init__(self, path, required: list[str], optional: Iterable[str] = ()):
        self.path = path
        self.required = list(required)
        self.optional = list(optional)
        self.problems: list[tuple[int, str]] = []

    def __iter__(self) -> Iterator[tuple[int, dict[str, str]]]:
        self.problems = []
        try:
            with open(self.path, encoding="utf-8-sig", newline="") as file:
                yield from self._rows(_Lines(file))
        except UnicodeDecodeError:
            line = _first_line_not_utf8(self.path)
            self.problems.append(
                (line, "the file is not UTF-8 text; save it as CSV UTF-8 and import it again")
            )
        except OSError as error:
            raise FileUnreadable(f"cannot read {self.path}: {error.strerror or error}") from None

    def _rows(self, lines: _Lines) -> Iterator[tuple[int, dict[str, str]]]:
        reader = csv.DictReader(lines, restkey=_EXTRA)
        self._check_header(reader)
        width = len(reader.fieldnames)
        while True:
            lines.row_start = 0
            try:
                raw = next(reader)
            except StopIteration:
                return
            except csv.Error as error:
                self.problems.append((lines.number, f"cannot be read as CSV ({error})"))
                return
            line = lines.row_start
            cells = [cell for cell in raw.values() if isinstance(cell, str)]
            cells += raw.get(_EXTRA, [])
            if not any(cell.strip() for cell in cells):
                continue  # an empty row, e.g. ",,,," left by a spreadsheet
            if len(cells) != width:
                self.problems.append(
                    (
                        line,
                        f"has {len(cells)} cell{'s' if len(cells) > 1 else ''} but the header "
                        f"has {width}; check the commas and quotes",
                    )
                )
                continue
            if any("\x00" in cell for cell in cells):
                self.problems.append((line, "contains a NUL character; is this a CSV file?"))
                continue
            row = dict.fromkeys(self.optional, "")
            row.update((name, cell.strip()) for name, cell in raw.items())
            yield line, row

    def _check_header(self, reader: csv.DictReader) -> None:
        expected = ", ".join(self.required)
        if self.optional:
            expected += f" (optional: {', '.join(self.optional)})"
        try:
            header = reader.fieldnames
        except csv.Error as error:
            raise ImportFailed([f"line 1: cannot be read as CSV ({error})"]) from None
        if header is None:
            raise ImportFailed(
                [f"line 1: the file is empty; the first line must name the columns: {expected}"]
            )
        names = [name.strip().lower() for name in header]
        problems = []
        unnamed = [str(n) for n, name in enumerate(names, start=1) if not name]
        if unnamed or not names:
            problems.append(
                f"line 1: column {', '.join(unnamed) or 1} has no name; the first line must "
                f"name the columns: {expected}"
            )
        missing = [name for name in self.required if name not in names]
        if missing:
            problems.append(f"line 1: missing column(s): {', '.join(missing)}")
        known = self.required + self.optional
        unknown = [name for name in names if name and name not in known]
        if unknown:
            problems.append(
                f"line 1: unknown column(s): {', '.join(unknown)}; the columns are {expected}"
            )
        repeated = sorted({name for name in names if name and names.count(name) > 1})
        if repeated:
            problems.append(f"line 1: repeated column(s): {', '.join(repeated)}")
        if problems:
            raise ImportFailed(problems)
        reader.fieldnames = names


def _first_line_not_utf8(path) -> int:
    # The text reader decodes ahead in blocks; find the offending line itself.
    with open(path, "rb") as file:
        for number, line in enumerate(file, start=1):
            try:
                line.decode("utf-8")
            except UnicodeDecodeError:
                return number
    return 1


def _fail_if_any(rows: CsvRows, problems: list[tuple[int, str]]) -> None:
    found = sorted(rows.problems + problems, key=lambda problem: problem[0])
    if found:
        # One problem, one line of output, even when it quotes a cell that spans lines.
        raise ImportFailed(
            [
                f"line {line}: {message}".replace("\r\n", "\\n")
                .replace("\n", "\\n")
                .replace("\r", "\\r")
                for line, message in found
            ]
        )


@contextmanager
def _all_or_nothing():
    """One transaction for the whole load. The rows were checked first, so the database
    refuses something only if the same data changed since; then nothing is kept."""
    try:
        with transaction.atomic():
            yield
    except IntegrityError as error:
        detail = " ".join(str(error).split())  # PostgreSQL's message spans lines
        raise ImportFailed(
            [
                f"the database refused the data ({detail}); it was probably changed while "
                "the file was being imported. Import the file again."
            ]
        ) from None


def _change_reason(path) -> str:
    """Why and by whom, for the history of every imported row."""
    return f"Imported from {Path(path).name} by {shell_actor()}"


# Cells ------------------------------------------------------------------------------


def parse_date(value: str, name: str = "date") -> dt.date:
    """YYYY-MM-DD only: Python's fromisoformat also takes 20260310 and 2026-W10-2."""
    if ISO_DATE.fullmatch(value):
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            pass
    if not value:
        raise ValueError(f"{name} is required (YYYY-MM-DD)")
    raise ValueError(f'{name} "{value}" is not a date in YYYY-MM-DD form')


def parse_yes_no(value: str, name: str, required: bool = True) -> bool | None:
    lowered = value.lower()
    if lowered in YES:
        return True
    if lowered in NO:
        return False
    if not value:
        if required:
            raise ValueError(f"{name} is required (yes or no)")
        return None
    raise ValueError(f'{name} "{value}" must be yes or no (or y/n, true/false, 1/0)')


def parse_score(value: str, name: str, high: int, required: bool = True) -> int | None:
    if not value:
        if required:
            raise ValueError(f"{name} is required (a whole number from 0 to {high})")
        return None
    # Only ASCII digits: int() would also take "+5", "1_0" and other scripts' digits.
    if WHOLE_NUMBER.fullmatch(value) and int(value) <= high:
        return int(value)
    raise ValueError(f'{name} "{value}" must be a whole number from 0 to {high}')


def _parsed(problems: list[str], parse, *args):
    """parse(*args), or None with the reason added to `problems`."""
    try:
        return parse(*args)
    except ValueError as error:
        problems.append(str(error))
        return None


def _email_problems(email: str, required: bool) -> list[str]:
    if not email:
        return ["email is required (the account is invited by e-mail)"] if required else []
    try:
        validate_email(email)
    except ValidationError:
        return [f'email "{email}" is not an e-mail address']
    if len(email) > User._meta.get_field("email").max_length:
        return [f'email "{email}" is too long']
    return []


def _username_problems(username: str) -> list[str]:
    if not username:
        return ["username is required"]
    try:
        User._meta.get_field("username").run_validators(username)
    except ValidationError:
        return [
            f'username "{username}" may use only letters, digits and @ . + - _ '
            "(at most 150 characters)"
        ]
    return []


def _same_email(stored: str, given: str) -> bool:
    # Mailbox names are case-insensitive in practice; Django lowercases only the domain.
    return stored.lower() == given.lower()


def _users_by_name(usernames: Iterable[str]) -> dict[str, User]:
    """Users whose username matches one of `usernames` ignoring case, keyed by the
    lowercased name (one query). A different case is reported, never a second account."""
    wanted = {name.lower() for name in usernames if name}
    users = User.objects.annotate(name_key=Lower("username")).filter(name_key__in=wanted)
    return {user.username.lower(): user for user in users}


def _differences(pairs: dict[str, tuple[object, object]]) -> str:
    return "; ".join(
        f"{name}: {_shown(stored)} stored, {_shown(given)} in the file"
        for name, (stored, given) in pairs.items()
        if stored != given
    )


def _shown(value) -> str:
    if value is None or value == "":
        return "blank"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


# Users --------------------------------------------------------------------------------

USER_COLUMNS = ["username", "email", "role"]


def import_users(path) -> Outcome:
    """Accounts with no usable password (they are invited later); coordinators get
    is_staff from User.save."""
    rows = CsvRows(path, USER_COLUMNS)
    existing = _users_by_name(row["username"] for _, row in rows)
    problems: list[tuple[int, str]] = []
    seen: dict[str, int] = {}
    new: list[User] = []
    outcome = Outcome()
    for line, row in rows:
        username, email, role = row["username"], row["email"], row["role"].lower()
        errors = _username_problems(username) + _email_problems(email, required=True)
        if role not in Role.values:
            errors.append(f'role "{row["role"]}" must be one of {", ".join(Role.values)}')
        key = username.lower()
        if username and key in seen:
            errors.append(f'username "{username}" appears again (first on line {seen[key]})')
        seen.setdefault(key, line)
        if not errors:
            user = existing.get(key)
            if user is None:
                new.append({"username": username, "email": email, "role": role})
                continue
            if user.username != username:
                errors.append(
                    f'username "{username}" differs only in case from the existing user '
                    f'"{user.username}"; use the same spelling'
                )
            elif user.role != role or not _same_email(user.email, email):
                pairs = {"role": (user.role, role)}
                if not _same_email(user.email, email):
                    pairs["email"] = (user.email, email)
                errors.append(
                    f'user "{username}" already exists with other values '
                    f"({_differences(pairs)}); change the account in the admin"
                )
            else:
                outcome.unchanged += 1
        problems.extend((line, error) for error in errors)
    _fail_if_any(rows, problems)
    reason = _change_reason(path)
    with _all_or_nothing():
        for account in new:
            new_account(**account, reason=reason)
    outcome.created = len(new)
    return outcome


# Enrollments ------------------------------------------------------------------------

ENROLLMENT_COLUMNS = ["study_id", "username", "email", "physician", "protocol", "start_date"]
ENROLLMENT_OPTIONAL = ["arm", "timezone", "status", "withdrawn_on"]


@dataclass
class _PlannedEnrollment:
    username: str
    email: str
    values: dict


def import_enrollments(path) -> Outcome:
    """Enrollments, with patient accounts created for unknown usernames; a blank arm
    is randomized (diary.randomization) in file order."""
    rows = CsvRows(path, ENROLLMENT_COLUMNS, ENROLLMENT_OPTIONAL)
    usernames, study_ids = set(), set()
    for _, row in rows:
        usernames.update((row["username"], row["physician"]))
        study_ids.add(row["study_id"].lower())
    check = _EnrollmentCheck(usernames, study_ids)
    problems: list[tuple[int, str]] = []
    planned: list[_PlannedEnrollment] = []
    outcome = Outcome()
    for line, row in rows:
        errors, plan = check.row(line, row)
        problems.extend((line, error) for error in errors)
        if plan is not None:
            planned.append(plan)
        elif not errors:
            outcome.unchanged += 1
    _fail_if_any(rows, problems)
    reason = _change_reason(path)
    with _all_or_nothing():
        patients = check.users
        for plan in planned:
            patient = patients.get(plan.username.lower())
            if patient is None:
                patient = new_account(username=plan.username, email=plan.email, reason=reason)
                patients[plan.username.lower()] = patient
            enrollment = Enrollment(patient=patient, **plan.values)
            if enrollment.arm_id is None:
                # docs/domain.md: a blank arm is randomized; each enrollment is saved before
                # the next is randomized, so they take consecutive slots.
                assign_arm(enrollment)
            enrollment._change_reason = reason
            enrollment.save()
    outcome.created = len(planned)
    return outcome


# An import's words for what keeps a protocol from taking an enrollment.
IMPORT_ENROLMENT_PROBLEMS = {
    EnrolmentProblem.NO_ARMS: "{slug} has no arms; add them in the admin",
    EnrolmentProblem.ARM_WITHOUT_PHASES: "{slug} has an arm without phases; add them in the admin",
    EnrolmentProblem.BLINDING: "{slug} cannot take enrollments yet: fix its arms in the admin",
    EnrolmentProblem.LIST_USED_UP: (
        "arm is blank but the randomization list of {slug} is used up; upload more rows "
        "(allocation access) or give the arm"
    ),
    EnrolmentProblem.BLOCK_SIZE: (
        "arm is blank but {slug} cannot randomize (its block size is not a multiple of its "
        "arms); give the arm or fix the protocol in the admin"
    ),
}


class _EnrollmentCheck:
    """Checks enrollment rows against the users, protocols and enrollments stored."""

    def __init__(self, usernames: set[str], study_ids: set[str]):
        self.users = _users_by_name(usernames)
        self.protocols = {p.slug: p for p in Protocol.objects.prefetch_related("arms__phases")}
        self.existing = {
            e.study_id.lower(): e
            for e in Enrollment.objects.select_related("patient", "physician", "protocol", "arm")
            .annotate(id_key=Lower("study_id"))
            .filter(id_key__in=study_ids)
        }
        self.seen: dict[str, int] = {}
        # Patients this file creates: lowercased username -> (first line, username, e-mail).
        self.new_patients: dict[str, tuple[int, str, str]] = {}
        self.timezones: dict[str, bool] = {}
        # Blank arms planned so far, per protocol: they take randomization list rows.
        self.randomized: dict[int, int] = {}
        self.rows_left: dict[int, int | None] = {}
        # A patient takes part in a protocol once at a time: the open enrollments of
        # the file's patients, (lowercased username, protocol id) -> study ID or line.
        self.open: dict[tuple[str, int], str] = {
            (username.lower(), protocol_id): study_id
            for username, protocol_id, study_id in Enrollment.objects.filter(
                patient__in=self.users.values(), status__in=OPEN_STATUSES
            ).values_list("patient__username", "protocol_id", "study_id")
        }

    def row(self, line: int, row: dict) -> tuple[list[str], _PlannedEnrollment | None]:
        """The row's problems, and what to create (None when it is already stored)."""
        errors: list[str] = []
        study_id = self._study_id(line, row["study_id"], errors)
        physician = self._physician(row["physician"], errors)
        protocol, arm = self._protocol_and_arm(row["protocol"], row["arm"], errors)
        start = _parsed(errors, parse_date, row["start_date"], "start_date")
        zone = row["timezone"] or settings.TIME_ZONE
        if not self._known_timezone(zone):
            errors.append(
                f'timezone "{zone}" is not a known IANA time zone name, e.g. America/Los_Angeles'
            )
        status = (row["status"] or EnrollmentStatus.ACTIVE).lower()
        if status not in EnrollmentStatus.values:
            errors.append(
                f'status "{row["status"]}" must be one of {", ".join(EnrollmentStatus.values)}'
            )
        withdrawn_on = self._withdrawn_on(row["withdrawn_on"], status, start, zone, errors)
        self._patient(line, row["username"], row["email"], errors)
        if errors:
            return errors, None
        values = {
            "study_id": study_id,
            "physician": physician,
            "protocol": protocol,
            "arm": arm,
            "start_date": start,
            "timezone": zone,
            "status": status,
            "withdrawn_on": withdrawn_on,
        }
        stored = self.existing.get(study_id.lower())
        if stored is None:
            if status in OPEN_STATUSES:
                key = (row["username"].lower(), protocol.pk)
                if key in self.open:
                    return [
                        f"{row['username']} already takes part in {protocol.slug} "
                        f"({self.open[key]}); a patient has one screening or active "
                        "enrollment per protocol"
                    ], None
                self.open[key] = f"line {line}"
            return [], _PlannedEnrollment(row["username"], row["email"], values)
        return self._compare(stored, row["username"], values), None

    def _study_id(self, line: int, study_id: str, errors: list[str]) -> str:
        if not study_id:
            errors.append("study_id is required")
            return study_id
        try:
            Enrollment._meta.get_field("study_id").run_validators(study_id)
        except ValidationError:
            errors.append(
                f'study ID "{study_id}" may use only letters, digits, "-" and "_", '
                "start with a letter or digit and be at most 40 characters long"
            )
        key = study_id.lower()
        if key in self.seen:
            errors.append(f'study ID "{study_id}" appears again (first on line {self.seen[key]})')
        self.seen.setdefault(key, line)
        stored = self.existing.get(key)
        if stored is not None and stored.study_id != study_id:
            errors.append(
                f'study ID "{study_id}" differs only in case from the existing '
                f'"{stored.study_id}"; use the same spelling'
            )
        return study_id

    def _physician(self, username: str, errors: list[str]) -> User | None:
        user = self.users.get(username.lower()) if username else None
        if user is not None and user.username == username and user.is_physician:
            return user
        hint = ""
        if user is not None and user.username != username and user.is_physician:
            hint = f' (did you mean "{user.username}"?)'
        errors.append(f'physician "{username}" does not exist or is not a physician{hint}')
        return None

    def _protocol_and_arm(self, slug: str, code: str, errors: list[str]):
        protocol = self.protocols.get(slug)
        if protocol is None:
            errors.append(
                f'protocol "{slug}" does not exist; known protocols: {", ".join(self.protocols)}'
            )
            return None, None
        arms = list(protocol.arms.all())
        if code:
            arm = next((arm for arm in arms if arm.code == code), None)
            if arm is None:
                errors.append(
                    f'arm "{code}" is not an arm of {slug}; its arms are '
                    f"{', '.join(a.code for a in arms) or 'none'}"
                )
                return protocol, None
        else:
            arm = None
        # A blank arm is randomized: the earlier blank arms of this file take their
        # randomization list rows first.
        planned = self.randomized.get(protocol.pk, 0)
        if protocol.pk not in self.rows_left:
            self.rows_left[protocol.pk] = list_rows_left(protocol)
        problem = enrolment_problem(
            protocol, arm, planned=planned, rows_left=self.rows_left[protocol.pk]
        )
        if problem is not None:
            errors.append(IMPORT_ENROLMENT_PROBLEMS[problem].format(slug=slug))
            return protocol, arm
        if arm is None:
            self.randomized[protocol.pk] = planned + 1
        return protocol, arm

    def _known_timezone(self, zone: str) -> bool:
        if zone not in self.timezones:
            try:
                validate_timezone(zone)
                self.timezones[zone] = True
            except ValidationError:
                self.timezones[zone] = False
        return self.timezones[zone]

    def _withdrawn_on(self, value, status, start, zone, errors) -> dt.date | None:
        day = _parsed(errors, parse_date, value, "withdrawn_on") if value else None
        if value and day is None:
            return None
        today = (
            timezone.now().astimezone(ZoneInfo(zone)).date() if self.timezones.get(zone) else None
        )
        messages = {
            WithdrawalProblem.DATE_MISSING: "withdrawn_on is required when status is withdrawn",
            WithdrawalProblem.DATE_WITHOUT_WITHDRAWAL: (
                f"withdrawn_on must be blank unless status is withdrawn (status is {status})"
            ),
            WithdrawalProblem.BEFORE_START: f"withdrawn_on {day} is before start_date {start}",
            WithdrawalProblem.IN_FUTURE: f"withdrawn_on {day} is in the future",
        }
        errors.extend(
            messages[problem] for problem in withdrawal_problems(status, day, start, today)
        )
        return day

    def _patient(self, line: int, username: str, email: str, errors: list[str]) -> None:
        problems = _username_problems(username)
        if problems:
            errors.extend(problems)
            return
        key = username.lower()
        user = self.users.get(key)
        if user is None:
            first_line, first_username, first_email = self.new_patients.setdefault(
                key, (line, username, email)
            )
            errors.extend(_email_problems(email, required=first_line == line))
            if username != first_username:
                errors.append(
                    f'username "{username}" differs only in case from "{first_username}" on '
                    f"line {first_line}; use the same spelling"
                )
            if email and first_email and not _same_email(first_email, email):
                errors.append(
                    f'email "{email}" differs from the one given for "{username}" on line '
                    f"{first_line} ({first_email})"
                )
            return
        if user.username != username:
            errors.append(
                f'username "{username}" differs only in case from the existing user '
                f'"{user.username}"; use the same spelling'
            )
        elif user.role != Role.PATIENT:
            errors.append(f'user "{username}" exists and is a {user.role}, not a patient')
        elif email and not _same_email(user.email, email):
            errors.append(
                f'user "{username}" exists with another e-mail address ({user.email or "none"}); '
                "leave email blank or change the account in the admin"
            )

    def _compare(self, stored: Enrollment, username: str, values: dict) -> list[str]:
        pairs = {
            "username": (stored.patient.username, username),
            "physician": (stored.physician.username, values["physician"].username),
            "protocol": (stored.protocol.slug, values["protocol"].slug),
            "start_date": (stored.start_date, values["start_date"]),
            "timezone": (stored.timezone, values["timezone"]),
            "status": (stored.status, values["status"]),
            "withdrawn_on": (stored.withdrawn_on, values["withdrawn_on"]),
        }
        # A blank arm was randomized: whatever arm the stored enrollment got matches.
        if values["arm"] is not None:
            pairs["arm"] = (stored.arm.code, values["arm"].code)
        differences = _differences(pairs)
        if not differences:
            return []
        return [
            f"{stored.study_id} already exists with other values ({differences}); "
            "change it in the admin"
        ]


# Entries ------------------------------------------------------------------------------

ENTRY_COLUMNS = ["study_id", "date", "pain", "fatigue", "sleep_quality", "vivid_dreams", "headache"]
ENTRY_OPTIONAL = ["dose_taken", "tolerability", "notes"]
ITEMS = ENTRY_COLUMNS[2:] + ENTRY_OPTIONAL


def import_entries(path) -> Outcome:
    """Diary entries with source `import`, each with a history row."""
    rows = CsvRows(path, ENTRY_COLUMNS, ENTRY_OPTIONAL)
    check = _EntryCheck({row["study_id"].lower() for _, row in rows})
    problems: list[tuple[int, str]] = []
    outcome = Outcome()
    for line, row in rows:
        errors, entry = check.row(line, row)
        problems.extend((line, error) for error in errors)
        if entry is not None:
            outcome.created += 1
        elif not errors:
            outcome.unchanged += 1
    _fail_if_any(rows, problems)

    # Read the file once more to build the entries chunk by chunk: holding hundreds of
    # thousands of model instances at once is not needed.
    check.restart()
    reason, stamped = _change_reason(path), timezone.now()
    created = 0
    with _all_or_nothing():
        chunk: list[DiaryEntry] = []
        for line, row in rows:
            errors, entry = check.row(line, row)
            if errors:
                raise ImportFailed([f"line {line}: the file changed during the import"])
            if entry is not None:
                chunk.append(entry)
            if len(chunk) == ENTRY_CHUNK:
                created += _create_entries(chunk, reason, stamped)
                chunk = []
        created += _create_entries(chunk, reason, stamped)
        if rows.problems or created != outcome.created:
            raise ImportFailed(["the file changed during the import; import it again"])
    return outcome


def _create_entries(entries: list[DiaryEntry], reason: str, stamped: dt.datetime) -> int:
    if entries:
        bulk_create_with_history(
            entries, DiaryEntry, default_change_reason=reason, default_date=stamped
        )
    return len(entries)


class _EntryCheck:
    """Checks entry rows against the enrollments and the entries already stored.

    Three queries whatever the size of the file: the enrollments with their schedules
    (two) and the stored entries' values (one).
    """

    def __init__(self, study_ids: set[str]):
        self.enrollments = {
            e.study_id.lower(): e
            for e in Enrollment.objects.with_schedule()
            .annotate(id_key=Lower("study_id"))
            .filter(id_key__in=study_ids)
        }
        by_pk = {e.pk: e for e in self.enrollments.values()}
        # (enrollment id, day) -> the items as stored, to skip identical rows and refuse
        # conflicting ones.
        self.stored = {
            (enrollment_id, day): values
            for enrollment_id, day, *values in DiaryEntry.objects.filter(
                enrollment_id__in=by_pk
            ).values_list("enrollment_id", "date", *ITEMS)
        }
        # "Today" in each enrollment's own time zone (docs/domain.md), once per import.
        self.today = {e.pk: e.local_today() for e in by_pk.values()}
        self.seen: dict[tuple[str, dt.date], int] = {}

    def restart(self) -> None:
        self.seen = {}

    def row(self, line: int, row: dict) -> tuple[list[str], DiaryEntry | None]:
        """The row's problems, and the entry to create (None when it is already stored)."""
        errors: list[str] = []
        enrollment = self._enrollment(row["study_id"], errors)
        day = _parsed(errors, parse_date, row["date"])
        values = self._values(row, errors)
        if day is not None:
            study_id = enrollment.study_id if enrollment else row["study_id"]
            key = (study_id.lower(), day)
            if key in self.seen:
                errors.append(f"{study_id} {day} appears again (first on line {self.seen[key]})")
            self.seen.setdefault(key, line)
        if enrollment is not None and day is not None:
            errors.extend(self._day_problems(enrollment, day, values))
        if errors:
            return errors, None
        stored = self.stored.get((enrollment.pk, day))
        if stored is None:
            entry = DiaryEntry(
                enrollment=enrollment, date=day, source=EntrySource.IMPORT, late=False, **values
            )
            return [], entry
        differences = _differences(
            {name: (old, values[name]) for name, old in zip(ITEMS, stored, strict=True)}
        )
        if differences:
            return [
                f"{enrollment.study_id} already has an entry for {day} with other values; "
                f"correct it in the admin ({differences})"
            ], None
        return [], None

    def _enrollment(self, study_id: str, errors: list[str]) -> Enrollment | None:
        if not study_id:
            errors.append("study_id is required")
            return None
        enrollment = self.enrollments.get(study_id.lower())
        if enrollment is None:
            errors.append(f'unknown study ID "{study_id}"')
        elif enrollment.study_id != study_id:
            errors.append(f'unknown study ID "{study_id}" (did you mean {enrollment.study_id}?)')
            return None
        return enrollment

    def _values(self, row: dict, errors: list[str]) -> dict:
        values = {
            name: _parsed(errors, parse_score, row[name], name, 10)
            for name in ("pain", "fatigue", "sleep_quality")
        }
        for name in ("vivid_dreams", "headache"):
            values[name] = _parsed(errors, parse_yes_no, row[name], name)
        values["dose_taken"] = _parsed(errors, parse_yes_no, row["dose_taken"], "dose_taken", False)
        values["tolerability"] = _parsed(
            errors, parse_score, row["tolerability"], "tolerability", 100, False
        )
        # A line break is one character, as on the diary form.
        notes = row["notes"].replace("\r\n", "\n").replace("\r", "\n")
        if len(notes) > NOTES_MAX:
            errors.append(
                f"notes are {len(notes)} characters long; at most {NOTES_MAX} are allowed"
            )
        values["notes"] = notes
        return values

    def _day_problems(self, enrollment: Enrollment, day: dt.date, values: dict) -> list[str]:
        return enrollment.staff_entry_problems(day, values, self.today[enrollment.pk])


# Randomization lists ------------------------------------------------------------------

LIST_COLUMNS = ["sequence", "arm"]


def import_randomization_list(
    path, protocol: Protocol, *, by=None, replace=False, file_name: str = ""
) -> Outcome:
    """A randomization list (CSV `sequence,arm`) for `protocol`: its rows are added to
    the protocol's list (rows already there with the same arm are left as they are).
    With `replace`, the rows uploaded before are dropped first, which is allowed only
    while none of them has been used. Refused when the protocol has already randomized
    someone from its seed: a sequence does not change in the middle."""
    rows = CsvRows(path, LIST_COLUMNS)
    arms = {arm.code.lower(): arm for arm in protocol.arms.all()}
    stored = {slot.sequence: slot for slot in protocol.randomization_slots.select_related("arm")}
    randomized = protocol.enrollments.filter(randomization_number__isnull=False)
    used = set(randomized.values_list("randomization_number", flat=True))
    problems: list[tuple[int, str]] = []
    if used and not stored:
        problems.append(
            (
                1,
                f"{protocol.slug} has already randomized {len(used)} enrollment(s) from its "
                "seed; a randomization list can only be used from the first allocation on",
            )
        )
    if replace and stored:
        if used:
            problems.append(
                (1, f"{len(used)} row(s) of the list are already used; it cannot be replaced")
            )
        stored = {}
    new, seen, outcome = [], {}, Outcome()
    for line, row in rows:
        errors: list[str] = []
        sequence = _parsed(errors, _parse_sequence, row["sequence"])
        arm = arms.get(row["arm"].lower())
        if arm is None:
            known = ", ".join(sorted(a.code for a in arms.values())) or "none"
            errors.append(f'arm "{row["arm"]}" is not an arm of {protocol.slug} ({known})')
        if sequence is not None:
            if sequence in seen:
                errors.append(f"sequence {sequence} appears again (first on line {seen[sequence]})")
            seen.setdefault(sequence, line)
            slot = stored.get(sequence)
            if slot is not None and arm is not None and slot.arm_id != arm.pk:
                errors.append(
                    f"sequence {sequence} is already in the list with another arm; uploaded "
                    "rows cannot change"
                )
        problems.extend((line, error) for error in errors)
        if errors:
            continue
        if sequence in stored:
            outcome.unchanged += 1
        else:
            new.append(RandomizationSlot(protocol=protocol, sequence=sequence, arm=arm))
    if not problems and not new and not outcome.unchanged:
        problems.append((2, "the file has no rows; give one row per sequence number"))
    _fail_if_any(rows, problems)
    with _all_or_nothing():
        if replace:
            protocol.randomization_slots.all().delete()
        for slot in new:
            slot.uploaded_by = by
        RandomizationSlot.objects.bulk_create(new)
        AuditEvent.objects.create(
            action=AuditAction.RANDOMIZATION_LIST,
            actor=by,
            actor_name="" if by is not None else shell_actor(),
            protocol=protocol,
            # Counts only: the audit trail is read by blinded staff too.
            details={
                "file": file_name or Path(path).name,
                "rows added": len(new),
                "rows already there": outcome.unchanged,
                "replaced": bool(replace),
            },
        )
    outcome.created = len(new)
    return outcome


def _parse_sequence(value: str) -> int:
    if WHOLE_NUMBER.fullmatch(value) and int(value) >= 1:
        return int(value)
    if not value:
        raise ValueError("sequence is required (a whole number from 1)")
    raise ValueError(f'sequence "{value}" must be a whole number from 1')
