"""The internal services' routes: the scanner, the signal engine and the analyzer, each served
by its own app (``krstock serve scanner|signals|analyzer``) without a path prefix."""
