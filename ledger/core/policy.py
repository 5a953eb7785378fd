"""Witness policies (c2sp.org/tlog-policy) and the quorum check over a cosigned checkpoint.

A policy file lists logs (``log <vkey> [<url>]``), witnesses (``witness <name> <vkey> [<url>]``),
groups (``group <name> all|any|<k> <member>...``) and exactly one ``quorum <name>`` line (``none``
for no cosignatures). A checkpoint is valid under the policy if one of its logs signed it and the
witnesses that cosigned it satisfy the quorum.

``verify_cosigned_checkpoint`` is what the offline verifier, evidence bundles and proof files use:
it returns the checkpoint and each counted witness's cosignature timestamp (independent evidence
of when the tree existed) or raises. Pure: no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from .checkpoint import Checkpoint, open_checkpoint
from .cosignature import CosignatureVerifier
from .errors import (
    InvalidKey,
    LedgerError,
    MalformedPolicy,
    QuorumNotMet,
    UnverifiedNote,
)
from .note import NoteSignature, NoteVerifier, parse_note

NONE = "none"
MAX_ITEMS = 256  # far above the 32 logs/witnesses/groups the spec asks implementations to allow
_WS = re.compile(r"[ \t]+")
_FORBIDDEN = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
_K = re.compile(r"[1-9][0-9]*")


@dataclass(frozen=True)
class PolicyLog:
    verifier: NoteVerifier
    url: str | None = None


@dataclass(frozen=True)
class PolicyWitness:
    name: str
    verifier: CosignatureVerifier
    url: str | None = None


@dataclass(frozen=True)
class Group:
    name: str
    threshold: int
    members: tuple[str, ...]


@dataclass(frozen=True)
class WitnessPolicy:
    """A parsed policy: logs, witnesses by policy name, groups by name, and the quorum name."""

    logs: tuple[PolicyLog, ...]
    witnesses: dict[str, PolicyWitness] = field(default_factory=dict)
    groups: dict[str, Group] = field(default_factory=dict)
    quorum: str = NONE

    def satisfied_by(self, witnessed: Iterable[str]) -> bool:
        """Whether the witnesses named (policy names) meet the quorum (tlog-policy §quorum)."""
        done = set(witnessed) & self.witnesses.keys()
        return self.quorum == NONE or self._witnessed(self.quorum, done)

    def _witnessed(self, name: str, done: set[str]) -> bool:
        if name in self.witnesses:
            return name in done
        group = self.groups[name]
        count = sum(1 for m in group.members if self._witnessed(m, done))
        return count >= group.threshold

    def log_for_origin(self, origin: str) -> NoteVerifier | None:
        return next((lg.verifier for lg in self.logs if lg.verifier.name == origin), None)


def parse_policy(text: str | bytes) -> WitnessPolicy:
    """Parse a policy file (c2sp.org/tlog-policy §Policy file syntax); raises MalformedPolicy.

    Lines are split on runs of spaces and tabs; blank and ``#`` lines are ignored. Names must be
    defined before they are used, each name once; duplicate keys, an unknown keyword, a bad
    threshold and a missing or second quorum line are refused.
    """
    builder = _PolicyBuilder()
    for number, line in enumerate(_policy_lines(text), 1):
        fields = _WS.split(line.strip())
        if not fields[0] or fields[0].startswith("#"):
            continue
        try:
            builder.add(fields)
        except MalformedPolicy as e:
            raise MalformedPolicy(f"policy line {number}: {e.message}") from e
        except InvalidKey as e:
            raise MalformedPolicy(f"policy line {number}: {e.message}") from e
    return builder.build()


def _policy_lines(text: str | bytes) -> list[str]:
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as e:
            raise MalformedPolicy("the policy file is not UTF-8") from e
    if not isinstance(text, str):
        raise MalformedPolicy("a policy is text")
    bad = _FORBIDDEN.search(text)
    if bad:
        raise MalformedPolicy(f"control character U+{ord(bad.group()):04X} in the policy")
    return text.split("\n")


class _PolicyBuilder:
    def __init__(self) -> None:
        self.logs: list[PolicyLog] = []
        self.witnesses: dict[str, PolicyWitness] = {}
        self.groups: dict[str, Group] = {}
        self.quorum: str | None = None
        self.keys: set[bytes] = set()

    def add(self, fields: list[str]) -> None:
        keyword, args = fields[0], fields[1:]
        if keyword == "log" and len(args) in (1, 2):
            self._add_log(args)
        elif keyword == "witness" and len(args) in (2, 3):
            self._add_witness(args)
        elif keyword == "group" and len(args) >= 3:
            self._add_group(args[0], args[1], args[2:])
        elif keyword == "quorum" and len(args) == 1:
            self._set_quorum(args[0])
        else:
            raise MalformedPolicy(f"cannot parse a {keyword!r} line with {len(args)} fields")
        if len(self.logs) + len(self.witnesses) + len(self.groups) > MAX_ITEMS:
            raise MalformedPolicy(f"more than {MAX_ITEMS} logs, witnesses and groups")

    def _new_key(self, raw: bytes) -> None:
        # tlog-policy: two vkeys wrapping the same public key are duplicates, whatever their name.
        if raw in self.keys:
            raise MalformedPolicy("the same public key is listed twice")
        self.keys.add(raw)

    def _add_log(self, args: list[str]) -> None:
        verifier = NoteVerifier.from_vkey(args[0])
        self._new_key(verifier.public_key)
        self.logs.append(PolicyLog(verifier, args[1] if len(args) == 2 else None))

    def _new_name(self, name: str) -> None:
        if name == NONE or name in self.witnesses or name in self.groups:
            raise MalformedPolicy(f"name {name!r} is reserved or already defined")

    def _add_witness(self, args: list[str]) -> None:
        self._new_name(args[0])
        verifier = CosignatureVerifier.from_vkey(args[1])
        self._new_key(verifier.public_key)
        url = args[2] if len(args) == 3 else None
        self.witnesses[args[0]] = PolicyWitness(args[0], verifier, url)

    def _add_group(self, name: str, k: str, members: list[str]) -> None:
        self._new_name(name)
        if len(set(members)) != len(members):
            raise MalformedPolicy(f"group {name!r} lists a member twice")
        for m in members:
            if m not in self.witnesses and m not in self.groups:
                raise MalformedPolicy(f"group {name!r}: {m!r} is not defined on an earlier line")
        threshold = {"all": len(members), "any": 1}.get(k)
        if threshold is None:
            if not _K.fullmatch(k) or not 1 <= int(k) <= len(members):
                raise MalformedPolicy(f"group {name!r}: threshold must be all, any or 1..n")
            threshold = int(k)
        self.groups[name] = Group(name, threshold, tuple(members))

    def _set_quorum(self, name: str) -> None:
        if self.quorum is not None:
            raise MalformedPolicy("a policy has exactly one quorum line")
        if name != NONE and name not in self.witnesses and name not in self.groups:
            raise MalformedPolicy(f"quorum {name!r} is not defined on an earlier line")
        self.quorum = name

    def build(self) -> WitnessPolicy:
        if self.quorum is None:
            raise MalformedPolicy("a policy has exactly one quorum line")
        return WitnessPolicy(tuple(self.logs), dict(self.witnesses), dict(self.groups), self.quorum)


# --- Checking a cosigned checkpoint --------------------------------------------------------------


@dataclass(frozen=True)
class CosignedCheckpoint:
    """A checkpoint that met its policy, with the timestamp of each counted witness's cosignature
    (policy name -> POSIX seconds), in the order the policy lists the witnesses."""

    checkpoint: Checkpoint
    text: str
    witness_times: dict[str, int]


def verify_cosigned_checkpoint(
    note: str | bytes, policy: WitnessPolicy, log_verifier: NoteVerifier | None = None
) -> CosignedCheckpoint:
    """Check a checkpoint note against ``policy``: the log's signature, then the quorum.

    Steps: (1) the log key is ``log_verifier`` or the policy's log named after the origin;
    (2) the log signature verifies (tlog-checkpoint); (3) each signature line whose name and key
    id match a policy witness MUST verify as cosignature/v1 over the checkpoint text
    (tlog-cosignature), lines by unknown keys are ignored; (4) the witnesses with a valid
    cosignature satisfy the quorum. Raises MalformedNote, UnverifiedNote (no trusted log key or
    no log signature), BadSignature (a known key's signature fails) or QuorumNotMet.
    """
    verifier = log_verifier or _log_for(note, policy)
    cp, opened = open_checkpoint(note, verifier)
    times: dict[str, int] = {}
    for name, witness in policy.witnesses.items():
        for sig in opened.unverified:
            if witness.verifier.matches(sig) and name not in times:
                times[name] = witness.verifier.verify(opened.text, sig).timestamp
    if not policy.satisfied_by(times):
        raise QuorumNotMet(
            f"the cosignatures of {sorted(times) or 'no witness'} do not meet quorum "
            f"{policy.quorum!r}",
            witnesses=sorted(times),
        )
    return CosignedCheckpoint(cp, opened.text, times)


def _log_for(note: str | bytes, policy: WitnessPolicy) -> NoteVerifier:
    text, _ = parse_note(note)  # the grammar check, before any key is looked up
    origin = text.split("\n", 1)[0]
    verifier = policy.log_for_origin(origin)
    if verifier is None:
        raise UnverifiedNote(f"the policy lists no log with origin {origin!r}")
    return verifier


def witness_times(
    note: str | bytes, policy: WitnessPolicy, log_verifier: NoteVerifier | None = None
) -> list[tuple[str, int]]:
    """``[(witness policy name, cosignature timestamp), ...]`` for a checkpoint meeting the quorum.

    The helper evidence bundles and the offline verifier call to report each witness's time;
    raises exactly as ``verify_cosigned_checkpoint`` does.
    """
    return list(verify_cosigned_checkpoint(note, policy, log_verifier).witness_times.items())


def cosignatures_in(
    note_text: str, sig_lines: Iterable[NoteSignature], witnesses: Iterable[PolicyWitness]
) -> dict[str, int]:
    """The witnesses (policy names) with a valid cosignature among ``sig_lines`` over
    ``note_text``, and their timestamps; lines by other keys, and bad lines, are skipped.

    The log side uses this to keep only good lines from a witness's answer. No I/O.
    """
    found: dict[str, int] = {}
    witnesses = list(witnesses)
    for sig in sig_lines:
        for w in witnesses:
            if w.verifier.matches(sig) and w.name not in found:
                try:
                    found[w.name] = w.verifier.verify(note_text, sig).timestamp
                except LedgerError:
                    continue  # a bad line from a witness is dropped, never counted
    return found
