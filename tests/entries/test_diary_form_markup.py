"""The diary form's questions are written by diary/_question.html (crispy-forms'
templates took a third of the diary page's time). They must stay the markup crispy-forms'
Bootstrap 5 pack gives the same form: ids, classes, ARIA, errors, escaping. Compared
after normalising what does not matter (white space, attribute order) and the two
things left out on purpose (crispy's empty `for=""` on a legend, an empty class)."""

import datetime as dt
import re

import pytest
from django.template import engines

from diary.entries.forms import DiaryEntryForm
from tests.factories import EnrollmentFactory, EntryFactory

PAST_DAY = dt.date(2026, 3, 9)


def normalised(html: str) -> str:
    html = re.sub(r"\s+", " ", html)
    html = re.sub(r" ?([<>]) ?", r"\1", html)
    html = html.replace(' for=""', "").replace('class=" ', 'class="').replace(' class=""', "")

    def sorted_attributes(match):
        name, rest = match.group(1), match.group(2)
        attributes = sorted(re.findall(r'([\w-]+)(?:="([^"]*)")?', rest))
        return "<" + " ".join([name, *(f'{a}="{v}"' for a, v in attributes)]) + ">"

    return re.sub(r"<(\w+)([^<>]*)>", sorted_attributes, html)


def by_crispy(form) -> str:
    template = engines["django"].from_string("{% load crispy_forms_tags %}{% crispy form %}")
    return template.render({"form": form})


def by_us(form) -> str:
    template = engines["django"].get_template("diary/_entry_fields.html")
    return template.render({"form": form})


CASES = {
    "today, blank": ({}, None),
    "outside treatment": ({"treatment_phase": False}, None),
    "a past day": ({"past_day": PAST_DAY}, None),
    "sent with errors": (
        {},
        {"pain": "11", "tolerability": "abc", "notes": "x" * 1001 + "<b>"},
    ),
    "sent, valid": (
        {},
        {
            "pain": "3",
            "fatigue": "2",
            "sleep_quality": "1",
            "vivid_dreams": "yes",
            "headache": "no",
            "dose_taken": "yes",
            "tolerability": "50",
            "notes": 'a "q" <i>',
        },
    ),
    "a stored entry": ({"stored": True}, None),
}


@pytest.mark.django_db
@pytest.mark.parametrize("case", CASES)
def test_the_questions_are_the_markup_crispy_forms_gives(case):
    options, data = CASES[case]
    options = dict(options)
    entry = None
    if options.pop("stored", False):
        entry = EntryFactory(
            enrollment=EnrollmentFactory(),
            date=PAST_DAY,
            notes='<script>"x"</script>',
            tolerability=40,
            dose_taken=False,
        )

    def form():
        # crispy-forms writes its classes into the widgets: each renderer gets its own.
        made = DiaryEntryForm(
            data,
            instance=entry,
            treatment_phase=options.get("treatment_phase", True),
            action="/diary/2026-03-10/",
            submit_label="Save today's entry",
            past_day=options.get("past_day"),
        )
        if data is not None:
            made.is_valid()
        return made

    assert normalised(by_us(form())) == normalised(by_crispy(form()))
