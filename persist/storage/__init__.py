"""Storage layer: the Blob and Wal roles, their implementations, and the batch
byte format. Depends only on :mod:`persist.errors`."""

from persist.storage.batch import UPDATE_SCHEMA, decode_batch, encode_batch, updates_table
from persist.storage.blob import Blob, MemBlob
from persist.storage.file import FileBlob, FileWal
from persist.storage.s3 import S3Blob  # boto3 is imported by S3Blob(), not here
from persist.storage.wal import MemWal, Wal

__all__ = [
    "Blob",
    "MemBlob",
    "FileBlob",
    "S3Blob",
    "Wal",
    "MemWal",
    "FileWal",
    "UPDATE_SCHEMA",
    "encode_batch",
    "decode_batch",
    "updates_table",
]
