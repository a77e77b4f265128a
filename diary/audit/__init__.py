"""What happened and who read what: audit events and the access log. Imports nothing
else of the app, so every layer can record what it does (docs/architecture.md)."""
