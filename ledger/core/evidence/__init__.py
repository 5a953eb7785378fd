"""Evidence bundles and their offline verifier (docs/FORMAT.md §13, docs/LICENSING.md).

An evidence bundle answers "was each of these clips licensed to buyer B for use U at time T?" with
everything needed to check the answer without trusting the server: the log's signed checkpoint,
every deciding entry once (exact leaf bytes plus an inclusion proof against that checkpoint) and a
verdict per item. ``verify_bundle`` checks, in this order:

1. the bundle's shape (``bundle_malformed``) and that it names the log key the caller trusts
   (``log_key_mismatch``);
2. the checkpoint signature under that key, C2SP signed-note / tlog-checkpoint
   (``checkpoint_invalid``);
3. per entry: its leaf hash (``leaf_hash_mismatch``), seq (``seq_mismatch``), the leaf format and
   statement (``leaf_invalid``), every statement signature (``bad_signature``), and its RFC 9162
   §2.1.3.2 inclusion proof against the checkpoint root (``inclusion_proof_invalid``; the proofs
   are checked as one batch that does not hash a shared interior node twice,
   ``ledger.core.multiproof``, with exactly the single-proof outcome for every entry);
4. the hash chain between consecutive entries present (``chain_broken``);
5. the licence map (``complete.py``): the checkpoint commits a map root (``map_root_missing``);
   every map proof in the bundle verifies against it with exactly the seqs claimed
   (``map_proof_invalid``, ``map_key_absent``, ``map_key_present``, ``map_value_mismatch``);
   every key the verdicts rest on, walked from the question, has a proof (``map_proof_missing``)
   and every entry it lists is in the bundle (``entry_omitted``): nothing was left out;
6. per item: that the entries it cites are present (``entry_missing``) and that its verdict equals
   the verdict **recomputed** from the verified entries with ``ledger.core.licensing``
   (``verdict_mismatch``). The server's verdict is never trusted.

A bundle that carries COSE receipts (``receipts``, FORMAT §13.2) also has each checked: one per
entry (``receipt_missing``, ``receipt_unmatched``), the entry's inclusion receipt at the
checkpoint's size leading to its root (``receipt_root_mismatch``), signed by the trusted log key
(``receipt_invalid``). A bundle without them is checked as before.

With a witness ``policy`` (c2sp.org/tlog-policy, ``ledger.core.policy``), step 2 also checks the
checkpoint's cosignature lines: every line by a policy witness must verify (``cosignature_invalid``)
and the witnesses must meet the quorum (``quorum_not_met``); each counted witness's cosignature
timestamp is reported (``EvidenceReport.witness_times``) as evidence, independent of the log, that
the tree existed by then. Without a policy, cosignature lines are ignored.

``verify_bundle`` returns an ``EvidenceReport`` (``bool()`` is True when every check held; a "not
licensed" verdict is a result, not a failure); ``check_bundle`` raises ``EvidenceInvalid`` instead.
Signature checks use ``cryptography`` unless a faster ``SignatureCheck`` is passed in (the CLI
passes PyNaCl's when it is installed; see ``ledger/sigverify.py``). No I/O here.

The package: ``bundle.py`` (the model, the failure codes, ``make_bundle``), ``parse.py`` (the JSON
shape, with its fast paths), ``complete.py`` (the required map keys, ``complete_bundle``) and
``verify.py`` (the checks above, ``summary_lines``). Callers
import from ``ledger.core.evidence``; the names below are its public ones.
"""

from ..errors import EvidenceInvalid
from ..sigcheck import SignatureCheck, cryptography_check
from .bundle import (
    BAD_SIGNATURE,
    BUNDLE_FORMAT,
    BUNDLE_MALFORMED,
    CHAIN_BROKEN,
    CHECKPOINT_INVALID,
    COSIGNATURE_INVALID,
    ENTRY_MISSING,
    ENTRY_OMITTED,
    FAILURE_CODES,
    INCLUSION_PROOF_INVALID,
    LEAF_HASH_MISMATCH,
    LEAF_INVALID,
    LOG_KEY_MISMATCH,
    MAP_CODES,
    MAP_KEY_ABSENT,
    MAP_KEY_PRESENT,
    MAP_PROOF_INVALID,
    MAP_PROOF_MISSING,
    MAP_ROOT_MISSING,
    MAP_VALUE_MISMATCH,
    QUERY_MISMATCH,
    QUORUM_NOT_MET,
    RECEIPT_CODES,
    RECEIPT_INVALID,
    RECEIPT_MISSING,
    RECEIPT_ROOT_MISMATCH,
    RECEIPT_UNMATCHED,
    SEQ_MISMATCH,
    VERDICT_MISMATCH,
    EntryReceipt,
    EvidenceBundle,
    EvidenceEntry,
    EvidenceQuery,
    MapMember,
    make_bundle,
    with_receipts,
)
from .complete import (
    MapReader,
    complete_bundle,
    entry_required_keys,
    required_closure,
)
from .parse import (
    load_bundle,
)
from .verify import (
    EvidenceReport,
    Failure,
    check_answers,
    check_bundle,
    check_question,
    format_posix,
    gc_paused,
    summary_lines,
    verify_bundle,
)

__all__ = [
    "BAD_SIGNATURE",
    "BUNDLE_FORMAT",
    "BUNDLE_MALFORMED",
    "CHAIN_BROKEN",
    "CHECKPOINT_INVALID",
    "COSIGNATURE_INVALID",
    "ENTRY_MISSING",
    "ENTRY_OMITTED",
    "FAILURE_CODES",
    "INCLUSION_PROOF_INVALID",
    "LEAF_HASH_MISMATCH",
    "LEAF_INVALID",
    "LOG_KEY_MISMATCH",
    "MAP_CODES",
    "MAP_KEY_ABSENT",
    "MAP_KEY_PRESENT",
    "MAP_PROOF_INVALID",
    "MAP_PROOF_MISSING",
    "MAP_ROOT_MISSING",
    "MAP_VALUE_MISMATCH",
    "QUERY_MISMATCH",
    "QUORUM_NOT_MET",
    "RECEIPT_CODES",
    "RECEIPT_INVALID",
    "RECEIPT_MISSING",
    "RECEIPT_ROOT_MISMATCH",
    "RECEIPT_UNMATCHED",
    "SEQ_MISMATCH",
    "VERDICT_MISMATCH",
    "EntryReceipt",
    "EvidenceBundle",
    "EvidenceEntry",
    "EvidenceInvalid",
    "EvidenceQuery",
    "EvidenceReport",
    "Failure",
    "MapMember",
    "MapReader",
    "SignatureCheck",
    "check_answers",
    "check_bundle",
    "check_question",
    "complete_bundle",
    "cryptography_check",
    "entry_required_keys",
    "format_posix",
    "gc_paused",
    "load_bundle",
    "make_bundle",
    "required_closure",
    "summary_lines",
    "verify_bundle",
    "with_receipts",
]
