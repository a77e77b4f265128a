"""The forms of the query pages: raise, answer, close, reopen, and the list's filters."""

from django import forms
from django.utils.translation import gettext_lazy as _

from diary.queries.models import QUERY_TEXT_MAX, QueryStatus, QueryTarget

NEVER_TREATMENT = (
    "The patient and blinded staff read this: never mention treatment, dose or arm. At "
    "most 1,000 characters."
)


def _area(rows=3):
    return forms.Textarea(attrs={"rows": rows, "maxlength": QUERY_TEXT_MAX})


def _too_long(what):
    return {"max_length": f"{what} is too long: keep it to {QUERY_TEXT_MAX} characters."}


class RaiseQueryForm(forms.Form):
    text = forms.CharField(
        label="Question",
        max_length=QUERY_TEXT_MAX,
        widget=_area(4),
        help_text=NEVER_TREATMENT,
        error_messages={"required": "Write the question.", **_too_long("The question")},
    )


class AnswerForm(forms.Form):
    answer = forms.CharField(
        label=_("Your answer"),
        max_length=QUERY_TEXT_MAX,
        widget=_area(4),
        error_messages={
            "required": _("Write your answer."),
            "max_length": _("Your answer is too long: keep it to 1000 characters."),
        },
    )


class StaffAnswerForm(forms.Form):
    answer = forms.CharField(
        label="Answer",
        max_length=QUERY_TEXT_MAX,
        widget=_area(),
        help_text=NEVER_TREATMENT,
        error_messages={"required": "Write the answer.", **_too_long("The answer")},
    )


class CloseForm(forms.Form):
    note = forms.CharField(
        label="Closing note",
        max_length=QUERY_TEXT_MAX,
        widget=_area(),
        help_text="How it was resolved. Kept in the audit trail. " + NEVER_TREATMENT,
        error_messages={"required": "Write a closing note.", **_too_long("The note")},
    )


class ReopenForm(forms.Form):
    reason = forms.CharField(
        label="Reason for reopening",
        max_length=QUERY_TEXT_MAX,
        widget=_area(),
        error_messages={"required": "Give the reason for reopening it.", **_too_long("The reason")},
    )


class QueryFilterForm(forms.Form):
    status = forms.ChoiceField(
        required=False,
        choices=[("", "Not closed"), ("all", "All"), *QueryStatus.choices],
    )
    q = forms.CharField(required=False, max_length=50, label="Study ID")
    physician = forms.CharField(required=False, max_length=150, label="Physician (login)")
    target = forms.ChoiceField(required=False, choices=[("", "Any"), *QueryTarget.choices])
    page = forms.IntegerField(required=False, min_value=1, max_value=100_000)
