"""Request bodies, read whole and checked complete before anything acts on them.

Every view that takes a body (single appends, also in ``fastpath``; batches; evidence requests)
reads it through ``read_body``, which reads the WSGI server's input stream itself rather than
through Werkzeug's wrappers: under gunicorn (which terminates every input stream) Werkzeug's
limited stream stops silently at the limit, so a chunked body over it was cut and acted on, and
a body shorter than its Content-Length read as complete; and the chunked-framing errors of
gunicorn's parser escaped as 500s. What ``read_body`` refuses, on every server:

- a Content-Length over the limit, or a chunked body over it (413 ``payload_too_large``: at most
  ``limit + 1`` bytes are read to find out);
- a body that ended before its Content-Length or its last chunk (400 ``incomplete_body``);
- broken framing: a bad chunk size, extension or chunk end, a Content-Length that is not a
  number, or one next to a Transfer-Encoding (400 ``malformed_body``).

A request with neither header has no body (RFC 9112 §6.3), whatever the server would read.
"""

from __future__ import annotations

from typing import IO, Any

from ledger.core.errors import IncompleteBody, LedgerError, MalformedBody, PayloadTooLarge

#: Largest read asked of the server's stream at once.
_READ_STEP = 1 << 20
#: More digits than any body limit has (Python refuses integers of over 4,300 digits).
LENGTH_DIGITS_MAX = 12
#: Where ``request_body`` keeps a body it read, for a second parse of the same request.
_ENVIRON_KEY = "ledger.body"


def read_body(environ: dict[str, Any], limit: int) -> bytes:
    """The whole body of the request, at most ``limit`` bytes; raises PayloadTooLarge,
    IncompleteBody or MalformedBody (never a server's own exception)."""
    length = environ.get("CONTENT_LENGTH") or ""
    chunked = "HTTP_TRANSFER_ENCODING" in environ
    stream: IO[bytes] = environ["wsgi.input"]
    if length:
        if chunked:  # two framings: which one a proxy in front used is unknown (smuggling)
            raise MalformedBody("the request has both Content-Length and Transfer-Encoding")
        if not (length.isascii() and length.isdigit()):
            raise MalformedBody("Content-Length must be a decimal number of bytes")
        digits = length.lstrip("0") or "0"  # 1*DIGIT: leading zeros are allowed
        if len(digits) > LENGTH_DIGITS_MAX or int(digits) > limit:
            raise PayloadTooLarge(f"the request body may be at most {limit} bytes")
        expected = int(digits)
        data = _read(stream, expected)
        if len(data) < expected:
            raise IncompleteBody(
                f"the body ended after {len(data)} of its {expected} bytes (Content-Length)"
            )
        return data
    if not chunked:
        return b""
    data = _read(stream, limit + 1)  # the server decodes the chunks and ends the stream
    if len(data) > limit:
        raise PayloadTooLarge(f"the request body may be at most {limit} bytes")
    return data


def request_body(environ: dict[str, Any], limit: int) -> bytes:
    """``read_body``, once per request: a second call returns the same bytes."""
    data: bytes | None = environ.get(_ENVIRON_KEY)
    if data is None:
        data = environ[_ENVIRON_KEY] = read_body(environ, limit)
    return data


def _read(stream: IO[bytes], most: int) -> bytes:
    """Up to ``most`` bytes of ``stream``, fewer only at its end."""
    parts: list[bytes] = []
    got = 0
    try:
        while got < most:
            part = stream.read(min(most - got, _READ_STEP))
            if not part:
                break
            parts.append(part)
            got += len(part)
    except Exception as error:  # the server's parser met the body's framing
        raise _framing_error(error) from error
    return parts[0] if len(parts) == 1 else b"".join(parts)


def _framing_error(error: Exception) -> LedgerError:
    """Our error for an exception the server's input stream raised while reading the body.

    gunicorn raises ``NoMoreData`` (an OSError) when the connection ends inside the body, and its
    ``ParseException``s for broken chunked framing; Werkzeug's development server raises
    OSError or ValueError for both (it cannot tell a cut-short chunked body from a broken one).
    Anything else is not about the body and is left to the caller.
    """
    names = {cls.__name__ for cls in type(error).__mro__}
    if "NoMoreData" in names or isinstance(error, ConnectionError | TimeoutError):
        return IncompleteBody("the body ended before it was complete (the connection closed)")
    if "ParseException" in names or isinstance(error, OSError | ValueError):
        return MalformedBody(f"the body's chunked framing is broken: {error}"[:200])
    raise error
