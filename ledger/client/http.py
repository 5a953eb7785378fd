"""A small HTTP client for the log's v1 API, standard library only.

It fetches and decodes; it does **not** decide whether to believe what it gets. Everything it
returns is checked by the caller with ``ledger.core`` (signatures, proofs, checkpoints) before
it is trusted: the CLI and the auditors never take the server's word.

Errors: ``ServerError`` when the server cannot be reached or answers with something that is not
the API (5xx, not JSON), with ``details["retryable"]`` true when the request may have been acted
on though no answer says so (a 5xx, a lost connection; see ``ledger.client.submit``);
``ServerRefused`` (a subclass) when it answered with a problem+json 4xx, whose ``code`` and
``status`` are kept (both live in ``ledger.core.errors`` with the rest of the exception tree, and
are re-exported here).
"""

from __future__ import annotations

import http.client
import json
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

from ledger.core.errors import ServerError, ServerRefused

__all__ = ["LogClient", "ServerError", "ServerRefused"]

USER_AGENT = "consent-ledger-client/1"


class LogClient:
    """The log at ``base_url`` (e.g. ``http://127.0.0.1:8000``)."""

    def __init__(self, base_url: str, timeout: float = 60.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout

    # --- transport --------------------------------------------------------------------------------

    def request(
        self,
        method: str,
        path: str,
        params: dict[str, Any] | None = None,
        body: Any = None,
        *,
        data: bytes | None = None,
    ) -> tuple[int, str, bytes]:
        """One request; returns ``(status, content_type, body)`` for 2xx, raises otherwise.

        ``body`` is encoded as JSON; ``data`` is sent as it is (JSON bytes encoded once, so that
        a retry resends exactly the same bytes). A ServerError whose ``retryable`` is true (a
        5xx, or a connection lost or refused) may or may not have been acted on.
        """
        query = {k: v for k, v in (params or {}).items() if v is not None}
        url = self.base_url + path + (f"?{urllib.parse.urlencode(query)}" if query else "")
        if data is None and body is not None:
            data = json.dumps(body).encode()
        req = urllib.request.Request(url, data=data, method=method)  # noqa: S310 - http(s) only
        req.add_header("User-Agent", USER_AGENT)
        if data is not None:
            req.add_header("Content-Type", "application/json")
        if not url.startswith(("http://", "https://")):
            raise ServerError(f"not an http(s) URL: {url}")
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:  # noqa: S310
                return resp.status, resp.headers.get("Content-Type", ""), resp.read()
        except urllib.error.HTTPError as e:
            raise self._refusal(method, path, e.code, e.read()) from e
        except (urllib.error.URLError, OSError, http.client.HTTPException) as e:
            # refused, reset, timed out, or closed before a whole answer (RemoteDisconnected,
            # IncompleteRead): the request may have been acted on all the same
            reason = getattr(e, "reason", e)
            if isinstance(reason, TimeoutError):  # socket.timeout is TimeoutError since 3.10
                raise ServerError(
                    f"no answer from {self.base_url} within {self.timeout:g} s", retryable=True
                ) from e
            raise ServerError(f"cannot reach {self.base_url}: {reason}", retryable=True) from e

    def _refusal(self, method: str, path: str, status: int, body: bytes) -> ServerError:
        try:
            problem = json.loads(body)
        except ValueError:
            problem = None
        if not isinstance(problem, dict):
            return ServerError(
                f"{method} {path}: HTTP {status} from {self.base_url}",
                retryable=status >= 500,
                http_status=status,
            )
        detail = problem.get("detail") or problem.get("title") or ""
        message = f"{method} {path}: {status} {problem.get('code', '')}: {detail}"
        if status >= 500:
            return ServerError(message, retryable=True, http_status=status)
        return ServerRefused(message, status, problem)

    def get_json(self, path: str, **params: Any) -> Any:
        return _json(self.request("GET", path, params)[2], path)

    def get_text(self, path: str, **params: Any) -> str:
        try:
            return self.request("GET", path, params)[2].decode("utf-8", errors="strict")
        except UnicodeDecodeError as e:
            raise ServerError(f"{path}: the server's answer is not UTF-8 text") from e

    def post_json(self, path: str, body: Any) -> Any:
        return _json(self.request("POST", path, None, body)[2], path)

    # --- the v1 API -------------------------------------------------------------------------------

    def log_info(self) -> dict[str, Any]:
        return _object(self.get_json("/v1/log"))

    def checkpoint(self, tree_size: int | None = None) -> str:
        """The signed note, as text (verify it with ``ledger.core.checkpoint.open_checkpoint``)."""
        return self.get_text("/v1/checkpoint", tree_size=tree_size)

    def entry(self, seq: int) -> dict[str, Any]:
        return _object(self.get_json(f"/v1/entries/{int(seq)}"))

    def entries(self, start: int, limit: int) -> dict[str, Any]:
        return _object(self.get_json("/v1/entries", start=start, limit=limit))

    def inclusion_proof(self, seq: int, tree_size: int) -> dict[str, Any]:
        return _object(self.get_json("/v1/proofs/inclusion", seq=seq, tree_size=tree_size))

    def consistency_proof(self, first: int, second: int) -> dict[str, Any]:
        return _object(self.get_json("/v1/proofs/consistency", first=first, second=second))

    def map_proof(self, key: bytes, tree_size: int | None = None) -> dict[str, Any]:
        """``GET /v1/map/proof``: the licence map's value for ``key`` (its bytes) and its proof
        at ``tree_size`` (default: the latest checkpoint); verify with ``core.vmap``."""
        return _object(self.get_json("/v1/map/proof", key=key.hex(), tree_size=tree_size))

    def map_node(self, node_hash: bytes) -> dict[str, Any]:
        """``GET /v1/map/node/{hash}``: a stored licence map node (``core.mapaudit.node_from_json``
        reads it; ``checked_reader`` checks it against its hash)."""
        return _object(self.get_json(f"/v1/map/node/{node_hash.hex()}"))

    def append(self, envelope: dict[str, Any] | bytes) -> dict[str, Any]:
        """``POST /v1/entries``: one signed envelope (a dict, or its JSON bytes to send as is)."""
        return _object(self._post("/v1/entries", envelope))

    def append_batch(self, envelopes: list[dict[str, Any]] | bytes) -> dict[str, Any]:
        """``POST /v1/entries/batch``: envelopes (a list, or the request's JSON bytes)."""
        body = envelopes if isinstance(envelopes, bytes) else {"statements": envelopes}
        return _object(self._post("/v1/entries/batch", body))

    def _post(self, path: str, body: Any) -> Any:
        if isinstance(body, bytes):
            return _json(self.request("POST", path, data=body)[2], path)
        return self.post_json(path, body)

    def grant(self, grant_id: str) -> dict[str, Any]:
        """``GET /v1/grants/{id}``: the grant's entry, with its acceptance and revocation."""
        return _object(self.get_json(f"/v1/grants/{urllib.parse.quote(grant_id, safe='')}"))

    def parties_named(self, pseudonym: str) -> dict[str, Any]:
        """``GET /v1/parties?pseudonym=``: the parties registered under ``pseudonym``."""
        return _object(self.get_json("/v1/parties", pseudonym=pseudonym))

    def party_grants(self, key_id: str, limit: int | None = None) -> dict[str, Any]:
        """``GET /v1/parties/{key_id}/grants``: the grants the party holding ``key_id`` made and
        received (the latest ``limit`` of each, newest first), and how many in all."""
        return _object(self.get_json(f"/v1/parties/{_hex_path(key_id)}/grants", limit=limit))

    def entry_proof(self, seq: int) -> str:
        """Entry ``seq``'s c2sp.org/tlog-proof@v1 file (verify with ``core.tlogproof``)."""
        return self.get_text(f"/v1/entries/{int(seq)}/proof")

    def receipt(self, seq: int, tree_size: int | None = None) -> bytes:
        """Entry ``seq``'s COSE receipt (RFC 9942; verify with ``core.receipts``) at the
        published size, or at ``tree_size`` (the size of a published checkpoint)."""
        params = None if tree_size is None else {"tree_size": int(tree_size)}
        return self.request("GET", f"/v1/entries/{int(seq)}/receipt", params)[2]

    def tlog_checkpoint(self) -> str:
        """The published (cosigned, with a witness policy) checkpoint of the tlog-tiles API."""
        return self.get_text("/tlog/checkpoint")

    def status(
        self, sha256: str, buyer: str, use: str, at: str | None = None, *, receipts: bool = False
    ) -> dict[str, Any]:
        """The verdict for one item with a one-item evidence bundle (verify it before use); with
        ``receipts``, the bundle carries its entries' COSE receipts."""
        flag = "1" if receipts else None
        path = f"/v1/content/{sha256}/status"
        return _object(self.get_json(path, buyer=buyer, use=use, at=at, receipts=flag))

    def account(self, key_id: str, start: str | None = None, end: str | None = None) -> Any:
        """A party's account bundle over [start, end) (verify it with
        ``ledger.core.evidence.account``)."""
        params = {"from": start, "to": end}
        return _object(self.get_json(f"/v1/parties/{key_id}/account", **params))

    def evidence(
        self,
        buyer: str,
        use: str,
        content: list[str],
        at: str | None = None,
        *,
        receipts: bool = False,
    ) -> dict[str, Any]:
        """An evidence bundle for ``content`` (verify it with ``ledger.core.evidence``); with
        ``receipts``, carrying each entry's COSE receipt (docs/FORMAT.md §13.2)."""
        body: dict[str, Any] = {"buyer": buyer, "use": use, "content": content}
        if at is not None:
            body["at"] = at
        path = "/v1/evidence?receipts=1" if receipts else "/v1/evidence"
        return _object(self.post_json(path, body))


def _hex_path(value: str) -> str:
    return urllib.parse.quote(value, safe="")


def _json(body: bytes, path: str) -> Any:
    try:
        return json.loads(body)
    except ValueError as e:
        raise ServerError(f"{path}: the server's answer is not JSON") from e


def _object(value: Any) -> dict[str, Any]:
    """The API answers with JSON objects; anything else is not the API (ServerError)."""
    if not isinstance(value, dict):
        raise ServerError("the server's answer is not a JSON object")
    return value
