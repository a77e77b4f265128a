"""Writing what an import checked: in one transaction, all or nothing, every row with
the reason of its history row; and the checked entries of an entry file, in bulk
(on PostgreSQL two statements a chunk, elsewhere bulk_create_with_history).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import pickle
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import IntegrityError, connection, models, transaction
from simple_history.utils import bulk_create_with_history

from diary.audit.models import shell_actor
from diary.entries.models import DiaryEntry, EntrySource
from diary.files.imports.entry_check import ITEMS
from diary.files.imports.reading import ImportFailed

# Checked entries are packed, and inserted, this many at a time.
ENTRY_CHUNK = 20_000


@contextlib.contextmanager
def _all_or_nothing():
    """One transaction for the whole load. The rows were checked first, so the database
    refuses something only if the same data changed since; then nothing is kept."""
    try:
        with transaction.atomic():
            yield
    except IntegrityError as error:
        detail = " ".join(str(error).split())  # PostgreSQL's message spans lines
        raise ImportFailed(
            [
                f"the database refused the data ({detail}); it was probably changed while "
                "the file was being imported. Import the file again."
            ]
        ) from None


def _change_reason(path, by=None, file_name: str = "") -> str:
    """Why and by whom, for the history of every imported row: `by` is the person who
    imported the file on the web (None: a command run in a shell), `file_name` the name
    it was uploaded under (the file read is then a temporary copy)."""
    who = by.get_username() if by is not None else shell_actor()
    return f"Imported from {file_name or Path(path).name} by {who}"


class _NewEntries:
    """The checked entries to create, kept packed until the whole file is checked, then
    saved with a history row each, ENTRY_CHUNK at a time (in one transaction)."""

    @staticmethod
    def for_database() -> _NewEntries:
        return _PostgresEntries() if connection.vendor == "postgresql" else _ModelEntries()

    def __init__(self):
        self.packed: list = []
        self.rows: list[tuple] = []
        self.count = 0

    def add(self, row: tuple) -> None:
        """`row`: (enrollment id, day, *the values of ITEMS)."""
        self.rows.append(row)
        if len(self.rows) == ENTRY_CHUNK:
            self._pack()

    def _pack(self) -> None:
        if self.rows:
            self.packed.append(self.pack(self.rows))
            self.count += len(self.rows)
            self.rows = []

    def save(self, reason: str, stamped: dt.datetime) -> int:
        self._pack()
        while self.packed:
            self.insert(self.packed.pop(0), reason, stamped)
        return self.count

    def pack(self, rows: list[tuple]):
        raise NotImplementedError

    def insert(self, packed, reason: str, stamped: dt.datetime) -> None:
        raise NotImplementedError


class _ModelEntries(_NewEntries):
    """Any database: model instances, bulk_create_with_history."""

    def pack(self, rows: list[tuple]) -> bytes:
        return pickle.dumps(rows, pickle.HIGHEST_PROTOCOL)

    def insert(self, packed: bytes, reason: str, stamped: dt.datetime) -> None:
        entries = [
            DiaryEntry(
                enrollment_id=enrollment_id,
                date=day,
                source=EntrySource.IMPORT,
                late=False,
                **dict(zip(ITEMS, values, strict=True)),
            )
            for enrollment_id, day, *values in pickle.loads(packed)
        ]
        bulk_create_with_history(
            entries, DiaryEntry, default_change_reason=reason, default_date=stamped
        )


class _PostgresEntries(_NewEntries):
    """PostgreSQL: what bulk_create_with_history writes, in two statements a chunk that
    leave out building model instances (they would cost more than the database's work):
    the entries from one array per column (unnest, as Django's bulk_create does on
    PostgreSQL) returning their ids, then each stored entry copied into its history row
    with the history fields bulk_history_create gives it."""

    FILE_FIELDS = [DiaryEntry._meta.get_field(name) for name in ("enrollment", "date", *ITEMS)]
    # The history model's fields that are not a copy of the entry's.
    HISTORY_FIELDS = ["history_date", "history_change_reason", "history_type", "history_user"]

    def pack(self, rows: list[tuple]) -> list[str]:
        return [
            _array_literal(field, column)
            for field, column in zip(self.FILE_FIELDS, zip(*rows, strict=True), strict=True)
        ]

    def save(self, reason: str, stamped: dt.datetime) -> int:
        self.statements = self._statements(reason, stamped)
        return super().save(reason, stamped)

    def insert(self, packed: list[str], reason: str, stamped: dt.datetime) -> None:
        (entries_sql, entries_values), history = self.statements
        with connection.cursor() as cursor:
            cursor.execute(entries_sql, entries_values + packed)
            ids = [pk for (pk,) in cursor.fetchall()]
            if history is not None:
                history_sql, history_values = history
                ids = _array_literal(DiaryEntry._meta.pk, ids)
                cursor.execute(history_sql, [*history_values, ids])

    def _statements(self, reason: str, stamped: dt.datetime):
        """(SQL, parameters) of the entries' INSERT (the arrays' parameters follow), and
        of the history rows' (the ids' array follows); None without history."""
        quote, table = connection.ops.quote_name, DiaryEntry._meta.db_table
        # Every other field as a new imported entry has it.
        entry = DiaryEntry(source=EntrySource.IMPORT, late=False)
        entry.created_at = entry.updated_at = stamped
        others = [
            field
            for field in DiaryEntry._meta.concrete_fields
            if not field.primary_key and field not in self.FILE_FIELDS
        ]
        entries = (
            f"INSERT INTO {quote(table)} "
            f"({', '.join(quote(f.column) for f in self.FILE_FIELDS + others)}) "
            f"SELECT u.*, {_typed_parameters(others)} "
            f"FROM unnest({_typed_parameters(self.FILE_FIELDS, array=True)}) AS u "
            f"RETURNING {quote(DiaryEntry._meta.pk.column)}",
            [_db_value(field, getattr(entry, field.attname)) for field in others],
        )
        if not getattr(settings, "SIMPLE_HISTORY_ENABLED", True):
            return entries, None
        history = DiaryEntry.history.model
        copied = history.tracked_fields
        own = [f for f in history._meta.concrete_fields if not f.primary_key]
        own = [f for f in own if f.name not in {c.name for c in copied}]
        if sorted(f.name for f in own) != sorted(self.HISTORY_FIELDS):
            raise ImproperlyConfigured(
                f"{history.__name__} has the fields {[f.name for f in own]}; "
                "diary.files.imports writes history rows for these only: "
                f"{', '.join(self.HISTORY_FIELDS)}"
            )
        user = history.get_default_history_user(entry)
        given = {
            "history_date": stamped,
            "history_change_reason": reason,
            "history_type": "+",
            "history_user": user.pk if user is not None else None,
        }
        columns = [history._meta.get_field(f.name).column for f in copied] + [f.column for f in own]
        pk = quote(DiaryEntry._meta.pk.column)
        history_sql = (
            f"INSERT INTO {quote(history._meta.db_table)} "
            f"({', '.join(quote(column) for column in columns)}) "
            f"SELECT {', '.join(quote(f.column) for f in copied)}, {_typed_parameters(own)} "
            f"FROM {quote(table)} "
            f"WHERE {pk} = ANY({_typed_parameters([DiaryEntry._meta.pk], array=True)})"
        )
        values = [_db_value(f, given[f.name]) for f in own]
        return entries, (history_sql, values)


def _typed_parameters(fields, array: bool = False) -> str:
    """`%s::type, ...` for the columns of `fields` (arrays of them with `array`). Text
    is cast to text, not varchar(n): a cast would cut a value that is too long, where
    storing it into the column refuses it."""
    suffix = "[]" if array else ""
    return ", ".join(
        f"%s::{'text' if isinstance(field, TEXT_FIELDS) else field.db_type(connection)}{suffix}"
        for field in fields
    )


def _db_value(field, value):
    return field.get_db_prep_save(value, connection)


TEXT_FIELDS = (models.CharField, models.TextField)
_ARRAY_BOOLEANS = {True: "t", False: "f", None: "NULL"}


def _array_literal(field, values) -> str:
    """A PostgreSQL array literal of `values` (a column's values, which repeat: each
    distinct value is written once) for `field`'s column."""
    if isinstance(field, models.BooleanField):
        element = _ARRAY_BOOLEANS.__getitem__
    elif isinstance(field, TEXT_FIELDS):
        element = _array_text
    else:  # whole numbers and dates (str: YYYY-MM-DD)
        element = _array_other
    written = {value: element(value) for value in set(values)}
    return "{" + ",".join(map(written.__getitem__, values)) + "}"


def _array_text(value: str | None) -> str:
    if value is None:
        return "NULL"
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _array_other(value) -> str:
    return "NULL" if value is None else str(value)
