"""What a phase review shows, as one reader sees it, and its canonical JSON: the content
a signature covers. The review page renders this content and a signature stores it with
its SHA-256, so anyone can recompute the hash from the stored row."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from decimal import Decimal

from diary.entries.models import DIARY_ITEMS, DiaryEntry
from diary.figures.patient_figures import PhaseSummary, summarize_enrollment
from diary.signoff.phases import ReviewPhase
from diary.trial.models import Enrollment
from diary.visits.models import Visit

ENTRY_FIELDS = [
    *DIARY_ITEMS,
    "source",
    "late",
    "voided",
    "void_reason",
    "corrected_after_query",
]
VISIT_FIELDS = ["esr", "pressure_threshold", "heat_threshold", "notes", "voided", "void_reason"]
# The phase's figures without what the "phase" block already says.
FIGURE_SKIP = {"order", "kind", "label", "start", "end"}


def _plain(value):
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value


def phase_entries(enrollment: Enrollment, phase: ReviewPhase) -> list[DiaryEntry]:
    return list(
        DiaryEntry.objects.filter(
            enrollment=enrollment, date__gte=phase.first_day, date__lte=phase.last_day
        ).order_by("date")
    )


def phase_visits(enrollment: Enrollment, phase: ReviewPhase) -> list[Visit]:
    """Her visits dated in the phase (a visit before day 1 counts for the first phase),
    voided ones too."""
    return list(
        Visit.objects.filter(
            enrollment=enrollment,
            visit_date__gte=phase.first_visit_day,
            visit_date__lte=phase.last_day,
        ).order_by("visit_date", "pk")
    )


def phase_figures(enrollment: Enrollment, phase: ReviewPhase, as_of: dt.date, reader):
    summary = summarize_enrollment(enrollment, as_of, reader)
    return next((p for p in summary.phases if p.order == phase.order), None)


def review_content(
    enrollment: Enrollment,
    phase: ReviewPhase,
    entries: list[DiaryEntry],
    visits: list[Visit],
    figures: PhaseSummary | None,
) -> dict:
    """The review of `phase` as a dict of plain JSON values: the phase as the reader sees
    it, each of its diary days (an entry or null for a missing day), its visits and its
    figures."""
    by_date = {entry.date: entry for entry in entries}
    days = []
    for offset in range((phase.last_day - phase.first_day).days + 1):
        day = phase.first_day + dt.timedelta(days=offset)
        entry = by_date.get(day)
        days.append(
            {
                "date": day.isoformat(),
                "study_day": (day - enrollment.start_date).days + 1,
                "entry": None
                if entry is None
                else {name: _plain(getattr(entry, name)) for name in ENTRY_FIELDS},
            }
        )
    figure_values = {}
    if figures is not None:
        figure_values = {
            name: _plain(value) for name, value in vars(figures).items() if name not in FIGURE_SKIP
        }
    return {
        "study_id": enrollment.study_id,
        "phase": {
            "order": phase.order,
            "label": phase.label,
            "first_day": phase.first_day.isoformat(),
            "last_day": phase.last_day.isoformat(),
        },
        "days": days,
        "visits": [
            {"id": visit.pk, "date": visit.visit_date.isoformat()}
            | {name: _plain(getattr(visit, name)) for name in VISIT_FIELDS}
            for visit in visits
        ],
        "figures": figure_values,
    }


def canonical_json(content: dict) -> str:
    """Sorted keys, no spaces, UTF-8 text as is: the same content gives the same bytes."""
    return json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def content_sha256(content: dict) -> str:
    return hashlib.sha256(canonical_json(content).encode("utf-8")).hexdigest()
