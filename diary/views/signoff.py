"""The phase review page: what a signature covers, the phase's signatures, and for her
own physician the signature form (diary.signoff.signing holds every rule)."""

from __future__ import annotations

from django.contrib import messages
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from diary import access
from diary.files import reports
from diary.signoff import signing
from diary.signoff.forms import SignatureForm
from diary.signoff.states import signature_states
from diary.trial import blinding
from diary.trial.locks import lock_problem


@never_cache
@require_http_methods(["GET", "HEAD", "POST"])
def phase_review(request, study_id: str, order: int):
    access.require_clinician(request.user)
    enrollment = access.enrollment_for(request.user, study_id)
    access.record_access(request.user, "phase review", study_id=enrollment.study_id)
    phase = signing.signing_phase(enrollment, request.user, order)
    if phase is None:
        raise Http404("No such phase.")
    cannot = (
        signing.who_may_sign_problem(enrollment, request.user)
        or lock_problem(enrollment)
        or signing.phase_problem(enrollment, phase)
    )
    form = SignatureForm(request.POST or None) if cannot is None else None
    status = 200
    if request.method == "POST":
        if cannot is not None:
            messages.error(request, f"Nothing was signed: {cannot}")
            status = 400
        elif form.is_valid():
            try:
                signature = signing.sign_phase(
                    enrollment,
                    request.user,
                    order,
                    password=form.cleaned_data["password"],
                    otp_token=form.cleaned_data["otp_token"],
                    meaning=form.cleaned_data["meaning"],
                    request=request,
                )
            except signing.SignatureRefused as refusal:
                form.add_error(None, refusal.messages[0])
                status = 400
            else:
                messages.success(
                    request,
                    f"{phase.label} of {enrollment.study_id} is signed "
                    f"({signature.meaning}); SHA-256 {signature.content_sha256}.",
                )
                return redirect(
                    reverse("diary:patient_detail", args=[enrollment.study_id]) + "#signatures"
                )
        else:
            status = 400
    content = signing.shown_content(enrollment, phase, request.user)
    schedule = blinding.schedule_for(enrollment, request.user)
    state = next(
        s
        for s in signature_states(enrollment, schedule, enrollment.local_today())
        if s.phase.order == order
    )
    context = {
        "enrollment": enrollment,
        "phase": phase,
        "content": content,
        "visits": reports.visit_lines(
            enrollment, schedule, signing.review.phase_visits(enrollment, phase)
        ),
        "state": state,
        "form": form,
        "cannot": cannot,
        "back_url": reverse("diary:patient_detail", args=[enrollment.study_id]) + "#signatures",
    }
    return render(request, "diary/phase_review.html", context, status=status)
