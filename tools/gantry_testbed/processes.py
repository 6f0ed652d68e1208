"""Whether a process is still running, as the tests that kill things ask it.

A killed process whose parent is gone is reparented to the machine's init,
and stays a zombie until that init reaps it, which some inits (a VM's agent,
a CI runner's shell) do late or never. A zombie runs nothing and holds no
mounts, so it counts as gone.
"""

from __future__ import annotations

from pathlib import Path


def running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state not in ("Z", "X")
