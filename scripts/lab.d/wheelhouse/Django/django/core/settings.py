"""The settings module named by DJANGO_SETTINGS_MODULE, imported as Django does."""
import importlib
import os
import sys

from django.core.exceptions import ImproperlyConfigured


def load():
    """Import the settings module (from the current directory, as manage.py runs)."""
    name = os.environ.get("DJANGO_SETTINGS_MODULE")
    if not name:
        raise ImproperlyConfigured("Requested settings, but settings are not configured: define DJANGO_SETTINGS_MODULE")
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        raise ImproperlyConfigured(f"cannot import settings module {name!r}: {exc}") from exc
