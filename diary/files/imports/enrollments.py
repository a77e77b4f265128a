"""import_enrollments: enrollments, with accounts for their new patients; a blank arm is
randomized.
"""

from __future__ import annotations

from pathlib import Path

from django.utils import timezone
from simple_history.utils import bulk_create_with_history

from diary.audit.models import AuditAction, AuditEvent, shell_actor
from diary.files.imports.enrollment_check import _EnrollmentCheck, _PlannedEnrollment
from diary.files.imports.reading import CsvRows, Outcome, _fail_if_any
from diary.files.imports.writing import _all_or_nothing, _change_reason
from diary.people.models import Role, User
from diary.trial import blinding
from diary.trial.models import Enrollment
from diary.trial.randomization import assign_arm

ENROLLMENT_COLUMNS = ["study_id", "username", "email", "physician", "protocol", "start_date"]
ENROLLMENT_OPTIONAL = ["arm", "timezone", "status", "withdrawn_on"]


def import_enrollments(
    path,
    *,
    unblinded_reason: str = "",
    by=None,
    file_name: str = "",
    check_only: bool = False,
) -> Outcome:
    """Enrollments, with patient accounts created for unknown usernames; a blank arm
    is randomized (diary.trial.randomization) in file order. An arm is given only on an
    open-label protocol (study.arm_pick_problem), except with `unblinded_reason`: a
    study's existing allocations moved in from another system (import_enrollments
    --unblinded --reason), recorded as one audit event with the file, the count of
    arms given on blinded protocols and the reason. `check_only`, `by`, `file_name`:
    as import_users."""
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
    if check_only:
        outcome.created = len(planned)
        return outcome
    reason, stamped = _change_reason(path, by, file_name), timezone.now()
    with _all_or_nothing():
        patients = check.users
        new_patients: dict[str, User] = {}
        for plan in planned:
            key = plan.username.lower()
            if key not in patients and key not in new_patients:
                new_patients[key] = _new_patient(plan.username, plan.email, by)
        bulk_create_with_history(
            list(new_patients.values()),
            User,
            default_user=by,
            default_change_reason=reason,
            default_date=stamped,
        )
        patients.update(new_patients)
        given, randomized = [], []
        for plan in planned:
            enrollment = Enrollment(patient=patients[plan.username.lower()], **plan.values)
            (given if enrollment.arm_id is not None else randomized).append(enrollment)
        bulk_create_with_history(
            given, Enrollment, default_user=by, default_change_reason=reason, default_date=stamped
        )
        for enrollment in randomized:
            # docs/domain.md: a blank arm is randomized; each enrollment is saved before
            # the next is randomized, so they take consecutive slots in file order.
            assign_arm(enrollment)
            enrollment._change_reason = reason
            enrollment._history_user = by
            enrollment.save()
        if unblinded_reason:
            _record_allocations_moved_in(file_name or path, given, unblinded_reason, by)
    outcome.created = len(planned)
    return outcome


def _record_allocations_moved_in(path, given: list[Enrollment], reason: str, by=None) -> None:
    """The audit event of import_enrollments --unblinded: the file, how many arms it
    gave on blinded protocols, and why. Counts only: the trail is read by blinded staff."""
    blinded = [e for e in given if blinding.protocol_blinds_patients(e.protocol)]
    slugs = sorted({e.protocol.slug for e in blinded})
    protocols = {e.protocol_id: e.protocol for e in blinded}
    AuditEvent.objects.create(
        action=AuditAction.UNBLINDED_IMPORT,
        actor=by,
        actor_name="" if by is not None else shell_actor(),
        # The protocol's trail shows it; a file of several protocols is the study's.
        protocol=next(iter(protocols.values())) if len(protocols) == 1 else None,
        reason=reason,
        details={"file": Path(path).name, "arms given": len(blinded), "protocols": slugs},
    )


def _new_patient(username: str, email: str, by=None) -> User:
    """The account diary.people.accounts.new_account would create for a new patient, not saved
    yet (it is created in bulk, with its history row): no usable password, checked with
    full_clean. The username is known to be new: the check looked it up ignoring case,
    and the database's unique constraint stands behind it."""
    user = User(username=username, email=User.objects.normalize_email(email), role=Role.PATIENT)
    user.set_unusable_password()
    user.full_clean(exclude=["password"], validate_unique=False)
    user._history_user = by  # as new_account(by=...): None for a command in a shell
    return user
