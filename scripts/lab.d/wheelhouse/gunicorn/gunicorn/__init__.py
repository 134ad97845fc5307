"""A tiny stand-in for gunicorn built by the opsh lab (it is not gunicorn):
`gunicorn [--bind HOST:PORT] [--workers N] MODULE:CALLABLE` serves the WSGI
callable with the standard library's single-threaded server."""

__version__ = "@VERSION@"
