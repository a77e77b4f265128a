"""The codebook's rows for the clinic visits file and the clinic measures' summary
figures: units, types and ranges come from diary.visits.measures."""

import pytest

from diary.figures.definitions import COHORT_FIGURES, LDN_VS_PLACEBO_FIGURES, PATIENT_FIGURES
from diary.files.codebook import codebook, summary_columns, visit_columns
from diary.files.exports import SUMMARY_COLUMNS
from diary.files.visit_exports import VISIT_COLUMNS
from diary.visits.measures import MEASURES

UNITS = {"esr": "mm/h", "pressure_threshold": "kg/cm2", "heat_threshold": "°C"}


def rows(file):
    return {row.name: row for row in codebook() if row.file == file}


def test_every_visits_column_has_one_row_in_file_order():
    assert [row.name for row in visit_columns()] == VISIT_COLUMNS
    assert {row.file for row in visit_columns()} == {"visits"}
    assert len(rows("visits")) == len(VISIT_COLUMNS)


def test_visit_measures_have_their_unit_type_range_and_definition():
    visits = rows("visits")
    esr = visits["esr"]
    assert (esr.type, esr.values, esr.unit) == ("integer", "0 to 150", "mm/h")
    assert "LOINC 4537-7" in esr.definition and "Westergren" in esr.definition
    assert "blank = not done" in esr.when
    pressure = visits["pressure_threshold"]
    assert (pressure.type, pressure.unit) == ("decimal", "kg/cm2")
    assert pressure.values == "0.0 to 15.0, one decimal"
    heat = visits["heat_threshold"]
    assert (heat.type, heat.values, heat.unit) == ("decimal", "30.0 to 52.0, one decimal", "°C")
    assert visits["study_day"].unit == "days"
    assert "first phase" in visits["phase"].when
    assert visits["source"].values == "staff (Entered by staff), import (Imported)"
    assert visits["voided"].values == "yes, no"


def test_every_summary_column_has_a_codebook_row_and_measure_figures_their_units():
    summaries = rows("summaries")
    assert set(SUMMARY_COLUMNS) <= set(summaries)
    assert [row.name for row in summary_columns()] == SUMMARY_COLUMNS
    figures = {f.name for f in (*PATIENT_FIGURES, *COHORT_FIGURES, *LDN_VS_PLACEBO_FIGURES)}
    measure_figures = {name for name in figures if any(name.startswith(m.name) for m in MEASURES)}
    assert {"esr", "esr_change", "esr_mean", "heat_threshold_change_placebo"} <= measure_figures
    for name in measure_figures:
        row = summaries[name]
        if name.endswith("_patients"):
            assert (row.unit, row.type) == ("count", "integer"), row
        else:
            unit = next(u for m, u in UNITS.items() if name.startswith(m))
            assert row.unit == unit, row
            assert row.values, row


@pytest.mark.parametrize(
    ("name", "kind", "values"),
    [
        ("esr", "integer", "0 to 150"),
        ("esr_change", "integer", "-150 to 150; positive = higher than at baseline"),
        ("esr_mean", "decimal", "0 to 150"),
        ("pressure_threshold", "decimal", "0.0 to 15.0"),
        ("pressure_threshold_change_ldn", "decimal", "-15.0 to 15.0"),
        ("heat_threshold_change_mean", "decimal", "-22.0 to 22.0"),
    ],
)
def test_measure_figures_have_the_type_and_range_of_their_values(name, kind, values):
    row = rows("summaries")[name]
    assert row.type == kind
    assert row.values.startswith(values)


def test_pain_figures_keep_their_units():
    summaries = rows("summaries")
    assert (summaries["pain_mean"].unit, summaries["pain_mean"].values) == ("points", "0 to 10")
    assert summaries["compliance_pct"].unit == "%"
    assert summaries["patients"].unit == "count"


def test_the_esr_response_section_and_its_correlations_are_described():
    summaries = rows("summaries")
    for name in ("spearman_rho", "pearson_r"):
        assert name in SUMMARY_COLUMNS
        assert (summaries[name].type, summaries[name].values) == ("decimal", "-1 to 1")
        assert summaries[name].unit == ""
        assert "Only in files that show the arms." in summaries[name].when
    assert "esr_response" in summaries["section"].values
    assert "esr_response:" in summaries["patients"].definition
