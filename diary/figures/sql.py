"""Hand-written SQL, built safely: fragments composed with their own parameters, and
the few expressions that differ between SQLite and PostgreSQL."""

from __future__ import annotations

import re
from dataclasses import fields
from functools import cache

from django.db import connection

# Whole days from one date column (or parameter) to another, per database.
DAYS_BETWEEN_SQL = {
    "postgresql": "({later} - {earlier})",
    "sqlite": "CAST(julianday({later}) - julianday({earlier}) AS INTEGER)",
}


def days_between() -> str:
    """The template `{later} - {earlier}` in whole days for the database in use."""
    return DAYS_BETWEEN_SQL[connection.vendor]


def compose(template: str, **parts) -> tuple[str, list]:
    """Fill the `{name}` places of `template` with SQL fragments, each a text or a
    (text, parameters) pair, and gather the parameters in the order the places appear,
    so every parameter stays next to the SQL that uses it."""
    params: list = []

    def fill(match) -> str:
        part = parts[match.group(1)]
        text, values = (part, ()) if isinstance(part, str) else part
        params.extend(values)
        return text

    return re.sub(r"\{(\w+)\}", fill, template), params


def value(parameter) -> tuple[str, list]:
    """A single parameter as an SQL fragment."""
    return "%s", [parameter]


def values_rows(rows: list[tuple]) -> tuple[str, list]:
    """`(%s, %s), (%s, %s), ...` and the parameters, for a VALUES list."""
    text = ", ".join("(" + ", ".join(["%s"] * len(row)) + ")" for row in rows)
    return text, [item for row in rows for item in row]


def fetch(sql: str, params: list) -> list[dict]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        columns = [column[0] for column in cursor.description]
        return [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]


@cache
def _columns_of(cls, given: frozenset[str]) -> tuple[str, ...]:
    return tuple(f.name for f in fields(cls) if f.name not in given)


def dataclass_from_row(cls, row: dict, **given):
    """An instance of the dataclass `cls` whose fields are the `row`'s columns of the same
    names, except the fields `given` (worked out from the row or from elsewhere)."""
    columns = {name: row[name] for name in _columns_of(cls, frozenset(given))}
    return cls(**columns, **given)
