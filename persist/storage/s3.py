"""S3Blob: the Blob role on S3 (AWS, MinIO, or a moto server), through boto3.

Object keys: ``prefix + key``. A non-empty ``prefix`` that does not end in
``/`` gets one, so ``S3Blob("b", prefix="run1")`` stores key ``meta`` as
``run1/meta``. Values are stored as given (batches carry their own frame).

Version tokens are S3 ETags (opaque strings, quotes included). An ETag is the
MD5 of the body (on moto always, on AWS for single-part puts), so two writes
of the same bytes have the same token: callers that need compare-and-set
without ABA must put a nonce or counter in the value (persist's metadata
record does). ``compare_and_set`` is ``PutObject`` with ``IfNoneMatch="*"``
(create-only) or ``IfMatch=<etag>``.

Retries are botocore's "standard" mode with ``total_max_attempts`` attempts
(botocore's ``max_attempts`` would count *retries*). Every attempt's outcome
is watched through botocore's ``needs-retry`` event, and a failed call is
classified from the whole sequence:

========================================  =======================  ===========================
outcome                                   read (get, list)         write (set, CAS, delete)
========================================  =======================  ===========================
404 NoSuchKey                             ``None`` / absent        CAS on a version: Conflict
412 / 409 with no earlier doubtful try    --                       ``ConflictError``
412 / 409 after an earlier doubtful try   --                       ``StorageIndeterminateError``
other 4xx, no earlier doubtful try        ``StorageUnavailable``   ``StorageUnavailableError``
5xx (after all retries)                   ``StorageUnavailable``   ``StorageIndeterminateError``
connection refused / connect timeout      ``StorageUnavailable``   determinate unless an earlier
(nothing was sent)                                                 try was doubtful
read timeout, connection dropped/reset    ``StorageUnavailable``   ``StorageIndeterminateError``
========================================  =======================  ===========================

A *doubtful* try is one that may have been applied: a 5xx, a read timeout, a
dropped connection. A failed read has no effect, so it is always determinate.
(A create-only put whose first try was applied but whose answer was lost gets
412 on the retry: that is the classic indeterminate case.)

boto3 is imported when the first S3Blob is constructed, not when this module
is imported, so processes that never touch S3 do not pay for it.
"""

from __future__ import annotations

import threading
from typing import Any

from persist.errors import ConflictError, InvalidArgumentError, StorageIndeterminateError, StorageUnavailableError

class _Missing(Exception):
    """Internal: the object does not exist (404 NoSuchKey)."""


#: Said by every failed read: a read changes nothing, so it is determinate.
READ_HINT = (
    "; a read has no effect, so nothing changed: try again (if it keeps failing, check that the "
    "endpoint is up and reachable and the credentials allow reading)"
)

DEFAULT_TOTAL_MAX_ATTEMPTS = 3
DEFAULT_CONNECT_TIMEOUT = 2.0
DEFAULT_READ_TIMEOUT = 10.0


class S3Blob:
    """A Blob in ``bucket`` under ``prefix``. One boto3 client per instance.

    ``endpoint_url`` points at moto, MinIO or another S3; ``client_options``
    go to ``boto3.session.Session().client("s3", ...)`` (credentials,
    ``region_name``, a botocore ``config`` merged over ours). The constructor
    checks the bucket with ``HeadBucket`` and raises
    :class:`StorageUnavailableError` in one line when the endpoint cannot be
    reached, the bucket does not exist, or access is denied."""

    def __init__(
        self,
        bucket: str,
        prefix: str = "",
        endpoint_url: str | None = None,
        *,
        total_max_attempts: int = DEFAULT_TOTAL_MAX_ATTEMPTS,
        connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
        read_timeout: float = DEFAULT_READ_TIMEOUT,
        **client_options: Any,
    ) -> None:
        import boto3
        import botocore.config
        import botocore.exceptions as bce

        self._bce = bce
        if not bucket:
            raise InvalidArgumentError("S3Blob needs a bucket name")
        self.bucket = bucket
        self.prefix = prefix if (not prefix or prefix.endswith("/")) else prefix + "/"
        self.endpoint_url = endpoint_url
        config = botocore.config.Config(
            retries={"total_max_attempts": total_max_attempts, "mode": "standard"},
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
        )
        user_config = client_options.pop("config", None)
        if user_config is not None:
            config = config.merge(user_config)
        self._where = f"s3://{bucket}/{self.prefix}" + (f" at {endpoint_url}" if endpoint_url else "")
        try:
            self._client = boto3.session.Session().client("s3", endpoint_url=endpoint_url, config=config, **client_options)
        except (bce.BotoCoreError, ValueError) as e:
            raise StorageUnavailableError(f"cannot make an S3 client for {self._where}: {e}") from None
        self._tl = threading.local()
        self._client.meta.events.register("needs-retry.s3", self._on_attempt, unique_id=f"persist-s3blob-{id(self)}")
        self._check_bucket()

    # --- classification ---------------------------------------------------

    def _on_attempt(self, response=None, caught_exception=None, **_: Any) -> None:
        """botocore calls this after every attempt; we note whether it may have applied."""
        log = getattr(self._tl, "attempts", None)
        if log is None:
            return None
        if caught_exception is not None:
            never_sent = isinstance(caught_exception, (self._bce.EndpointConnectionError, self._bce.ConnectTimeoutError))
            log.append(not never_sent)
        elif response is not None:
            status = response[0].status_code
            log.append(status >= 500)
        return None  # never decides a retry itself

    def _call(self, op: str, write: bool, key: str | None, **kwargs: Any) -> Any:
        """Run one client operation; translate every failure (see the module table)."""
        self._tl.attempts = []
        try:
            return getattr(self._client, op)(**kwargs)
        except self._bce.ClientError as e:
            if e.response.get("Error", {}).get("Code") in ("NoSuchKey", "404") and key is not None:
                if not write or not self._earlier_doubtful():
                    raise _Missing() from None
            raise self._client_error(op, write, key, e) from None
        except self._bce.NoCredentialsError:
            raise StorageUnavailableError(
                f"no AWS credentials for {self._where}; set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY "
                "or pass aws_access_key_id=/aws_secret_access_key= to S3Blob"
            ) from None
        except self._bce.BotoCoreError as e:
            raise self._transport_error(op, write, key, e) from None
        finally:
            self._tl.attempts = None

    def _earlier_doubtful(self) -> bool:
        log = self._tl.attempts or []
        return any(log[:-1])

    def _what(self, op: str, key: str | None) -> str:
        return f"S3 {op}" + (f" of {key!r}" if key is not None else "") + f" in {self._where}"

    def _client_error(self, op: str, write: bool, key: str | None, e: Any) -> Exception:
        status = e.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        code = e.response.get("Error", {}).get("Code", "?")
        msg = e.response.get("Error", {}).get("Message", "")
        what = self._what(op, key)
        attempts = len(self._tl.attempts or []) or 1
        if code == "NoSuchBucket":
            return StorageUnavailableError(f"{what}: the bucket {self.bucket!r} does not exist (any more); create it")
        if not write:
            return StorageUnavailableError(f"{what} failed: {status} {code} {msg}".rstrip() + READ_HINT)
        if status >= 500:
            return StorageIndeterminateError(
                f"{what}: {status} {code} after {attempts} attempt(s); the write may or may not have been applied"
            )
        if self._earlier_doubtful():
            return StorageIndeterminateError(
                f"{what}: {status} {code} on attempt {attempts} after an earlier attempt that may have been applied; "
                "outcome unknown"
            )
        if status in (409, 412):
            return ConflictError(f"{what}: conditional write lost ({status} {code}); re-read the key and retry")
        if status in (401, 403):
            return StorageUnavailableError(f"{what}: access denied ({status} {code}); check the credentials and policy")
        return StorageUnavailableError(f"{what} refused: {status} {code} {msg}; nothing was written".rstrip())

    def _transport_error(self, op: str, write: bool, key: str | None, e: Exception) -> Exception:
        what = self._what(op, key)
        never_sent = isinstance(e, (self._bce.EndpointConnectionError, self._bce.ConnectTimeoutError))
        if not write or (never_sent and not self._earlier_doubtful()):
            hint = "; is the endpoint up?" if never_sent else ""
            if not write:
                return StorageUnavailableError(f"{what} failed: {e}{hint}{READ_HINT}")
            return StorageUnavailableError(f"{what} failed: {e}{hint}; nothing was sent, so nothing was written")
        return StorageIndeterminateError(f"{what}: {e}; the write may or may not have been applied")

    def _check_bucket(self) -> None:
        where = self.endpoint_url or "AWS"
        try:
            self._client.head_bucket(Bucket=self.bucket)
        except self._bce.ClientError as e:
            status = e.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
            if status == 404:
                raise StorageUnavailableError(
                    f"the bucket {self.bucket!r} does not exist at {where}; create it first or fix the bucket name"
                ) from None
            if status in (401, 403):
                raise StorageUnavailableError(
                    f"access to the bucket {self.bucket!r} at {where} is denied ({status}); check the credentials"
                ) from None
            raise StorageUnavailableError(f"cannot use the bucket {self.bucket!r} at {where}: {e}") from None
        except self._bce.NoCredentialsError:
            raise StorageUnavailableError(
                f"no AWS credentials for {self._where}; set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY "
                "or pass aws_access_key_id=/aws_secret_access_key= to S3Blob"
            ) from None
        except (self._bce.EndpointConnectionError, self._bce.ConnectTimeoutError):
            raise StorageUnavailableError(
                f"cannot reach the S3 endpoint {where}: connection failed; start the server or fix endpoint_url"
            ) from None
        except self._bce.BotoCoreError as e:
            raise StorageUnavailableError(f"cannot use the bucket {self.bucket!r} at {where}: {e}") from None

    # --- the Blob role ----------------------------------------------------

    def _key(self, key: str) -> str:
        if not isinstance(key, str) or not key:
            raise InvalidArgumentError(f"a blob key must be a non-empty string, got {key!r}")
        return self.prefix + key

    def get(self, key: str) -> bytes | None:
        got = self.get_versioned(key)
        return None if got is None else got[0]

    def get_versioned(self, key: str) -> tuple[bytes, str] | None:
        try:
            resp = self._call("get_object", False, key, Bucket=self.bucket, Key=self._key(key))
        except _Missing:
            return None
        try:
            body = resp["Body"].read()
        except self._bce.BotoCoreError as e:  # connection dropped mid-body
            raise StorageUnavailableError(f"{self._what('get_object', key)}: reading the body failed: {e}{READ_HINT}") from None
        return body, resp["ETag"]

    def set(self, key: str, value: bytes) -> None:
        self._call("put_object", True, key, Bucket=self.bucket, Key=self._key(key), Body=bytes(value))

    def compare_and_set(self, key: str, expected: str | None, value: bytes) -> str:
        cond = {"IfNoneMatch": "*"} if expected is None else {"IfMatch": expected}
        try:
            resp = self._call("put_object", True, key, Bucket=self.bucket, Key=self._key(key), Body=bytes(value), **cond)
        except _Missing:
            raise ConflictError(
                f"compare_and_set on {key!r} expected version {expected!r} but the key is absent; re-read and retry"
            ) from None
        return resp["ETag"]

    def delete(self, key: str) -> None:
        try:
            self._call("delete_object", True, key, Bucket=self.bucket, Key=self._key(key))
        except _Missing:
            pass

    def list_keys(self, prefix: str = "") -> list[str]:
        full = self.prefix + prefix
        keys: list[str] = []
        token = None
        while True:
            kwargs: dict[str, Any] = {"Bucket": self.bucket, "Prefix": full}
            if token:
                kwargs["ContinuationToken"] = token
            resp = self._call("list_objects_v2", False, None, **kwargs)
            keys.extend(obj["Key"][len(self.prefix) :] for obj in resp.get("Contents", []))
            if not resp.get("IsTruncated"):
                break
            token = resp["NextContinuationToken"]
        return sorted(keys)

    def close(self) -> None:
        self._client.close()

    def __repr__(self) -> str:
        return f"S3Blob({self._where!r})"
