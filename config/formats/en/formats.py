# Date formats of the patient's pages in English (FORMAT_MODULE_PATH); Django's own
# formats apply to everything else.
DIARY_DAY_FORMAT = "l j F Y"  # Wednesday 25 November 2026
SHORT_DAY_FORMAT = "D j M"  # Wed 25 Nov
WEEKDAY_FORMAT = "D"  # Wed
QUESTION_DAY_FORMAT = "l j F"  # Wednesday 25 November (a past day named in a question)
