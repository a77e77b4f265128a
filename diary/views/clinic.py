"""The care team's pages (physicians and coordinators): the patient list and its
compliance calendar, the alerts, a patient's page and PDF report, the cohort."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections import defaultdict

from django.contrib import messages
from django.core.paginator import Paginator
from django.db.models import Count
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import urlencode
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST, require_safe

from diary import access
from diary.entries.models import DiaryEntry
from diary.figures import alerts as alerts_flow
from diary.figures import charts, summaries
from diary.figures.activity import ActivityList, recent_activity
from diary.figures.definitions import (
    COHORT_DIARY_FIGURES,
    COHORT_MEASURE_FIGURES,
    LDN_VS_PLACEBO_DIARY_FIGURES,
    LDN_VS_PLACEBO_MEASURE_FIGURES,
    PATIENT_DIARY_FIGURES,
    PATIENT_MEASURE_FIGURES,
)
from diary.figures.forms import AcknowledgeForm, CohortFilterForm, PatientListForm
from diary.figures.models import Alert
from diary.figures.overview import (
    CELL_STATES,
    calendar_cells,
    calendar_days,
    current_span,
    enrollment_status_row,
    phase_days,
)
from diary.figures.patient_figures import patient_as_of
from diary.files import reports
from diary.queries.models import DataQuery
from diary.signoff.states import signature_states
from diary.trial import blinding, dates
from diary.trial.locks import lock_problem
from diary.trial.models import Enrollment
from diary.views.downloads import download_response


@never_cache
def physician_home(request):
    """The patient list: 50 a page, searched, filtered and sorted (diary.figures.activity)."""
    context, status = _patient_page(request)
    # Each patient's queries not yet closed (one query for the page).
    waiting = dict(
        DataQuery.objects.filter(enrollment_id__in=[row.enrollment.pk for row in context["rows"]])
        .unresolved()
        .values_list("enrollment_id")
        .annotate(n=Count("pk"))
        .order_by()
    )
    for row in context["rows"]:
        row.open_queries = waiting.get(row.enrollment.pk, 0)
    return render(request, "diary/physician_home.html", context, status=status)


@never_cache
def calendar(request):
    """The compliance calendar: the same patients by the last 28 days of the study's
    calendar, each cell one of her diary days on her own clock."""
    context, status = _patient_page(request)
    days = calendar_days(dates.study_today())
    on_page = [row.enrollment for row in context["rows"]]
    # Her today may be a day ahead of or behind the study's.
    entries = defaultdict(list)
    for entry in DiaryEntry.objects.filter(
        enrollment__in=on_page,
        date__range=(days[0] - dt.timedelta(days=1), days[-1] + dt.timedelta(days=1)),
    ).only("enrollment_id", "date", "voided", "late"):
        entries[entry.enrollment_id].append(entry)
    context["days"] = days
    context["calendar"] = [
        (
            row,
            calendar_cells(
                row.enrollment,
                blinding.schedule_for(row.enrollment, request.user),
                entries[row.enrollment.pk],
                days,
                row.today,
            ),
        )
        for row in context["rows"]
    ]
    context["states"] = CELL_STATES
    return render(request, "diary/calendar.html", context, status=status)


PATIENTS_PER_PAGE = 50


def _patient_page(request) -> tuple[dict, int]:
    """The rows the patient list and the calendar show: the patients the user may see,
    searched, filtered and sorted, one page of them, in a fixed number of queries."""
    access.require_clinician(request.user)
    form = PatientListForm(request.GET or None, user=request.user)
    enrollments = access.visible_enrollments(request.user)
    status = 200
    if form.is_bound and not form.is_valid():
        enrollments, status = enrollments.none(), 400
    elif form.is_bound:
        enrollments = form.filter(enrollments)
    listing = ActivityList(enrollments, request.user, form.ordering)
    page = Paginator(listing, PATIENTS_PER_PAGE).get_page(request.GET.get("page"))
    loaded = {
        enrollment.pk: enrollment
        for enrollment in Enrollment.objects.filter(
            pk__in=[activity.enrollment_id for activity in page]
        ).load_with_schedules()
    }
    rows = [
        enrollment_status_row(loaded[activity.enrollment_id], request.user, activity)
        for activity in page
        if activity.enrollment_id in loaded
    ]
    context = {
        "form": form,
        "page": page,
        "rows": rows,
        "sort": form.ordering,
        "query": form.query_without("page"),
        "query_unsorted": form.query_without("page", "sort"),
        "open_alerts": open_alerts(request.user).count(),
    }
    return context, status


def open_alerts(user):
    """The open alerts of the patients `user` may see."""
    return Alert.objects.open().filter(enrollment__in=access.visible_enrollments(user).values("pk"))


ALERTS_PER_PAGE = 50


@never_cache
def alerts(request):
    """Open alerts (and, with ?show=acknowledged, those already seen to)."""
    access.require_clinician(request.user)
    return _alerts_page(request)


def _alerts_page(request, status: int = 200):
    acknowledged = request.GET.get("show") == "acknowledged"
    search = request.GET.get("q", "").strip()[:40]
    if acknowledged:
        listed = (
            Alert.objects.filter(
                acknowledged_at__isnull=False,
                enrollment__in=access.visible_enrollments(request.user).values("pk"),
            )
            .select_related("acknowledged_by")
            .order_by("-acknowledged_at")
        )
    else:
        listed = open_alerts(request.user).order_by("-raised_on", "enrollment__study_id", "kind")
    if search:
        listed = listed.filter(enrollment__study_id__icontains=search)
    query = {"show": "acknowledged"} if acknowledged else {}
    if search:
        query["q"] = search
    page = Paginator(listed.select_related("enrollment"), ALERTS_PER_PAGE).get_page(
        request.GET.get("page")
    )
    enrollments = {
        enrollment.pk: enrollment
        for enrollment in Enrollment.objects.filter(
            pk__in=[alert.enrollment_id for alert in page]
        ).load_with_schedules()
    }
    rows = []
    for alert in page:
        enrollment = enrollments[alert.enrollment_id]
        today = enrollment.local_today()
        span = current_span(enrollment, blinding.schedule_for(enrollment, request.user), today)
        rows.append({"alert": alert, "enrollment": enrollment, "phase": span})
    context = {
        "page": page,
        "rows": rows,
        "acknowledged": acknowledged,
        "search": search,
        "query": urlencode(query),
        "open_count": open_alerts(request.user).count(),
        "form": AcknowledgeForm(),
    }
    return render(request, "diary/alerts.html", context, status=status)


@require_POST
def acknowledge_alert(request, pk: int):
    """Acknowledge an alert with a note; without one, nothing changes and the page
    says what is missing."""
    access.require_clinician(request.user)
    alert = access.alert_for(request.user, pk)
    form = AcknowledgeForm(request.POST)
    if not form.is_valid():
        problems = " ".join(form.errors["note"])
        messages.error(request, f"{alert.enrollment.study_id}, {alert.kind}: {problems}")
        return _alerts_page(request, status=400)
    if alert.acknowledged_at is None:
        alerts_flow.acknowledge(alert, request.user, form.cleaned_data["note"])
        messages.success(request, f"{alert.enrollment.study_id}, {alert.kind}: acknowledged.")
    return redirect("diary:alerts")


@never_cache
def patient_detail(request, study_id: str):
    access.require_clinician(request.user)
    enrollment = access.enrollment_for(request.user, study_id)
    access.record_access(request.user, "patient page", study_id=enrollment.study_id)
    schedule = blinding.schedule_for(enrollment, request.user)
    # One as-of for the whole page (her today at this one moment): the summary table, the
    # chart, the entries by phase and "day N" of her status all take it.
    now = timezone.now()
    as_of = patient_as_of(enrollment, now)
    only_her = Enrollment.objects.filter(pk=enrollment.pk)
    activity = recent_activity(only_her, request.user, now=now)[0]
    entries = list(enrollment.entries.filter(date__lte=as_of))
    context = {
        "enrollment": enrollment,
        "schedule": schedule,
        "arm": blinding.arm_for(enrollment, request.user),
        "as_of": as_of,
        "summary": summaries.summarize_enrollment(enrollment, as_of, request.user),
        "summary_caption": f"Figures as of {as_of:%Y-%m-%d}, her today in her time zone "
        f"({enrollment.timezone}). Hover or focus a figure's name for its definition.",
        "figures": PATIENT_DIARY_FIGURES,
        "measure_figures": PATIENT_MEASURE_FIGURES,
        "measures_caption": f"Clinic measures as of {as_of:%Y-%m-%d}: each phase's value is "
        "the one at its last visit that has the measure (voided visits left out; a visit "
        "before day 1 counts for the first phase); change is from the baseline phase.",
        # Her status ("LDN, day N") on the page's day too, whatever her activity read.
        "status_row": enrollment_status_row(
            enrollment, request.user, dataclasses.replace(activity, today=as_of)
        ),
        "phases": phase_days(enrollment, entries, as_of, schedule),
        "admin_url": reverse("admin:diary_enrollment_by_study_id", args=[enrollment.study_id]),
        "visits": reports.visit_lines(
            enrollment, schedule, reports.her_visits(enrollment, request.user)
        ),
        "signatures": signature_states(enrollment, schedule, as_of),
        "lock": lock_problem(enrollment),
        "queries": list(
            enrollment.queries.select_related("raised_by").order_by("status", "-raised_at")
        ),
    }
    context.update(charts.patient_charts(enrollment, entries, schedule, as_of, context["summary"]))
    return render(request, "diary/patient_detail.html", context)


@never_cache
@require_safe
def patient_report(request, study_id: str):
    """Her clinic report as a PDF (diary.files.reports), as the reader may see her."""
    access.require_clinician(request.user)
    enrollment = access.enrollment_for(request.user, study_id)
    access.record_access(request.user, "PDF report", study_id=enrollment.study_id)
    now = timezone.now()  # one moment, so one as-of day for the report and its name
    try:
        pdf = reports.patient_report_pdf(enrollment, request.user, now)
    except reports.ReportUnavailable as problem:
        messages.error(request, str(problem))
        return redirect("diary:patient_detail", enrollment.study_id)
    name = reports.report_filename(enrollment, now)
    return download_response(pdf, name, "application/pdf")


@never_cache
def cohort(request):
    access.require_clinician(request.user)
    form = CohortFilterForm(request.GET or None, user=request.user)
    enrollments = access.visible_enrollments(request.user)
    as_of = dates.study_today()
    if form.is_bound and form.is_valid():
        enrollments = form.filter(enrollments)
        as_of = form.cleaned_data["as_of"] or as_of
    elif form.is_bound:
        enrollments = enrollments.none()
    results = summaries.cohort_summaries(enrollments, as_of, request.user)
    context = {
        "form": form,
        "as_of": as_of,
        # Each protocol with its pain chart's data and its ESR-and-response scatter (None
        # where the reader may not see kinds, or without points).
        "protocols": [
            (result, charts.cohort_pain(result), charts.esr_scatter(result.esr_response))
            for result in results
        ],
        "figures": COHORT_DIARY_FIGURES,
        "measure_figures": COHORT_MEASURE_FIGURES,
        "comparison_figures": LDN_VS_PLACEBO_DIARY_FIGURES,
        "comparison_measure_figures": LDN_VS_PLACEBO_MEASURE_FIGURES,
    }
    return render(request, "diary/cohort.html", context, status=400 if form.errors else 200)
