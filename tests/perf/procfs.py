"""What Linux's /proc says of a process: its CPU time and its resident memory. The load and
soak scripts read these of the server they started (and of themselves)."""

import os
from pathlib import Path


def cpu_seconds(pid=None) -> float:
    """User + system CPU time of a process (this one by default)."""
    fields = Path(f"/proc/{pid or os.getpid()}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mb(pid) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")
