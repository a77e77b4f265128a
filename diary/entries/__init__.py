"""The diary: its items and form, the entry window and the patient's save, the audit
trail of an enrollment, reminders."""
