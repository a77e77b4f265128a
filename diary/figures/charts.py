"""Data for the charts, built from rows the page has already loaded: Chart.js series for
the physician pages, and inline SVG drawn on the server for the patient's own pages, the
PDF report and for any page read without JavaScript.

Every chart spans the days so far (day 1 to the as-of day its caller passes, or the last
day that can hold data if that is earlier) and shades the phases of the schedule it is
given: the schedule as its reader may see it (diary.trial.blinding.schedule_for), so a
blinded reader sees the same bands, labels, colours and order in every arm. Per-phase
means are read from the reader's per-phase figures (diary.figures.patient_figures),
never computed here.
"""

from __future__ import annotations

import datetime as dt
import math

from django.utils.translation import gettext_lazy as _

from diary.entries import items

# The scales charted beside pain (docs/domain.md, "Diary items"), and the yes/no items
# marked on the days answered yes.
MEASURES = (
    ("fatigue", _("Fatigue")),
    ("sleep_quality", _("Sleep quality")),
    ("tolerability", _("Tolerability")),
)
MARKS = (("headache", _("Headache")), ("vivid_dreams", _("Vivid dreams")))


def days_shown(enrollment, as_of: dt.date) -> tuple[dt.date, dt.date] | None:
    """(first, last) day of her charts: day 1 to `as_of`, or to the last day that can
    hold data (the schedule's end, her withdrawal) if that is earlier. None before day 1."""
    last = enrollment.last_data_day()
    if last is None:
        return None
    end = min(as_of, last)
    if end < enrollment.start_date:
        return None
    return enrollment.start_date, end


def _counting(entries, start: dt.date, end: dt.date) -> list:
    return [entry for entry in entries if not entry.voided and start <= entry.date <= end]


def _bands(schedule, start: dt.date, end: dt.date) -> list:
    """The phases begun by `end`, as (span, first index, last index) of the days shown."""
    return [
        (span, (span.start - start).days, (min(span.end, end) - start).days)
        for span in schedule
        if span.start <= end
    ]


def phase_means(summary, schedule, end: dt.date | None = None) -> list[dict]:
    """The reader's per-phase figures of the charted items, phases side by side: every
    phase begun (as of the summary's day), labelled as the reader may see it."""
    labels = {span.order: span.patient_label() for span in schedule}
    rows = []
    for phase in summary.phases:
        if phase.elapsed_days == 0 or (end is not None and phase.start > end):
            continue
        rows.append(
            {
                "order": phase.order,
                "label": labels.get(phase.order, phase.label),
                "start": phase.start,
                "end": phase.end,
                "entries": phase.entries,
                "pain_mean": phase.pain_mean,
                "fatigue_mean": phase.fatigue_mean,
                "sleep_quality_mean": phase.sleep_quality_mean,
                "tolerability_mean": phase.tolerability_mean,
                "headache_days": phase.headache_days,
                "vivid_dreams_days": phase.vivid_dreams_days,
            }
        )
    return rows


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


def daily_chart(enrollment, entries, schedule, as_of: dt.date, summary=None) -> dict:
    """The daily series of the days so far (labels, pain, fatigue, sleep_quality,
    tolerability, and headache / vivid_dreams as 1 on a yes day), the phases (as the
    reader sees them) to shade behind them with their index range, and, given the
    reader's `summary`, each phase's means to draw across its band."""
    shown = days_shown(enrollment, as_of)
    empty = {"labels": [], "pain": [], "phases": []}
    if shown is None:
        return empty | {name: [] for name, _label in MEASURES + MARKS}
    start, end = shown
    on = {entry.date: entry for entry in _counting(entries, start, end)}
    days = [start + dt.timedelta(days=n) for n in range((end - start).days + 1)]

    def series(name):
        return [getattr(on[day], name) if day in on else None for day in days]

    def marks(name):
        return [1 if day in on and getattr(on[day], name) else None for day in days]

    means = {row["order"]: row for row in phase_means(summary, schedule, end)} if summary else {}
    data = {
        "labels": [day.isoformat() for day in days],
        "pain": series("pain"),
        "phases": [
            {
                "label": span.patient_label(),
                "from": first,
                "to": last,
                "treatment": span.is_treatment,
                "means": {
                    name: _rounded(means.get(span.order, {}).get(f"{name}_mean"))
                    for name in ("pain",) + tuple(name for name, _label in MEASURES)
                },
            }
            for span, first, last in _bands(schedule, start, end)
        ],
    }
    for name, _label in MEASURES:
        data[name] = series(name)
    for name, _label in MARKS:
        data[name] = marks(name)
    data["names"] = {name: str(label) for name, label in MEASURES + MARKS}
    data["top"] = {
        name: items.score_range(name)[1] for name in ("pain",) + tuple(n for n, _l in MEASURES)
    }
    return data


def cohort_pain(result) -> dict:
    """Mean pain per phase kind (or blinded label) with its spread (± 1 SD)."""
    rows = [row for row in result.cohort if row.pain_mean is not None]
    return {
        "labels": [row.label for row in rows],
        "mean": [round(row.pain_mean, 2) for row in rows],
        "sd": [round(row.pain_sd, 2) if row.pain_sd is not None else None for row in rows],
        "patients": [row.patients for row in rows],
    }


# Inline SVG, drawn on the server: it needs no script, weighs a few kilobytes and shows
# with JavaScript off (the patient's pages, the PDF report, the base the physician's
# Chart.js canvases replace).
TREND_WIDTH, TREND_HEIGHT = 600, 220
TREND_LEFT, TREND_RIGHT, TREND_TOP, TREND_BOTTOM = 34, 8, 26, 24
MARKS_HEIGHT = 96


class _Axis:
    """Day -> x of the days `start`..`end` across a chart `width` units wide."""

    def __init__(self, start: dt.date, end: dt.date, width: int) -> None:
        self.start, self.end = start, end
        self.days = (end - start).days + 1
        self.plot_width = width - TREND_LEFT - TREND_RIGHT
        self.step = self.plot_width / max(self.days - 1, 1)

    def x(self, day: dt.date) -> float:
        return round(TREND_LEFT + (day - self.start).days * self.step, 1)

    def bands(self, schedule) -> list[dict]:
        """The phases begun by the last day, as rectangles with their labels: the same
        for every chart drawn on this axis."""
        bands, plot_right = [], TREND_LEFT + self.plot_width
        for i, span in enumerate(schedule):
            if span.start > self.end:
                break
            left = self.x(span.start) - (self.step / 2 if span.start > self.start else 0)
            right = self.x(min(span.end, self.end)) + (self.step / 2 if span.end < self.end else 0)
            left, right = max(left, TREND_LEFT), min(right, plot_right)
            bands.append(
                {
                    "order": span.order,
                    "x": round(left, 1),
                    "width": round(right - left, 1),
                    "label": span.patient_label(),
                    "label_x": round((left + right) / 2, 1),
                    "shade": i % 2,
                }
            )
        return bands


def _line_chart(axis: _Axis, values_on: dict, schedule, top: int, width: int, height: int):
    """One daily series (`values_on`: {day: value on a 0..`top` scale}) on `axis`: a
    polyline per run of recorded days (a missed day leaves a gap), dots while they fit
    (and always for a day recorded alone), the phase bands and a grid."""
    plot_h = height - TREND_TOP - TREND_BOTTOM

    def y(value: float) -> float:
        return round(TREND_TOP + (top - value) / top * plot_h, 1)

    lines, points, single, run = [], [], [], []
    for n in range(axis.days + 1):
        day = axis.start + dt.timedelta(days=n) if n < axis.days else None
        value = values_on.get(day) if day is not None else None
        if value is None:
            if len(run) > 1:
                lines.append(" ".join(f"{px},{py}" for px, py in run))
            elif run:
                single.append({"x": run[0][0], "y": run[0][1]})
            run = []
            continue
        run.append((axis.x(day), y(value)))
        points.append({"x": axis.x(day), "y": y(value)})
    return {
        "width": width,
        "height": height,
        "left": TREND_LEFT,
        "right": width - TREND_RIGHT,
        "top": TREND_TOP,
        "bottom": height - TREND_BOTTOM,
        "plot_height": plot_h,
        "grid": [{"value": v, "y": y(v)} for v in (0, top // 2, top)],
        "lines": lines,
        "points": points if len(points) <= 60 else single,
        "bands": axis.bands(schedule),
        "start": axis.start,
        "end": axis.end,
        "days": axis.days,
        "y": y,
    }


def pain_trend(
    enrollment, entries, today: dt.date, schedule, width=TREND_WIDTH, height=TREND_HEIGHT
) -> dict | None:
    """Her daily pain from day 1 to `today` (the as-of day), with the phases of
    `schedule` (as its reader may see them: neutral labels while blinded) as bands
    behind it, `width` x `height` SVG units. None before she has recorded any pain."""
    shown = days_shown(enrollment, today)
    if shown is None:
        return None
    start, end = shown
    pain_on = {entry.date: entry.pain for entry in _counting(entries, start, end)}
    if not pain_on:
        return None
    trend = _line_chart(_Axis(start, end, width), pain_on, schedule, 10, width, height)
    del trend["y"]
    recorded = [pain_on[d] for d in sorted(pain_on)]
    trend.update(
        recorded_days=len(recorded), latest=recorded[-1], low=min(recorded), high=max(recorded)
    )
    return trend


def measure_trends(
    enrollment, entries, as_of: dt.date, schedule, summary, width=TREND_WIDTH, height=TREND_HEIGHT
) -> dict | None:
    """Fatigue, sleep quality and tolerability of the days so far as SVG, each with the
    phases of `schedule` shaded and each phase's mean (from the reader's `summary`)
    drawn across its band; a strip marking the headache and vivid-dream days; and the
    per-phase means side by side. None before day 1 or before any entry."""
    shown = days_shown(enrollment, as_of)
    if shown is None:
        return None
    start, end = shown
    counting = _counting(entries, start, end)
    if not counting:
        return None
    axis = _Axis(start, end, width)
    means = phase_means(summary, schedule, end)
    mean_of = {row["order"]: row for row in means}
    charts = []
    for name, label in MEASURES:
        top = items.score_range(name)[1]
        values_on = {e.date: getattr(e, name) for e in counting if getattr(e, name) is not None}
        chart = _line_chart(axis, values_on, schedule, top, width, height)
        y = chart.pop("y")
        chart["mean_lines"] = [
            {
                "x1": band["x"],
                "x2": round(band["x"] + band["width"], 1),
                "y": y(mean_of[band["order"]][f"{name}_mean"]),
                "value": mean_of[band["order"]][f"{name}_mean"],
                "label": band["label"],
            }
            for band in chart["bands"]
            if mean_of.get(band["order"], {}).get(f"{name}_mean") is not None
        ]
        chart.update(name=name, label=label, scale_top=top, recorded_days=len(values_on))
        charts.append(chart)
    row_y = {"headache": TREND_TOP + 14, "vivid_dreams": TREND_TOP + 40}
    strip = {
        "width": width,
        "height": MARKS_HEIGHT,
        "top": TREND_TOP,
        "plot_height": MARKS_HEIGHT - TREND_TOP - 16,
        "left": TREND_LEFT,
        "right": width - TREND_RIGHT,
        "bands": axis.bands(schedule),
        "rows": [
            {
                "name": name,
                "label": label,
                "y": row_y[name],
                "marks": [axis.x(e.date) for e in counting if getattr(e, name)],
            }
            for name, label in MARKS
        ],
    }
    return {"charts": charts, "marks": strip, "means": means, "start": start, "end": end}


def patient_charts(enrollment, entries, schedule, as_of: dt.date, summary) -> dict:
    """Everything the physician's patient page charts, as of `as_of`: the Chart.js
    series (`chart`), and the SVG each canvas enhances (`trend` for pain, `measures`)."""
    return {
        "chart": daily_chart(enrollment, entries, schedule, as_of, summary),
        "trend": pain_trend(enrollment, entries, as_of, schedule),
        "measures": measure_trends(enrollment, entries, as_of, schedule, summary),
    }


# The ESR-and-response scatter of the cohort page: baseline ESR (x, mm/h) against pain
# reduction on LDN (y, %), one dot a patient, as inline SVG (no script needed).
SCATTER_WIDTH, SCATTER_HEIGHT = 480, 320
SCATTER_LEFT, SCATTER_RIGHT, SCATTER_TOP, SCATTER_BOTTOM = 52, 14, 14, 44
_NICE_STEPS = (1, 2, 2.5, 5, 10)


def _nice_step(span: float, ticks: int = 5) -> float:
    """A round tick step (1, 2, 2.5 or 5 times a power of ten) giving about `ticks`."""
    raw = max(span, 1e-9) / ticks
    power = 10 ** math.floor(math.log10(raw))
    return next(step * power for step in _NICE_STEPS if step * power >= raw)


def _scale_ends(low: float, high: float) -> tuple[float, float, float]:
    """(first tick, last tick, step) covering `low`..`high` with round ticks."""
    if high - low < 1e-9:
        low, high = low - 1, high + 1
    step = _nice_step(high - low)
    return math.floor(low / step) * step, math.ceil(high / step) * step, step


def _ticks(first: float, last: float, step: float) -> list[float]:
    count = round((last - first) / step)
    return [round(first + n * step, 6) for n in range(count + 1)]


def _tick_text(value: float) -> str:
    return f"{value:g}"


def esr_scatter(response, width=SCATTER_WIDTH, height=SCATTER_HEIGHT) -> dict | None:
    """The SVG geometry of `response` (summaries.EsrResponse): a dot per point, round
    ticks on both axes (x from 0 mm/h; y always showing 0 %), the zero line. None
    without points."""
    if response is None or not response.points:
        return None
    xs = [float(point.baseline_esr) for point in response.points]
    ys = [float(point.pain_reduction_pct) for point in response.points]
    x_first, x_last, x_step = _scale_ends(0.0, max(max(xs), 10.0))
    y_first, y_last, y_step = _scale_ends(min(0.0, min(ys)), max(0.0, max(ys), 10.0))
    left, right = SCATTER_LEFT, width - SCATTER_RIGHT
    top, bottom = SCATTER_TOP, height - SCATTER_BOTTOM

    def x(value: float) -> float:
        return round(left + (value - x_first) / (x_last - x_first) * (right - left), 1)

    def y(value: float) -> float:
        return round(bottom - (value - y_first) / (y_last - y_first) * (bottom - top), 1)

    return {
        "width": width,
        "height": height,
        "left": left,
        "right": right,
        "top": top,
        "bottom": bottom,
        "x_ticks": [{"x": x(v), "text": _tick_text(v)} for v in _ticks(x_first, x_last, x_step)],
        "y_ticks": [{"y": y(v), "text": _tick_text(v)} for v in _ticks(y_first, y_last, y_step)],
        "zero_y": y(0.0),
        "x_label_x": round((left + right) / 2, 1),
        "y_label_y": round((top + bottom) / 2, 1),
        "points": [
            {
                "cx": x(float(point.baseline_esr)),
                "cy": y(float(point.pain_reduction_pct)),
                "study_id": point.study_id,
                "esr": point.baseline_esr,
                "reduction": point.pain_reduction_pct,
            }
            for point in response.points
        ],
    }
