"""WSGI entry point: ``gunicorn wsgi:app``. ``python wsgi.py [--host H] [--port P]`` is
``ledger serve``: gunicorn with gunicorn.conf.py, never a development server."""

import sys

from ledger.server.app import create_app

if __name__ == "__main__":
    from ledger.cli import main

    sys.exit(main(["serve", *sys.argv[1:]]))

app = create_app()
