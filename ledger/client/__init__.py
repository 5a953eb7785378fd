r"""The verifying client, as a library: talks to a log over HTTP and checks every answer with the
pure core. It prints nothing and returns values; ``ledger.cli`` parses options and prints.

- ``http`` — ``LogClient``, the HTTP client (stdlib only);
- ``trust`` — the client's trusted state: the pinned log key and the last verified checkpoint;
- ``submit`` — post signed statements, then verify that the log holds exactly them; after a 5xx
  or a lost connection the same bytes are sent again, and 409 ``duplicate_statement`` counts as
  accepted once verified; ``pending`` — envelopes whose fate is unknown, kept in the state folder;
- ``grants`` — fetch a grant and prove it before signing an acceptance or a revocation;
- ``evidence`` — a licence ``status`` and the evidence bundle of a dataset (``prove``), verified;
- ``audit`` — the full audit of a log over HTTP; ``proofs`` — offline proof files.

A buyer and a creator, from Python (``url`` is a running log, ``state`` a folder for this
machine's trusted state, ``clip`` a file; ``tests/client/test_library.py`` runs this example
against a real server)::

    >>> from datetime import UTC, datetime
    >>> from ledger.client import LogClient, Question, TrustedLog, content_sha256, prove, submit
    >>> from ledger.core import builders
    >>> from ledger.core.keys import SigningKey
    >>> log = TrustedLog(LogClient(url), state)  # no key given: trusted on first use, then pinned
    >>> creator, buyer = SigningKey.generate(), SigningKey.generate()
    >>> done = submit(log, [builders.party_register(creator, "creator"),
    ...                     builders.party_register(buyer, "buyer")])
    >>> [s.signed.type_name for s in done.accepted], done.refused
    (['party.register', 'party.register'], [])
    >>> print(*log.notices, sep="\n")  # what a command tells its user: which key, and why
    WARNING: log key ...: trusted on first use, on the word of the server's /v1/log ...
    pinned log key ... (trust on first use) in ...
    >>> sha256 = content_sha256(clip)
    >>> item = builders.Item(sha256=sha256, bytes=clip.stat().st_size, duration_s=12)
    >>> terms = builders.TermsSpec(start=datetime(2026, 1, 1, tzinfo=UTC),
    ...                            end=datetime(2030, 1, 1, tzinfo=UTC))
    >>> (grant,) = builders.grants_for_items(creator, buyer.key_id, [item], terms)
    >>> accept = builders.grant_accept(buyer, grant.statement_hash)
    >>> [s.seq > 0 for s in submit(log, [grant, accept]).accepted]
    [True, True]
    >>> bundle, report = prove(log.client, Question.of(buyer.key_id, "ai_training"), [sha256],
    ...                        log.verifier)  # the pinned key, not the server's word
    >>> bool(report), report.verdicts[0].licensed
    (True, True)
"""

from ledger.client.evidence import Question, content_sha256, prove, status
from ledger.client.grants import VerifiedGrant, fetch_grant, fetch_verified_grants
from ledger.client.http import LogClient, ServerError, ServerRefused
from ledger.client.pending import PendingStatements
from ledger.client.submit import Refused, Retry, SubmitResult, Submitted, submit, verify_submitted
from ledger.client.trust import TrustedLog, VerifiedCheckpoint, default_state_dir

__all__ = [
    "LogClient",
    "PendingStatements",
    "Question",
    "Refused",
    "Retry",
    "ServerError",
    "ServerRefused",
    "SubmitResult",
    "Submitted",
    "TrustedLog",
    "VerifiedCheckpoint",
    "VerifiedGrant",
    "content_sha256",
    "default_state_dir",
    "fetch_grant",
    "fetch_verified_grants",
    "prove",
    "status",
    "submit",
    "verify_submitted",
]
