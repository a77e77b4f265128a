"""Data for the charts (Chart.js), built from rows the page has already loaded."""

from __future__ import annotations

import datetime as dt


def daily_pain(entries, schedule) -> dict:
    """Daily pain over the whole schedule, with the phases (as the reader sees them) to
    shade behind it."""
    pain_on = {entry.date: entry.pain for entry in entries if not entry.voided}
    if schedule.end is None:
        return {"labels": [], "pain": [], "phases": []}
    days = [schedule.start + dt.timedelta(days=n) for n in range(schedule.total_days)]
    return {
        "labels": [day.isoformat() for day in days],
        "pain": [pain_on.get(day) for day in days],
        "phases": [
            {
                "label": span.label,
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


# The patient's own trend: an inline SVG drawn on the server, so it needs no script,
# weighs a few kilobytes and shows with JavaScript off.
TREND_WIDTH, TREND_HEIGHT = 600, 220
TREND_LEFT, TREND_RIGHT, TREND_TOP, TREND_BOTTOM = 34, 8, 26, 24


def pain_trend(
    enrollment, entries, today: dt.date, schedule, width=TREND_WIDTH, height=TREND_HEIGHT
) -> dict | None:
    """Her daily pain from day 1 to today, with the phases of `schedule` (as its reader
    may see them: neutral labels while blinded) as bands behind it, `width` x `height`
    SVG units. None before she has recorded any pain."""
    last = enrollment.last_data_day()
    if last is None:
        return None
    end = min(today, last)
    pain_on = {entry.date: entry.pain for entry in entries if not entry.voided}
    if end < enrollment.start_date or not any(enrollment.start_date <= d <= end for d in pain_on):
        return None
    days = (end - enrollment.start_date).days + 1
    plot_w = width - TREND_LEFT - TREND_RIGHT
    plot_h = height - TREND_TOP - TREND_BOTTOM
    step = plot_w / max(days - 1, 1)

    def x(day: dt.date) -> float:
        return round(TREND_LEFT + (day - enrollment.start_date).days * step, 1)

    def y(pain: int) -> float:
        return round(TREND_TOP + (10 - pain) / 10 * plot_h, 1)

    # One polyline per run of recorded days: a missed day leaves a gap. Dots mark each
    # day while they fit, and always a day recorded alone.
    lines, points, single, run = [], [], [], []
    for n in range(days + 1):
        day = enrollment.start_date + dt.timedelta(days=n) if n < days else None
        pain = pain_on.get(day) if day is not None else None
        if pain is None:
            if len(run) > 1:
                lines.append(" ".join(f"{px},{py}" for px, py in run))
            elif run:
                single.append({"x": run[0][0], "y": run[0][1]})
            run = []
            continue
        run.append((x(day), y(pain)))
        points.append({"x": x(day), "y": y(pain)})
    bands = []
    for i, span in enumerate(schedule):
        if span.start > end:
            break
        left = x(span.start) - (step / 2 if span.start > enrollment.start_date else 0)
        right = x(min(span.end, end)) + (step / 2 if span.end < end else 0)
        bands.append(
            {
                "x": round(max(left, TREND_LEFT), 1),
                "width": round(min(right, TREND_LEFT + plot_w) - max(left, TREND_LEFT), 1),
                "label": span.patient_label(),
                "label_x": round((max(left, TREND_LEFT) + min(right, TREND_LEFT + plot_w)) / 2, 1),
                "shade": i % 2,
            }
        )
    recorded = [pain_on[d] for d in sorted(pain_on) if enrollment.start_date <= d <= end]
    return {
        "width": width,
        "height": height,
        "left": TREND_LEFT,
        "right": width - TREND_RIGHT,
        "top": TREND_TOP,
        "bottom": height - TREND_BOTTOM,
        "plot_height": plot_h,
        "grid": [{"value": v, "y": y(v)} for v in (0, 5, 10)],
        "lines": lines,
        "points": points if len(points) <= 60 else single,
        "bands": bands,
        "start": enrollment.start_date,
        "end": end,
        "recorded_days": len(recorded),
        "days": days,
        "latest": recorded[-1],
        "low": min(recorded),
        "high": max(recorded),
    }
