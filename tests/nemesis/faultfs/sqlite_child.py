"""Child for test_sqlite: commit one row per transaction to SQLite (WAL) and report each commit.

    python sqlite_child.py DB SYNCHRONOUS

Prints ``ready`` once the table exists, then ``<id>`` after each commit returned. Runs until killed.
"""

import sqlite3
import sys

db = sqlite3.connect(sys.argv[1], isolation_level=None)
assert db.execute("pragma journal_mode=wal").fetchone()[0] == "wal"
db.execute(f"pragma synchronous={sys.argv[2]}")
db.execute("create table if not exists t(id integer primary key, pad text)")
print("ready", flush=True)
i = 0
while True:
    i += 1
    db.execute("begin")
    db.execute("insert into t values(?, ?)", (i, "x" * 300))
    db.execute("commit")
    print(i, flush=True)
