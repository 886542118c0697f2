"""Alembic migrations (append-only: a released migration is never edited)."""
