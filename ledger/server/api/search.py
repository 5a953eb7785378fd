"""Search by party, grant and content, each answer carrying the seqs that prove it."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView

from ledger.server.api.context import (
    HEX64_PATTERN,
    UUID_PATTERN,
    hex64,
    page_limit,
    path_parameter,
    read_session,
    uuid_param,
)
from ledger.server.api.parsing import Blueprint
from ledger.server.api.schemas import (
    ContentSchema,
    GrantSchema,
    PartiesNamedSchema,
    PartyGrantsArgs,
    PartyGrantsSchema,
    PartySchema,
    PseudonymArgs,
    SearchArgs,
    SearchSchema,
)
from ledger.server.reads import search as search_reads

blp = Blueprint("search", __name__, url_prefix="/v1", description="Parties, grants and content")


@blp.route(
    "/parties/<key_id>",
    parameters=[path_parameter("key_id", HEX64_PATTERN, "a key id: SHA-256 of the raw key")],
)
class Party(MethodView):
    @blp.response(200, PartySchema)
    def get(self, key_id: str) -> dict[str, Any]:
        """The party that holds (or held) a key, with all its keys and their status."""
        with read_session() as session:
            return search_reads.party(session, hex64(key_id, "key_id"))


@blp.route("/parties")
class PartiesNamed(MethodView):
    @blp.arguments(PseudonymArgs, location="query")
    @blp.response(200, PartiesNamedSchema)
    def get(self, args: dict[str, str]) -> dict[str, Any]:
        """The parties registered under a pseudonym (names are public and not unique)."""
        with read_session() as session:
            return search_reads.parties_named(session, args["pseudonym"])


@blp.route(
    "/parties/<key_id>/grants",
    parameters=[path_parameter("key_id", HEX64_PATTERN, "a key id: SHA-256 of the raw key")],
)
class PartyGrants(MethodView):
    @blp.arguments(PartyGrantsArgs, location="query")
    @blp.response(200, PartyGrantsSchema)
    def get(self, args: dict[str, int], key_id: str) -> dict[str, Any]:
        """The grants the party made and received, newest first, and how many in all."""
        limit = page_limit(args.get("limit"))
        with read_session() as session:
            return search_reads.party_grants(session, hex64(key_id, "key_id"), limit)


@blp.route("/search")
class Search(MethodView):
    @blp.arguments(SearchArgs, location="query")
    @blp.response(200, SearchSchema)
    def get(self, args: dict[str, str]) -> dict[str, Any]:
        """What a seq, grant id, content hash, statement hash or key id names in the log."""
        with read_session() as session:
            return search_reads.search(session, args["q"])


@blp.route(
    "/grants/<grant_id>",
    parameters=[path_parameter("grant_id", UUID_PATTERN, "the grant id, a lowercase UUID")],
)
class GrantView(MethodView):
    @blp.response(200, GrantSchema)
    def get(self, grant_id: str) -> dict[str, Any]:
        """A grant with its acceptance and revocation entries."""
        with read_session() as session:
            return search_reads.grant(session, uuid_param(grant_id, "grant_id"))


@blp.route(
    "/content/<sha256>",
    parameters=[path_parameter("sha256", HEX64_PATTERN, "SHA-256 of the content file")],
)
class Content(MethodView):
    @blp.response(200, ContentSchema)
    def get(self, sha256: str) -> dict[str, Any]:
        """Every grant that covers the content with this SHA-256."""
        with read_session() as session:
            return search_reads.content(session, hex64(sha256, "sha256"))
