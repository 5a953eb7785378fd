"""WSGI entry point: ``gunicorn wsgi:app``, or ``python wsgi.py`` for the built-in server."""

from ledger.server.app import create_app
from ledger.server.extension import Ledger

app = create_app()

if __name__ == "__main__":
    cfg = Ledger.of(app).config
    app.run(host=cfg.host, port=cfg.port, threaded=True)
