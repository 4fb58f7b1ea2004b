"""goss-bench leaderboard server.

A FastAPI application (:func:`server.app.create_app`) that takes prediction
zips, validates them against the layout of a benchmark's hidden ground truth,
queues them in the database, and has worker processes (:mod:`server.worker`)
score them with :func:`goss_bench.score`.  Importing this package has no side
effects; settings are read from ``GOSS_*`` environment variables by
:meth:`server.config.Settings.from_env`.
"""
