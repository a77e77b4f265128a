"""The patient's own pages: her diary day (today or a past day, read and saved), her
history, her reminder and language settings, and the link of a reminder e-mail."""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_not_required
from django.http import HttpResponseBadRequest
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import translation
from django.utils.formats import date_format, time_format
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt

from diary import access
from diary.entries import reminders, window
from diary.entries.forms import DiaryEntryForm, ReminderSettingsForm
from diary.entries.models import EntryRefused
from diary.figures import charts
from diary.figures.overview import current_span, days_recorded, history_days, last_week
from diary.figures.patient_figures import summarize_enrollment
from diary.queries.rules import open_questions
from diary.trial import blinding, travel
from diary.trial.locks import patient_lock_message
from diary.trial.models import default_reminder_time
from diary.views.site import remember_language

ENTRY_FIELDS = DiaryEntryForm.Meta.fields


@never_cache
@access.own_diary
def today(request, enrollment):
    today = enrollment.local_today()
    return _entry_page(request, enrollment, today, today)


@never_cache
@access.own_diary
def day(request, enrollment, day: dt.date):
    today = enrollment.local_today()
    if request.method == "GET" and day == today:
        return redirect("diary:today")
    return _entry_page(request, enrollment, day, today)


def _entry_page(request, enrollment, day: dt.date, today: dt.date):
    # `today` is read once per request: her "day N", strip, trend and entry window all
    # take the same day, even across her midnight.
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
    voided = entry is None and any(e.date == day and e.voided for e in entries)
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
        "voided": voided,
        "refusal": refusal,
        "ended": enrollment.has_ended,
        "form": None,
        "questions": open_questions(enrollment) if not saving else 0,
        "locked": patient_lock_message(enrollment) if enrollment.has_ended else None,
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
            summary = summarize_enrollment(enrollment, today, request.user)
            context["measures"] = charts.measure_trends(enrollment, days, today, schedule, summary)
        return render(request, "diary/entry_form.html", context, status=status)

    def refused_page(why: str):
        # A save the window refuses throws nothing away: the page says once why, shows
        # her answers again and, when today is open and is another day, offers to save
        # them for today (never saved there without her asking).
        context["refusal"] = why
        context["refused_message"] = _("Nothing was saved. %(why)s") % {"why": why}
        context.update(_kept_answers(request.POST, enrollment, schedule, day, today, span))
        return render_page(status=403)

    if saving and request.FILES:
        # Diary posts carry no files: a file sent with the form is refused, never
        # dropped silently, and nothing of the post is saved.
        return HttpResponseBadRequest(
            _("Nothing was saved: the diary takes no files. Send the form without a file."),
            content_type="text/plain; charset=utf-8",
        )
    if refusal:
        return refused_page(refusal) if saving else render_page()

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
            # The window closed between opening the page and this save.
            return refused_page(str(refused))
        messages.add_message(request, *_saved_message(day, today, changed, entry is not None))
        return redirect("diary:day", day) if not is_today else redirect("diary:today")
    if saving:
        messages.error(request, _("Nothing was saved yet: please fix the answers marked below."))
    context["form"] = form
    return render_page(status=400 if form.errors else 200)


def _kept_answers(data, enrollment, schedule, day: dt.date, today: dt.date, span) -> dict:
    """Her refused answers, shown again as the form she sent: for today, when today is
    open and is not the refused day (the form then posts to today, with today's
    questions), or else read only, with no button."""
    answers = {name: data[name] for name in ENTRY_FIELDS if data.get(name, "") != ""}
    if day != today and window.patient_refusal(enrollment, today, today) is None:
        today_span = current_span(enrollment, schedule, today)
        form = DiaryEntryForm(
            initial=answers,
            treatment_phase=today_span.is_treatment,
            submit_label=_("Save these answers for today"),
            action=reverse("diary:day", args=[today]),
        )
        replaces = enrollment.entries.counting().filter(date=today).exists()
        return {"form": form, "offer_today": True, "offer_replaces": replaces}
    treatment = (
        span.is_treatment
        if span
        else any(name in answers for name in ("dose_taken", "tolerability"))
    )
    form = DiaryEntryForm(
        initial=answers,
        treatment_phase=treatment,
        action=reverse("diary:day", args=[day]),
        past_day=None if day == today else day,
    )
    form.helper.inputs = []  # nothing to save to: her answers are shown, not sent
    return {"form": form, "offer_today": False}


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
    """Her time zone, reminder time and language, changed by herself."""
    initial = {
        "timezone": enrollment.timezone,
        "reminder_time": enrollment.reminder_time and enrollment.reminder_time.isoformat("minutes"),
        "language": translation.get_language(),
    }
    form = ReminderSettingsForm(
        request.POST if request.method == "POST" else None, initial=initial, enrollment=enrollment
    )
    if request.method == "POST" and form.is_valid():
        # A read-only enrollment's form has no time zone and no reminder time: her
        # days keep their zone, and nothing turns reminders on.
        zone = form.cleaned_data.get("timezone")
        zone_change = None
        if zone and zone != enrollment.timezone:
            zone_change = travel.change_zone(
                enrollment,
                zone,
                by=request.user,
                reason="Time zone changed by the patient (diary settings)",
            )
        if "reminder_time" in form.cleaned_data:
            time = form.cleaned_data["reminder_time"]
            if time != enrollment.reminder_time or enrollment.reminders_paused_until:
                reminders.set_time(enrollment, time, how="diary settings")
        language = form.cleaned_data["language"]
        response = redirect("diary:settings")
        remember_language(request, response, language)
        with translation.override(language):
            messages.success(request, _("Your settings are saved."))
            if zone_change is not None:
                messages.info(request, _zone_message(enrollment, zone_change.starts_day))
        return response
    context = {
        "enrollment": enrollment,
        "form": form,
        "today": enrollment.local_today(),
        "zone_now": enrollment.zone_at(),
        "zone_from": _pending_zone_day(enrollment),
    }
    return render(request, "diary/settings.html", context, status=400 if form.errors else 200)


def _zone_message(enrollment, first_day: dt.date) -> str:
    return _("Your diary follows %(zone)s from %(day)s on; today keeps its time zone.") % {
        "zone": enrollment.timezone,
        "day": date_format(first_day, "DIARY_DAY_FORMAT"),
    }


def _pending_zone_day(enrollment) -> dt.date | None:
    """The first day of the zone she chose, while it is still to come."""
    changes = enrollment.zone_changes
    if changes and enrollment.zone_at() != enrollment.timezone:
        return dt.date.fromisoformat(changes[-1]["starts_day"])
    return None


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
