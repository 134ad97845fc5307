"""manage.py's commands: each says which Django and which python ran it."""
import os
import sys

import django
from django.core import settings as settings_module

USAGE = "Available subcommands: check, collectstatic, migrate, showmigrations, version"


def execute_from_command_line(argv=None):
    """Run the command named in argv (sys.argv by default), as Django does."""
    argv = list(sys.argv if argv is None else argv)
    prog = os.path.basename(argv[0]) if argv else "manage.py"
    command = argv[1] if len(argv) > 1 else "help"
    if command in ("help", "--help", "-h"):
        print(f"Type '{prog} help <subcommand>' for help on a specific subcommand.\n\n{USAGE}")
        return
    if command in ("version", "--version"):
        print(django.get_version())
        return
    handlers = {"check": _check, "collectstatic": _collectstatic, "migrate": _migrate, "showmigrations": _showmigrations}
    if command not in handlers:
        sys.stderr.write(f"Unknown command: {command!r}\nType '{prog} help' for usage.\n")
        sys.exit(1)
    settings = settings_module.load()
    print(f"{command}: Django {django.get_version()} (opsh lab) under {sys.executable}")
    handlers[command](settings, argv[2:])


def _check(settings, args):
    print("System check identified no issues (0 silenced).")


def _migrate(settings, args):
    print("Operations to perform:\n  Apply all migrations: shop\nRunning migrations:\n  No migrations to apply.")


def _showmigrations(settings, args):
    print("shop\n (no migrations)")


def _collectstatic(settings, args):
    root = getattr(settings, "STATIC_ROOT", "static")
    os.makedirs(root, exist_ok=True)
    print(f"0 static files copied to '{os.path.abspath(root)}'.")
