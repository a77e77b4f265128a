"""Signing a phase review (21 CFR Part 11: 11.50, 11.70, 11.200): the one place that
says who may sign which phase and when, checks the password and a current TOTP code
again for each signature, and stores the signature with the content it covers."""

from __future__ import annotations

from django.contrib.auth.signals import user_login_failed
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from diary.audit.models import AuditAction, AuditEvent
from diary.people import twofactor
from diary.signoff import review
from diary.signoff.models import PhaseSignature, SignatureMeaning
from diary.signoff.phases import ReviewPhase, review_phase
from diary.trial import blinding
from diary.trial.locks import lock_problem
from diary.trial.models import Enrollment


class SignatureRefused(ValidationError):
    """Nothing was signed; the message says why and what to do."""


def who_may_sign_problem(enrollment: Enrollment, signer) -> str | None:
    """Why `signer` may not sign this patient's phases, or None."""
    if not signer.is_physician or enrollment.physician_id != signer.pk:
        return "Only her own physician signs her phase reviews; nobody can sign for her physician."
    if not signer.get_full_name().strip():
        return (
            "Your account has no full name, and a signature carries your printed name: "
            "ask a coordinator to add your first and last name first."
        )
    return None


def phase_problem(enrollment: Enrollment, phase: ReviewPhase | None) -> str | None:
    """Why this phase cannot be signed yet, or None."""
    if phase is None:
        return "She has no such phase with diary days."
    if not phase.signable:
        return (
            f"{phase.label} has not ended for her, or the entry window of its last day "
            f"({phase.last_day:%Y-%m-%d}) is still open: it can be signed once both are over."
        )
    return None


def signing_phase(enrollment: Enrollment, reader, order: int) -> ReviewPhase | None:
    """Phase `order` of her schedule as `reader` sees it, today in her time zone."""
    schedule = blinding.schedule_for(enrollment, reader)
    return review_phase(enrollment, schedule, enrollment.local_today(), order)


def shown_content(enrollment: Enrollment, phase: ReviewPhase, reader) -> dict:
    """The review content of `phase` as `reader` sees it now."""
    return review.review_content(
        enrollment,
        phase,
        review.phase_entries(enrollment, phase),
        review.phase_visits(enrollment, phase),
        review.phase_figures(enrollment, phase, enrollment.local_today(), reader),
    )


def _failed(enrollment: Enrollment, signer, order: int, why: str, request) -> None:
    """A wrong password or code: an audit event, and a failed sign-in for the lockout."""
    AuditEvent.objects.create(
        action=AuditAction.SIGNATURE_FAILED,
        actor=signer,
        actor_name=signer.username,
        protocol=enrollment.protocol,
        enrollment=enrollment,
        details={"phase_order": order, "failed": why},
    )
    if request is not None:
        user_login_failed.send(
            sender=__name__, credentials={"username": signer.username}, request=request
        )


def check_credentials(enrollment, signer, order, *, password: str, otp_token: str, request):
    """Raise SignatureRefused unless the password and a current code are hers."""
    if not signer.check_password(password or ""):
        _failed(enrollment, signer, order, "password", request)
        raise SignatureRefused(
            "That password is not right: nothing was signed. Enter your own password "
            "(wrong attempts count toward the sign-in lockout)."
        )
    if not twofactor.has_second_factor(signer):
        raise SignatureRefused(
            "Your account has no authenticator app, and each signature needs a code from "
            "it: set one up first (Account, two-step sign-in)."
        )
    device, until = twofactor.check_code(signer, (otp_token or "").strip())
    if device is None:
        _failed(enrollment, signer, order, "code", request)
        if until is not None:
            raise SignatureRefused(f"Nothing was signed. {twofactor.must_wait(until)}")
        raise SignatureRefused(
            "That code is not right, or was used already: nothing was signed. Enter the "
            "code your app shows now (wrong attempts count toward the sign-in lockout)."
        )


def sign_phase(
    enrollment: Enrollment,
    signer,
    order: int,
    *,
    password: str,
    otp_token: str,
    meaning: str,
    request=None,
) -> PhaseSignature:
    """Sign phase `order` of her review as `signer` saw it; raises SignatureRefused
    with what to fix, nothing signed."""
    for problem in (
        who_may_sign_problem(enrollment, signer),
        lock_problem(enrollment),
    ):
        if problem:
            raise SignatureRefused(problem)
    if meaning not in SignatureMeaning.values:
        raise SignatureRefused("Choose what your signature means: reviewed or approved.")
    phase = signing_phase(enrollment, signer, order)
    problem = phase_problem(enrollment, phase)
    if problem:
        raise SignatureRefused(problem)
    check_credentials(
        enrollment, signer, order, password=password, otp_token=otp_token, request=request
    )
    return record_signature(enrollment, signer, phase, meaning)


def record_signature(enrollment: Enrollment, signer, phase: ReviewPhase, meaning: str):
    """Store the signature of `phase` with the content `signer` sees now, and its event
    (the credentials were checked by the caller)."""
    with transaction.atomic():
        # One signer at a time per patient, so the content signed is the content stored.
        Enrollment.objects.select_for_update().filter(pk=enrollment.pk).first()
        content = shown_content(enrollment, phase, signer)
        signature = PhaseSignature.objects.create(
            enrollment=enrollment,
            signer=signer,
            printed_name=signer.get_full_name().strip(),
            meaning=meaning,
            signed_at=timezone.now(),
            phase_order=phase.order,
            phase=phase.label,
            first_day=phase.first_day,
            last_day=phase.last_day,
            content=content,
            content_sha256=review.content_sha256(content),
        )
        AuditEvent.objects.create(
            action=AuditAction.PHASE_SIGNED,
            actor=signer,
            actor_name=signer.username,
            protocol=enrollment.protocol,
            enrollment=enrollment,
            details={
                "phase_order": phase.order,
                "phase": phase.label,
                "meaning": meaning,
                "printed_name": signature.printed_name,
                "content_sha256": signature.content_sha256,
            },
        )
    return signature
