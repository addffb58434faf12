"""Importing files into the database: the monolith's ``data/`` folder and pykrx CSV folders.

``krstock.marketdata.legacy`` and ``krstock.marketdata.krx_csv`` parse; this package merges the
stock list, writes through ``krstock.db.bulk.bulk_upsert`` (one transaction per file), writes
the rejects report and counts every file's keys back from the database.
"""
