"""export_signatures: one row per phase review signature, valid or invalidated (never
deleted), the phase named as the file's reader may see it (docs/domain.md, "Review and
sign-off")."""

from __future__ import annotations

from collections.abc import Iterator

from diary.files.moments import utc_moment
from diary.signoff.models import PhaseSignature
from diary.trial import blinding

SIGNATURE_COLUMNS = [
    "study_id",
    "phase_order",
    "phase",
    "signer",
    "printed_name",
    "meaning",
    "signed_at",
    "content_sha256",
    "status",
    "invalidated_at",
    "invalidated_by_change",
]


def signature_rows(enrollments, reader) -> Iterator[list]:
    """The header, then each signature by study ID, phase and time. Three queries
    whatever the size (the enrollments with their schedules, then the signatures)."""
    yield SIGNATURE_COLUMNS
    by_id = {e.pk: e for e in enrollments.load_with_schedules()}
    if not by_id:
        return
    schedule_of = blinding.file_schedules(reader)
    signatures = (
        PhaseSignature.objects.filter(enrollment_id__in=enrollments.values("pk"))
        .select_related("signer")
        .order_by("enrollment__study_id", "first_day", "signed_at", "pk")
        .iterator(chunk_size=5000)
    )
    for signature in signatures:
        enrollment = by_id.get(signature.enrollment_id)
        if enrollment is None:
            continue
        # The phase in the file's blinding: the one its first day lies in.
        span = schedule_of(enrollment).span_on(signature.first_day)
        yield [
            enrollment.study_id,
            span.order if span else signature.phase_order,
            span.label if span else "",
            signature.signer.username,
            signature.printed_name,
            signature.meaning,
            utc_moment(signature.signed_at),
            signature.content_sha256,
            signature.status,
            utc_moment(signature.invalidated_at),
            signature.invalidated_by_change,
        ]
