"""What the benchmark scripts share: peak memory, and writing their JSON."""

import json
import resource
from pathlib import Path


def status_mb(pid: str = "self") -> dict:
    """The kB fields of /proc/PID/status (VmRSS, VmHWM, ...) in MB; raises
    OSError where there is no such process (or no /proc)."""
    found = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if value.strip().endswith(" kB"):
            found[key] = int(value.split()[0]) / 1024
    return found


def peak_rss_mb() -> float:
    """This process's peak RSS. /proc's VmHWM where there is one: getrusage's
    ru_maxrss survives exec on Linux, so a child would report its parent's peak."""
    try:
        return status_mb()["VmHWM"]
    except (OSError, KeyError):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def write_results(path: str, results) -> None:
    """Write a benchmark's results as JSON (creating the folder) and say where."""
    from wasabi import msg

    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(json.dumps(results, indent=2))
    msg.good(f"Wrote {path}")
