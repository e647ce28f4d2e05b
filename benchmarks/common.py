"""What the benchmark scripts share: peak memory, and writing their JSON."""

import json
import resource
from pathlib import Path


def peak_rss_mb() -> float:
    """This process's peak RSS. /proc's VmHWM where there is one: getrusage's
    ru_maxrss survives exec on Linux, so a child would report its parent's peak."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def write_results(path: str, results) -> None:
    """Write a benchmark's results as JSON (creating the folder) and say where."""
    from wasabi import msg

    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(json.dumps(results, indent=2))
    msg.good(f"Wrote {path}")
