"""Alembic migrations of the leaderboard database (run by ``Database.migrate``)."""
