"""Import user accounts from a CSV file in the format of docs/domain.md: all rows or none."""

from diary.management.import_command import ImportCommand


class Command(ImportCommand):
    help = (
        "Import accounts from a UTF-8 CSV file with columns username, email, role "
        "(patient | physician | coordinator). Accounts get no usable password (they are "
        "invited later). The whole file is checked first; all rows are loaded or none."
    )
    kind = "users"
    one = "user"
