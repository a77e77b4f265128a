"""Unblinding: a patient's care team, the patient herself (told her arm), or a whole
protocol; allocation access only, with a reason, audited."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from diary.audit.models import AuditAction, AuditEvent, required_reason
from diary.people.models import User
from diary.trial import blinding
from diary.trial.models import Blinding, Enrollment, EnrollmentStatus, Protocol


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
    if not blinding.patient_sees_arm(enrollment):
        return None
    if not blinding.protocol_blinds_patients(enrollment.protocol):
        return f"{enrollment.protocol.slug} is open label: she already sees her arm."
    return f"{enrollment.study_id} has already been told her arm."


def protocol_unblinding_problem(protocol: Protocol) -> str | None:
    """Why `protocol` cannot be unblinded, or None."""
    if blinding.protocol_blinds_care_team(protocol):
        return None
    if protocol.unblinded_at and protocol.blinding == Blinding.DOUBLE:
        return f"{protocol.slug} is already unblinded."
    return (
        f"{protocol.slug} is {protocol.get_blinding_display().lower()}: physicians and "
        "coordinators already see arms and treatments."
    )


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
    if not blinding.protocol_blinds_patients(protocol):
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
