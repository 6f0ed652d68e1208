"""Peak memory of one gantry run, for the tests that bound it.

Memory is the child's ru_maxrss (os.wait4). The binary under test is
usually the ASan build, whose allocator keeps up to 256 MiB of freed memory
in quarantine to catch use-after-free: that is ASan's memory, not gantry's,
so `without_asan_quarantine` turns it off for a measured run. Shadow memory
and redzones stay, so the number is an upper bound of a Release build's.
"""

from __future__ import annotations

import os
import subprocess
import threading
import time

NO_QUARANTINE = "quarantine_size_mb=0:thread_local_quarantine_size_kb=0"


def without_asan_quarantine(env: dict[str, str]) -> dict[str, str]:
    return {**env, "ASAN_OPTIONS": ":".join(filter(None, [env.get("ASAN_OPTIONS"), NO_QUARANTINE]))}


def run_measured(argv: list[str], env: dict[str, str]) -> tuple[int, int, str]:
    """(exit status, peak RSS in bytes, stderr) of one child."""
    process = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    stderr = process.stderr.read().decode(errors="replace")
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    process.stderr.close()
    return process.returncode, usage.ru_maxrss * 1024, stderr  # ru_maxrss is in KiB


def run_sampled(argv: list[str], env: dict[str, str], timeout: float = 240) -> tuple[int, int, int, str]:
    """(exit status, peak threads, peak RSS in bytes, stderr) of one child,
    ASan's quarantine off. Threads are sampled from /proc/PID/status every
    5 ms while it runs: a bound on threads holds only if no sample exceeds
    it, so a short burst may go unseen, never an excess that lasts."""
    process = subprocess.Popen(argv, env=without_asan_quarantine(env), stdin=subprocess.DEVNULL,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    stderr: list[str] = []
    reader = threading.Thread(target=lambda: stderr.append(process.stderr.read().decode(errors="replace")))
    reader.start()
    peak_threads = 0
    deadline = time.monotonic() + timeout
    while True:
        pid, status, usage = os.wait4(process.pid, os.WNOHANG)
        if pid != 0:
            break
        try:
            with open(f"/proc/{process.pid}/status") as f:
                peak_threads = max([peak_threads] + [int(line.split()[1]) for line in f if line.startswith("Threads:")])
        except (FileNotFoundError, ProcessLookupError):
            pass
        if time.monotonic() > deadline:
            process.kill()
            process.wait()
            reader.join()
            raise TimeoutError(f"{argv[0]} {argv[1]} did not finish within {timeout:.0f} s")
        time.sleep(0.005)
    process.returncode = os.waitstatus_to_exitcode(status)
    reader.join()
    process.stderr.close()
    return process.returncode, peak_threads, usage.ru_maxrss * 1024, "".join(stderr)  # ru_maxrss is in KiB


def is_asan_build(binary: str | os.PathLike) -> bool:
    """Whether `binary` is linked against ASan's runtime (GANTRY_SANITIZE)."""
    libraries = subprocess.run(["ldd", str(binary)], capture_output=True, text=True).stdout
    return "libasan" in libraries
