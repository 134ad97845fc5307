"""The WSGI application of a project, as django.core.wsgi gives it."""
import django
from django.core import settings as settings_module


def get_wsgi_application():
    """A WSGI callable that answers every request with the app's name and Django's version."""
    settings = settings_module.load()
    body = f"{settings.__name__.split('.')[0]} (opsh lab Django {django.get_version()})\n".encode()

    def application(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
        return [body]

    return application
