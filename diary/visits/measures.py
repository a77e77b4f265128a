"""The measures of a clinic visit: the one list that the model, the forms, the import,
the exports, FHIR and the codebook read (docs/domain.md, "Clinic visits and measures")."""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation


@dataclass(frozen=True)
class Measure:
    name: str  # the field and the column
    label: str  # short, for tables and charts
    description: str  # what it is and how it is taken
    unit: str  # as readers write it
    ucum: str  # the UCUM code of the unit (FHIR)
    low: Decimal
    high: Decimal
    decimals: int  # 0: a whole number; 1: one decimal
    loinc: str = ""  # its LOINC code, where it has one
    higher_is: str = ""  # what a higher value means, for readers

    @property
    def range_text(self) -> str:
        return f"{self.shown(self.low)} to {self.shown(self.high)} {self.unit}"

    @property
    def kind_text(self) -> str:
        return "a whole number" if self.decimals == 0 else "a number with one decimal"

    def shown(self, value) -> str:
        """`value` written as the measure is recorded (no decimals or one)."""
        if value is None:
            return ""
        return f"{Decimal(str(value)):.{self.decimals}f}"

    def problem(self, value: Decimal) -> str | None:
        """Why `value` (a number already read) is not a valid reading, or None."""
        if not self.low <= value <= self.high:
            return f"{self.name} {value} is out of range: {self.kind_text} from {self.range_text}"
        if value != value.quantize(Decimal(1).scaleb(-self.decimals)):
            places = "no decimals" if self.decimals == 0 else "at most one decimal"
            return f"{self.name} {value} has too many decimals: write it with {places}"
        return None

    def parse(self, cell: str) -> int | Decimal | None:
        """A cell of a file: blank = not done (None); else the value or ValueError with
        a message naming the measure."""
        cell = cell.strip()
        if not cell:
            return None
        if not NUMBER.fullmatch(cell):
            raise ValueError(
                f'{self.name} "{cell}" is not a number: write {self.kind_text} from '
                f"{self.range_text} with the digits 0-9 and a point, or leave it blank "
                "(not done)"
            )
        try:
            value = Decimal(cell)
        except InvalidOperation:  # pragma: no cover - the pattern lets only numbers by
            raise ValueError(f'{self.name} "{cell}" is not a number') from None
        problem = self.problem(value)
        if problem:
            raise ValueError(problem)
        return int(value) if self.decimals == 0 else value.quantize(Decimal("0.1"))


NUMBER = re.compile(r"[0-9]{1,4}(\.[0-9]{1,4})?", re.ASCII)

MEASURES = [
    Measure(
        "esr",
        "ESR",
        "Erythrocyte sedimentation rate, Westergren method",
        "mm/h",
        "mm/h",
        Decimal(0),
        Decimal(150),
        0,
        loinc="4537-7",
        higher_is="more inflammation",
    ),
    Measure(
        "pressure_threshold",
        "Pressure pain threshold",
        "Mechanical pain threshold by pressure algometry, mean of the sites tested",
        "kg/cm2",
        "kg/cm2",
        Decimal("0.0"),
        Decimal("15.0"),
        1,
        higher_is="less sensitive to pain",
    ),
    Measure(
        "heat_threshold",
        "Heat pain threshold",
        "Heat pain threshold by thermode",
        "°C",
        "Cel",
        Decimal("30.0"),
        Decimal("52.0"),
        1,
        higher_is="less sensitive to pain",
    ),
]
MEASURE_NAMES = [measure.name for measure in MEASURES]
BY_NAME = {measure.name: measure for measure in MEASURES}
