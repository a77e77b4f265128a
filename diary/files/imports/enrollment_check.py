"""The check of an enrollment file's rows against the users, protocols and enrollments
stored (import_enrollments).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db.models.functions import Lower

from diary.files.imports.reading import _differences, _parsed, parse_date
from diary.files.imports.users import (
    _email_problems,
    _same_email,
    _username_problems,
    _users_by_name,
)
from diary.people.models import Role, User
from diary.trial.dates import date_problem, local_today, start_date_problem, validate_timezone
from diary.trial.enrolment import (
    OPEN_STATUSES,
    EnrolmentProblem,
    WithdrawalProblem,
    arm_pick_problem,
    enrolment_problem,
    withdrawal_problems,
)
from diary.trial.models import Enrollment, EnrollmentStatus, Protocol
from diary.trial.randomization import list_rows_left


@dataclass
class _PlannedEnrollment:
    username: str
    email: str
    values: dict


def _schedule_days(protocol: Protocol | None, arm) -> int:
    """How long the schedule of an enrollment into `protocol` (and `arm`, None while it
    is to be randomized) is: Enrollment.schedule_days."""
    if protocol is None:
        return 0
    return Enrollment(protocol=protocol, arm_id=arm.pk if arm else None).schedule_days()


# An import's words for what keeps a protocol from taking an enrollment.
IMPORT_ENROLMENT_PROBLEMS = {
    EnrolmentProblem.LOCKED: (
        "{slug} is locked (database lock), so it takes no new enrollment; a coordinator "
        "unlocks the protocol with a reason first"
    ),
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
