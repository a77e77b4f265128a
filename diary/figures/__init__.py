"""What staff read: per-phase and cohort figures computed in SQL, the patient list's
activity, day-by-day listings, charts and alerts."""
