"""Background jobs: the record of each long piece of work a person started (an import, a
whole-study export), its progress, its result and its files.

The queue itself is django-q2's, kept in the database (docs/jobs.md): any number of
workers on any number of servers take work from it, a job whose worker died is handed
out again, and the periodic work (alerts, reminders, clean-up) is scheduled once per
period across all of them. This package holds what the library does not: who may see a
job, how far it has got, and how a job that is handed out twice still completes once.
The work itself is registered by the site layer (diary/tasks.py)."""
