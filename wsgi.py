"""WSGI entry point: ``gunicorn wsgi:app``, or ``python wsgi.py`` for the built-in server."""

from ledger.server.app import create_app

app = create_app()

if __name__ == "__main__":
    cfg = app.extensions["ledger"].config
    app.run(host=cfg.host, port=cfg.port, threaded=True)
