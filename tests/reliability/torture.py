"""The crash-torture client: keeps appending through kills and restarts of the server.

It runs in a spawned process (``tests.support.audit_helpers.ClientProcesses``). The server's URL
lives in ``url_file`` (a restarted server listens on a new port). Each group of statements is sent
until its fate is known: a 201 (or a batch's 201s) is an acknowledgement; a 409
``duplicate_statement`` means an earlier attempt committed but its answer was lost to a kill
(present, never acknowledged); a refused connection, a reset or a 5xx means "unknown: send it
again". Anything else is a bug and ends the client with an error.
"""

from __future__ import annotations

import time
import traceback
from pathlib import Path
from typing import Any

#: Give up on a group when the server has not answered for this long.
PATIENCE_SECONDS = 90.0


def run_torture_client(
    barrier: Any, out: Any, client_id: int, url_file: str, stop_file: str, per_workload: int
) -> None:
    """Append workloads until ``stop_file`` exists; put ``(client_id, acks, error)`` on ``out``."""
    import requests

    from tests.support.audit_helpers import workload

    acks: list[dict[str, Any]] = []
    error = None
    try:
        barrier.wait(60)
        http = requests.Session()
        generation = 0
        while not Path(stop_file).exists():
            for group in workload(client_id * 10_000 + generation, per_workload):
                http = _deliver(http, group, Path(url_file), acks)
                if Path(stop_file).exists():
                    break
            generation += 1
    except Exception:
        error = traceback.format_exc()
    out.put((client_id, acks, error))


def _deliver(http: Any, group: list[Any], url_file: Path, acks: list[dict[str, Any]]) -> Any:
    """Send ``group`` until it is known to be in the log; returns the session to use next."""
    import requests

    deadline = time.monotonic() + PATIENCE_SECONDS
    envelopes = [s.to_json() for s in group]
    while time.monotonic() < deadline:
        url = url_file.read_text()
        try:
            if len(envelopes) == 1:
                resp = http.post(f"{url}/v1/entries", json=envelopes[0], timeout=20)
            else:
                resp = http.post(
                    f"{url}/v1/entries/batch", json={"statements": envelopes}, timeout=20
                )
        except requests.RequestException:
            http = requests.Session()  # the old connection died with the worker
            time.sleep(0.05)
            continue
        if resp.status_code >= 500:
            time.sleep(0.05)
            continue
        _record(resp, len(envelopes), acks)
        return http
    raise RuntimeError(f"no answer for {PATIENCE_SECONDS:.0f} s")


def _record(resp: Any, count: int, acks: list[dict[str, Any]]) -> None:
    body = resp.json()
    keys = ("seq", "leaf_hash", "statement_hash", "tree_size")
    if count == 1 and resp.status_code == 201:
        acks.append({k: body[k] for k in keys})
        return
    if count == 1 and resp.status_code == 409 and body.get("code") == "duplicate_statement":
        return  # committed by an attempt whose answer was lost
    if count > 1 and resp.status_code == 200:
        for item in body["results"]:
            if item["status"] == 201:
                acks.append({**{k: item[k] for k in keys[:3]}, "tree_size": body["tree_size"]})
            elif item["error"]["code"] != "duplicate_statement":
                raise RuntimeError(f"batch item refused: {item}")
        return
    raise RuntimeError(f"refused: {resp.status_code} {resp.text[:500]}")
