"""A tiny stand-in for Django built by the opsh lab (it is not Django): the
part of Django's interface the lab's shop app uses (manage.py, its WSGI
entry point), so that a release runs only where it was installed."""

__version__ = "@VERSION@"


def get_version():
    """The version, as Django reports it."""
    return __version__
