"""Recent activity of many enrollments at once, in SQL: the patient list's columns and
sort keys, the compliance calendar's order, and the facts the alert rules test.

One query answers for any number of enrollments. Each patient's "today" is the date in
her own time zone (docs/domain.md, "Entry window"): the distinct time zones are read
first and their dates computed here, so the database needs no time-zone data. Day
arithmetic works on offsets from her start date (day 1 = offset 0), like the summaries.

Windows (docs/domain.md, "Alerts for physicians"): the last N days before today that are
diary days of her schedule (from her start to its end or her withdrawal, whichever is
first). Today is not in them: it is not over yet. A screening enrollment has none.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.core.exceptions import EmptyResultSet
from django.db.models import Case, F, QuerySet, When
from django.utils import timezone

from diary.figures.models import AlertKind
from diary.figures.patient_figures import LOW_COMPLIANCE_PCT, span_rows
from diary.figures.sql import compose, dataclass_from_row, days_between, fetch, value, values_rows
from diary.trial import blinding
from diary.trial.dates import diary_day, local_today, study_today, zone_rules
from diary.trial.models import EnrollmentStatus, load_protocols

# The windows, in diary days before today.
MISSED_WINDOW_DAYS = 7  # the patient list's "missed" column
COMPLIANCE_WINDOW_DAYS = 14  # the list's compliance column and low_compliance
ALERT_MISSED_DAYS = 3  # missed_days
WINDOWS = (ALERT_MISSED_DAYS, MISSED_WINDOW_DAYS, COMPLIANCE_WINDOW_DAYS)

# The alert rules' thresholds (docs/domain.md, "Alerts for physicians").
LOW_COMPLIANCE_MIN_DAYS = 7
LOW_TOLERABILITY = 50
LATEST_ENTRIES = 3  # low_tolerability and side_effects look at her last 3 entries


ACTIVITY_SQL = """
WITH zones (tz, today) AS (
    VALUES {zone_rows}
), moved (enrollment_id, today) AS (
    VALUES {moved_rows}
), lengths AS (
    SELECT arm_id, SUM(days) AS days FROM diary_phase GROUP BY arm_id
), spans (arm_id, "order", kind, label, is_baseline, is_treatment, rank, days,
          first_offset, last_offset, baseline_order) AS (
    VALUES {span_rows}
), timed AS (
    SELECT en.id AS enrollment_id, en.study_id, en.status, en.arm_id, en.start_date,
           COALESCE(m.today, z.today, {fallback_today}) AS today,
           {today_offset} AS t,
           CASE WHEN en.withdrawn_on IS NOT NULL
                     AND {withdrawn_offset} < COALESCE(l.days, 0) - 1
                THEN {withdrawn_offset}
                ELSE COALESCE(l.days, 0) - 1 END AS last_offset
    FROM diary_enrollment en
    LEFT JOIN moved m ON m.enrollment_id = en.id
    LEFT JOIN zones z ON z.tz = en.timezone
    LEFT JOIN lengths l ON l.arm_id = en.arm_id
    WHERE en.id IN ({enrollment_ids})
), windows AS (
    -- Each window's first offset; all end yesterday or on her last diary day.
    SELECT timed.*, {window_bounds},
           CASE WHEN t - 1 < last_offset THEN t - 1 ELSE last_offset END AS hi
    FROM timed
), recent AS (
    SELECT w.enrollment_id, {window_counts}
    FROM windows w
    JOIN diary_diaryentry e ON e.enrollment_id = w.enrollment_id
    WHERE NOT e.voided AND e.date >= {earliest} AND e.date < w.today
    GROUP BY w.enrollment_id
), latest AS (
    SELECT w.enrollment_id,
           (SELECT MAX(e.date) FROM diary_diaryentry e
            WHERE e.enrollment_id = w.enrollment_id AND NOT e.voided) AS last_entry,
           (SELECT e.date FROM diary_diaryentry e
            WHERE e.enrollment_id = w.enrollment_id AND NOT e.voided
            ORDER BY e.date DESC LIMIT 1 OFFSET {latest_skip}) AS oldest_of_latest
    FROM windows w
), latest_entries AS (
    -- Her last 3 entries (all of them while she has fewer).
    SELECT l.enrollment_id, COUNT(*) AS n, MIN(e.tolerability) AS min_tolerability,
           COUNT(CASE WHEN e.headache THEN 1 END) AS headaches,
           {latest_span} AS span
    FROM latest l
    JOIN diary_diaryentry e ON e.enrollment_id = l.enrollment_id
    WHERE NOT e.voided AND (l.oldest_of_latest IS NULL OR e.date >= l.oldest_of_latest)
    GROUP BY l.enrollment_id
), activity AS (
    SELECT w.enrollment_id, w.study_id, w.status, w.today, w.t AS today_offset,
           {window_columns},
           l.last_entry,
           COALESCE(le.n, 0) AS latest_n, le.min_tolerability AS latest_min_tolerability,
           COALESCE(le.headaches, 0) AS latest_headaches, le.span AS latest_span,
           s.rank AS phase_rank, s."order" AS phase_order, s.label AS phase_label,
           CASE WHEN s.rank IS NOT NULL THEN w.t - s.first_offset + 1 END AS phase_day,
           (SELECT COUNT(*) FROM diary_alert a
            WHERE a.enrollment_id = w.enrollment_id AND a.closed_at IS NULL
                  AND a.acknowledged_at IS NULL) AS open_alerts
    FROM windows w
    LEFT JOIN recent r ON r.enrollment_id = w.enrollment_id
    LEFT JOIN latest l ON l.enrollment_id = w.enrollment_id
    LEFT JOIN latest_entries le ON le.enrollment_id = w.enrollment_id
    LEFT JOIN spans s ON s.arm_id = w.arm_id AND w.t BETWEEN s.first_offset AND s.last_offset
        AND w.t <= w.last_offset
)
SELECT * FROM activity
"""

# ?sort= keys of the patient list and calendar: the columns they order by. Nulls (no
# figure yet) go last in either direction; the study ID breaks ties.
SORTS = {
    "study_id": ["study_id"],
    "compliance": ["compliance_14"],
    "missed": ["missed_7"],
    "last_entry": ["last_entry"],
    "phase": ["phase_rank", "phase_label", "phase_day"],
}


@dataclass
class Activity:
    """One enrollment's recent activity (docs/domain.md "Alerts for physicians")."""

    enrollment_id: int
    study_id: str
    status: str
    today: dt.date  # in her time zone
    today_offset: int
    days_3: int | None  # diary days among the 3 days before today (None: screening)
    recorded_3: int | None
    days_7: int | None
    recorded_7: int | None
    days_14: int | None
    recorded_14: int | None
    last_entry: dt.date | None
    latest_n: int  # her last 3 entries (fewer while she has fewer)
    latest_min_tolerability: int | None
    latest_headaches: int
    latest_span: int | None  # days from the oldest to the newest of them
    phase_rank: int | None  # her phase today as the reader sees it, None outside one
    phase_order: int | None
    phase_label: str | None
    phase_day: int | None
    open_alerts: int

    @property
    def missed_7(self) -> int | None:
        """Diary days of the last 7 without an entry; None when none of them is one."""
        return self.days_7 - self.recorded_7 if self.days_7 else None

    @property
    def compliance_14(self) -> float | None:
        if not self.days_14:
            return None
        return 100 * self.recorded_14 / self.days_14

    def alert_conditions(self) -> set[str]:
        """The alert rules that hold today (only asked of active enrollments)."""
        holds = set()
        if self.days_3 == ALERT_MISSED_DAYS and self.recorded_3 == 0:
            holds.add(AlertKind.MISSED_DAYS.value)
        if (
            self.days_14 is not None
            and self.days_14 >= LOW_COMPLIANCE_MIN_DAYS
            and 100 * self.recorded_14 < LOW_COMPLIANCE_PCT * self.days_14
        ):
            holds.add(AlertKind.LOW_COMPLIANCE.value)
        if (
            self.latest_min_tolerability is not None
            and self.latest_min_tolerability <= LOW_TOLERABILITY
        ):
            holds.add(AlertKind.LOW_TOLERABILITY.value)
        if (
            self.latest_n == LATEST_ENTRIES
            and self.latest_headaches == LATEST_ENTRIES
            and self.latest_span == LATEST_ENTRIES - 1
        ):
            holds.add(AlertKind.SIDE_EFFECTS.value)
        return holds


def _as_date(value) -> dt.date | None:
    # SQLite hands computed dates back as text.
    if value is None or isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value)[:10])


def _activity(row: dict) -> Activity:
    return dataclass_from_row(
        Activity, row, today=_as_date(row["today"]), last_entry=_as_date(row["last_entry"])
    )


def _window_sql(days: str) -> dict:
    """The SQL pieces that are written once per window. A screening enrollment's
    schedule has not begun: its windows are null."""
    entry_offset = days.format(later="e.date", earlier="w.start_date")
    bounds, counts, columns, params = [], [], [], []
    for n in WINDOWS:
        bounds.append(f"CASE WHEN t - {n} > 0 THEN t - {n} ELSE 0 END AS lo_{n}")
        counts.append(
            f"COUNT(CASE WHEN {entry_offset} BETWEEN w.lo_{n} AND w.hi THEN 1 END) AS rec_{n}"
        )
        columns.append(
            f"CASE WHEN w.status = %s THEN NULL WHEN w.hi >= w.lo_{n} "
            f"THEN w.hi - w.lo_{n} + 1 ELSE 0 END AS days_{n}, "
            f"CASE WHEN w.status = %s THEN NULL ELSE COALESCE(r.rec_{n}, 0) END AS recorded_{n}"
        )
        params += [EnrollmentStatus.SCREENING.value] * 2
    return {
        "window_bounds": ", ".join(bounds),
        "window_counts": ", ".join(counts),
        "window_columns": (", ".join(columns), params),
    }


def _order_by(sort: str) -> str:
    descending = sort.startswith("-")
    columns = SORTS[sort.lstrip("-")]
    direction = " DESC" if descending else ""
    keys = [f"CASE WHEN {c} IS NULL THEN 1 ELSE 0 END, {c}{direction}" for c in columns]
    return ", ".join(keys + ["study_id"])  # ties: by study ID


# The list's order: the sort keys that are not plain columns of `activity` are worked
# out first, so ORDER BY may use them in expressions.
SORTED = """
SELECT * FROM (
    SELECT activity.*,
           CASE WHEN days_7 > 0 THEN days_7 - recorded_7 END AS missed_7,
           CASE WHEN days_14 > 0
                THEN CAST(100 * recorded_14 AS DOUBLE PRECISION) / days_14 END AS compliance_14
    FROM activity
) listed
ORDER BY {order_by}
"""


def recent_activity(
    enrollments: QuerySet,
    reader=None,
    *,
    now: dt.datetime | None = None,
    sort: str | None = None,
    limit: int | None = None,
    offset: int = 0,
) -> list[Activity]:
    """The recent activity of `enrollments` (a queryset), phases as `reader` sees them
    (per protocol, like the summaries; None: as a blinded file), in `sort` order
    (a key of SORTS, "-" for descending) and, with `limit`, only that many from
    `offset`. Three queries: the time zones (and zone changes), the protocols' phases,
    the activity."""
    now = now or timezone.now()
    try:
        ids_sql = enrollments.values("pk").query.sql_with_params()
    except EmptyResultSet:
        return []
    # One row per time zone of the enrollments that never changed theirs; one per
    # enrollment that did (her today follows the rule of her changes).
    zone_rows = list(
        enrollments.order_by()
        .annotate(moved=Case(When(zone_changes=[], then=None), default=F("pk")))
        .values_list("timezone", "moved", "zone_changes")
        .distinct()
    )
    if not zone_rows:
        return []
    todays = {name: local_today(name, now) for name, moved, _ in zone_rows if moved is None}
    moved_todays = {
        moved: diary_day(zone_rules(name, changes), now)
        for name, moved, changes in zone_rows
        if moved is not None
    }
    earliest_today = min([*todays.values(), *moved_todays.values()])
    protocols, _arms = load_protocols(enrollments.order_by().values("protocol_id"))
    plans = blinding.plans_by_arm(protocols.values(), reader or blinding.BLINDED_FILE)
    spans = span_rows(plans)
    if not spans[0]:  # no phases anywhere: a row that matches nothing keeps the SQL valid
        spans = values_rows([(0, 0, "", "", 0, 0, 0, 0, 0, -1, 0)])
    days = days_between()
    today = study_today(now)
    template = ACTIVITY_SQL
    if sort:
        template = template.replace("SELECT * FROM activity", SORTED)
        if limit is not None:
            template += " LIMIT {limit} OFFSET {offset}"
    sql, params = compose(
        template,
        zone_rows=values_rows(sorted(todays.items()) or [("", today)]),
        moved_rows=values_rows(sorted(moved_todays.items()) or [(0, today)]),
        span_rows=spans,
        fallback_today=value(today),
        today_offset=(
            days.format(later="COALESCE(m.today, z.today, %s)", earlier="en.start_date"),
            [today],
        ),
        withdrawn_offset=days.format(later="en.withdrawn_on", earlier="en.start_date"),
        enrollment_ids=ids_sql,
        earliest=value(earliest_today - dt.timedelta(days=max(WINDOWS))),
        latest_skip=value(LATEST_ENTRIES - 1),
        latest_span=days.format(later="MAX(e.date)", earlier="MIN(e.date)"),
        order_by=_order_by(sort) if sort else "",
        limit=value(limit),
        offset=value(offset),
        **_window_sql(days),
    )
    return [_activity(row) for row in fetch(sql, params)]


class ActivityList:
    """`recent_activity` in pages, for django.core.paginator.Paginator: counts with one
    query and reads one page with three."""

    def __init__(self, enrollments: QuerySet, reader, sort: str) -> None:
        self.enrollments = enrollments
        self.reader = reader
        self.sort = sort
        self.now = timezone.now()

    def count(self) -> int:
        return self.enrollments.count()

    def __len__(self) -> int:
        return self.count()

    def __getitem__(self, page: slice) -> list[Activity]:
        return recent_activity(
            self.enrollments,
            self.reader,
            now=self.now,
            sort=self.sort,
            limit=page.stop - page.start,
            offset=page.start,
        )
