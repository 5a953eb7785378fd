"""The verifying client, as a library: talks to a log over HTTP and checks every answer with the
pure core. It prints nothing and returns values; ``ledger.cli`` prints.

- ``http`` — ``LogClient``, the HTTP client (stdlib only);
- ``trust`` — the client's trusted state: the pinned log key and the last verified checkpoint;
- ``audit`` — the full audit of a log over HTTP; ``proofs`` — offline proof files.
"""

from ledger.client.http import LogClient, ServerError, ServerRefused

__all__ = ["LogClient", "ServerError", "ServerRefused"]
