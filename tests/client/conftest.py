"""Client-library fixtures: the CLI tests' real gunicorn server per module and backend."""

from tests.cli.conftest import live

__all__ = ["live"]
