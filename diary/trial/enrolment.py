"""Enrolling a patient: status changes, withdrawal, the arm, and the checks that say
what to fix. Each step happens whole, with its history rows, or not at all."""

from __future__ import annotations

from enum import Enum

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction

from diary.people.accounts import new_account
from diary.people.models import Role, User
from diary.trial import blinding, locks
from diary.trial.invitations import send_invitation
from diary.trial.models import Arm, Enrollment, EnrollmentStatus, Protocol
from diary.trial.randomization import assign_arm, list_rows_left, used_up_message

# Status changes a coordinator may make (docs/domain.md: screening -> active -> completed or
# withdrawn). Nothing goes back: a mistake is corrected by a new enrollment.
STATUS_TRANSITIONS = {
    EnrollmentStatus.SCREENING: {EnrollmentStatus.ACTIVE, EnrollmentStatus.WITHDRAWN},
    EnrollmentStatus.ACTIVE: {EnrollmentStatus.COMPLETED, EnrollmentStatus.WITHDRAWN},
    EnrollmentStatus.COMPLETED: set(),
    EnrollmentStatus.WITHDRAWN: set(),
}


def status_change_problem(old: str, new: str) -> str | None:
    if old == new or new in STATUS_TRANSITIONS[old]:
        return None
    allowed = sorted(EnrollmentStatus(s).label.lower() for s in STATUS_TRANSITIONS[old])
    return (
        f"A {EnrollmentStatus(old).label.lower()} enrollment cannot become "
        f"{EnrollmentStatus(new).label.lower()}; "
        + (f"it can become {' or '.join(allowed)}." if allowed else "its status is final.")
    )


class WithdrawalProblem(Enum):
    """What is wrong with an enrollment's withdrawal date, for the admin and imports."""

    DATE_MISSING = "missing"
    DATE_WITHOUT_WITHDRAWAL = "without withdrawal"
    BEFORE_START = "before start"
    IN_FUTURE = "in future"


def withdrawal_problems(status, withdrawn_on, start_date, today) -> list[WithdrawalProblem]:
    """A withdrawn enrollment has a withdrawal date, no other one has; the date lies
    between the start (`start_date`, when known) and today in her time zone."""
    if status == EnrollmentStatus.WITHDRAWN and withdrawn_on is None:
        return [WithdrawalProblem.DATE_MISSING]
    if withdrawn_on is None:
        return []
    problems = []
    if status != EnrollmentStatus.WITHDRAWN:
        problems.append(WithdrawalProblem.DATE_WITHOUT_WITHDRAWAL)
    if start_date and withdrawn_on < start_date:
        problems.append(WithdrawalProblem.BEFORE_START)
    if today and withdrawn_on > today:
        problems.append(WithdrawalProblem.IN_FUTURE)
    return problems


# Enrollment -----------------------------------------------------------------------


def arm_pick_problem(
    protocol: Protocol, arm: Arm | None, *, moving_allocations: bool = False
) -> str | None:
    """docs/domain.md: the arm is randomized unless picked on an open-label protocol.
    Every door that takes an arm asks this (the admin's enrolment, import_enrollments).
    The one exception, `moving_allocations`: a study's existing allocations moved in
    from another system (import_enrollments --unblinded --reason, an audit event)."""
    if arm is None:
        return None
    if arm.protocol_id != protocol.pk:
        return f"Arm {arm.code} belongs to another protocol; pick an arm of {protocol.slug}."
    if blinding.protocol_blinds_patients(protocol) and not moving_allocations:
        return (
            f"{protocol.slug} is {protocol.get_blinding_display().lower()}: its arms are "
            "assigned by randomization only. Leave the arm blank."
        )
    return None


class EnrolmentProblem(Enum):
    """Why nobody can be enrolled into a protocol (or an arm of it) yet."""

    LOCKED = "locked"
    NO_ARMS = "no arms"
    ARM_WITHOUT_PHASES = "arm without phases"
    BLINDING = "blinding"
    LIST_USED_UP = "list used up"
    BLOCK_SIZE = "block size"


def enrolment_problem(protocol: Protocol, arm: Arm | None, *, planned: int = 0, rows_left=...):
    """Why `protocol` cannot take an enrollment into `arm` (None: a randomized one),
    or None. `planned`: randomized enrollments already planned besides the stored ones
    (an import's earlier rows), which take randomization list rows too; `rows_left`:
    the list's unused rows when the caller has counted them already. Uses the
    protocol's prefetched arms and phases when there are."""
    if protocol.locked_at:
        return EnrolmentProblem.LOCKED
    arms = [arm] if arm is not None else list(protocol.arms.all())
    if not arms:
        return EnrolmentProblem.NO_ARMS
    if any(not a.phases.all() for a in arms):
        return EnrolmentProblem.ARM_WITHOUT_PHASES
    if protocol.blinding_problem():
        return EnrolmentProblem.BLINDING
    if arm is None:
        left = list_rows_left(protocol) if rows_left is ... else rows_left
        if left is not None:
            if left <= planned:
                return EnrolmentProblem.LIST_USED_UP
        elif protocol.block_size % len(arms):
            return EnrolmentProblem.BLOCK_SIZE
    return None


def enrolment_problem_message(problem: EnrolmentProblem, protocol: Protocol, arm=None) -> str:
    """The coordinator's words for an enrolment problem (the admin, `enroll`)."""
    slug = protocol.slug
    if problem == EnrolmentProblem.LOCKED:
        return locks.protocol_lock_problem(protocol) + "."
    if problem == EnrolmentProblem.NO_ARMS:
        return f"{slug} has no arms yet; add its arms and their phases first."
    if problem == EnrolmentProblem.ARM_WITHOUT_PHASES:
        arms = [arm] if arm is not None else protocol.arms.all()
        empty = ", ".join(a.code for a in arms if not a.phases.exists())
        return f"Arm {empty} of {slug} has no phases yet; add them first."
    if problem == EnrolmentProblem.BLINDING:
        return f"{slug} cannot take enrollments yet. {protocol.blinding_problem()}"
    if problem == EnrolmentProblem.LIST_USED_UP:
        return used_up_message(protocol)
    arms = protocol.arms.count()
    return (
        f"{slug} randomizes in blocks of {protocol.block_size}, which is not a multiple of "
        f"its {arms} arms; fix the block size before enrolling."
    )


def patient_account_problem(email: str, protocol: Protocol | None = None) -> str | None:
    """Why the patient with this e-mail cannot be enrolled (into `protocol`), or None."""
    user = User.objects.filter(email__iexact=email).first()
    if user is None:
        return None
    if user.role != Role.PATIENT:
        return f"{email} belongs to a {user.get_role_display().lower()} account, not a patient."
    return open_enrollment_problem(user, protocol) if protocol is not None else None


OPEN_STATUSES = (EnrollmentStatus.SCREENING, EnrollmentStatus.ACTIVE)


def open_enrollment_problem(patient: User, protocol: Protocol) -> str | None:
    """A patient takes part in a protocol once at a time (the database holds to it)."""
    existing = Enrollment.objects.filter(
        patient=patient, protocol=protocol, status__in=OPEN_STATUSES
    ).first()
    if existing is None:
        return None
    return (
        f"This patient already takes part in {protocol.slug} as {existing.study_id} "
        f"({existing.get_status_display().lower()}); complete or withdraw that enrollment "
        "before enrolling her again."
    )


@transaction.atomic
def enroll(
    enrollment: Enrollment,
    *,
    email: str,
    by: User | None,
    first_name: str = "",
    last_name: str = "",
    language: str = "",
    reason: str = "Enrolled",
) -> Enrollment:
    """Save a new `enrollment` (study ID, physician, protocol, start date... filled in)
    with the patient's account, created from `email` unless she already has one. The
    arm is randomized unless an open-label arm was picked; the invitation e-mail goes
    out once the transaction commits, so a failed enrollment invites nobody."""
    arm = enrollment.arm if enrollment.arm_id else None
    for problem in (
        locks.protocol_lock_problem(enrollment.protocol),
        arm_pick_problem(enrollment.protocol, arm),
        patient_account_problem(email, enrollment.protocol),
    ):
        if problem:
            raise ValidationError(problem)
    patient = User.objects.filter(email__iexact=email, role=Role.PATIENT).first()
    if patient is None:
        patient = new_account(
            username=email.lower(),
            email=email,
            first_name=first_name,
            last_name=last_name,
            language=language,
            by=by,
            reason=f"Enrolled as {enrollment.study_id}",
        )
    enrollment.patient = patient
    enrollment.timezone = enrollment.timezone or settings.TIME_ZONE
    if arm is None:
        assign_arm(enrollment)
    enrollment.full_clean()
    enrollment._history_user = by
    enrollment._change_reason = reason
    enrollment.save()
    if not patient.has_usable_password():
        transaction.on_commit(lambda: send_invitation(patient, by=by, enrollment=enrollment))
    return enrollment


# Invitations ----------------------------------------------------------------------
