"""Use cases over the database: each run is a function of (date, policy, data in the DB).

The Celery tasks, the CLI and the API call these; they read in one set-based query, compute with
the pure ``krstock.domain`` engines, write in one transaction and record a ``scan_runs`` row.
"""
