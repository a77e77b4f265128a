"""Data queries: a question of the study team about one day or one visit of a patient,
answered by her (a day) or by staff (a visit), closed with a note (docs/domain.md,
"Review and sign-off")."""
