"""The clinic report: one patient's study on one or two A4 pages, as a PDF (WeasyPrint).

It shows what her page shows the reader (diary.trial.blinding decides the phases and the
arm): the per-phase summary with low compliance flagged, her daily pain as an SVG drawn
here, her alerts, and who made the report and when. Identified by study ID only.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.contrib.staticfiles import finders
from django.template.loader import render_to_string
from django.utils import timezone

from diary import access
from diary.figures import charts, summaries
from diary.figures.definitions import PATIENT_DIARY_FIGURES, PATIENT_MEASURE_FIGURES
from diary.figures.patient_figures import patient_as_of
from diary.files.visit_exports import study_day
from diary.signoff.states import signature_states
from diary.trial import blinding
from diary.trial.models import Enrollment
from diary.trial.phases import Schedule
from diary.visits.measures import MEASURES
from diary.visits.models import Visit

REPORT_ALERTS = 10
# A report's chart is wider than the diary's trend: it fills the A4 text width.
CHART = {"width": 720, "height": 230}


class NoFetching(Exception):
    pass


class ReportUnavailable(Exception):
    """This server cannot make PDFs (WeasyPrint or the Pango library is missing)."""


def _refuse(url: str, *args, **kwargs):
    """WeasyPrint fetches nothing: the report's stylesheet is handed over directly and
    the chart is inline, so no URL in the page (or in a patient's note) is ever read."""
    raise NoFetching(f"The report does not load {url!r}.")


@dataclass(frozen=True)
class VisitLine:
    """One visit as her page and her report show it: its study day (day 1 is her start;
    before it 0, -1, ...) and its phase as the reader sees it (a visit before the start
    belongs to the first phase), its measures written as recorded ("" = not done)."""

    visit: Visit
    study_day: int
    phase: str
    measures: list[tuple]  # (Measure, shown value)

    @property
    def before_start(self) -> bool:
        return self.study_day < 1


def visit_lines(enrollment: Enrollment, schedule: Schedule, visits) -> list[VisitLine]:
    """`visits` of `enrollment` (voided ones too) as lines, phases from `schedule` (the
    reader's, diary.trial.blinding.schedule_for)."""
    lines = []
    for visit in visits:
        span = schedule.span_on(visit.visit_date)
        if span is None and visit.visit_date < enrollment.start_date and len(schedule):
            span = schedule.spans[0]
        lines.append(
            VisitLine(
                visit=visit,
                study_day=study_day(enrollment.start_date, visit.visit_date),
                phase=span.label if span else "",
                measures=[(m, m.shown(getattr(visit, m.name))) for m in MEASURES],
            )
        )
    return lines


def her_visits(enrollment: Enrollment, reader) -> list[Visit]:
    """Her visits the reader may read (voided ones too), by date: one query."""
    visits = list(
        access.visible_visits(reader).filter(enrollment=enrollment).order_by("visit_date", "pk")
    )
    for visit in visits:
        visit.enrollment = enrollment
    return visits


def report_context(enrollment: Enrollment, reader, now: dt.datetime | None = None) -> dict:
    """What the report shows, all of it as of one day: her today at `now`
    (patient_as_of), for the table, the chart's last day and the file name alike."""
    now = now or timezone.now()
    as_of = patient_as_of(enrollment, now)
    schedule = blinding.schedule_for(enrollment, reader)
    entries = list(enrollment.entries.filter(date__lte=as_of))
    summary = summaries.summarize_enrollment(enrollment, as_of, reader)
    trend = charts.pain_trend(enrollment, entries, as_of, schedule, **CHART)
    return {
        "enrollment": enrollment,
        "arm": blinding.arm_for(enrollment, reader),
        "schedule": schedule,
        "as_of": as_of,
        "summary": summary,
        "figures": PATIENT_DIARY_FIGURES,
        "measure_figures": PATIENT_MEASURE_FIGURES,
        "visits": visit_lines(enrollment, schedule, her_visits(enrollment, reader)),
        "signatures": signature_states(enrollment, schedule, as_of),
        "trend": trend,
        # The latest alerts keep the report to two pages; the alert page has them all.
        "alerts": list(
            enrollment.alerts.select_related("acknowledged_by").order_by("-raised_at")[
                :REPORT_ALERTS
            ]
        ),
        "alert_count": enrollment.alerts.count(),
        "physician": enrollment.physician.get_full_name() or enrollment.physician.username,
        "generated_at": timezone.localtime(now),
        "generated_by": reader.get_full_name() or reader.get_username(),
    }


def patient_report_pdf(enrollment: Enrollment, reader, now: dt.datetime | None = None) -> bytes:
    try:  # imported here: it loads Pango, which no page needs
        from weasyprint import CSS, HTML
    except (ImportError, OSError) as error:
        raise ReportUnavailable(
            "This server cannot make PDF reports yet: WeasyPrint needs the Pango library "
            "(Debian: apt-get install libpango-1.0-0 libpangoft2-1.0-0 fonts-dejavu-core). "
            f"({error})"
        ) from error

    html = render_to_string("diary/report.html", report_context(enrollment, reader, now))
    stylesheet = CSS(filename=finders.find("css/report.css"), url_fetcher=_refuse)
    return HTML(string=html, url_fetcher=_refuse).write_pdf(stylesheets=[stylesheet])


def report_filename(enrollment: Enrollment, now: dt.datetime | None = None) -> str:
    """The same for any arm: the study ID and the report's as-of day (the one its
    table and chart take, for the same `now`)."""
    return f"report-{enrollment.study_id}-{patient_as_of(enrollment, now):%Y-%m-%d}.pdf"
