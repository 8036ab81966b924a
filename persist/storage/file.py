"""Local-file storage: :class:`FileBlob` (a directory of checked entries) and
:class:`FileWal` (segmented, group-committed log). Each lives in its own
module (``file_blob``, ``file_wal``) with its byte layout at the top; this
module only gathers them."""

from persist.storage.file_blob import FileBlob
from persist.storage.file_wal import FileWal

__all__ = ["FileBlob", "FileWal"]
