"""Data query pages. Staff: the queries list (filters, paging), a query (answer a visit
query, close, reopen) and raising one on a day or a visit. The patient: her questions,
her answer, and the correction of a queried day. Every rule is diary.queries.rules'."""

from __future__ import annotations

import datetime as dt

from crispy_forms.layout import Hidden
from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from diary import access
from diary.entries.forms import DiaryEntryForm
from diary.figures.overview import current_span
from diary.queries import rules
from diary.queries.forms import (
    AnswerForm,
    CloseForm,
    QueryFilterForm,
    RaiseQueryForm,
    ReopenForm,
    StaffAnswerForm,
)
from diary.queries.models import DataQuery, QueryStatus, QueryTarget
from diary.trial import blinding
from diary.trial.locks import patient_lock_message

PAGE_SIZE = 50
ENTRY_FIELDS = DiaryEntryForm.Meta.fields


def age_days(query: DataQuery, now: dt.datetime) -> int:
    return (now - query.raised_at).days


# Staff -------------------------------------------------------------------------------


@never_cache
def query_list(request):
    access.require_clinician(request.user)
    form = QueryFilterForm(request.GET or None)
    queries = access.visible_queries(request.user).select_related(
        "enrollment", "enrollment__physician", "raised_by"
    )
    status = ""
    if form.is_bound and not form.is_valid():
        queries = queries.none()
    elif form.is_bound:
        data = form.cleaned_data
        status = data["status"]
        if data["q"]:
            queries = queries.filter(enrollment__study_id__iexact=data["q"].strip())
        if data["physician"]:
            queries = queries.filter(enrollment__physician__username=data["physician"].strip())
        if data["target"]:
            queries = queries.filter(target=data["target"])
    if status == "":
        queries = queries.exclude(status=QueryStatus.CLOSED)
    elif status != "all":
        queries = queries.filter(status=status)
    queries = queries.order_by("raised_at", "pk")
    paginator = Paginator(queries, PAGE_SIZE)
    page_number = (form.cleaned_data.get("page") if form.is_bound and form.is_valid() else 1) or 1
    page = paginator.get_page(page_number)
    now = timezone.now()
    rows = [(query, age_days(query, now)) for query in page.object_list]
    access.record_access(request.user, "queries list")
    params = request.GET.copy()
    params.pop("page", None)
    context = {
        "form": form,
        "rows": rows,
        "page": page,
        "query_string": params.urlencode(),
        "status_choices": QueryFilterForm.base_fields["status"].choices,
        "target_choices": QueryFilterForm.base_fields["target"].choices,
    }
    return render(request, "diary/queries.html", context, status=400 if form.errors else 200)


def _back(query) -> str:
    return reverse("diary:query_detail", args=[query.pk])


@never_cache
@require_http_methods(["GET", "HEAD", "POST"])
def query_detail(request, pk: int):
    access.require_clinician(request.user)
    query = access.query_for(request.user, pk)
    enrollment = access.enrollment_for(request.user, query.enrollment.study_id)
    query.enrollment = enrollment
    access.record_access(request.user, "query", study_id=enrollment.study_id)
    action = request.POST.get("action") if request.method == "POST" else None
    forms = {
        "close": CloseForm(request.POST if action == "close" else None),
        "reopen": ReopenForm(request.POST if action == "reopen" else None),
        "answer": StaffAnswerForm(request.POST if action == "answer" else None),
    }
    status = 200
    if action in forms:
        form = forms[action]
        if form.is_valid():
            try:
                if action == "close":
                    rules.close_query(query, request.user, form.cleaned_data["note"])
                    done = f"Query #{query.pk} is closed."
                elif action == "reopen":
                    rules.reopen_query(query, request.user, form.cleaned_data["reason"])
                    done = f"Query #{query.pk} is open again."
                else:
                    rules.answer_query(query, request.user, form.cleaned_data["answer"])
                    done = f"Query #{query.pk} is answered."
            except rules.QueryRefused as refusal:
                form.add_error(None, refusal.messages[0])
                status = 400
            else:
                messages.success(request, done)
                return redirect(_back(query))
        else:
            status = 400
    elif request.method == "POST":
        messages.error(request, "Nothing was changed: choose close, reopen or answer.")
        status = 400
    entry = None
    if query.target == QueryTarget.ENTRY:
        entry = enrollment.entries.filter(date=query.date).first()
    schedule = blinding.schedule_for(enrollment, request.user)
    span = schedule.span_on(query.date)
    context = {
        "query": query,
        "enrollment": enrollment,
        "entry": entry,
        "phase_label": span.label if span else "",
        "study_day": schedule.study_day(query.date) if span else None,
        "age": age_days(query, timezone.now()),
        "forms": forms,
    }
    return render(request, "diary/query_detail.html", context, status=status)


@never_cache
@require_http_methods(["GET", "HEAD", "POST"])
def query_new(request, study_id: str):
    access.require_clinician(request.user)
    enrollment = access.enrollment_for(request.user, study_id)
    visit = None
    day = None
    source = request.POST if request.method == "POST" else request.GET
    try:
        if source.get("visit"):
            visit = access.visit_for(request.user, enrollment, int(source["visit"]))
        if source.get("date") or visit is None:
            day = dt.date.fromisoformat(source.get("date", ""))
    except (ValueError, OverflowError):
        raise Http404("Choose a day (YYYY-MM-DD) or a visit of hers.") from None
    form = RaiseQueryForm(request.POST or None)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                query = rules.raise_query(
                    enrollment, request.user, text=form.cleaned_data["text"], date=day, visit=visit
                )
            except rules.QueryRefused as refusal:
                form.add_error(None, refusal.messages[0])
                status = 400
            else:
                messages.success(
                    request,
                    f"Query #{query.pk} is raised"
                    + ("; the patient is told by e-mail." if visit is None else "."),
                )
                return redirect(_back(query))
        else:
            status = 400
    context = {
        "enrollment": enrollment,
        "visit": visit,
        "day": day,
        "form": form,
        "back_url": reverse("diary:patient_detail", args=[enrollment.study_id]),
    }
    return render(request, "diary/query_new.html", context, status=status)


# The patient ---------------------------------------------------------------------------


@never_cache
@access.own_diary
def questions(request, enrollment):
    """Her study team's questions about her diary days: open ones first."""
    queries = list(
        DataQuery.objects.filter(enrollment=enrollment, target=QueryTarget.ENTRY).order_by(
            "status", "-raised_at"
        )
    )
    return render(
        request,
        "diary/questions.html",
        {"enrollment": enrollment, "queries": queries, "locked": patient_lock_message(enrollment)},
    )


@never_cache
@access.own_diary
@require_http_methods(["GET", "HEAD", "POST"])
def question(request, enrollment, pk: int):
    query = access.own_query(request.user, enrollment, pk)
    action = request.POST.get("action") if request.method == "POST" else None
    schedule = blinding.schedule_for(enrollment, request.user)
    span = current_span(enrollment, schedule, query.date)
    entry = enrollment.entries.filter(date=query.date).first()
    answer_form = AnswerForm(request.POST if action == "answer" else None)
    entry_form = None
    status = 200
    # A locked diary takes no answer nor correction: her page says so and shows no form.
    locked = patient_lock_message(enrollment)
    if locked and action:
        action = "locked"
    can_correct = query.status != QueryStatus.CLOSED and span is not None and not locked
    if can_correct:
        entry_form = DiaryEntryForm(
            request.POST if action == "correct" else None,
            instance=entry if entry and not entry.voided else None,
            treatment_phase=span.is_treatment,
            submit_label=_("Save my corrected answers"),
            action=reverse("diary:question", args=[query.pk]),
            past_day=query.date,
        )
        entry_form.helper.layout.append(Hidden("action", "correct"))
    if action == "answer":
        if answer_form.is_valid():
            try:
                rules.answer_query(query, request.user, answer_form.cleaned_data["answer"])
            except rules.QueryRefused as refusal:
                answer_form.add_error(None, refusal.messages[0])
                status = 400
            else:
                messages.success(request, _("Thank you: your answer was sent to your study team."))
                return redirect("diary:question", query.pk)
        else:
            status = 400
    elif action == "correct" and entry_form is not None:
        if entry_form.is_valid():
            values = {name: entry_form.cleaned_data.get(name) for name in ENTRY_FIELDS}
            if not span.is_treatment:
                values["dose_taken"] = values["tolerability"] = None
            try:
                _entry, changed = rules.correct_queried_day(query, values, request.user)
            except rules.QueryRefused as refusal:
                entry_form.add_error(None, refusal.messages[0])
                status = 400
            else:
                messages.success(
                    request,
                    _("Your answers for this day are corrected.")
                    if changed
                    else _("Nothing changed: your answers were already these."),
                )
                return redirect("diary:question", query.pk)
        else:
            status = 400
    elif action == "locked":
        status = 400
    elif request.method == "POST":
        status = 400
        messages.error(request, _("Nothing was saved. This question is closed already."))
    context = {
        "enrollment": enrollment,
        "query": query,
        "entry": entry,
        "answer_form": (answer_form if query.status != QueryStatus.CLOSED and not locked else None),
        "locked": locked,
        "entry_form": entry_form,
        "phase_label": span.patient_label() if span else None,
    }
    return render(request, "diary/question.html", context, status=status)
