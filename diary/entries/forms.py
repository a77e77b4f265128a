"""The daily diary form: the items, questions and scales of docs/domain.md."""

from __future__ import annotations

import datetime as dt
import re

from crispy_forms.bootstrap import InlineRadios
from crispy_forms.helper import FormHelper
from crispy_forms.layout import Field, Layout, Submit
from django import forms
from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils.formats import date_format, time_format
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext_lazy as _

from diary.entries.models import DIARY_ITEMS, DiaryEntry
from diary.trial.dates import validate_timezone, zone_names

YES_NO = [("yes", _("Yes")), ("no", _("No"))]


def to_bool(value: str) -> bool | None:
    return {"yes": True, "no": False}.get(value)


WHOLE_NUMBER = re.compile(r"[0-9]+")


class DigitsIntegerField(forms.IntegerField):
    """A whole number written with the digits 0-9 only: Django's IntegerField reads it
    with int(), which also takes other scripts' digits ("٥", "５"), "+5" and "5.0"."""

    def to_python(self, value):
        if value not in self.empty_values and not WHOLE_NUMBER.fullmatch(str(value).strip()):
            raise ValidationError(self.error_messages["invalid"], code="invalid")
        return super().to_python(value)


class ScaleField(DigitsIntegerField):
    """A low..high rating shown as a row of choices with its anchors written out at
    both ends, answered with the digits 0-9."""

    def __init__(self, *, low: int, high: int, anchors, required_message, range_message, **kw):
        self.anchors = anchors
        super().__init__(
            min_value=low,
            max_value=high,
            error_messages={
                "required": required_message,
                "invalid": range_message,
                "min_value": range_message,
                "max_value": range_message,
            },
            **kw,
        )


class YesNoField(forms.TypedChoiceField):
    def __init__(self, *, required_message, **kwargs):
        super().__init__(
            choices=YES_NO,
            coerce=to_bool,
            empty_value=None,
            widget=forms.RadioSelect,
            error_messages={
                "required": required_message,
                "invalid_choice": _("Answer yes or no."),
            },
            **kwargs,
        )


class NotesField(forms.CharField):
    """Free text counted as the patient sees it: a line break is one character, however
    the browser sends it (\r\n), and is stored as \n."""

    def to_python(self, value):
        value = super().to_python(value)
        return value.replace("\r\n", "\n").replace("\r", "\n") if value else value


def rating_widget(low: int, high: int) -> forms.RadioSelect:
    return forms.RadioSelect(choices=[(i, str(i)) for i in range(low, high + 1)])


def zero_to_ten(label, anchors, required_message, range_message) -> ScaleField:
    """A 0-10 rating (IMMPACT numeric rating scale) as a row of 11 buttons."""
    return ScaleField(
        low=0,
        high=10,
        anchors=anchors,
        label=label,
        required_message=required_message,
        range_message=range_message,
        widget=rating_widget(0, 10),
    )


class DiaryEntryForm(forms.ModelForm):
    """Today's questions (docs/domain.md). dose_taken and tolerability are asked (and
    required) only in ldn/placebo phases; elsewhere they are not shown and stay blank."""

    pain = zero_to_ten(
        _("Your average pain over the last 24 hours"),
        (_("0 = no pain"), _("10 = worst pain imaginable")),
        _("Choose your pain score from 0 to 10."),
        _("Pain must be a whole number between 0 and 10."),
    )
    fatigue = zero_to_ten(
        _("Your average fatigue over the last 24 hours"),
        (_("0 = no fatigue"), _("10 = worst fatigue imaginable")),
        _("Choose your fatigue score from 0 to 10."),
        _("Fatigue must be a whole number between 0 and 10."),
    )
    sleep_quality = zero_to_ten(
        _("How well did you sleep last night?"),
        (_("0 = very poorly"), _("10 = very well")),
        _("Choose your sleep quality score from 0 to 10."),
        _("Sleep quality must be a whole number between 0 and 10."),
    )
    vivid_dreams = YesNoField(
        label=_("Did you have vivid or unusual dreams last night?"),
        required_message=_("Answer yes or no: did you have vivid or unusual dreams?"),
    )
    headache = YesNoField(
        label=_("Did you have a headache today?"),
        required_message=_("Answer yes or no: did you have a headache today?"),
    )
    dose_taken = YesNoField(
        label=_("Did you take today's study capsule?"),
        required_message=_("Answer yes or no: did you take today's study capsule?"),
    )
    tolerability = ScaleField(
        low=0,
        high=100,
        anchors=(_("0 = not at all"), _("100 = perfectly")),
        label=_("How well are you tolerating the study capsules? (0 to 100)"),
        required_message=_("Choose your tolerability score from 0 to 100."),
        range_message=_("Tolerability must be a whole number between 0 and 100."),
        widget=forms.NumberInput(
            attrs={"min": 0, "max": 100, "step": 1, "inputmode": "numeric", "class": "w-auto"}
        ),
    )
    notes = NotesField(
        label=_("Anything else (side effects, events)?"),
        required=False,
        max_length=1000,
        widget=forms.Textarea(attrs={"rows": 3, "maxlength": 1000}),
        error_messages={
            "max_length": _(
                "Notes can be at most %(limit_value)d characters "
                "(you wrote %(show_value)d); please shorten them."
            )
        },
    )

    # A past day's questions name that day instead of "today" and "last night".
    PAST_DAY_LABELS = {
        "pain": _("Your average pain on %(day)s"),
        "fatigue": _("Your average fatigue on %(day)s"),
        "sleep_quality": _("How well did you sleep the night before %(day)s?"),
        "vivid_dreams": _("Did you have vivid or unusual dreams the night before %(day)s?"),
        "headache": _("Did you have a headache on %(day)s?"),
        "dose_taken": _("Did you take the study capsule on %(day)s?"),
    }
    PAST_DAY_REQUIRED = {
        "vivid_dreams": _(
            "Answer yes or no: did you have vivid or unusual dreams the night before %(day)s?"
        ),
        "headache": _("Answer yes or no: did you have a headache on %(day)s?"),
        "dose_taken": _("Answer yes or no: did you take the study capsule on %(day)s?"),
    }

    class Meta:
        model = DiaryEntry
        fields = DIARY_ITEMS

    def __init__(
        self,
        *args,
        treatment_phase: bool,
        action: str,
        submit_label: str = "Save",
        past_day: dt.date | None = None,
        **kwargs,
    ):
        super().__init__(*args, **kwargs)
        if not treatment_phase:
            del self.fields["dose_taken"]
            del self.fields["tolerability"]
        if past_day is not None:
            named = {"day": date_format(past_day, "QUESTION_DAY_FORMAT")}
            for name, label in self.PAST_DAY_LABELS.items():
                if name in self.fields:
                    self.fields[name].label = label % named
            for name, message in self.PAST_DAY_REQUIRED.items():
                if name in self.fields:
                    self.fields[name].error_messages["required"] = message % named
        for name in ("vivid_dreams", "headache", "dose_taken"):
            if name in self.fields and self.instance.pk and not self.is_bound:
                value = getattr(self.instance, name)
                self.initial[name] = {True: "yes", False: "no"}.get(value)
        for field in self.fields.values():
            if isinstance(field, ScaleField):
                # The two anchors sit under the two ends of the row.
                field.help_text = format_html(
                    '<span class="anchor">{}</span> <span class="anchor">{}</span>',
                    *field.anchors,
                )
        self.helper = FormHelper()
        self.helper.form_class = "diary-form"
        self.helper.form_action = action
        # The server's messages say what to fix; the browser's bubbles would point at
        # visually hidden radios.
        self.helper.attrs = {"novalidate": ""}
        self.helper.layout = Layout(
            *(self._item(name, field) for name, field in self.fields.items())
        )
        self.helper.add_input(Submit("save", submit_label, css_class="btn-lg w-100"))

    @staticmethod
    def _item(name, field):
        if not isinstance(field.widget, forms.RadioSelect):
            return Field(name)
        kind = "item-scale" if isinstance(field, ScaleField) else "item-yesno"
        return InlineRadios(name, wrapper_class=kind)

    def _post_clean(self):
        super()._post_clean()
        # Outside treatment phases these items are not asked and must stay blank.
        if "dose_taken" not in self.fields:
            self.instance.dose_taken = None
            self.instance.tolerability = None


class ZoneNameInput(forms.TextInput):
    """A text box that suggests the IANA time zone names as she types (a datalist)."""

    def render(self, name, value, attrs=None, renderer=None):
        list_id = f"{name}-names"
        attrs = {**(attrs or {}), "list": list_id, "autocomplete": "off", "spellcheck": "false"}
        options = format_html_join("", '<option value="{}">', ((zone,) for zone in zone_names()))
        return super().render(name, value, attrs, renderer) + format_html(
            '<datalist id="{}">{}</datalist>', list_id, options
        )


class ReminderSettingsForm(forms.Form):
    """The patient's own settings: her time zone, her daily reminder time (in her time
    zone) and the language of her diary and e-mails."""

    timezone = forms.CharField(
        label=_("Time zone"),
        max_length=64,
        required=False,  # blank: unchanged
        widget=ZoneNameInput,
        help_text=_(
            "Your diary day follows this time zone. When you travel, change it: the new "
            "zone counts from your next diary day, and today and earlier days keep theirs."
        ),
    )

    reminder_time = forms.TypedChoiceField(
        label=_("Daily reminder e-mail"),
        required=False,
        coerce=dt.time.fromisoformat,
        empty_value=None,
        error_messages={"invalid_choice": _("Choose a time from the list, or no reminders.")},
    )
    language = forms.ChoiceField(
        label=_("Language"),
        choices=settings.LANGUAGES,
        error_messages={"invalid_choice": _("Choose English or Spanish.")},
    )

    def __init__(self, *args, enrollment, **kwargs):
        super().__init__(*args, **kwargs)
        self.helper = FormHelper()
        self.helper.add_input(Submit("save", _("Save settings"), css_class="btn-lg w-100"))
        if enrollment.has_ended:
            # Reminders go to active enrollments only (entries.reminders): once the
            # study has ended for her, none is offered, and none can be turned on.
            # Her days are closed too: they keep their time zone.
            del self.fields["reminder_time"]
            del self.fields["timezone"]
            return
        times = [dt.time(hour, minute) for hour in range(5, 24) for minute in (0, 30)]
        current = enrollment.reminder_time
        if current and current not in times:
            times = sorted([*times, current])
        self.fields["reminder_time"].choices = [
            ("", _("No reminders")),
            *((t.isoformat("minutes"), time_format(t)) for t in times),
        ]
        self.fields["reminder_time"].help_text = _(
            "Sent at this time in your time zone (%(zone)s), only on days you have not "
            "filled in yet."
        ) % {"zone": enrollment.zone_at()}

    def clean_timezone(self):
        zone = self.cleaned_data["timezone"].strip()
        if not zone:
            return zone
        try:
            validate_timezone(zone)
        except ValidationError:
            raise ValidationError(
                _(
                    "“%(zone)s” is not a time zone name we know. Pick one from the list, "
                    "e.g. America/Los_Angeles or Asia/Tokyo."
                ),
                code="unknown_zone",
                params={"zone": zone},
            ) from None
        return zone
