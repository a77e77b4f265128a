"""The diary items as they are asked, for the files that describe them (the codebook,
the FHIR Questionnaire): each item's question, kind of answer and range come from the
diary form and the model, which define them."""

from __future__ import annotations

from django.core.validators import MaxValueValidator, MinValueValidator
from django.utils import translation

from diary.entries.forms import DiaryEntryForm, ScaleField, YesNoField
from diary.entries.models import TREATMENT_ONLY_ITEMS, DiaryEntry

SCALE, YES_NO, TEXT = "scale", "yes/no", "text"


def question(name: str) -> str:
    """The question of item `name` as the diary asks it today, in English."""
    with translation.override("en"):
        return str(DiaryEntryForm.base_fields[name].label)


def anchors(name: str) -> list[str]:
    """The words at the ends of a scale ("0 = no pain", "10 = worst pain imaginable")."""
    with translation.override("en"):
        return [str(anchor) for anchor in getattr(DiaryEntryForm.base_fields[name], "anchors", ())]


def kind(name: str) -> str:
    field = DiaryEntryForm.base_fields[name]
    if isinstance(field, ScaleField):
        return SCALE
    if isinstance(field, YesNoField):
        return YES_NO
    return TEXT


def score_range(name: str) -> tuple[int, int]:
    """The lowest and highest score of a scale item (the model's validators)."""
    validators = DiaryEntry._meta.get_field(name).validators
    low = next(v.limit_value for v in validators if isinstance(v, MinValueValidator))
    high = next(v.limit_value for v in validators if isinstance(v, MaxValueValidator))
    return low, high


def max_length(name: str) -> int | None:
    return DiaryEntry._meta.get_field(name).max_length


def always_asked(name: str) -> bool:
    """Asked every diary day and required (the others only in treatment phases, or
    optional)."""
    return name not in TREATMENT_ONLY_ITEMS and DiaryEntryForm.base_fields[name].required
