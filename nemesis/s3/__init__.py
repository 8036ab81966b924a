"""The S3 the tests and the harness talk to: a moto server in its own process
behind a WSGI middleware that serialises writes and carries the hooks where
S3 fault rules plug in. See :mod:`nemesis.s3.server` and
:mod:`nemesis.s3.middleware`."""

from nemesis.s3.server import CREDENTIALS, MotoServer, MotoStartError

__all__ = ["MotoServer", "MotoStartError", "CREDENTIALS"]
