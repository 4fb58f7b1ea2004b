"""Routers: ``api`` (JSON/CSV under /api/v1) and ``pages`` (server-rendered HTML)."""
