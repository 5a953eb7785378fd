"""An S3-compatible bucket as a static tlog-tiles store (``statictiles.ObjectStore``), via boto3.

Objects go under the settings' key prefix in their bucket (``Config.static_s3_*``) with the
``Content-Type`` and ``Cache-Control`` that ``/tlog/`` sends, so that anonymous GETs of the bucket
(or a CDN in front of it) answer exactly as the app does. Immutable objects are written with
``If-None-Match: *`` (S3 conditional writes): the store refuses to overwrite one, with 412. The
checkpoint is written with ``If-Match`` the ETag read before the round (``If-None-Match: *``
when there was none), so two publishers can never move it back. Credentials come from boto3's
usual chain (``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY``, a profile, an instance role);
only the publisher needs them: readers need none.
"""

from __future__ import annotations

from typing import Any

import boto3
from botocore.config import Config as BotoConfig
from botocore.exceptions import BotoCoreError, ClientError

from ledger.core.errors import Unavailable
from ledger.server.config import Config
from ledger.server.reads.tlog import CHECKPOINT_CACHE, TEXT
from ledger.server.statictiles import CHECKPOINT_KEY, Outcome, StoredCheckpoint

#: S3's answer to a conditional write whose condition failed, and to two at once on one key.
_PRECONDITION_FAILED = ("PreconditionFailed", "412")
_CONCURRENT = ("ConditionalRequestConflict", "409")
_MISSING = ("NoSuchKey", "404", "NotFound")
_RETRIES = 3


class S3Store:
    """A bucket and key prefix holding one log's tlog-tiles objects."""

    name = "s3"

    def __init__(self, client: Any, bucket: str, prefix: str = "") -> None:
        self.client = client
        self.bucket = bucket
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""

    @classmethod
    def from_config(cls, config: Config) -> S3Store:
        """The bucket the settings name (``Config.static_s3_*``); path-style addressing when an
        endpoint is given (S3-compatible servers), the SDK's default for AWS itself."""
        style = "path" if config.static_s3_endpoint else "auto"
        client = boto3.client(
            "s3",
            endpoint_url=config.static_s3_endpoint or None,
            config=BotoConfig(
                s3={"addressing_style": style},
                retries={"max_attempts": 5, "mode": "standard"},
                max_pool_connections=16,
            ),
        )
        return cls(client, config.static_s3_bucket, config.static_s3_prefix)

    def create(self, key: str, data: bytes, content_type: str, cache_control: str) -> Outcome:
        for _ in range(_RETRIES):
            try:
                self.client.put_object(
                    Bucket=self.bucket,
                    Key=self.prefix + key,
                    Body=data,
                    ContentType=content_type,
                    CacheControl=cache_control,
                    IfNoneMatch="*",
                )
                return Outcome.WRITTEN
            except ClientError as e:
                if _code(e) in _CONCURRENT:
                    continue  # another writer's PUT of the same key in flight: try again
                if _code(e) not in _PRECONDITION_FAILED:
                    raise self._unavailable(key, e) from e
            except BotoCoreError as e:
                raise self._unavailable(key, e) from e
            stored = self._get(key)
            if stored is not None:
                return Outcome.DUPLICATE if stored[0] == data else Outcome.CONFLICT
        raise Unavailable(f"s3://{self.bucket}/{self.prefix}{key}: conditional write kept failing")

    def read_checkpoint(self) -> StoredCheckpoint | None:
        got = self._get(CHECKPOINT_KEY)
        return None if got is None else StoredCheckpoint(*got)

    def replace_checkpoint(self, data: bytes, expected: StoredCheckpoint | None) -> bool:
        condition = {"IfNoneMatch": "*"} if expected is None else {"IfMatch": expected.version}
        try:
            self.client.put_object(
                Bucket=self.bucket,
                Key=self.prefix + CHECKPOINT_KEY,
                Body=data,
                ContentType=TEXT,
                CacheControl=CHECKPOINT_CACHE,
                **condition,
            )
        except ClientError as e:
            if _code(e) in _PRECONDITION_FAILED + _CONCURRENT:
                return False
            raise self._unavailable(CHECKPOINT_KEY, e) from e
        except BotoCoreError as e:
            raise self._unavailable(CHECKPOINT_KEY, e) from e
        return True

    def _get(self, key: str) -> tuple[bytes, str] | None:
        """The object's bytes and ETag, or None if it does not exist."""
        try:
            got = self.client.get_object(Bucket=self.bucket, Key=self.prefix + key)
            return got["Body"].read(), str(got["ETag"])
        except ClientError as e:
            if _code(e) in _MISSING:
                return None
            raise self._unavailable(key, e) from e
        except BotoCoreError as e:
            raise self._unavailable(key, e) from e

    def _unavailable(self, key: str, error: Exception) -> Unavailable:
        names = ", ".join(Config.variable(n) for n in ("static_s3_endpoint", "static_s3_bucket"))
        return Unavailable(
            f"s3://{self.bucket}/{self.prefix}{key}: {error} (check {names} and the "
            "publisher's AWS credentials)"
        )


def _code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))
