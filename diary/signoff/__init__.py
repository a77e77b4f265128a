"""Review and sign-off: phase review e-signatures and the locks of enrollments and
protocols (docs/domain.md, "Review and sign-off")."""
