"""Function views, thin: access -> form or summary -> template."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_not_required
from django.core.paginator import Paginator
from django.db import Error as DatabaseFailure
from django.db import connection
from django.http import (
    Http404,
    HttpResponse,
    HttpResponseBadRequest,
    JsonResponse,
    StreamingHttpResponse,
)
from django.shortcuts import redirect, render
from django.templatetags.static import static
from django.urls import reverse, reverse_lazy
from django.utils import translation
from django.utils.formats import date_format, time_format
from django.utils.html import conditional_escape
from django.utils.http import urlencode
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as _
from django.views import i18n as i18n_views
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST, require_safe

from diary import access
from diary.entries import reminders, window
from diary.entries.forms import DiaryEntryForm, ReminderSettingsForm, ScaleField
from diary.entries.models import DiaryEntry, EntryRefused
from diary.figures import alerts as alerts_flow
from diary.figures import charts, summaries
from diary.figures.activity import ActivityList, recent_activity
from diary.figures.definitions import COHORT_FIGURES, LDN_VS_PLACEBO_FIGURES, PATIENT_FIGURES
from diary.figures.forms import AcknowledgeForm, CohortFilterForm, PatientListForm
from diary.figures.models import Alert
from diary.figures.overview import (
    CELL_STATES,
    calendar_cells,
    calendar_days,
    current_span,
    days_recorded,
    enrollment_status_row,
    history_days,
    last_week,
    phase_days,
)
from diary.files import reports
from diary.files.codebook import codebook_rows
from diary.files.exports import csv_lines, run_export
from diary.files.forms import ExportForm, UnblindedExportForm
from diary.people.languages import is_supported
from diary.security import RETRY_AFTER_SECONDS
from diary.trial import blinding, dates
from diary.trial.models import Enrollment, EnrollmentStatus, default_reminder_time

ENTRY_FIELDS = DiaryEntryForm.Meta.fields


@login_not_required
@require_safe
def healthz(request):
    """Health probe for load balancers (GET or HEAD): "ok" when the database answers a
    `SELECT 1`, else 503 (with Retry-After) saying so, so that the balancer sends no
    patient to a server that cannot save her entry."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except DatabaseFailure:
        return HttpResponse(
            "unavailable: the database does not answer",
            status=503,
            content_type="text/plain",
            headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
        )
    return HttpResponse("ok", content_type="text/plain")


def home(request):
    user = request.user
    if user.is_patient:
        return redirect("diary:today")
    if user.is_physician or user.is_coordinator:
        return redirect("diary:physician_home")
    raise Http404("Nothing here for this account.")


@login_not_required
@require_GET
def manifest(request):
    """The web app manifest: the diary can be added to a phone's home screen."""
    data = {
        "name": _("Pain Diary"),
        "short_name": _("Pain Diary"),
        "description": _("Your daily pain diary for the LDN study."),
        "lang": translation.get_language(),
        "start_url": reverse("diary:today"),
        "scope": "/",
        "display": "standalone",
        "background_color": "#ffffff",
        "theme_color": "#0b5ed7",
        "icons": [
            {"src": static("icons/icon-192.png"), "sizes": "192x192", "type": "image/png"},
            {"src": static("icons/icon-512.png"), "sizes": "512x512", "type": "image/png"},
            {
                "src": static("icons/icon-maskable-512.png"),
                "sizes": "512x512",
                "type": "image/png",
                "purpose": "maskable",
            },
            {"src": static("icons/icon.svg"), "sizes": "any", "type": "image/svg+xml"},
        ],
    }
    return JsonResponse(data, content_type="application/manifest+json")


# Patient side ----------------------------------------------------------------------


@never_cache
@access.own_diary
def today(request, enrollment):
    return _entry_page(request, enrollment, enrollment.local_today())


@never_cache
@access.own_diary
def day(request, enrollment, day: dt.date):
    if request.method == "GET" and day == enrollment.local_today():
        return redirect("diary:today")
    return _entry_page(request, enrollment, day)


def _entry_page(request, enrollment, day: dt.date):
    today = enrollment.local_today()
    is_today = day == today
    schedule = blinding.schedule_for(enrollment, request.user)
    # No phase outside her schedule or after she left the study.
    span = current_span(enrollment, schedule, day)
    refusal = window.patient_refusal(enrollment, day, today)
    saving = request.method == "POST"
    # Today's page shows her progress and trend, which need every day so far; a past
    # day's page, and a save (which answers with a redirect), only need the day's own
    # entry.
    whole_page = is_today and not saving
    entries = list(enrollment.entries.all() if whole_page else enrollment.entries.filter(date=day))
    # A voided entry is missing for her: the day shows, and saves, as not recorded.
    entry = next((e for e in entries if e.date == day and not e.voided), None)
    context = {
        "enrollment": enrollment,
        "day": day,
        "today": today,
        "is_today": is_today,
        "span": span,
        "phase_label": span.patient_label() if span else None,
        "phase_day": span.day_number(day) if span else None,
        "study_day": schedule.study_day(day) if span else None,
        "entry": entry,
        "refusal": refusal,
        "ended": enrollment.status in (EnrollmentStatus.COMPLETED, EnrollmentStatus.WITHDRAWN),
        "form": None,
    }

    def render_page(status=200):
        if is_today:
            # A refused or invalid save shows the page again, with all her days.
            days = entries if whole_page else list(enrollment.entries.all())
            if context["ended"]:
                context["days"] = days_recorded(enrollment, days)
            else:
                context["week"] = last_week(enrollment, days, today)
            context["trend"] = charts.pain_trend(enrollment, days, today, schedule)
        return render(request, "diary/entry_form.html", context, status=status)

    if saving and request.FILES:
        # Diary posts carry no files: a file sent with the form is refused, never
        # dropped silently, and nothing of the post is saved.
        return HttpResponseBadRequest(
            _("Nothing was saved: the diary takes no files. Send the form without a file."),
            content_type="text/plain; charset=utf-8",
        )
    if refusal:
        if saving:
            messages.error(request, _("Nothing was saved. %(why)s") % {"why": refusal})
            return render_page(status=403)
        return render_page()

    if is_today:
        label = _("Save today's entry")
    else:
        label = _("Save %(day)s") % {"day": date_format(day, "DIARY_DAY_FORMAT")}
    # The form names its day in the URL it posts to: a form opened before midnight and
    # sent after it still saves the day it showed.
    form = DiaryEntryForm(
        request.POST if saving else None,
        instance=entry,
        treatment_phase=span.is_treatment,
        submit_label=label,
        action=reverse("diary:day", args=[day]),
        past_day=None if is_today else day,
    )
    if saving and form.is_valid():
        values = {name: form.cleaned_data.get(name) for name in ENTRY_FIELDS}
        if not span.is_treatment:
            values["dose_taken"] = values["tolerability"] = None
        try:
            _entry, changed = window.record_patient_entry(enrollment, day, values, request.user)
        except EntryRefused as refused:
            messages.error(request, _("Nothing was saved. %(why)s") % {"why": refused})
            return redirect("diary:day", day)
        messages.add_message(request, *_saved_message(day, today, changed, entry is not None))
        return redirect("diary:day", day) if not is_today else redirect("diary:today")
    if saving:
        messages.error(request, _("Nothing was saved yet: please fix the answers marked below."))
    context["form"] = form
    context["questions"] = _questions_html(form)
    return render_page(status=400 if form.errors else 200)


def _saved_message(day, today, changed: bool, existed: bool) -> tuple[int, str]:
    if not changed:
        if day == today:
            return messages.INFO, _("Your entry for today was already up to date.")
        return messages.INFO, _("Your entry for %(day)s was already up to date.") % {
            "day": date_format(day, "DIARY_DAY_FORMAT")
        }
    if day == today:
        text = (
            _("Thank you. Your entry for today is updated.")
            if existed
            else _("Thank you. Your entry for today is saved.")
        )
        return messages.SUCCESS, text
    text = (
        _("Thank you. Your entry for %(day)s is updated.")
        if existed
        else _("Thank you. Your entry for %(day)s is saved.")
    )
    return messages.SUCCESS, text % {"day": date_format(day, "DIARY_DAY_FORMAT")}


def _questions_html(form) -> str:
    """The questions of the diary form (forms.DiaryEntryForm) as HTML, for
    diary/_entry_fields.html: the markup crispy-forms' Bootstrap 5 pack gave them (ids,
    classes, ARIA, each error next to its question). Built here, not in a template: the
    template engine took longer over the 39 radio buttons than over the rest of the page."""
    return mark_safe("".join(_question_html(field) for field in form))  # every part escaped


def _question_html(field) -> str:
    e = conditional_escape
    widget = field.field.widget
    required = field.field.required
    auto_id = e(field.auto_id)
    errors = field.errors
    invalid = " is-invalid" if errors else ""
    aria_invalid = ' aria-invalid="true"' if errors else ""
    described = field.aria_describedby
    described = f' aria-describedby="{e(described)}"' if described else ""
    label = e(field.label) + ('<span class="asteriskField">*</span>' if required else "")
    label_class = "form-label requiredField" if required else "form-label"
    help_text = (
        f'<div id="{auto_id}_helptext" class="form-text">{field.help_text}</div>'
        if field.help_text
        else ""
    )
    if getattr(widget, "input_type", None) == "radio":
        name = e(field.html_name)
        options = []
        for option in field.subwidgets:
            data = option.data
            option_id = e(data["attrs"]["id"])
            options.append(
                f'<div class="form-check form-check-inline"><input type="radio" '
                f'class="form-check-input{invalid}" name="{name}" value="{e(data["value"])}" '
                f'id="{option_id}"{" required" if data["attrs"].get("required") else ""}'
                f"{aria_invalid}{' checked' if data['selected'] else ''}> "
                f'<label for="{option_id}" class="form-check-label">{e(data["label"])}</label>'
                "</div>"
            )
        error_list = "".join(
            f'<p id="error_{n}_{auto_id}"><strong>{e(error)}</strong></p>'
            for n, error in enumerate(errors, start=1)
        )
        kind = "item-scale" if isinstance(field.field, ScaleField) else "item-yesno"
        return (
            f'<div id="div_{auto_id}" class="mb-3 {kind}"><fieldset{described}>'
            f'<legend class="fs-6 {label_class}">{label}</legend>'
            f"<div>{''.join(options)}</div>"
            + (
                f'<div id="{auto_id}_error" class="invalid-feedback">{error_list}</div>'
                if errors
                else ""
            )
            + f"{help_text}</fieldset></div>"
        )
    # A number (tolerability) or a text area (notes), with the widget's own attributes.
    value = field.value()
    attrs = "".join(
        f' {e(name)}="{e(attr)}"' for name, attr in widget.attrs.items() if name != "class"
    )
    input_type = getattr(widget, "input_type", None)
    # As crispy-forms did: the widget's classes, then its kind (numberinput, textarea).
    classes = " ".join(filter(None, (widget.attrs.get("class"), type(widget).__name__.lower())))
    common = (
        f'{attrs} class="{e(classes)} form-control{invalid}"'
        f'{" required" if required else ""}{aria_invalid}{described} id="{auto_id}"'
    )
    if input_type:
        shown = "" if value is None or value == "" else f' value="{e(value)}"'
        control = f'<input type="{e(input_type)}" name="{e(field.html_name)}"{shown}{common}>'
    else:
        text = e(value) if value else ""
        control = f'<textarea name="{e(field.html_name)}"{common}>\n{text}</textarea>'
    error_list = "".join(
        f'<span id="error_{n}_{auto_id}"><strong>{e(error)}</strong></span>'
        for n, error in enumerate(errors, start=1)
    )
    return (
        f'<div id="div_{auto_id}" class="mb-3"><label for="{e(field.id_for_label)}" '
        f'class="{label_class}">{label}</label>{control}'
        + (
            f'<div id="{auto_id}_error" class="invalid-feedback">{error_list}</div>'
            if errors
            else ""
        )
        + f"{help_text}</div>"
    )


@never_cache
@access.own_diary
def history(request, enrollment):
    today = enrollment.local_today()
    entries = enrollment.entries.all()
    schedule = blinding.schedule_for(enrollment, request.user)
    context = {
        "enrollment": enrollment,
        "today": today,
        "days": history_days(enrollment, entries, today, schedule),
        # Once she may see it (open label, or told by the study team).
        "arm": blinding.arm_for(enrollment, request.user),
        "phase_names": " → ".join(span.patient_label() for span in schedule),
    }
    return render(request, "diary/entry_list.html", context)


@never_cache
@access.own_diary
def reminder_settings(request, enrollment):
    """Her reminder time and language, changed by herself."""
    initial = {
        "reminder_time": enrollment.reminder_time and enrollment.reminder_time.isoformat("minutes"),
        "language": translation.get_language(),
    }
    form = ReminderSettingsForm(
        request.POST if request.method == "POST" else None, initial=initial, enrollment=enrollment
    )
    if request.method == "POST" and form.is_valid():
        time = form.cleaned_data["reminder_time"]
        if time != enrollment.reminder_time or enrollment.reminders_paused_until:
            reminders.set_time(enrollment, time, how="diary settings")
        language = form.cleaned_data["language"]
        response = redirect("diary:settings")
        remember_language(request, response, language)
        with translation.override(language):
            messages.success(request, _("Your settings are saved."))
        return response
    context = {"enrollment": enrollment, "form": form, "today": enrollment.local_today()}
    return render(request, "diary/settings.html", context, status=400 if form.errors else 200)


@login_not_required
@csrf_exempt  # the signed link itself is the credential; nothing else is at stake
@never_cache
def reminder_link(request, token: str):
    """The link of a reminder e-mail: pause or stop her reminders without signing in.

    GET only shows the choices (mail scanners open links); POST changes them. A mail
    program's one-click unsubscribe (RFC 8058) posts List-Unsubscribe=One-Click.
    """
    enrollment = access.enrollment_for_reminder_link(token)
    today = enrollment.local_today()
    if request.method == "POST":
        action = request.POST.get("action")
        if request.POST.get("List-Unsubscribe") == "One-Click":
            action = "stop"
        if action in ("pause", "stop", "resume"):
            messages.success(request, _change_reminders(enrollment, action, today))
            return redirect("reminder_link", token)
        messages.error(request, _("Choose one of the buttons below."))
    paused_until = enrollment.reminders_paused_until
    context = {
        "enrollment": enrollment,
        "paused": bool(paused_until and paused_until >= today),
        "snooze_days": settings.REMINDER_SNOOZE_DAYS,
    }
    status = 400 if request.method == "POST" else 200
    return render(request, "diary/reminder_link.html", context, status=status)


def _change_reminders(enrollment, action: str, today: dt.date) -> str:
    how = "link in a reminder e-mail"
    if action == "pause":
        reminders.pause(enrollment, today, how=how)
        day = date_format(enrollment.reminders_paused_until, "DIARY_DAY_FORMAT")
        return _("Reminders are paused until %(day)s.") % {"day": day}
    if action == "stop":
        reminders.stop(enrollment, how=how)
        return _("Reminders are stopped. You will get no more.")
    time = enrollment.reminder_time or default_reminder_time()
    reminders.set_time(enrollment, time, how=how)
    return _("Reminders are on again, daily at %(time)s.") % {"time": time_format(time)}


@login_not_required
@require_POST
def set_language(request):
    """The language switch: Django's set_language (the cookie), and for a signed-in user
    also her account, so her reminder e-mails follow."""
    language = request.POST.get("language")
    if not is_supported(language):
        return HttpResponseBadRequest(
            _("Choose English or Spanish."), content_type="text/plain; charset=utf-8"
        )
    response = i18n_views.set_language(request)
    _save_account_language(request.user, language)
    return response


def remember_language(request, response, language: str) -> None:
    """What the switch does, for the settings page: the cookie and her account."""
    response.set_cookie(
        settings.LANGUAGE_COOKIE_NAME,
        language,
        max_age=settings.LANGUAGE_COOKIE_AGE,
        samesite=settings.LANGUAGE_COOKIE_SAMESITE,
        secure=settings.LANGUAGE_COOKIE_SECURE,
    )
    _save_account_language(request.user, language)


def _save_account_language(user, language: str) -> None:
    if user.is_authenticated and user.language != language:
        user.language = language
        user.save(update_fields=["language"])


# Physician side --------------------------------------------------------------------


@never_cache
def physician_home(request):
    """The patient list: 50 a page, searched, filtered and sorted (diary.figures.activity)."""
    context, status = _patient_page(request)
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
        listed = listed.filter(enrollment__study_id__istartswith=search)
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
    activity = recent_activity(Enrollment.objects.filter(pk=enrollment.pk), request.user)[0]
    today = activity.today
    entries = list(enrollment.entries.all())
    as_of = dates.study_today()
    context = {
        "enrollment": enrollment,
        "schedule": schedule,
        "arm": blinding.arm_for(enrollment, request.user),
        "as_of": as_of,
        "summary": summaries.summarize_enrollment(enrollment, as_of, request.user),
        "summary_caption": f"Figures as of {as_of:%Y-%m-%d}. Hover or focus a figure's "
        "name for its definition.",
        "figures": PATIENT_FIGURES,
        "chart": charts.daily_pain(entries, schedule),
        "status_row": enrollment_status_row(enrollment, request.user, activity),
        "phases": phase_days(enrollment, entries, today, schedule),
        "admin_url": reverse("admin:diary_enrollment_by_study_id", args=[enrollment.study_id]),
    }
    return render(request, "diary/patient_detail.html", context)


@never_cache
@require_safe
def patient_report(request, study_id: str):
    """Her clinic report as a PDF (diary.files.reports), as the reader may see her."""
    access.require_clinician(request.user)
    enrollment = access.enrollment_for(request.user, study_id)
    access.record_access(request.user, "PDF report", study_id=enrollment.study_id)
    try:
        pdf = reports.patient_report_pdf(enrollment, request.user)
    except reports.ReportUnavailable as problem:
        messages.error(request, str(problem))
        return redirect("diary:patient_detail", enrollment.study_id)
    response = HttpResponse(pdf, content_type="application/pdf")
    name = reports.report_filename(enrollment, dates.study_today())
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


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
        "protocols": [(result, charts.cohort_pain(result)) for result in results],
        "figures": COHORT_FIGURES,
        "comparison_figures": LDN_VS_PLACEBO_FIGURES,
    }
    return render(request, "diary/cohort.html", context, status=400 if form.errors else 200)


# Coordinator downloads -------------------------------------------------------------


@never_cache
def exports(request):
    """The files of the data dictionary for coordinators, streamed. A GET gives what a
    blinded physician sees; an unblinded file needs allocation access, a POST and a
    reason, and is recorded in the audit trail."""
    access.require_coordinator(request.user)
    if request.method == "POST":
        blinding.require_allocation_access(request.user)
        form = UnblindedExportForm(request.POST)
        if form.is_valid():
            return _export(request, form.cleaned_data, blinding.UNBLINDED_FILE)
        return _exports_page(request, ExportForm(), form, status=400)
    form = ExportForm(request.GET or None)
    if "unblinded" in request.GET:
        messages.error(
            request,
            "A link never unblinds. Unblinded files are downloaded with the form "
            "“Unblinded file” below, with a reason (allocation access only).",
        )
        return _exports_page(request, ExportForm(), UnblindedExportForm(), status=400)
    if form.is_bound and form.is_valid():
        return _export(request, form.cleaned_data, blinding.BLINDED_FILE)
    return _exports_page(request, form, UnblindedExportForm(), status=400 if form.errors else 200)


@require_safe
def codebook(request):
    """The codebook of the CSV files (no patient data in it)."""
    access.require_coordinator(request.user)
    response = StreamingHttpResponse(csv_lines(codebook_rows()), content_type="text/csv")
    response["Content-Disposition"] = 'attachment; filename="codebook.csv"'
    return response


def _exports_page(request, form, unblinded_form, status=200):
    context = {
        "form": form,
        "unblinded_form": unblinded_form if request.user.has_allocation_access else None,
    }
    return render(request, "diary/exports.html", context, status=status)


def _export(request, choice: dict, reader):
    protocol = choice["protocol"]
    enrollments = access.visible_enrollments(request.user)
    if protocol:
        enrollments = enrollments.filter(protocol=protocol)
    export = run_export(
        choice["what"],
        enrollments,
        reader=reader,
        by=request.user,
        protocol=protocol,
        as_of=choice["as_of"] or dates.study_today(),
        reason=choice.get("reason", ""),
    )
    response = StreamingHttpResponse(export.lines)
    response["Content-Type"] = f"{export.content_type}; charset=utf-8"
    response["Content-Disposition"] = f'attachment; filename="{export.name}"'
    return response


# Invitations ------------------------------------------------------------------------


class InvitationView(auth_views.PasswordResetConfirmView):
    """The link of an invitation e-mail (diary.trial.invitations.send_invitation): the new user
    chooses her password once and is signed in. Django's token makes the link one-time
    (it no longer matches once a password is set) and expire (PASSWORD_RESET_TIMEOUT)."""

    template_name = "registration/invitation.html"
    post_reset_login = True
    post_reset_login_backend = "django.contrib.auth.backends.ModelBackend"
    success_url = reverse_lazy("home")

    def form_valid(self, form):
        response = super().form_valid(form)
        messages.success(self.request, _("Your password is saved and you are signed in."))
        return response
