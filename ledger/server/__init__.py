"""The log server: everything that runs inside ``gunicorn wsgi:app`` (or ``python wsgi.py``).

Flask, SQLAlchemy, psycopg, alembic and marshmallow are imported from this package only.

- ``app`` — the app factory; ``extension`` — the one ``Ledger`` extension object; ``config`` —
  settings, one row per ``LEDGER_*`` variable;
- ``storage/`` — rows in and out (engines, ORM rows, the repository); it decides nothing;
- ``service`` — the append rules and the serialized append; ``reads/`` — read use cases;
- ``api/`` — HTTP views, schemas, problem rendering and the fast paths;
- ``publisher`` — the witness publisher; ``logs``, ``metrics``, ``ratelimit``;
- ``dbaudit`` — the operator's audit of the tables; ``logkey`` — the log's signing key file.
"""
