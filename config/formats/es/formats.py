# Date formats of the patient's pages in Spanish (FORMAT_MODULE_PATH). DATE_FORMAT and
# DATETIME_FORMAT stay Django's here: staff pages, which use them, are always in English
# (config/formats/en).
DIARY_DAY_FORMAT = r"l j \d\e F \d\e Y"  # miércoles 25 de noviembre de 2026
SHORT_DAY_FORMAT = "D j M"  # mié 25 nov
WEEKDAY_FORMAT = "D"  # mié
QUESTION_DAY_FORMAT = r"l j \d\e F"  # miércoles 25 de noviembre
