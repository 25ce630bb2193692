"""Where a soak's real time goes: a sampling profiler over every thread (``--profile FILE``).

cProfile sees one thread; the soak's work runs in dozens (each invocation, moto server's and the emulators'
request threads), all in one process under one interpreter lock. Every few milliseconds this looks at each
thread's Python stack, drops those blocked in a wait (a lock, a socket, a select), and counts the rest: by the
part of the system running (the product, moto, botocore, an emulator...), by the function on top (self), and by
every function on the stack (inclusive). The shares are of samples of running threads, so they say where the
interpreter's time went.
"""

from __future__ import annotations

import sys
import threading
from collections import Counter
from types import FrameType

from local.template import REPO_ROOT

# A thread whose top Python frame is one of these is waiting, not running.
IDLE = {("threading.py", "wait"), ("threading.py", "_wait_for_tstate_lock"), ("selectors.py", "select"),
        ("socket.py", "readinto"), ("socket.py", "accept"), ("socketserver.py", "serve_forever"),
        ("queue.py", "get"), ("thread.py", "_worker"), ("ssl.py", "read"), ("connection.py", "wait"),
        ("simclock.py", "sleep"), ("driver.py", "wait"), ("event_sources.py", "_loop"),
        ("socketserver.py", "process_request"), ("socketserver.py", "write"), ("client.py", "_read_status"),
        ("socket.py", "sendall"), ("socket.py", "_sendall"), ("threading.py", "acquire")}
# The part of the system a stack is in: the innermost of these path fragments on it wins.
PARTS = (("/moto/", "moto (the AWS emulator)"), ("/werkzeug/", "werkzeug (HTTP servers)"),
         ("/botocore/", "botocore (the AWS SDK)"), ("/boto3/", "botocore (the AWS SDK)"),
         ("/urllib3/", "requests/urllib3"), ("/requests/", "requests/urllib3"), ("/http/", "http (stdlib)"),
         ("/emulators/xero", "the Xero emulator"), ("/emulators/ledger", "the ledger emulator"),
         ("/local/soak/", "the soak (driver, chaos, users)"), ("/local/", "the local runner"),
         ("/aws_lambda_powertools/", "Powertools"), ("/pydantic", "pydantic"), ("/xerosync/", "the product"),
         ("/functions/", "the product"), ("/cryptography/", "cryptography"), ("/jwt/", "jwt"),
         ("/json/", "json"), ("/logging/", "logging"))


class Sampler:
    def __init__(self, interval: float = 0.005) -> None:
        self.interval = interval
        self.samples = 0
        self.ticks = 0
        self.parts: Counter[str] = Counter()
        self.own: Counter[str] = Counter()
        self.inclusive: Counter[str] = Counter()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="soak-profiler", daemon=True)

    def start(self) -> Sampler:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        me = threading.get_ident()
        while not self._stop.wait(self.interval):
            self.ticks += 1
            for ident, frame in sys._current_frames().items():
                if ident != me:
                    self._count(frame)

    def _count(self, frame: FrameType) -> None:
        stack: list[tuple[str, str, int]] = []
        walk: FrameType | None = frame
        while walk is not None:
            stack.append((walk.f_code.co_filename, walk.f_code.co_name, walk.f_code.co_firstlineno))
            walk = walk.f_back
        top_file, top_name, _ = stack[0]
        if (top_file.rsplit("/", 1)[-1], top_name) in IDLE:
            return
        self.samples += 1
        self.own[_label(stack[0])] += 1
        for label in {_label(entry) for entry in stack}:
            self.inclusive[label] += 1
        self.parts[_part(stack)] += 1

    def report(self, top: int = 40) -> str:
        total = max(1, self.samples)
        lines = [f"{self.samples:,} samples of running threads in {self.ticks:,} ticks of "
                 f"{self.interval * 1000:.0f} ms ({self.samples / max(1, self.ticks):.2f} running threads a tick)", "",
                 "By part of the system (innermost on the stack):"]
        lines += [f"  {share(n, total)}  {part}" for part, n in self.parts.most_common()]
        lines += ["", f"Top {top} functions by own time:"]
        lines += [f"  {share(n, total)}  {label}" for label, n in self.own.most_common(top)]
        lines += ["", f"Top {top} functions by inclusive time:"]
        lines += [f"  {share(n, total)}  {label}" for label, n in self.inclusive.most_common(top)]
        return "\n".join(lines)


def share(n: int, total: int) -> str:
    return f"{100 * n / total:5.1f}%"


def _label(entry: tuple[str, str, int]) -> str:
    path, name, line = entry
    root = str(REPO_ROOT) + "/"
    if path.startswith(root):
        path = path[len(root):]
    elif "/site-packages/" in path:
        path = path.split("/site-packages/", 1)[1]
    elif "/lib/python3." in path:  # the standard library
        path = path.split("/lib/python3.", 1)[1].split("/", 1)[-1]
    return f"{path}:{line} {name}"


def _part(stack: list[tuple[str, str, int]]) -> str:
    for path, _, _ in stack:
        for fragment, part in PARTS:
            if fragment in path:
                return part
    return "other"
