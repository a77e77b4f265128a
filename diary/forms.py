"""The daily diary form: the items, questions and scales of DOMAIN.md."""

from __future__ import annotations

from crispy_forms.bootstrap import InlineRadios
from crispy_forms.helper import FormHelper
from crispy_forms.layout import Field, Layout, Submit
from django import forms

from diary.models import DIARY_ITEMS, DiaryEntry, Protocol, Role, User

YES_NO = [("yes", "Yes"), ("no", "No")]


def to_bool(value: str) -> bool | None:
    return {"yes": True, "no": False}.get(value)


class ScaleField(forms.IntegerField):
    """A 0..N rating shown as a row of choices with its anchors written out."""

    def __init__(self, *, name: str, low: int, high: int, anchors: tuple[str, str], **kwargs):
        self.anchors = anchors
        message = f"{name} must be a whole number between {low} and {high}."
        super().__init__(
            min_value=low,
            max_value=high,
            error_messages={
                "required": f"Choose your {name.lower()} score from {low} to {high}.",
                "invalid": message,
                "min_value": message,
                "max_value": message,
            },
            **kwargs,
        )


class YesNoField(forms.TypedChoiceField):
    def __init__(self, *, required_message: str, **kwargs):
        super().__init__(
            choices=YES_NO,
            coerce=to_bool,
            empty_value=None,
            widget=forms.RadioSelect,
            error_messages={
                "required": required_message,
                "invalid_choice": "Answer yes or no.",
            },
            **kwargs,
        )


def rating_widget(low: int, high: int) -> forms.RadioSelect:
    return forms.RadioSelect(
        choices=[(i, str(i)) for i in range(low, high + 1)], attrs={"class": "scale"}
    )


class DiaryEntryForm(forms.ModelForm):
    """Today's questions. dose_taken and tolerability are asked (and required) only in
    ldn/placebo phases; elsewhere they are not shown and stay blank."""

    pain = ScaleField(
        name="Pain",
        low=0,
        high=10,
        anchors=("0 = no pain", "10 = worst pain imaginable"),
        label="Your average pain over the last 24 hours",
        widget=rating_widget(0, 10),
    )
    fatigue = ScaleField(
        name="Fatigue",
        low=0,
        high=10,
        anchors=("0 = no fatigue", "10 = worst fatigue imaginable"),
        label="Your average fatigue over the last 24 hours",
        widget=rating_widget(0, 10),
    )
    sleep_quality = ScaleField(
        name="Sleep quality",
        low=0,
        high=10,
        anchors=("0 = very poorly", "10 = very well"),
        label="How well did you sleep last night?",
        widget=rating_widget(0, 10),
    )
    vivid_dreams = YesNoField(
        label="Did you have vivid or unusual dreams last night?",
        required_message="Answer yes or no: did you have vivid or unusual dreams?",
    )
    headache = YesNoField(
        label="Did you have a headache today?",
        required_message="Answer yes or no: did you have a headache today?",
    )
    dose_taken = YesNoField(
        label="Did you take today's study capsule?",
        required_message="Answer yes or no: did you take today's study capsule?",
    )
    tolerability = ScaleField(
        name="Tolerability",
        low=0,
        high=100,
        anchors=("0 = not at all", "100 = perfectly"),
        label="How well are you tolerating the study capsules? (0 to 100)",
        widget=forms.NumberInput(attrs={"min": 0, "max": 100, "step": 1, "inputmode": "numeric"}),
    )
    notes = forms.CharField(
        label="Anything else (side effects, events)?",
        required=False,
        max_length=1000,
        widget=forms.Textarea(attrs={"rows": 3, "maxlength": 1000}),
        error_messages={
            "max_length": "Notes can be at most %(limit_value)d characters "
            "(you wrote %(show_value)d); please shorten them."
        },
    )

    class Meta:
        model = DiaryEntry
        fields = DIARY_ITEMS

    def __init__(
        self, *args, treatment_phase: bool, action: str, submit_label: str = "Save", **kwargs
    ):
        super().__init__(*args, **kwargs)
        if not treatment_phase:
            del self.fields["dose_taken"]
            del self.fields["tolerability"]
        for name in ("vivid_dreams", "headache", "dose_taken"):
            if name in self.fields and self.instance.pk and not self.is_bound:
                value = getattr(self.instance, name)
                self.initial[name] = {True: "yes", False: "no"}.get(value)
        for field in self.fields.values():
            if isinstance(field, ScaleField):
                field.help_text = " · ".join(field.anchors)
        self.helper = FormHelper()
        self.helper.form_class = "diary-form"
        self.helper.form_action = action
        # The server's messages say what to fix; the browser's bubbles would point at
        # visually hidden radios.
        self.helper.attrs = {"novalidate": ""}
        self.helper.layout = Layout(
            *(
                InlineRadios(name) if isinstance(field.widget, forms.RadioSelect) else Field(name)
                for name, field in self.fields.items()
            )
        )
        self.helper.add_input(Submit("save", submit_label, css_class="btn-lg w-100"))

    def _post_clean(self):
        super()._post_clean()
        # Outside treatment phases these items are not asked and must stay blank.
        if "dose_taken" not in self.fields:
            self.instance.dose_taken = None
            self.instance.tolerability = None


class CohortFilterForm(forms.Form):
    """Which enrollments the cohort page summarizes; physicians only see their own."""

    protocol = forms.ModelChoiceField(
        queryset=Protocol.objects.all(),
        to_field_name="slug",
        required=False,
        empty_label="All protocols",
    )
    physician = forms.ModelChoiceField(
        queryset=User.objects.filter(role=Role.PHYSICIAN).order_by("username"),
        to_field_name="username",
        required=False,
        empty_label="All physicians",
    )
    as_of = forms.DateField(
        required=False,
        label="As of",
        widget=forms.DateInput(attrs={"type": "date"}),
        error_messages={"invalid": "Enter the as-of date as YYYY-MM-DD."},
        help_text="Blank = today.",
    )

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        if not user.is_coordinator:
            del self.fields["physician"]
        self.helper = FormHelper()
        self.helper.form_method = "get"
        self.helper.form_class = "row row-cols-md-auto g-2 align-items-end mb-3"
        self.helper.add_input(Submit("", "Show", css_class="btn-secondary"))


class ExportForm(forms.Form):
    """What a coordinator downloads."""

    WHAT = [
        ("entries.csv", "Diary entries (CSV, one row per entry)"),
        ("summaries.csv", "Summaries (CSV, one decimal)"),
        ("summaries.json", "Summaries (JSON)"),
    ]

    what = forms.ChoiceField(choices=WHAT, label="File", initial="entries.csv")
    protocol = forms.ModelChoiceField(
        queryset=Protocol.objects.all(),
        to_field_name="slug",
        required=False,
        empty_label="All protocols",
    )
    as_of = forms.DateField(
        required=False,
        label="Summaries as of",
        widget=forms.DateInput(attrs={"type": "date"}),
        error_messages={"invalid": "Enter the as-of date as YYYY-MM-DD."},
        help_text="Blank = today.",
    )
    unblinded = forms.BooleanField(
        required=False,
        label="Unblinded: show arms and treatment names of still-blinded protocols "
        "(recorded in the audit trail)",
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.helper = FormHelper()
        self.helper.form_method = "get"
        self.helper.add_input(Submit("", "Download"))
