"""export_queries: one row per data query, each step's who and when (docs/domain.md,
"Review and sign-off")."""

from __future__ import annotations

from collections.abc import Iterator

from diary.files.moments import utc_moment
from diary.queries.models import DataQuery

QUERY_COLUMNS = [
    "id",
    "study_id",
    "date",
    "target",
    "raised_by",
    "raised_at",
    "text",
    "status",
    "answered_by",
    "answered_at",
    "answer",
    "closed_by",
    "closed_at",
    "close_note",
]


def query_rows(enrollments, reader=None) -> Iterator[list]:
    """The header, then each query by study ID and time raised; one query, streamed."""
    yield QUERY_COLUMNS
    rows = (
        DataQuery.objects.filter(enrollment_id__in=enrollments.values("pk"))
        .order_by("enrollment__study_id", "raised_at", "pk")
        .values_list(
            "pk",
            "enrollment__study_id",
            "date",
            "target",
            "raised_by__username",
            "raised_at",
            "text",
            "status",
            "answered_by__username",
            "answered_at",
            "answer",
            "closed_by__username",
            "closed_at",
            "close_note",
        )
        .iterator(chunk_size=5000)
    )
    for (
        pk,
        study_id,
        day,
        target,
        raised_by,
        raised_at,
        text,
        status,
        answered_by,
        answered_at,
        answer,
        closed_by,
        closed_at,
        close_note,
    ) in rows:
        yield [
            pk,
            study_id,
            day.isoformat(),
            target,
            raised_by,
            utc_moment(raised_at),
            text,
            status,
            answered_by or "",
            utc_moment(answered_at),
            answer,
            closed_by or "",
            utc_moment(closed_at),
            close_note,
        ]
