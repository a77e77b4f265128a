"""What coordinators do to run a study: enroll, invite, unblind, version protocols.

The admin calls these; each one either happens whole, with its history and audit rows,
or not at all, and refuses with a message that says what to fix.
"""

from __future__ import annotations

import re
from enum import Enum
from urllib.parse import urlsplit

from django.conf import settings
from django.contrib.auth.tokens import default_token_generator
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.db import transaction
from django.template.loader import render_to_string
from django.utils import timezone, translation
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

from diary.audit.models import AuditAction, AuditEvent
from diary.links import public_url
from diary.people.accounts import new_account, require_may_change
from diary.people.languages import language_of
from diary.people.models import Role, User
from diary.people.signin import password_links_left
from diary.trial import blinding
from diary.trial.models import Arm, Blinding, Enrollment, EnrollmentStatus, Phase, Protocol
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


def required_reason(reason: str | None, what: str) -> str:
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError(f"Give a reason for {what}; it is kept in the audit trail.")
    return reason


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
    if protocol.blinding != Blinding.OPEN and not moving_allocations:
        return (
            f"{protocol.slug} is {protocol.get_blinding_display().lower()}: its arms are "
            "assigned by randomization only. Leave the arm blank."
        )
    return None


class EnrolmentProblem(Enum):
    """Why nobody can be enrolled into a protocol (or an arm of it) yet."""

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


def invitation_link(user: User) -> str:
    """A one-time link to choose a password: Django's password-reset token, which stops
    working once the password is set and after PASSWORD_RESET_TIMEOUT seconds."""
    return public_url(
        "invitation",
        uidb64=urlsafe_base64_encode(force_bytes(user.pk)),
        token=default_token_generator.make_token(user),
    )


def send_invitation(user: User, *, by: User | None, enrollment: Enrollment | None = None):
    """The invitation to choose a first password. `by` None is the system (an
    enrolment's own invitation); a person may send it only to an account that sees no
    more than she does (diary.people.accounts.account_change_problem)."""
    require_may_change(by, user)
    if not user.is_active:
        raise ValidationError(f"{user.username}'s account is inactive; activate it first.")
    if not user.email:
        raise ValidationError(f"{user.username} has no e-mail address; add one first.")
    context = {
        "user": user,
        "link": invitation_link(user),
        "days": max(1, settings.PASSWORD_RESET_TIMEOUT // 86400),
        "site_root": settings.SITE_ROOT,
    }
    # In her language: the one the coordinator noted, else the study's default.
    with translation.override(language_of(user)):
        subject = render_to_string("diary/email/invitation_subject.txt", context).strip()
        message = render_to_string("diary/email/invitation.txt", context)
    send_mail(subject=subject, message=message, from_email=None, recipient_list=[user.email])
    AuditEvent.objects.create(
        action=AuditAction.INVITATION_SENT,
        actor=by,
        user=user,
        enrollment=enrollment,
        protocol=enrollment.protocol if enrollment else None,
        details={"email": user.email},
    )


def send_password_link(user: User, *, by: User | None) -> None:
    """A link for `user` to choose her password: the invitation if she has none yet,
    else a password-reset e-mail. Staff never set a password for someone else, and
    send none to an account that sees more than they do (AccountOutOfReach)."""
    require_may_change(by, user)
    if not user.has_usable_password():
        send_invitation(user, by=by)
        return
    if not user.is_active:
        raise ValidationError(f"{user.username}'s account is inactive; activate it first.")
    if not user.email:
        raise ValidationError(f"{user.username} has no e-mail address; add one first.")
    if password_links_left(user) == 0:
        raise ValidationError(
            f"{user.username} got {settings.PASSWORD_RESETS_PER_HOUR} password e-mails in the "
            "last hour already; send another one later."
        )
    site = urlsplit(settings.SITE_ROOT)
    context = {
        "user": user,
        "protocol": site.scheme,
        "domain": site.netloc,
        "uid": urlsafe_base64_encode(force_bytes(user.pk)),
        "token": default_token_generator.make_token(user),
    }
    with translation.override(language_of(user)):
        subject = render_to_string("registration/password_reset_subject.txt", context).strip()
        message = render_to_string("registration/password_reset_email.html", context)
    send_mail(subject=subject, message=message, from_email=None, recipient_list=[user.email])
    AuditEvent.objects.create(
        action=AuditAction.PASSWORD_LINK_SENT, actor=by, user=user, details={"email": user.email}
    )


# Blinding -------------------------------------------------------------------------
# Each unblinding needs a reason and allocation access; who, when and why are stored on
# the row, in its history and as an audit event. None of them can be undone.


def _mark(obj, prefix: str, by: User, reason: str, why: str) -> None:
    """Who, when and why on the row (an enrollment or a protocol) and in its history."""
    setattr(obj, f"{prefix}unblinded_at", timezone.now())
    setattr(obj, f"{prefix}unblinded_by", by)
    setattr(obj, f"{prefix}unblinding_reason", reason)
    obj._history_user = by
    obj._change_reason = f"{why}: {reason}"
    obj.save(
        update_fields=[
            f"{prefix}unblinded_at",
            f"{prefix}unblinded_by",
            f"{prefix}unblinding_reason",
        ]
    )


def _locked_enrollment(enrollment: Enrollment) -> Enrollment:
    return Enrollment.objects.select_for_update().select_related("protocol").get(pk=enrollment.pk)


def care_team_unblinding_problem(enrollment: Enrollment) -> str | None:
    """Why her care team cannot be unblinded (it sees her arm already), or None."""
    if blinding.care_team_sees_arm(enrollment):
        return f"The care team of {enrollment.study_id} already sees her arm."
    return None


def telling_problem(enrollment: Enrollment) -> str | None:
    """Why she cannot be told her arm (she sees it already), or None."""
    if enrollment.protocol.blinding == Blinding.OPEN:
        return f"{enrollment.protocol.slug} is open label: she already sees her arm."
    if enrollment.patient_unblinded_at:
        return f"{enrollment.study_id} has already been told her arm."
    return None


def protocol_unblinding_problem(protocol: Protocol) -> str | None:
    """Why `protocol` cannot be unblinded, or None."""
    if protocol.blinding != Blinding.DOUBLE:
        return (
            f"{protocol.slug} is {protocol.get_blinding_display().lower()}: physicians and "
            "coordinators already see arms and treatments."
        )
    if protocol.unblinded_at:
        return f"{protocol.slug} is already unblinded."
    return None


@transaction.atomic
def unblind_care_team(enrollment: Enrollment, *, by: User, reason: str) -> None:
    """ "Unblind the care team for this patient" (e.g. an emergency): her physician and
    the coordinators see her arm and treatment phases. The patient stays blinded."""
    blinding.require_allocation_access(by)
    reason = required_reason(reason, "unblinding her care team")
    locked = _locked_enrollment(enrollment)
    protocol = locked.protocol
    problem = care_team_unblinding_problem(locked)
    if problem:
        raise ValidationError(problem)
    _mark(locked, "care_team_", by, reason, "Care team unblinded")
    AuditEvent.objects.create(
        action=AuditAction.UNBLINDED_CARE_TEAM,
        actor=by,
        enrollment=locked,
        protocol=protocol,
        reason=reason,
        details={"study_id": locked.study_id},
    )
    enrollment.refresh_from_db()


def patient_may_be_told(enrollment: Enrollment, today=None) -> bool:
    """Whether telling her keeps the blind of her treatment: her treatment window has
    ended (in her own calendar) or she has withdrawn."""
    today = today or enrollment.local_today()
    return enrollment.status == EnrollmentStatus.WITHDRAWN or blinding.treatment_window_ended(
        enrollment, today
    )


@transaction.atomic
def tell_patient(
    enrollment: Enrollment, *, by: User, reason: str, mid_treatment_confirmed: bool = False
) -> None:
    """ "Tell the patient": she sees her arm and the names of her phases. Once her
    treatment window has ended or she has withdrawn; earlier only with an explicit
    confirmation that this ends her blinding mid-treatment."""
    blinding.require_allocation_access(by)
    reason = required_reason(reason, "telling the patient her arm")
    locked = _locked_enrollment(enrollment)
    problem = telling_problem(locked)
    if problem:
        raise ValidationError(problem)
    mid_treatment = not patient_may_be_told(locked)
    if mid_treatment and not mid_treatment_confirmed:
        end = locked.schedule.treatment_end
        raise ValidationError(
            f"{locked.study_id} is still in her treatment window (until {end:%Y-%m-%d}). "
            "Telling her now ends her blinding mid-treatment; tick the confirmation if "
            "that is what you mean to do."
        )
    why = "Patient told her arm mid-treatment" if mid_treatment else "Patient told her arm"
    _mark(locked, "patient_", by, reason, why)
    AuditEvent.objects.create(
        action=AuditAction.PATIENT_TOLD,
        actor=by,
        enrollment=locked,
        protocol=locked.protocol,
        user=locked.patient,
        reason=reason,
        details={"study_id": locked.study_id, "mid_treatment": mid_treatment},
    )
    enrollment.refresh_from_db()


@transaction.atomic
def unblind_protocol(protocol: Protocol, *, by: User, reason: str) -> None:
    """End-of-study unblinding: physicians, coordinators and files see arms, treatment
    names and the LDN-versus-placebo comparison. Patients are not told by it."""
    blinding.require_allocation_access(by)
    reason = required_reason(reason, "unblinding the protocol")
    locked = Protocol.objects.select_for_update().get(pk=protocol.pk)
    problem = protocol_unblinding_problem(locked)
    if problem:
        raise ValidationError(problem)
    _mark(locked, "", by, reason, "Unblinded")
    AuditEvent.objects.create(
        action=AuditAction.UNBLINDED_PROTOCOL, actor=by, protocol=locked, reason=reason
    )
    protocol.refresh_from_db()


def tell_patients_whose_treatment_ended(protocol: Protocol, *, by: User, reason: str) -> list:
    """ "Tell the patients whose treatment has ended": every enrollment of `protocol`
    whose treatment window is over (or who withdrew) and who was not told yet. Returns
    the study IDs told; each is recorded like a single "Tell the patient"."""
    blinding.require_allocation_access(by)
    reason = required_reason(reason, "telling the patients their arms")
    if protocol.blinding == Blinding.OPEN:
        raise ValidationError(f"{protocol.slug} is open label: nothing to tell.")
    told = []
    with transaction.atomic():
        candidates = (
            Enrollment.objects.with_schedule()
            .filter(protocol=protocol, patient_unblinded_at=None)
            .exclude(status=EnrollmentStatus.SCREENING)
        )
        for enrollment in candidates:
            if patient_may_be_told(enrollment):
                tell_patient(enrollment, by=by, reason=reason)
                told.append(enrollment.study_id)
    return told


# Protocol versions ----------------------------------------------------------------


def protocol_locked(protocol: Protocol) -> bool:
    """Once anyone is enrolled, the arms and phases are what their data mean."""
    return protocol.pk is not None and protocol.enrollments.exists()


def next_version_slug(slug: str) -> str:
    base = re.sub(r"-v\d+$", "", slug)
    taken = set(Protocol.objects.filter(slug__startswith=base).values_list("slug", flat=True))
    number = 2
    while f"{base}-v{number}" in taken:
        number += 1
    return f"{base}-v{number}"


@transaction.atomic
def copy_protocol(protocol: Protocol, *, by: User | None) -> Protocol:
    """A new version with the same arms and phases, a new seed and no enrollments."""
    slug = next_version_slug(protocol.slug)
    copy = Protocol(
        slug=slug,
        name=f"{protocol.name} ({slug.rsplit('-', 1)[1]})",
        blinding=protocol.blinding,
        block_size=protocol.block_size,
    )
    copy._history_user = by
    copy._change_reason = f"Copied from {protocol.slug}"
    copy.save()
    for arm in protocol.arms.prefetch_related("phases"):
        new_arm = Arm(protocol=copy, code=arm.code, name=arm.name)
        new_arm._history_user = by
        new_arm._change_reason = f"Copied from {protocol.slug}"
        new_arm.save()
        for phase in arm.phases.all():
            new_phase = Phase(
                arm=new_arm,
                order=phase.order,
                kind=phase.kind,
                days=phase.days,
                dose_mg=phase.dose_mg,
            )
            new_phase._history_user = by
            new_phase._change_reason = f"Copied from {protocol.slug}"
            new_phase.save()
    return copy
