"""Killable child processes for tests: own session (killpg), stdout lines
collected by a thread, reaped with psutil."""

import os
import signal
import subprocess
import sys
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


class Child:
    def __init__(self, *args, env=None):
        full_env = dict(os.environ)
        full_env.update(env or {})
        full_env["PYTHONPATH"] = ROOT + os.pathsep + full_env.get("PYTHONPATH", "")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.persist.procs.child", *map(str, args)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True, env=full_env, cwd=ROOT,
        )
        self.lines: list[str] = []
        self._err = bytearray()  # stderr, drained all along (an unread pipe that fills would stall the child)
        self._cv = threading.Condition()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self._err_reader = threading.Thread(target=self._read_err, daemon=True)
        self._err_reader.start()

    def _read_err(self):
        for chunk in iter(lambda: self.proc.stderr.read1(65536), b""):
            self._err += chunk
            del self._err[:-20000]  # keep the tail

    def _read(self):
        for raw in self.proc.stdout:
            with self._cv:
                self.lines.append(raw.decode().rstrip("\n"))
                self._cv.notify_all()
        with self._cv:
            self._cv.notify_all()

    def wait_for(self, pred, limit=60.0):
        """Wait until ``pred(lines)`` holds (the limit is only a hang guard)."""
        deadline = time.monotonic() + limit
        with self._cv:
            while not pred(self.lines):
                left = deadline - time.monotonic()
                if left <= 0 or (self.proc.poll() is not None and not self._reader.is_alive()):
                    if self.proc.poll() is None:  # hung: have it print every thread's stack (child.py)
                        self.signal(signal.SIGUSR1)
                        self._cv.wait(1.0)
                    err = self.stderr_tail()
                    raise AssertionError(f"child never got there; lines {self.lines[-5:]}; stderr: {err}")
                self._cv.wait(min(left, 0.2))
            return list(self.lines)

    def count(self, prefix):
        with self._cv:
            return sum(1 for l in self.lines if l.startswith(prefix))

    def signal(self, sig):
        try:
            os.killpg(self.proc.pid, sig)
        except ProcessLookupError:
            pass

    def kill(self):
        self.signal(signal.SIGKILL)
        self.proc.wait()
        self._reader.join(timeout=10)

    def stderr(self):
        """What the child wrote on stderr (the last 20 kB), once it has exited; "" while it runs."""
        if self.proc.poll() is None:
            return ""
        self._err_reader.join(timeout=10)
        return self.stderr_tail()

    def stderr_tail(self) -> str:
        return bytes(self._err).decode(errors="replace")[-3000:]
