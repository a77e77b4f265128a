"""Reading an import file: its rows and header (CsvRows), its problems as "line N: ..."
lines (ImportFailed), and the cells the imports read alike (dates, yes/no, scores).
"""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from operator import itemgetter

from diary.entries.forms import WHOLE_NUMBER

YES = {"yes", "y", "true", "1"}
NO = {"no", "n", "false", "0"}
ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


class FileUnreadable(Exception):
    """The file cannot be opened or read at all; the message says why."""


class ImportFailed(Exception):
    """The file has problems; nothing was imported. `problems` are "line N: ..." lines."""

    def __init__(self, problems: list[str]):
        super().__init__(f"{len(problems)} problem(s)")
        self.problems = problems


@dataclass
class Outcome:
    created: int = 0
    unchanged: int = 0


class CsvRows:
    """The rows of a UTF-8 CSV file as (line number, {column: stripped cell}).

    Iterating reads the file again from the start. Header problems raise ImportFailed
    at once; a row that cannot be read (wrong number of cells, not UTF-8, ...) is left
    out and recorded in `problems` as (line, message). `cells()` gives the same rows as
    tuples of the cells as written (not stripped), in the order of `columns`: the
    required columns, then the optional ones ("" when the file leaves one out).
    """

    def __init__(
        self,
        path,
        required: list[str],
        optional: Iterable[str] = (),
        *,
        max_rows: int | None = None,
        what: str = "this import",
    ):
        self.path = path
        self.required = list(required)
        self.optional = list(optional)
        self.columns = self.required + self.optional
        self.problems: list[tuple[int, str]] = []
        # Reading stops with one problem at the first row past max_rows (of any kind,
        # blank or unreadable ones included), however long the file is.
        self.max_rows = max_rows
        self.what = what

    def __iter__(self) -> Iterator[tuple[int, dict[str, str]]]:
        columns = self.columns
        for line, cells in self.cells():
            yield line, dict(zip(columns, (cell.strip() for cell in cells), strict=True))

    def cells(self) -> Iterator[tuple[int, tuple[str, ...]]]:
        self.problems = []
        try:
            with self._open() as file:
                yield from self._rows(csv.reader(file))
        except UnicodeDecodeError:
            line = _first_line_not_utf8(self.path)
            self.problems.append(
                (line, "the file is not UTF-8 text; save it as CSV UTF-8 and import it again")
            )

    @contextlib.contextmanager
    def _open(self):
        try:
            file = open(self.path, encoding="utf-8-sig", newline="")  # noqa: SIM115
        except OSError as error:
            raise FileUnreadable(f"cannot read {self.path}: {error.strerror or error}") from None
        with file:
            try:
                yield file
            except OSError as error:
                raise FileUnreadable(
                    f"cannot read {self.path}: {error.strerror or error}"
                ) from None

    def column(self, name: str) -> Iterator[str]:
        """The stripped cells of one column, row by row, for looking up what the rows
        refer to before checking them: a quick reading, which stops at the first row
        that cannot be read and leaves out cells with a NUL character (no database
        takes one; the checking reading reports both), but keeps rows with other
        problems."""
        with contextlib.suppress(UnicodeDecodeError, csv.Error), self._open() as file:
            reader = csv.reader(file)
            position = self._header(reader).index(name)
            for raw in reader:
                if len(raw) > position and "\x00" not in raw[position]:
                    yield raw[position].strip()

    def _rows(self, reader) -> Iterator[tuple[int, tuple[str, ...]]]:
        header = self._header(reader)
        width = len(header)
        # A cell of each column in `columns` order; a left-out optional column reads the
        # blank cell appended after the row's own.
        pick = itemgetter(*(header.index(n) if n in header else width for n in self.columns))
        # A row's line is the one after the end of the previous row (csv counts the
        # lines it reads; a quoted cell may span lines, a blank line is a row of none).
        end = reader.line_num
        limit = self.max_rows
        read = 0
        while True:
            try:
                raw = next(reader)
            except StopIteration:
                return
            except csv.Error as error:
                self.problems.append((reader.line_num, f"cannot be read as CSV ({error})"))
                return
            line, end = end + 1, reader.line_num
            read += 1
            if limit is not None and read > limit:
                raise ImportFailed(
                    [
                        f"line {line}: the file has more than {limit:,} rows; {self.what} "
                        f"has at most {limit:,}. Check that this is the right file."
                    ]
                )
            joined = "".join(raw)
            if not joined.strip():
                continue  # an empty row, e.g. ",,,," left by a spreadsheet
            if len(raw) != width:
                self.problems.append(
                    (
                        line,
                        f"has {len(raw)} cell{'s' if len(raw) > 1 else ''} but the header "
                        f"has {width}; check the commas and quotes",
                    )
                )
                continue
            if "\x00" in joined:
                self.problems.append((line, "contains a NUL character; is this a CSV file?"))
                continue
            raw.append("")
            yield line, pick(raw)

    def _header(self, reader) -> list[str]:
        expected = ", ".join(self.required)
        if self.optional:
            expected += f" (optional: {', '.join(self.optional)})"
        try:
            header = next(reader)
        except StopIteration:
            raise ImportFailed(
                [f"line 1: the file is empty; the first line must name the columns: {expected}"]
            ) from None
        except csv.Error as error:
            raise ImportFailed([f"line 1: cannot be read as CSV ({error})"]) from None
        names = [name.strip().lower() for name in header]
        problems = []
        unnamed = [str(n) for n, name in enumerate(names, start=1) if not name]
        if unnamed or not names:
            problems.append(
                f"line 1: column {', '.join(unnamed) or 1} has no name; the first line must "
                f"name the columns: {expected}"
            )
        missing = [name for name in self.required if name not in names]
        if missing:
            problems.append(f"line 1: missing column(s): {', '.join(missing)}")
        known = self.columns
        unknown = [name for name in names if name and name not in known]
        if unknown:
            problems.append(
                f"line 1: unknown column(s): {', '.join(unknown)}; the columns are {expected}"
            )
        repeated = sorted({name for name in names if name and names.count(name) > 1})
        if repeated:
            problems.append(f"line 1: repeated column(s): {', '.join(repeated)}")
        if problems:
            raise ImportFailed(problems)
        return names


def _first_line_not_utf8(path) -> int:
    # The text reader decodes ahead in blocks; find the offending line itself.
    with open(path, "rb") as file:
        for number, line in enumerate(file, start=1):
            try:
                line.decode("utf-8")
            except UnicodeDecodeError:
                return number
    return 1


def _fail_if_any(rows: CsvRows, problems: list[tuple[int, str]]) -> None:
    found = sorted(rows.problems + problems, key=lambda problem: problem[0])
    if found:
        # One problem, one line of output, even when it quotes a cell that spans lines.
        raise ImportFailed(
            [
                f"line {line}: {message}".replace("\r\n", "\\n")
                .replace("\n", "\\n")
                .replace("\r", "\\r")
                for line, message in found
            ]
        )


# Cells ------------------------------------------------------------------------------


def parse_date(value: str, name: str = "date") -> dt.date:
    """YYYY-MM-DD only: Python's fromisoformat also takes 20260310 and 2026-W10-2."""
    if ISO_DATE.fullmatch(value):
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            pass
    if not value:
        raise ValueError(f"{name} is required (YYYY-MM-DD)")
    raise ValueError(f'{name} "{value}" is not a date in YYYY-MM-DD form')


def parse_yes_no(value: str, name: str, required: bool = True) -> bool | None:
    lowered = value.lower()
    if lowered in YES:
        return True
    if lowered in NO:
        return False
    if not value:
        if required:
            raise ValueError(f"{name} is required (yes or no)")
        return None
    raise ValueError(f'{name} "{value}" must be yes or no (or y/n, true/false, 1/0)')


def parse_score(value: str, name: str, high: int, required: bool = True) -> int | None:
    if not value:
        if required:
            raise ValueError(f"{name} is required (a whole number from 0 to {high})")
        return None
    # Only ASCII digits: int() would also take "+5", "1_0" and other scripts' digits.
    if WHOLE_NUMBER.fullmatch(value) and int(value) <= high:
        return int(value)
    if value.isdigit() and not value.isascii():  # another script's digits: "٥", "５"
        raise ValueError(
            f'{name} "{value}" must be a whole number from 0 to {high}, written with the digits 0-9'
        )
    raise ValueError(f'{name} "{value}" must be a whole number from 0 to {high}')


def _parsed(problems: list[str], parse, *args):
    """parse(*args), or None with the reason added to `problems`."""
    try:
        return parse(*args)
    except ValueError as error:
        problems.append(str(error))
        return None


def _differences(pairs: dict[str, tuple[object, object]]) -> str:
    return "; ".join(
        f"{name}: {_shown(stored)} stored, {_shown(given)} in the file"
        for name, (stored, given) in pairs.items()
        if stored != given
    )


def _shown(value) -> str:
    if value is None or value == "":
        return "blank"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)
