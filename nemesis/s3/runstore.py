"""The S3 of one run (``--blob s3``): a moto server and a bucket.

The controller starts it before any worker and stops it after the last one
(and after ``persist.check`` of kept data). The server is a child process on
127.0.0.1 (port 0 unless given) behind the write-serialising middleware with
the fault-rule endpoint (:mod:`nemesis.s3.injector`). It is never a kill
target: its memory is the store, so killing it would destroy what no real
S3 outage destroys.

Workers open ``s3://nemesis-run/loc`` with a local Wal directory, the
server's ``endpoint_url``, dummy credentials and a short read timeout
(:data:`READ_TIMEOUT`), so that the ``s3`` nemesis's ``timeout`` rules hang
just past it instead of past botocore's 60 s default.
"""

from __future__ import annotations

import importlib.util
from typing import Any

from nemesis.s3.server import CREDENTIALS, MotoServer, MotoStartError

BUCKET = "nemesis-run"
PREFIX = "loc"
#: the read timeout the run's S3Blobs use (seconds); timeout rules hang a bit longer
READ_TIMEOUT = 1.0
CONNECT_TIMEOUT = 1.0


def check_available() -> None:
    """Raise :class:`MotoStartError` at once when moto (with its server) is not installed."""
    for mod in ("moto", "werkzeug", "flask", "flask_cors", "boto3"):
        if importlib.util.find_spec(mod) is None:
            raise MotoStartError(f"cannot run on S3: the package {mod!r} is not installed; "
                                 "pip install 'moto[s3]>=5.0.10' flask flask-cors boto3 (or pip install -e .)")


class RunS3:
    def __init__(self, port: int = 0, read_timeout: float = READ_TIMEOUT, rules: list[str] | None = None,
                 log_path: str | None = None) -> None:
        self.server = MotoServer(port=port, log_path=log_path)  # log_path: the server's stderr (requests, tracebacks)
        self.read_timeout = read_timeout
        self.rules = list(rules or [])

    def start(self) -> RunS3:
        """Start the server and create the bucket; :class:`MotoStartError` if either fails."""
        check_available()
        self.server.start()
        try:
            import boto3

            boto3.session.Session().client("s3", **self.server.client_options()).create_bucket(Bucket=BUCKET)
        except Exception as e:
            self.server.stop()
            raise MotoStartError(f"the moto server at {self.server.endpoint_url} started but refused to create "
                                 f"the bucket {BUCKET!r}: {e}") from None
        return self

    @property
    def url(self) -> str:
        return f"s3://{BUCKET}/{PREFIX}"

    @property
    def endpoint_url(self) -> str:
        return self.server.endpoint_url

    def blob_options(self) -> dict[str, Any]:
        return {**CREDENTIALS, "read_timeout": self.read_timeout, "connect_timeout": CONNECT_TIMEOUT}

    def persist_options(self, wal_dir: str) -> dict[str, Any]:
        """Keyword arguments for ``persist.open(self.url, ...)`` in a worker."""
        return {"wal_dir": wal_dir, "endpoint_url": self.endpoint_url, "blob_options": self.blob_options()}

    def check_options(self) -> dict[str, Any]:
        """Keyword arguments for ``persist.check(self.url, ...)``."""
        return {"endpoint_url": self.endpoint_url, "blob_options": self.blob_options()}

    def context(self) -> dict[str, Any]:
        """What the ``s3`` nemesis needs (``RunContext.s3``)."""
        return {"endpoint_url": self.endpoint_url, "bucket": BUCKET, "prefix": PREFIX,
                "read_timeout": self.read_timeout, "rules": list(self.rules), "pid": self.server.pid}

    def dump(self, into: str) -> int:
        """Copy every object of the run's bucket into the directory ``into``
        (key = relative path), for a post-mortem of kept data; returns the count."""
        import os

        import boto3

        client = boto3.session.Session().client("s3", **self.server.client_options())
        n = 0
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=BUCKET):
            for obj in page.get("Contents", []):
                path = os.path.join(into, *obj["Key"].split("/"))
                os.makedirs(os.path.dirname(path), exist_ok=True)
                with open(path, "wb") as f:
                    f.write(client.get_object(Bucket=BUCKET, Key=obj["Key"])["Body"].read())
                n += 1
        return n

    def stop(self) -> None:
        self.server.stop()
