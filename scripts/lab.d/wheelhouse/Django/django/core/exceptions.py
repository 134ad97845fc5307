"""Django's exceptions that the lab's stand-in raises."""


class ImproperlyConfigured(Exception):
    """The settings are missing or cannot be imported."""
