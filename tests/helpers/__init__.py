"""Helpers the tests share, importable as ``helpers`` (pytest puts ``tests/`` on ``sys.path``
because of ``tests/conftest.py``): API apps on a test database, a seeded sample dataset."""
