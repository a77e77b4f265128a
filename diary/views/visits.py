"""The care team's clinic-visit pages: record a visit, correct one (with a reason),
void one (with a reason). Her physician or a coordinator only (everyone else gets 404,
as for her page); every change goes through diary.visits.rules, so the web form keeps
the same rules as the admin and import_visits."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db import IntegrityError
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from diary import access
from diary.files import reports
from diary.trial import blinding
from diary.visits import rules
from diary.visits.forms import ReasonForm, VisitForm

DUPLICATE = "This patient already has a visit on that date; correct that visit instead."


def _patient_page(enrollment) -> str:
    return reverse("diary:patient_detail", args=[enrollment.study_id]) + "#visits"


def _role(user, enrollment) -> str:
    return "physician" if enrollment.physician_id == user.pk else "coordinator"


def _show_error(form, error: ValidationError) -> None:
    """A refusal of diary.visits.rules (e.g. another visit saved on that date a moment
    ago) on the form: under its field where the form has one, else above the form."""
    if hasattr(error, "error_dict"):
        for name, errors in error.error_dict.items():
            form.add_error(name if name in form.fields else None, errors)
    else:
        form.add_error(None, error)


def _open(request, study_id: str, what: str):
    access.require_clinician(request.user)
    enrollment = access.enrollment_for(request.user, study_id)
    access.record_access(request.user, what, study_id=enrollment.study_id)
    return enrollment


def _render(request, template: str, enrollment, status: int = 200, **context):
    context.update(
        enrollment=enrollment,
        back_url=_patient_page(enrollment),
        earliest=rules.first_visit_day(enrollment),
        days_before=rules.VISIT_DAYS_BEFORE_START,
        schedule=blinding.schedule_for(enrollment, request.user),
    )
    return render(request, template, context, status=status)


@never_cache
@require_http_methods(["GET", "HEAD", "POST"])
def new_visit(request, study_id: str):
    """Record a visit: its date, measures (any may be blank: not done) and notes."""
    enrollment = _open(request, study_id, "visit form")
    if request.method != "POST":
        form = VisitForm(enrollment=enrollment, initial={"visit_date": enrollment.local_today()})
        return _render(request, "diary/visit_form.html", enrollment, form=form)
    form = VisitForm(request.POST, enrollment=enrollment)
    if form.is_valid():
        try:
            visit = rules.save_visit(
                enrollment,
                form.values(),
                by=request.user,
                reason=f"Recorded by {_role(request.user, enrollment)}",
            )
        except ValidationError as error:
            _show_error(form, error)
        except IntegrityError:  # the database's own one-visit-a-date rule, in a race
            form.add_error("visit_date", DUPLICATE)
        else:
            messages.success(
                request, f"{enrollment.study_id}: visit of {visit.visit_date:%Y-%m-%d} recorded."
            )
            return redirect(_patient_page(enrollment))
    return _render(request, "diary/visit_form.html", enrollment, status=400, form=form)


@never_cache
@require_http_methods(["GET", "HEAD", "POST"])
def edit_visit(request, study_id: str, pk: int):
    """Correct a visit: the same form, and a reason kept in its history."""
    enrollment = _open(request, study_id, "visit correction")
    visit = access.visit_for(request.user, enrollment, pk)
    schedule = blinding.schedule_for(enrollment, request.user)
    (line,) = reports.visit_lines(enrollment, schedule, [visit])
    if request.method != "POST":
        return _render(
            request,
            "diary/visit_form.html",
            enrollment,
            form=None if visit.voided else VisitForm(instance=visit, enrollment=enrollment),
            reason_form=ReasonForm(),
            visit=visit,
            line=line,
        )
    form = VisitForm(request.POST, instance=visit, enrollment=enrollment)
    reason_form = ReasonForm(request.POST)
    status = 400
    if visit.voided:
        messages.error(request, "This visit is voided; record the right one as a new visit.")
        form = None
        status = 400
    elif form.is_valid() & reason_form.is_valid():
        try:
            rules.save_visit(
                enrollment,
                form.values(),
                by=request.user,
                reason=reason_form.cleaned_data["reason"],
                visit=visit,
            )
        except ValidationError as error:
            _show_error(form, error)
        except IntegrityError:
            form.add_error("visit_date", DUPLICATE)
        else:
            messages.success(
                request,
                f"{enrollment.study_id}: visit of {visit.visit_date:%Y-%m-%d} corrected.",
            )
            return redirect(_patient_page(enrollment))
    return _render(
        request,
        "diary/visit_form.html",
        enrollment,
        status=status,
        form=form,
        reason_form=reason_form,
        visit=visit,
        line=line,
    )


@never_cache
@require_http_methods(["GET", "HEAD", "POST"])
def void_visit(request, study_id: str, pk: int):
    """Void a visit with a reason: it stays on her page, struck, and no longer counts."""
    enrollment = _open(request, study_id, "visit void")
    visit = access.visit_for(request.user, enrollment, pk)
    schedule = blinding.schedule_for(enrollment, request.user)
    (line,) = reports.visit_lines(enrollment, schedule, [visit])
    if visit.voided:
        messages.info(request, f"{enrollment.study_id}: that visit is already voided.")
        return redirect(_patient_page(enrollment))
    form = ReasonForm(request.POST if request.method == "POST" else None)
    if form.is_bound and form.is_valid():
        try:
            rules.void_visit(visit, by=request.user, reason=form.cleaned_data["reason"])
        except ValidationError as error:
            _show_error(form, error)
        else:
            messages.success(
                request, f"{enrollment.study_id}: visit of {visit.visit_date:%Y-%m-%d} voided."
            )
            return redirect(_patient_page(enrollment))
    return _render(
        request,
        "diary/visit_void.html",
        enrollment,
        status=400 if form.is_bound else 200,
        form=form,
        visit=visit,
        line=line,
    )
