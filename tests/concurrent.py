"""Running the same work in several threads at once, each with its own database
connection, as two servers or two cron runs would."""

import threading

from django.db import connections


def run_at_once(work, times: int = 2) -> list:
    """The results of `work()` run in `times` threads at once; any exception in a
    thread fails the test."""
    results, errors = [], []

    def one_run():
        try:
            results.append(work())
        except Exception as error:  # pragma: no cover - reported below
            errors.append(error)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=one_run) for _ in range(times)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    return results
