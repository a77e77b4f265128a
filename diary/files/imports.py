"""CSV imports of docs/domain.md ("File formats"): users, enrollments, diary entries.

Each import checks the whole file before it loads anything, collecting every problem
as "line N: what is wrong" (N = line in the file, header = line 1), then loads all of it
in one transaction, or nothing. Rows equal to what is already stored are skipped, so
importing the same file twice changes nothing; a row that contradicts stored data is a
problem, never a silent overwrite of clinical data.

Files are streamed, never read whole: a first reading collects the keys the rows refer
to (usernames, study IDs), which are then looked up with one query per table, and a
second reading checks every row. The checked entries of an entry file (hundreds of
thousands of rows) are kept packed, a chunk at a time, and written once the whole file
is checked: on PostgreSQL two statements a chunk (the entries from one array per column,
then their history rows copied from them); elsewhere with bulk_create_with_history.
"""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import pickle
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from itertools import repeat
from operator import itemgetter
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured, ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, connection, models, transaction
from django.db.models.functions import Lower
from django.utils import timezone
from simple_history.utils import bulk_create_with_history

from diary.audit.models import AuditAction, AuditEvent, shell_actor
from diary.entries import items, window
from diary.entries.forms import WHOLE_NUMBER
from diary.entries.models import DIARY_ITEMS, TREATMENT_ONLY_ITEMS, DiaryEntry, EntrySource
from diary.people.accounts import new_account
from diary.people.models import Role, User
from diary.trial import blinding
from diary.trial.dates import date_problem, local_today, start_date_problem, validate_timezone
from diary.trial.enrolment import (
    OPEN_STATUSES,
    EnrolmentProblem,
    WithdrawalProblem,
    arm_pick_problem,
    enrolment_problem,
    withdrawal_problems,
)
from diary.trial.models import Enrollment, EnrollmentStatus, Protocol, RandomizationSlot
from diary.trial.randomization import assign_arm, list_rows_left

YES = {"yes", "y", "true", "1"}
NO = {"no", "n", "false", "0"}
ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
NOTES_MAX = DiaryEntry._meta.get_field("notes").max_length
# Checked entries are packed, and inserted, this many at a time.
ENTRY_CHUNK = 20_000


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


class CsvRows:
    """The rows of a UTF-8 CSV file as (line number, {column: stripped cell}).

    Iterating reads the file again from the start. Header problems raise ImportFailed
    at once; a row that cannot be read (wrong number of cells, not UTF-8, ...) is left
    out and recorded in `problems` as (line, message). `cells()` gives the same rows as
    tuples of the cells as written (not stripped), in the order of `columns`: the
    required columns, then the optional ones ("" when the file leaves one out).
    """

    def __init__(
        self,
        path,
        required: list[str],
        optional: Iterable[str] = (),
        *,
        max_rows: int | None = None,
        what: str = "this import",
    ):
        self.path = path
        self.required = list(required)
        self.optional = list(optional)
        self.columns = self.required + self.optional
        self.problems: list[tuple[int, str]] = []
        # Reading stops with one problem at the first row past max_rows (of any kind,
        # blank or unreadable ones included), however long the file is.
        self.max_rows = max_rows
        self.what = what

    def __iter__(self) -> Iterator[tuple[int, dict[str, str]]]:
        columns = self.columns
        for line, cells in self.cells():
            yield line, dict(zip(columns, (cell.strip() for cell in cells), strict=True))

    def cells(self) -> Iterator[tuple[int, tuple[str, ...]]]:
        self.problems = []
        try:
            with self._open() as file:
                yield from self._rows(csv.reader(file))
        except UnicodeDecodeError:
            line = _first_line_not_utf8(self.path)
            self.problems.append(
                (line, "the file is not UTF-8 text; save it as CSV UTF-8 and import it again")
            )

    @contextlib.contextmanager
    def _open(self):
        try:
            file = open(self.path, encoding="utf-8-sig", newline="")  # noqa: SIM115
        except OSError as error:
            raise FileUnreadable(f"cannot read {self.path}: {error.strerror or error}") from None
        with file:
            try:
                yield file
            except OSError as error:
                raise FileUnreadable(
                    f"cannot read {self.path}: {error.strerror or error}"
                ) from None

    def column(self, name: str) -> Iterator[str]:
        """The stripped cells of one column, row by row, for looking up what the rows
        refer to before checking them: a quick reading, which stops at the first row
        that cannot be read and leaves out cells with a NUL character (no database
        takes one; the checking reading reports both), but keeps rows with other
        problems."""
        with contextlib.suppress(UnicodeDecodeError, csv.Error), self._open() as file:
            reader = csv.reader(file)
            position = self._header(reader).index(name)
            for raw in reader:
                if len(raw) > position and "\x00" not in raw[position]:
                    yield raw[position].strip()

    def _rows(self, reader) -> Iterator[tuple[int, tuple[str, ...]]]:
        header = self._header(reader)
        width = len(header)
        # A cell of each column in `columns` order; a left-out optional column reads the
        # blank cell appended after the row's own.
        pick = itemgetter(*(header.index(n) if n in header else width for n in self.columns))
        # A row's line is the one after the end of the previous row (csv counts the
        # lines it reads; a quoted cell may span lines, a blank line is a row of none).
        end = reader.line_num
        limit = self.max_rows
        read = 0
        while True:
            try:
                raw = next(reader)
            except StopIteration:
                return
            except csv.Error as error:
                self.problems.append((reader.line_num, f"cannot be read as CSV ({error})"))
                return
            line, end = end + 1, reader.line_num
            read += 1
            if limit is not None and read > limit:
                raise ImportFailed(
                    [
                        f"line {line}: the file has more than {limit:,} rows; {self.what} "
                        f"has at most {limit:,}. Check that this is the right file."
                    ]
                )
            joined = "".join(raw)
            if not joined.strip():
                continue  # an empty row, e.g. ",,,," left by a spreadsheet
            if len(raw) != width:
                self.problems.append(
                    (
                        line,
                        f"has {len(raw)} cell{'s' if len(raw) > 1 else ''} but the header "
                        f"has {width}; check the commas and quotes",
                    )
                )
                continue
            if "\x00" in joined:
                self.problems.append((line, "contains a NUL character; is this a CSV file?"))
                continue
            raw.append("")
            yield line, pick(raw)

    def _header(self, reader) -> list[str]:
        expected = ", ".join(self.required)
        if self.optional:
            expected += f" (optional: {', '.join(self.optional)})"
        try:
            header = next(reader)
        except StopIteration:
            raise ImportFailed(
                [f"line 1: the file is empty; the first line must name the columns: {expected}"]
            ) from None
        except csv.Error as error:
            raise ImportFailed([f"line 1: cannot be read as CSV ({error})"]) from None
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
        known = self.columns
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
        return names


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


@contextlib.contextmanager
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
    if value.isdigit() and not value.isascii():  # another script's digits: "٥", "５"
        raise ValueError(
            f'{name} "{value}" must be a whole number from 0 to {high}, written with the digits 0-9'
        )
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


def import_enrollments(path, *, unblinded_reason: str = "") -> Outcome:
    """Enrollments, with patient accounts created for unknown usernames; a blank arm
    is randomized (diary.trial.randomization) in file order. An arm is given only on an
    open-label protocol (study.arm_pick_problem), except with `unblinded_reason`: a
    study's existing allocations moved in from another system (import_enrollments
    --unblinded --reason), recorded as one audit event with the file, the count of
    arms given on blinded protocols and the reason."""
    rows = CsvRows(path, ENROLLMENT_COLUMNS, ENROLLMENT_OPTIONAL)
    usernames, study_ids = set(), set()
    for _, row in rows:
        usernames.update((row["username"], row["physician"]))
        study_ids.add(row["study_id"].lower())
    check = _EnrollmentCheck(usernames, study_ids, moving_allocations=bool(unblinded_reason))
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
    reason, stamped = _change_reason(path), timezone.now()
    with _all_or_nothing():
        patients = check.users
        new_patients: dict[str, User] = {}
        for plan in planned:
            key = plan.username.lower()
            if key not in patients and key not in new_patients:
                new_patients[key] = _new_patient(plan.username, plan.email)
        bulk_create_with_history(
            list(new_patients.values()), User, default_change_reason=reason, default_date=stamped
        )
        patients.update(new_patients)
        given, randomized = [], []
        for plan in planned:
            enrollment = Enrollment(patient=patients[plan.username.lower()], **plan.values)
            (given if enrollment.arm_id is not None else randomized).append(enrollment)
        bulk_create_with_history(
            given, Enrollment, default_change_reason=reason, default_date=stamped
        )
        for enrollment in randomized:
            # docs/domain.md: a blank arm is randomized; each enrollment is saved before
            # the next is randomized, so they take consecutive slots in file order.
            assign_arm(enrollment)
            enrollment._change_reason = reason
            enrollment.save()
        if unblinded_reason:
            _record_allocations_moved_in(path, given, unblinded_reason)
    outcome.created = len(planned)
    return outcome


def _record_allocations_moved_in(path, given: list[Enrollment], reason: str) -> None:
    """The audit event of import_enrollments --unblinded: the file, how many arms it
    gave on blinded protocols, and why. Counts only: the trail is read by blinded staff."""
    blinded = [e for e in given if blinding.protocol_blinds_patients(e.protocol)]
    slugs = sorted({e.protocol.slug for e in blinded})
    protocols = {e.protocol_id: e.protocol for e in blinded}
    AuditEvent.objects.create(
        action=AuditAction.UNBLINDED_IMPORT,
        actor_name=shell_actor(),
        # The protocol's trail shows it; a file of several protocols is the study's.
        protocol=next(iter(protocols.values())) if len(protocols) == 1 else None,
        reason=reason,
        details={"file": Path(path).name, "arms given": len(blinded), "protocols": slugs},
    )


def _schedule_days(protocol: Protocol | None, arm) -> int:
    """How long the schedule of an enrollment into `protocol` (and `arm`, None while it
    is to be randomized) is: Enrollment.schedule_days."""
    if protocol is None:
        return 0
    return Enrollment(protocol=protocol, arm_id=arm.pk if arm else None).schedule_days()


def _new_patient(username: str, email: str) -> User:
    """The account diary.people.accounts.new_account would create for a new patient, not saved
    yet (it is created in bulk, with its history row): no usable password, checked with
    full_clean. The username is known to be new: the check looked it up ignoring case,
    and the database's unique constraint stands behind it."""
    user = User(username=username, email=User.objects.normalize_email(email), role=Role.PATIENT)
    user.set_unusable_password()
    user.full_clean(exclude=["password"], validate_unique=False)
    user._history_user = None  # as new_account(by=None): no signed-in user made it
    return user


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

    def __init__(self, usernames: set[str], study_ids: set[str], moving_allocations=False):
        # import_enrollments --unblinded: arms may be given on blinded protocols.
        self.moving_allocations = moving_allocations
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
        if start is not None:
            problem = start_date_problem(
                start, "start_date", schedule_days=_schedule_days(protocol, arm)
            )
            if problem:
                errors.append(problem)
                start = None
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
            problem = arm_pick_problem(protocol, arm, moving_allocations=self.moving_allocations)
            if problem:
                errors.append(
                    f'arm "{code}" is given, but {problem.rstrip(".")}, or move a '
                    'study\'s existing allocations in with --unblinded --reason "..."'
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
        if day is not None:
            problem = date_problem(day, "withdrawn_on")
            if problem:
                errors.append(problem)
                return None
        if value and day is None:
            return None
        today = local_today(zone) if self.timezones.get(zone) else None
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

# The diary items, in the model's order: the ones asked every day are required columns.
ENTRY_COLUMNS = ["study_id", "date", *(name for name in DIARY_ITEMS if items.always_asked(name))]
ENTRY_OPTIONAL = [name for name in DIARY_ITEMS if not items.always_asked(name)]
ITEMS = ENTRY_COLUMNS[2:] + ENTRY_OPTIONAL


def _item_parser(name: str):
    """How the cell of item `name` is read: (name, parser, its arguments)."""
    required = (False,) if name in TREATMENT_ONLY_ITEMS else ()
    if items.kind(name) == items.SCALE:
        return name, parse_score, (items.score_range(name)[1], *required)
    return name, parse_yes_no, required


# How the cell of each item but the free text is read, in the order of ITEMS.
ITEM_PARSERS = [_item_parser(name) for name in ITEMS if items.kind(name) != items.TEXT]
assert [name for name, *_ in ITEM_PARSERS] + ["notes"] == ITEMS
_UNREAD = object()  # a cell value not read before
_TREATMENT_ONLY = [ITEMS.index(name) for name in TREATMENT_ONLY_ITEMS]


def import_entries(path) -> Outcome:
    """Diary entries with source `import`, each with a history row."""
    rows = CsvRows(path, ENTRY_COLUMNS, ENTRY_OPTIONAL)
    check = _EntryCheck({study_id.lower() for study_id in rows.column("study_id")})
    problems: list[tuple[int, str]] = []
    new = _NewEntries.for_database()
    outcome = Outcome()
    for line, cells in rows.cells():
        errors, entry = check.row(line, cells)
        if errors:
            problems.extend((line, error) for error in errors)
        elif entry is None:
            outcome.unchanged += 1
        elif not problems:  # once there is a problem nothing is loaded: stop keeping rows
            new.add(entry)
    _fail_if_any(rows, problems)
    check.restart()  # the whole file is checked: what the check remembers is not needed
    reason, stamped = _change_reason(path), timezone.now()
    with _all_or_nothing():
        outcome.created = new.save(reason, stamped)
    return outcome


class _EntryCheck:
    """Checks entry rows against the enrollments and the entries already stored.

    Four queries whatever the size of the file: the enrollments with their schedules
    (three) and the stored entries' values (one). A file repeats the same few values
    (scores, yes/no, dates, study IDs), so each value is read once per column with the
    parse_* functions and remembered; the schedule rules are asked once per situation
    (_day_problems).
    """

    def __init__(self, study_ids: set[str]):
        enrollments = list(
            Enrollment.objects.with_schedule()
            .annotate(id_key=Lower("study_id"))
            .filter(id_key__in=study_ids)
        )
        # One object per protocol, so that its layout (every arm's phases) is worked
        # out once, not once per enrollment.
        protocols: dict[int, Protocol] = {}
        for enrollment in enrollments:
            enrollment.protocol = protocols.setdefault(enrollment.protocol_id, enrollment.protocol)
        self.enrollments = {e.study_id.lower(): e for e in enrollments}
        by_pk = {e.pk: e for e in enrollments}
        # (enrollment id, day) -> the items as stored, to skip identical rows and refuse
        # conflicting ones.
        self.stored = {
            (enrollment_id, day): tuple(values)
            for enrollment_id, day, *values in DiaryEntry.objects.filter(
                enrollment_id__in=by_pk
            ).values_list("enrollment_id", "date", *ITEMS)
        }
        # "Today" in each enrollment's own time zone (docs/domain.md), once per import.
        self.today = {e.pk: e.local_today() for e in enrollments}
        # Enrollments whose days the schedule rules judge alike share a situation.
        situations: dict[tuple, int] = {}
        self.situation = {
            e.pk: situations.setdefault(
                (
                    e.protocol_id,
                    e.arm_id,
                    e.start_date,
                    e.withdrawn_on,
                    e.status,
                    e.timezone,
                    self.today[e.pk],
                ),
                len(situations),
            )
            for e in enrollments
        }
        self._forget()

    def restart(self) -> None:
        """Forget the rows seen and the values read (the check starts again, or is done)."""
        self._forget()

    def _forget(self) -> None:
        self.seen: dict[tuple[str, dt.date], int] = {}
        # Per column, cell as written -> value read (only values read without a problem).
        self.study_ids: dict[str, tuple] = {}
        self.dates: dict[str, dt.date] = {}
        self.items: list[dict] = [{} for _ in ITEM_PARSERS]
        # (situation, day, which treatment-only items are blank) the rules accept.
        self.days_accepted: set[tuple] = set()

    def row(self, line: int, cells: tuple[str, ...]) -> tuple[list[str], tuple | None]:
        """The row's problems, and the entry to create as (enrollment id, day, *the
        values of ITEMS); None when it is already stored. `cells` are in the order of
        ENTRY_COLUMNS + ENTRY_OPTIONAL, as written in the file."""
        errors: list[str] = []
        known = self.study_ids.get(cells[0])
        if known is None:
            known = self.study_ids[cells[0]] = self._enrollment(cells[0].strip())
        enrollment, problems, study_id, key, pk, situation = known
        if problems:
            errors.extend(problems)
        day = self.dates.get(cells[1])
        if day is None:
            day = _parsed(errors, parse_date, cells[1].strip())
            problem = day and date_problem(day, "date")
            if problem:
                errors.append(problem)
                day = None
            if day is not None:
                self.dates[cells[1]] = day
        values = self._values(cells, errors)
        if day is not None:
            first = self.seen.setdefault((key, day), line)
            if first != line:
                errors.append(f"{study_id} {day} appears again (first on line {first})")
            if enrollment is not None:
                errors.extend(self._day_problems(enrollment, situation, day, values))
        if errors:
            return errors, None
        stored = self.stored.get((pk, day))
        if stored is None:
            return [], (pk, day, *values)
        if stored == values:
            return [], None
        differences = _differences(
            {name: (old, new) for name, old, new in zip(ITEMS, stored, values, strict=True)}
        )
        return [
            f"{enrollment.study_id} already has an entry for {day} with other values; "
            f"correct it in the admin ({differences})"
        ], None

    def _enrollment(self, study_id: str) -> tuple:
        """For a study ID cell: its enrollment, its problems, the study ID to name, the key
        of repeated days, and the enrollment's pk and situation."""
        problems = []
        if not study_id:
            problems.append("study_id is required")
        enrollment = self.enrollments.get(study_id.lower()) if study_id else None
        if study_id and enrollment is None:
            problems.append(f'unknown study ID "{study_id}"')
        elif enrollment is not None and enrollment.study_id != study_id:
            problems.append(f'unknown study ID "{study_id}" (did you mean {enrollment.study_id}?)')
            enrollment = None
        if enrollment is None:
            return None, problems, study_id, study_id.lower(), None, None
        return (
            enrollment,
            problems,
            enrollment.study_id,
            enrollment.study_id.lower(),
            enrollment.pk,
            self.situation[enrollment.pk],
        )

    def _values(self, cells: tuple[str, ...], errors: list[str]) -> tuple:
        """The values of ITEMS; None where a cell has a problem (added to `errors`)."""
        values = list(map(dict.get, self.items, cells[2:9], repeat(_UNREAD)))
        if _UNREAD in values:
            for n, (name, parse, args) in enumerate(ITEM_PARSERS):
                if values[n] is _UNREAD:
                    cell, known = cells[2 + n], len(errors)
                    values[n] = _parsed(errors, parse, cell.strip(), name, *args)
                    if len(errors) == known:
                        self.items[n][cell] = values[n]
        # A line break is one character, as on the diary form.
        notes = cells[9].strip()
        if "\r" in notes:
            notes = notes.replace("\r\n", "\n").replace("\r", "\n")
        if len(notes) > NOTES_MAX:
            errors.append(
                f"notes are {len(notes)} characters long; at most {NOTES_MAX} are allowed"
            )
        values.append(notes)
        return tuple(values)

    def _day_problems(
        self, enrollment: Enrollment, situation: int, day: dt.date, values: tuple
    ) -> list[str]:
        # window.staff_problems says what is wrong with a day. It reads the
        # enrollment's schedule, withdrawal and "today" (its situation) and, of the
        # values, only whether the treatment-only items are blank: a day it accepted is
        # accepted for every enrollment in the same situation without asking again.
        key = (situation, day, *[values[n] is None for n in _TREATMENT_ONLY])
        if key in self.days_accepted:
            return []
        problems = window.staff_problems(
            enrollment, day, dict(zip(ITEMS, values, strict=True)), self.today[enrollment.pk]
        )
        if not problems:
            self.days_accepted.add(key)
        return problems


class _NewEntries:
    """The checked entries to create, kept packed until the whole file is checked, then
    saved with a history row each, ENTRY_CHUNK at a time (in one transaction)."""

    @staticmethod
    def for_database() -> _NewEntries:
        return _PostgresEntries() if connection.vendor == "postgresql" else _ModelEntries()

    def __init__(self):
        self.packed: list = []
        self.rows: list[tuple] = []
        self.count = 0

    def add(self, row: tuple) -> None:
        """`row`: (enrollment id, day, *the values of ITEMS)."""
        self.rows.append(row)
        if len(self.rows) == ENTRY_CHUNK:
            self._pack()

    def _pack(self) -> None:
        if self.rows:
            self.packed.append(self.pack(self.rows))
            self.count += len(self.rows)
            self.rows = []

    def save(self, reason: str, stamped: dt.datetime) -> int:
        self._pack()
        while self.packed:
            self.insert(self.packed.pop(0), reason, stamped)
        return self.count

    def pack(self, rows: list[tuple]):
        raise NotImplementedError

    def insert(self, packed, reason: str, stamped: dt.datetime) -> None:
        raise NotImplementedError


class _ModelEntries(_NewEntries):
    """Any database: model instances, bulk_create_with_history."""

    def pack(self, rows: list[tuple]) -> bytes:
        return pickle.dumps(rows, pickle.HIGHEST_PROTOCOL)

    def insert(self, packed: bytes, reason: str, stamped: dt.datetime) -> None:
        entries = [
            DiaryEntry(
                enrollment_id=enrollment_id,
                date=day,
                source=EntrySource.IMPORT,
                late=False,
                **dict(zip(ITEMS, values, strict=True)),
            )
            for enrollment_id, day, *values in pickle.loads(packed)
        ]
        bulk_create_with_history(
            entries, DiaryEntry, default_change_reason=reason, default_date=stamped
        )


class _PostgresEntries(_NewEntries):
    """PostgreSQL: what bulk_create_with_history writes, in two statements a chunk that
    leave out building model instances (they would cost more than the database's work):
    the entries from one array per column (unnest, as Django's bulk_create does on
    PostgreSQL) returning their ids, then each stored entry copied into its history row
    with the history fields bulk_history_create gives it."""

    FILE_FIELDS = [DiaryEntry._meta.get_field(name) for name in ("enrollment", "date", *ITEMS)]
    # The history model's fields that are not a copy of the entry's.
    HISTORY_FIELDS = ["history_date", "history_change_reason", "history_type", "history_user"]

    def pack(self, rows: list[tuple]) -> list[str]:
        return [
            _array_literal(field, column)
            for field, column in zip(self.FILE_FIELDS, zip(*rows, strict=True), strict=True)
        ]

    def save(self, reason: str, stamped: dt.datetime) -> int:
        self.statements = self._statements(reason, stamped)
        return super().save(reason, stamped)

    def insert(self, packed: list[str], reason: str, stamped: dt.datetime) -> None:
        (entries_sql, entries_values), history = self.statements
        with connection.cursor() as cursor:
            cursor.execute(entries_sql, entries_values + packed)
            ids = [pk for (pk,) in cursor.fetchall()]
            if history is not None:
                history_sql, history_values = history
                ids = _array_literal(DiaryEntry._meta.pk, ids)
                cursor.execute(history_sql, [*history_values, ids])

    def _statements(self, reason: str, stamped: dt.datetime):
        """(SQL, parameters) of the entries' INSERT (the arrays' parameters follow), and
        of the history rows' (the ids' array follows); None without history."""
        quote, table = connection.ops.quote_name, DiaryEntry._meta.db_table
        # Every other field as a new imported entry has it.
        entry = DiaryEntry(source=EntrySource.IMPORT, late=False)
        entry.created_at = entry.updated_at = stamped
        others = [
            field
            for field in DiaryEntry._meta.concrete_fields
            if not field.primary_key and field not in self.FILE_FIELDS
        ]
        entries = (
            f"INSERT INTO {quote(table)} "
            f"({', '.join(quote(f.column) for f in self.FILE_FIELDS + others)}) "
            f"SELECT u.*, {_typed_parameters(others)} "
            f"FROM unnest({_typed_parameters(self.FILE_FIELDS, array=True)}) AS u "
            f"RETURNING {quote(DiaryEntry._meta.pk.column)}",
            [_db_value(field, getattr(entry, field.attname)) for field in others],
        )
        if not getattr(settings, "SIMPLE_HISTORY_ENABLED", True):
            return entries, None
        history = DiaryEntry.history.model
        copied = history.tracked_fields
        own = [f for f in history._meta.concrete_fields if not f.primary_key]
        own = [f for f in own if f.name not in {c.name for c in copied}]
        if sorted(f.name for f in own) != sorted(self.HISTORY_FIELDS):
            raise ImproperlyConfigured(
                f"{history.__name__} has the fields {[f.name for f in own]}; "
                "diary.files.imports writes history rows for these only: "
                f"{', '.join(self.HISTORY_FIELDS)}"
            )
        user = history.get_default_history_user(entry)
        given = {
            "history_date": stamped,
            "history_change_reason": reason,
            "history_type": "+",
            "history_user": user.pk if user is not None else None,
        }
        columns = [history._meta.get_field(f.name).column for f in copied] + [f.column for f in own]
        pk = quote(DiaryEntry._meta.pk.column)
        history_sql = (
            f"INSERT INTO {quote(history._meta.db_table)} "
            f"({', '.join(quote(column) for column in columns)}) "
            f"SELECT {', '.join(quote(f.column) for f in copied)}, {_typed_parameters(own)} "
            f"FROM {quote(table)} "
            f"WHERE {pk} = ANY({_typed_parameters([DiaryEntry._meta.pk], array=True)})"
        )
        values = [_db_value(f, given[f.name]) for f in own]
        return entries, (history_sql, values)


def _typed_parameters(fields, array: bool = False) -> str:
    """`%s::type, ...` for the columns of `fields` (arrays of them with `array`). Text
    is cast to text, not varchar(n): a cast would cut a value that is too long, where
    storing it into the column refuses it."""
    suffix = "[]" if array else ""
    return ", ".join(
        f"%s::{'text' if isinstance(field, TEXT_FIELDS) else field.db_type(connection)}{suffix}"
        for field in fields
    )


def _db_value(field, value):
    return field.get_db_prep_save(value, connection)


TEXT_FIELDS = (models.CharField, models.TextField)
_ARRAY_BOOLEANS = {True: "t", False: "f", None: "NULL"}


def _array_literal(field, values) -> str:
    """A PostgreSQL array literal of `values` (a column's values, which repeat: each
    distinct value is written once) for `field`'s column."""
    if isinstance(field, models.BooleanField):
        element = _ARRAY_BOOLEANS.__getitem__
    elif isinstance(field, TEXT_FIELDS):
        element = _array_text
    else:  # whole numbers and dates (str: YYYY-MM-DD)
        element = _array_other
    written = {value: element(value) for value in set(values)}
    return "{" + ",".join(map(written.__getitem__, values)) + "}"


def _array_text(value: str | None) -> str:
    if value is None:
        return "NULL"
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _array_other(value) -> str:
    return "NULL" if value is None else str(value)


# Randomization lists ------------------------------------------------------------------

LIST_COLUMNS = ["sequence", "arm"]
# A protocol never allocates more: a longer file is refused as soon as its reading gets
# past this many rows, long before a worker's timeout.
LIST_ROWS_MAX = 100_000


def import_randomization_list(
    path, protocol: Protocol, *, by=None, replace=False, file_name: str = ""
) -> Outcome:
    """A randomization list (CSV `sequence,arm`) for `protocol`: its rows are added to
    the protocol's list (rows already there with the same arm are left as they are).
    With `replace`, the rows uploaded before are dropped first, which is allowed only
    while none of them has been used. Refused when the protocol has already randomized
    someone from its seed: a sequence does not change in the middle."""
    rows = CsvRows(path, LIST_COLUMNS, max_rows=LIST_ROWS_MAX, what="a randomization list")
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
    # A file that could not be read (not UTF-8, ...) has its own one message.
    if not problems and not rows.problems and not new and not outcome.unchanged:
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
