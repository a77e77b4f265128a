"""The visit form of the care team's pages and the admin: the measures read as
diary.visits.measures writes them, and the rules of diary.visits.rules."""

from __future__ import annotations

from django import forms
from django.core.exceptions import ValidationError

from diary.visits import rules
from diary.visits.measures import MEASURES
from diary.visits.models import Visit


class MeasureField(forms.CharField):
    """A measure typed as a number with the digits 0-9 (and a point): blank = not
    done; anything else gets the measure's own message (range, decimals)."""

    def __init__(self, measure, **kwargs):
        self.measure = measure
        kwargs.setdefault("required", False)
        kwargs.setdefault("label", f"{measure.label} ({measure.unit})")
        kwargs.setdefault("help_text", f"{measure.range_text}; blank = not done.")
        super().__init__(**kwargs)

    def to_python(self, value):
        value = super().to_python(value)
        try:
            return self.measure.parse(value)
        except ValueError as error:
            raise ValidationError(
                f"{self.measure.label}: {str(error).split(' ', 1)[1]}", code="invalid"
            ) from None

    def prepare_value(self, value):
        if value is None or value == "":
            return ""
        if isinstance(value, str):
            return value
        return self.measure.shown(value)

    def widget_attrs(self, widget):
        attrs = super().widget_attrs(widget)
        attrs.update({"inputmode": "decimal" if self.measure.decimals else "numeric"})
        return attrs


class NotesField(forms.CharField):
    """Notes counted as the reader sees them: a line break is one character, however
    the browser sends it (\r\n), and is stored as \n (as the diary's notes)."""

    def to_python(self, value):
        value = super().to_python(value)
        return value.replace("\r\n", "\n").replace("\r", "\n") if value else value


class VisitForm(forms.ModelForm):
    """A visit's date, measures and notes. `enrollment` is the patient's; the date must
    be one that can hold a visit and have no other counting visit."""

    class Meta:
        model = Visit
        fields = rules.EDITABLE_FIELDS
        field_classes = {"notes": NotesField}
        widgets = {
            "visit_date": forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
            "notes": forms.Textarea(attrs={"rows": 2, "maxlength": 1000}),
        }
        error_messages = {
            "visit_date": {
                "required": "Give the date of the visit (YYYY-MM-DD).",
                "invalid": "Write the visit date as YYYY-MM-DD.",
            }
        }

    def __init__(self, *args, enrollment=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.enrollment = enrollment or getattr(self.instance, "enrollment", None)
        for measure in MEASURES:
            if measure.name in self.fields:
                self.fields[measure.name] = MeasureField(measure)

    def clean(self):
        cleaned = super().clean()
        day = cleaned.get("visit_date")
        if self.enrollment is not None and day is not None and self.checks_date():
            instance = self.instance if self.instance.pk else None
            for problem in rules.visit_problems(self.enrollment, day, instance):
                self.add_error("visit_date", problem[0].upper() + problem[1:] + ".")
        return cleaned

    def checks_date(self) -> bool:
        """Whether the date rules apply: to a new visit and to a correction."""
        return True

    def _post_clean(self):
        # The visit's enrollment is set before the model's own validation runs.
        if self.enrollment is not None and not self.instance.enrollment_id:
            self.instance.enrollment = self.enrollment
        super()._post_clean()

    def values(self) -> dict:
        return {name: self.cleaned_data[name] for name in rules.EDITABLE_FIELDS}


class ReasonForm(forms.Form):
    """Why a visit is corrected or voided (kept in its history)."""

    reason = forms.CharField(
        label="Reason",
        max_length=rules.REASON_MAX,
        help_text="Required; kept in the history with your name and the time.",
        error_messages={"required": "Give a reason; it is kept in the history."},
    )
