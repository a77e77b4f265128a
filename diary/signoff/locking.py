"""Locking for analysis: who may lock or unlock an enrollment or a protocol (the database
lock), and when. Whether data are locked, and the refusal's words, are in
diary.trial.locks; every door that changes data asks it."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from diary.audit.models import AuditAction, AuditEvent, required_reason
from diary.queries.models import DataQuery
from diary.signoff.models import PhaseSignature
from diary.signoff.phases import review_phases
from diary.trial import blinding
from diary.trial.locks import user_name
from diary.trial.models import Enrollment, EnrollmentStatus, Protocol

ENDED = (EnrollmentStatus.COMPLETED, EnrollmentStatus.WITHDRAWN)


class LockRefused(ValidationError):
    """Nothing was locked or unlocked; the message says why."""


def _coordinator(by) -> None:
    if by is None or not by.is_coordinator:
        raise LockRefused("Only a coordinator locks and unlocks data.")


def not_ended_problem(enrollment: Enrollment) -> str | None:
    if enrollment.status not in ENDED:
        return (
            f"{enrollment.study_id} is {enrollment.get_status_display().lower()}: only a "
            "completed or withdrawn enrollment can be locked (no override: she may still "
            "write her diary)"
        )
    return None


def lock_problems(enrollment: Enrollment) -> list[str]:
    """What keeps `enrollment` from being locked without an override, in staff's words:
    not ended, phases without a valid signature, queries not closed."""
    problems = []
    ended = not_ended_problem(enrollment)
    if ended:
        problems.append(ended)
    # Phases as her (blinded) care team sees them; a signature covers a phase by its days.
    schedule = blinding.schedule_for(enrollment, enrollment.physician)
    signed = list(PhaseSignature.objects.valid().filter(enrollment=enrollment))
    for phase in review_phases(enrollment, schedule, enrollment.local_today()):
        if not any(s.first_day <= phase.first_day and s.last_day >= phase.last_day for s in signed):
            problems.append(f"{phase.label} has no valid signature of her physician")
    unresolved = DataQuery.objects.filter(enrollment=enrollment).unresolved().count()
    if unresolved:
        problems.append(
            f"{unresolved} data {'query is' if unresolved == 1 else 'queries are'} not closed"
        )
    return problems


def _unlock_reason(reason: str) -> str:
    try:
        return required_reason(reason, "unlocking")
    except ValidationError as missing:
        raise LockRefused(missing.messages[0]) from None


def _set_lock(row, by, *, lock_reason: str, history_reason: str) -> None:
    """Write the lock fields of an enrollment or a protocol (`by` None: unlocked), with
    the history row's reason."""
    row.locked_at = timezone.now() if by is not None else None
    row.locked_by = by
    row.lock_reason = lock_reason
    row._change_reason = history_reason
    row.save(update_fields=["locked_at", "locked_by", "lock_reason"])


def _event(action, by, *, enrollment=None, protocol, reason: str, details=None) -> None:
    AuditEvent.objects.create(
        action=action,
        actor=by,
        actor_name=by.username,
        protocol=protocol,
        enrollment=enrollment,
        reason=reason,
        details=details or {},
    )


def lock_enrollment(enrollment: Enrollment, by, *, override_reason: str = "") -> Enrollment:
    """Lock `enrollment` for analysis; refused (LockRefused) with what is missing unless
    an override reason is given (never for one still active)."""
    _coordinator(by)
    override_reason = (override_reason or "").strip()
    with transaction.atomic():
        enrollment = (
            Enrollment.objects.select_for_update().select_related("protocol").get(pk=enrollment.pk)
        )
        if enrollment.locked_at:
            raise LockRefused(
                f"{enrollment.study_id} is locked already (by {user_name(enrollment.locked_by)})."
            )
        ended = not_ended_problem(enrollment)
        if ended:
            raise LockRefused(f"Not locked: {ended}.")
        problems = lock_problems(enrollment)
        if problems and not override_reason:
            raise LockRefused(
                f"Not locked: {'; '.join(problems)}. Resolve them first, or give a reason to "
                "lock anyway (an override)."
            )
        _set_lock(
            enrollment,
            by,
            lock_reason=override_reason,
            history_reason=(
                f"Locked for analysis (override: {override_reason})"
                if problems
                else "Locked for analysis"
            ),
        )
        _event(
            AuditAction.ENROLLMENT_LOCKED,
            by,
            enrollment=enrollment,
            protocol=enrollment.protocol,
            reason=override_reason,
            details={"override": "yes" if problems else "no", "missing": "; ".join(problems)},
        )
    return enrollment


def unlock_enrollment(enrollment: Enrollment, by, *, reason: str) -> Enrollment:
    _coordinator(by)
    reason = _unlock_reason(reason)
    with transaction.atomic():
        enrollment = (
            Enrollment.objects.select_for_update().select_related("protocol").get(pk=enrollment.pk)
        )
        if not enrollment.locked_at:
            raise LockRefused(f"{enrollment.study_id} is not locked.")
        _set_lock(enrollment, None, lock_reason="", history_reason=f"Unlocked: {reason}")
        _event(
            AuditAction.ENROLLMENT_UNLOCKED,
            by,
            enrollment=enrollment,
            protocol=enrollment.protocol,
            reason=reason,
        )
    return enrollment


def protocol_lock_problems(protocol: Protocol) -> list[str]:
    open_ids = list(
        protocol.enrollments.exclude(status__in=ENDED)
        .order_by("study_id")
        .values_list("study_id", flat=True)[:21]
    )
    if not open_ids:
        return []
    shown = ", ".join(open_ids[:20]) + (" and more" if len(open_ids) > 20 else "")
    return [f"enrollments not completed or withdrawn: {shown}"]


def lock_protocol(protocol: Protocol, by, *, reason: str = "") -> Protocol:
    """The database lock: every enrollment of `protocol` takes no change."""
    _coordinator(by)
    with transaction.atomic():
        protocol = Protocol.objects.select_for_update().get(pk=protocol.pk)
        if protocol.locked_at:
            raise LockRefused(f"Protocol {protocol.slug} is locked already.")
        problems = protocol_lock_problems(protocol)
        if problems:
            raise LockRefused(f"Not locked: {'; '.join(problems)}.")
        note = (reason or "").strip()
        _set_lock(
            protocol,
            by,
            lock_reason=note,
            history_reason="Database lock" + (f": {note}" if note else ""),
        )
        _event(AuditAction.PROTOCOL_LOCKED, by, protocol=protocol, reason=protocol.lock_reason)
    return protocol


def unlock_protocol(protocol: Protocol, by, *, reason: str) -> Protocol:
    _coordinator(by)
    reason = _unlock_reason(reason)
    with transaction.atomic():
        protocol = Protocol.objects.select_for_update().get(pk=protocol.pk)
        if not protocol.locked_at:
            raise LockRefused(f"Protocol {protocol.slug} is not locked.")
        _set_lock(protocol, None, lock_reason="", history_reason=f"Unlocked: {reason}")
        _event(AuditAction.PROTOCOL_UNLOCKED, by, protocol=protocol, reason=reason)
    return protocol
