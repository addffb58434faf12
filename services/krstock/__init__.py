"""krstock: Korean stock signal platform."""

__version__ = "0.1.0"
