"""Batches: reads do not verify checksums (neither the blob entry's nor the batch frame's), so flipped bits in a batch are served as data; exposed by corrupt."""


import pyarrow as pa
import pyarrow.ipc as ipc

from persist import persister
from persist.errors import CorruptionError
from persist.storage import batch, file_blob

EXPOSED_BY = {"workload": "append", "nemesis": "corrupt", "blob": "file", "time_limit": 4}


def _decode_parts(head, value, name):
    if len(head) < file_blob.HEADER_SIZE:
        raise CorruptionError(f"blob file {name}: shorter than the header")
    magic, version, reserved, token, length, vcrc = file_blob.HEADER.unpack_from(head, 0)
    if magic != file_blob.MAGIC:
        raise CorruptionError(f"blob file {name}: bad magic")
    # bug: neither the header crc nor the value crc is checked
    return (value if isinstance(value, bytes) else bytes(value)), bytes(token).hex()


def decode_batch(data, name="<batch>"):
    view = memoryview(data)
    if len(view) < batch.HEADER_SIZE:
        raise CorruptionError(f"{name}: shorter than the batch header")
    magic, version, reserved, length, payload_crc, header_crc = batch.HEADER.unpack_from(view, 0)
    if magic != batch.MAGIC:
        raise CorruptionError(f"{name}: bad magic")
    payload = view[batch.HEADER_SIZE:]  # bug: no header or payload crc check
    try:
        return ipc.open_stream(pa.py_buffer(payload)).read_all()
    except Exception as e:  # what Arrow itself refuses is still reported as corruption
        raise CorruptionError(f"{name}: payload is not a valid Arrow IPC stream: {e}") from e


file_blob._decode_parts = _decode_parts
batch.decode_batch = decode_batch
persister.decode_batch = decode_batch
