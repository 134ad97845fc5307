"""The `gunicorn` command."""
import argparse
import importlib
import os
import sys
from wsgiref.simple_server import make_server

import gunicorn


def run():
    """Import MODULE:CALLABLE from the current directory and serve it until killed."""
    parser = argparse.ArgumentParser(prog="gunicorn")
    parser.add_argument("-b", "--bind", default="127.0.0.1:8000")
    parser.add_argument("-w", "--workers", type=int, default=1)
    parser.add_argument("app")
    args = parser.parse_args()
    module, _, name = args.app.partition(":")
    sys.path.insert(0, os.getcwd())
    application = getattr(importlib.import_module(module), name or "application")
    host, _, port = args.bind.rpartition(":")
    server = make_server(host or "127.0.0.1", int(port), application)
    print(f"gunicorn {gunicorn.__version__} (opsh lab): serving {args.app} on {args.bind}", flush=True)
    server.serve_forever()
