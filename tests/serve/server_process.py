"""`zpipe serve` as a separate process on a free port, for tests that need a real server (and a real restart)."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path


class Server:
    """`zpipe serve` as a separate process (so a restart is a real one)."""

    def __init__(self, out: Path, root: Path):
        self.out, self.root, self.proc = out, root, None
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"

    def start(self) -> Server:
        exe = Path(sys.executable).with_name("zpipe")
        cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "zpipe"]
        self.proc = subprocess.Popen([*cmd, "serve", "--port", str(self.port), "--out", str(self.out), "--root",
                                      str(self.root)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(self.url + "/api/health", timeout=2) as r:
                    if r.status == 200:
                        return self
            except OSError:
                if self.proc.poll() is not None:
                    raise AssertionError(f"zpipe serve exited: {self.proc.stderr.read().decode()[-2000:]}") from None
                time.sleep(0.2)
        raise AssertionError("zpipe serve did not answer within 60 s")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
