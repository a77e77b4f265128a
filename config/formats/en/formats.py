# Date formats in English (FORMAT_MODULE_PATH). Staff pages and the admin are always in
# English (diary.people.languages), so DATE_FORMAT and DATETIME_FORMAT (and their SHORT_
# variants) are the one date style of every staff page and of the admin: ISO, as in the
# exported files. Templates name them (|date:"DATE_FORMAT"), never a literal format.
DATE_FORMAT = "Y-m-d"  # 2026-11-25
DATETIME_FORMAT = "Y-m-d H:i"  # 2026-11-25 14:05
SHORT_DATE_FORMAT = DATE_FORMAT
SHORT_DATETIME_FORMAT = DATETIME_FORMAT
YEAR_MONTH_FORMAT = "Y-m"  # 2026-11 (the admin's date drill-down)
MONTH_DAY_FORMAT = "m-d"  # 11-25

# The patient's pages name a day in her own language's words (config/formats/es too).
DIARY_DAY_FORMAT = "l j F Y"  # Wednesday 25 November 2026
SHORT_DAY_FORMAT = "D j M"  # Wed 25 Nov
WEEKDAY_FORMAT = "D"  # Wed
QUESTION_DAY_FORMAT = "l j F"  # Wednesday 25 November (a past day named in a question)
