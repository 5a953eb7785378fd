"""The log server: everything that runs inside ``gunicorn wsgi:app`` (or ``ledger serve``).

Flask, SQLAlchemy, psycopg, alembic and marshmallow are imported from this package only.

- ``app`` — the app factory; ``extension`` — the one ``Ledger`` extension object; ``config`` —
  settings, one row per ``LEDGER_*`` variable;
- ``storage/`` — rows in and out (engines, ORM rows, the repository); it decides nothing;
- ``rules`` — the append rules of ``ledger.core.logstate``, applied strictly over the database;
  ``service`` — the serialized append; ``readiness`` — the database gate; ``reads/`` — read use
  cases;
- ``api/`` — HTTP views, schemas, problem rendering, the request pipeline and the fast paths;
- ``publisher`` — the witness publisher; ``logs``, ``metrics``, ``ratelimit``;
- ``dbaudit`` — the operator's audit of the tables; ``logkey`` — the log's signing key file.
"""
