"""The figures named on pages are the summaries' own fields: a template that names a
figure that does not exist fails here, not on a physician's screen."""

import re
from dataclasses import fields
from pathlib import Path

from diary.figures.definitions import COHORT_FIGURES, LDN_VS_PLACEBO_FIGURES, PATIENT_FIGURES
from diary.figures.patient_figures import PhaseSummary
from diary.figures.summaries import CohortSummary, LdnVsPlacebo

TEMPLATES = Path(__file__).resolve().parents[2] / "templates"
SUMMARY_FIELDS = {f.name for cls in (PhaseSummary, CohortSummary) for f in fields(cls)}


def test_every_figure_is_a_field_of_its_summary():
    for figures, summary in (
        (PATIENT_FIGURES, PhaseSummary),
        (COHORT_FIGURES, CohortSummary),
        (LDN_VS_PLACEBO_FIGURES, LdnVsPlacebo),
    ):
        names = {f.name for f in fields(summary)}
        assert {figure.name for figure in figures} <= names
        assert len({figure.name for figure in figures}) == len(figures)


def test_templates_name_only_figures_that_exist():
    named = []
    for template in TEMPLATES.rglob("*.html"):
        text = template.read_text(encoding="utf-8")
        # A figure compared by name, a summary row's attribute, a literal attr lookup.
        named += [(template.name, n) for n in re.findall(r'fig\.name == "(\w+)"', text)]
        named += [(template.name, n) for n in re.findall(r"\bcolumn\.(\w+)", text)]
        named += [(template.name, n) for n in re.findall(r'\|attr:"(\w+)"', text)]
    assert named  # the scan finds the summary table's names
    unknown = [(where, name) for where, name in named if name not in SUMMARY_FIELDS]
    assert unknown == []
