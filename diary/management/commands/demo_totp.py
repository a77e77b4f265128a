"""Print the current sign-in code of the demo staff accounts' second factor."""

import time
from base64 import b32decode

from django.core.management.base import BaseCommand
from django_otp.oath import totp

from diary.management.commands.seed_demo import DEMO_TOTP_SECRET


class Command(BaseCommand):
    help = "Print the current 6-digit code for the demo staff accounts (local use only)."

    def handle(self, *args, **options):
        now = time.time()
        code = totp(b32decode(DEMO_TOTP_SECRET), step=30, t0=0, digits=6, drift=0)
        left = 30 - int(now) % 30
        self.stdout.write(f"{code:06d}")
        self.stderr.write(f"(valid for {left} more seconds; secret {DEMO_TOTP_SECRET})")
