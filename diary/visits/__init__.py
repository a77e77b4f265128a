"""Clinic visits of an enrollment and the laboratory measures taken at them
(docs/domain.md, "Clinic visits and measures")."""
