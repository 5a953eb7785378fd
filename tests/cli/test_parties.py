"""A party acts with whichever of its keys is current: ``accept`` and ``revoke`` across rotations
of the buyer and of the creator, ``show`` and ``offers``, and ``accept`` showing every term and
asking first. The installed ``ledger`` against a real server, on SQLite and PostgreSQL.
"""

from __future__ import annotations

from pathlib import Path

from ledger.client import LogClient
from tests.cli.clitools import (
    assert_one_line_failure,
    mp4,
    run_ledger,
    run_ledger_tty,
    value,
)
from tests.cli.test_flow import GRANT_TERMS, grant_ids, party
from tests.support.live import LiveServer

#: The grant of the issue: exclusive, DE/FR only, no likeness or voice replication, attribution
#: required, starting in 2027, revocable with notice.
RICH_TERMS = [
    "--exclusive", "--territory", "DE", "--territory", "FR", "--prohibit", "replicate_likeness",
    "--prohibit", "replicate_voice", "--attribution", "--start", "2027-01-01T00:00:00Z",
    "--revocable", "--notice-days", "30",
]  # fmt: skip
#: Every term of RICH_TERMS as ``show`` and ``accept`` word it (ledger.report.plain).
RICH_WORDS = [
    "may be used for AI training; not for generative AI training, AI inference or data mining",
    "not for replicating the likeness of people shown or replicating voices",
    "in DE and FR",
    "from 2027-01-01T00:00:00Z",
    "revocable with 30 days' notice",
    "exclusive",
    "2.50 USD per minute",
    "attribution required",
    "no sublicensing",
    "not yet in force: the term starts 2027-01-01T00:00:00Z",
]


def rotate(tmp_path: Path, env: dict[str, str], old: Path, name: str) -> tuple[Path, str]:
    """``ledger rotate`` from ``old`` to a new key ``name``; the new key's file and id."""
    new = tmp_path / f"{name}.pem"
    key_id = value(run_ledger("keygen", "--out", new).stdout, "key_id")
    rotated = run_ledger("rotate", "--key", old, "--new-key", new, env=env)
    assert rotated.returncode == 0, rotated.stderr
    return new, key_id


def grant(env: dict[str, str], creator: Path, buyer: str, clip: Path, *terms: str) -> str:
    clip.write_bytes(mp4(1000, 60_000 + len(clip.name)))
    granted = run_ledger(
        "grant", "--key", creator, "--buyer", buyer, *GRANT_TERMS, *terms, clip, env=env
    )
    assert granted.returncode == 0, granted.stderr
    [grant_id] = grant_ids(granted.stdout)
    return grant_id


def offered(output: str) -> list[str]:
    return [line.split()[1] for line in output.splitlines() if line.startswith("grant ")]


def test_a_rotated_buyer_sees_accepts_and_is_asked_first(
    live: LiveServer, user_env: dict[str, str], tmp_path: Path
) -> None:
    log = LogClient(live.url)
    creator_pem, creator = party(tmp_path, user_env, "Studio Nord")
    acme_1, acme_1_id = party(tmp_path, user_env, "Acme AI")
    offer = grant(user_env, creator_pem, acme_1_id, tmp_path / "dawn.mp4", *RICH_TERMS)
    acme_2, acme_2_id = rotate(tmp_path, user_env, acme_1, "acme-2")

    # ledger show: every term in plain language, verified, with its status
    shown = run_ledger("show", offer, env=user_env)
    assert shown.returncode == 0, shown.stderr
    for words in RICH_WORDS:
        assert words in shown.stdout, (words, shown.stdout)
    assert f"'Studio Nord' (key {creator})" in shown.stdout
    assert f"'Acme AI' (key {acme_1_id})" in shown.stdout
    assert "status        offered, not accepted" in shown.stdout
    assert "verified grant" in shown.stderr

    # ledger offers, with the new key: the offer made to the old one is the party's
    offers = run_ledger("offers", "--key", acme_2, env=user_env)
    assert offers.returncode == 0, offers.stderr
    assert offered(offers.stdout) == [offer]
    assert "in DE and FR" in offers.stdout

    # the old key can no longer sign: said plainly, naming the key to use
    old = run_ledger("accept", "--yes", "--key", acme_1, offer, env=user_env)
    assert_one_line_failure(old, 2, f"your key {acme_1_id} was rotated away", acme_2_id)

    # without --yes and without a terminal: every term shown, nothing signed
    unasked = run_ledger("accept", "--key", acme_2, offer, env=user_env)
    assert_one_line_failure(unasked, 2, "no terminal to ask on", "--yes")
    for words in RICH_WORDS:
        assert words in unasked.stderr, (words, unasked.stderr)
    dry = run_ledger("accept", "--dry-run", "--key", acme_2, offer, env=user_env)
    assert dry.returncode == 0, dry.stderr
    assert "nothing signed" in dry.stderr
    code, screen = run_ledger_tty("accept", "--key", acme_2, offer, answers=["n"], env=user_env)
    assert code == 2, screen
    assert "not confirmed" in screen
    assert log.grant(offer)["accepted_seq"] is None

    # at a terminal, answering yes: the rotated buyer's acceptance is logged (the issue's
    # "names dad1ea1c… as its buyer, not your key e0338dad…" is gone)
    code, screen = run_ledger_tty("accept", "--key", acme_2, offer, answers=["y"], env=user_env)
    assert code == 0, screen
    assert "Accept 1 grant(s) on these terms, signed by 'Acme AI'? [y/N]" in screen
    assert "exclusive" in screen
    assert "attribution required" in screen
    assert "as its buyer" not in screen
    accepted_seq = log.grant(offer)["accepted_seq"]
    assert accepted_seq is not None
    assert f"accepted   {offer}  seq {accepted_seq}" in screen
    shown = run_ledger("show", offer, env=user_env)
    assert f"accepted at seq {accepted_seq}" in shown.stdout

    # a second rotation; a new offer to the newest key, one made and withdrawn: only the open
    # one is offered, whichever key of the party asks
    acme_3, acme_3_id = rotate(tmp_path, user_env, acme_2, "acme-3")
    open_offer = grant(user_env, creator_pem, acme_3_id, tmp_path / "noon.mp4")
    withdrawn = grant(
        user_env, creator_pem, acme_3_id, tmp_path / "dusk.mp4", "--revocable", "--notice-days", "0"
    )
    revoked = run_ledger(
        "revoke", "--key", creator_pem, withdrawn, "--effective", "now", env=user_env
    )
    assert revoked.returncode == 0, revoked.stderr
    offers = run_ledger("offers", "--key", acme_3, env=user_env)
    assert offered(offers.stdout) == [open_offer], offers.stdout
    stale = run_ledger("offers", "--key", acme_1, env=user_env)
    assert offered(stale.stdout) == [open_offer], stale.stdout
    done = run_ledger("accept", "--yes", "--key", acme_3, open_offer, env=user_env)
    assert done.returncode == 0, done.stderr
    none = run_ledger("offers", "--key", acme_3, env=user_env)
    assert none.returncode == 0
    assert offered(none.stdout) == []
    assert "no open offers to 'Acme AI'" in none.stderr


def test_a_rotated_creator_revokes_and_others_are_refused(
    live: LiveServer, user_env: dict[str, str], tmp_path: Path
) -> None:
    log = LogClient(live.url)
    nord_1, _ = party(tmp_path, user_env, "Nord")
    buyer_pem, buyer = party(tmp_path, user_env, "Buyer")
    intruder_pem, _ = party(tmp_path, user_env, "Intruder")
    grant_id = grant(
        user_env, nord_1, buyer, tmp_path / "a.mp4", "--revocable", "--notice-days", "0"
    )
    accepted = run_ledger("accept", "--yes", "--key", buyer_pem, grant_id, env=user_env)
    assert accepted.returncode == 0, accepted.stderr
    nord_2, nord_2_id = rotate(tmp_path, user_env, nord_1, "nord-2")
    nord_3, _ = rotate(tmp_path, user_env, nord_2, "nord-3")

    old = run_ledger("revoke", "--key", nord_2, grant_id, "--effective", "now", env=user_env)
    assert_one_line_failure(old, 2, f"your key {nord_2_id} was rotated away")
    other = run_ledger(
        "revoke", "--key", intruder_pem, grant_id, "--effective", "now", env=user_env
    )
    assert_one_line_failure(other, 4, "as its creator, which is not a key of your party")
    assert log.grant(grant_id)["revoked_seq"] is None

    revoked = run_ledger("revoke", "--key", nord_3, grant_id, "--effective", "now", env=user_env)
    assert revoked.returncode == 0, revoked.stderr
    revoked_seq = log.grant(grant_id)["revoked_seq"]
    assert f"{grant_id}  seq {revoked_seq}" in revoked.stdout
    shown = run_ledger("show", grant_id, "--content", env=user_env)
    assert shown.returncode == 0, shown.stderr
    assert f"revoked at seq {revoked_seq}" in shown.stdout
    assert "'Nord' (key" in shown.stdout

    unregistered = tmp_path / "nobody.pem"
    run_ledger("keygen", "--out", unregistered)
    nobody = run_ledger("offers", "--key", unregistered, env=user_env)
    assert_one_line_failure(nobody, 2, "is not registered in the log", "ledger register")


def test_register_warns_when_the_pseudonym_is_taken_and_asks_at_a_terminal(
    live: LiveServer, user_env: dict[str, str], tmp_path: Path
) -> None:
    """Issue 19: pseudonyms are public and not unique (docs/FORMAT.md §3.2.1), so ``ledger
    register`` asks the log who already uses the name (``GET /v1/parties?pseudonym=``) and says
    so before signing: a script is warned and goes on; a person at a terminal is asked, and
    nothing is signed unless they agree (or gave --yes)."""
    name = f"Twin Films {tmp_path.name[-12:]}"  # unused on this module's server
    log = LogClient(live.url)
    _, first = party(tmp_path, user_env, name)

    second_pem = tmp_path / "second.pem"
    second = value(run_ledger("keygen", "--out", second_pem).stdout, "key_id")
    scripted = run_ledger("register", "--key", second_pem, "--name", name, env=user_env)
    assert scripted.returncode == 0, scripted.stderr  # no terminal: warned, registered
    assert f"the pseudonym {name!r} is already used by 1 other party: {first[:16]}" in (
        scripted.stderr
    )
    assert log.get_json(f"/v1/parties/{second}")["pseudonym"] == name

    third_pem = tmp_path / "third.pem"
    third = value(run_ledger("keygen", "--out", third_pem).stdout, "key_id")
    code, shown = run_ledger_tty(
        "register", "--key", third_pem, "--name", name, answers=["n"], env=user_env
    )
    assert code == 2, shown
    assert "already used by 2 other parties" in shown
    assert second[:16] in shown
    assert "nothing signed: not registered" in shown
    assert [p["party_id"] for p in log.parties_named(name)["parties"]] == [first, second]
    code, shown = run_ledger_tty(
        "register", "--key", third_pem, "--name", name, answers=["y"], env=user_env
    )
    assert code == 0, shown
    assert [p["party_id"] for p in log.parties_named(name)["parties"]] == [first, second, third]

    assert run_ledger("keygen", "--out", tmp_path / "fresh.pem").returncode == 0
    fresh = run_ledger(
        "register", "--key", tmp_path / "fresh.pem", "--name", f"{name} 2", env=user_env
    )
    assert fresh.returncode == 0, fresh.stderr
    assert "already used" not in fresh.stderr
    assert "could not check" not in fresh.stderr
