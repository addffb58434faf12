"""Command groups of the ``krstock`` CLI; each module exposes ``register(app)``."""
