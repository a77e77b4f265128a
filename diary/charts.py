"""Data for the charts (Chart.js), built from rows the page has already loaded."""

from __future__ import annotations

import datetime as dt


def daily_pain(enrollment, entries, blinded: bool) -> dict:
    """Daily pain over the whole schedule, with the phases to shade behind it."""
    pain_on = {entry.date: entry.pain for entry in entries if not entry.voided}
    schedule = enrollment.schedule
    if schedule.end is None:
        return {"labels": [], "pain": [], "phases": []}
    days = [schedule.start + dt.timedelta(days=n) for n in range(schedule.total_days)]
    return {
        "labels": [day.isoformat() for day in days],
        "pain": [pain_on.get(day) for day in days],
        "phases": [
            {
                "label": span.label(blinded),
                "from": span.first_study_day - 1,
                "to": span.first_study_day - 1 + span.days - 1,
                "treatment": span.is_treatment,
            }
            for span in schedule
        ],
    }


def cohort_pain(result) -> dict:
    """Mean pain per phase kind (or blinded label) with its spread (± 1 SD)."""
    rows = [row for row in result.cohort if row.pain_mean is not None]
    return {
        "labels": [row.label for row in rows],
        "mean": [round(row.pain_mean, 2) for row in rows],
        "sd": [round(row.pain_sd, 2) if row.pain_sd is not None else None for row in rows],
        "patients": [row.patients for row in rows],
    }
