"""The pure core of Consent Ledger.

Everything that defines which bytes are signed and hashed lives here: canonical JSON, keys and
signatures, statements, log leaves and the hash chain, RFC 9162 Merkle trees and proofs, and C2SP
signed-note checkpoints. It imports only the standard library, ``cryptography`` and ``rfc8785`` so
that an auditor can verify a log with this package and ``docs/FORMAT.md`` alone.
No I/O happens here.
"""
