"""Unpack the official CLUENER archive and check the files against configs/cluener.sha256."""

import hashlib
import sys
import zipfile
from pathlib import Path


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def check(folder: Path, sums: Path) -> None:
    """Raise SystemExit naming each file whose SHA-256 differs."""
    bad = []
    for line in sums.read_text().splitlines():
        digest, name = line.split()
        if not (folder / name).exists() or sha256(folder / name) != digest:
            bad.append(name)
    if bad:
        sys.exit(
            f"CLUENER files missing or changed in {folder}: {', '.join(bad)} (expected SHA-256 from {sums})"
        )


def main(archive: str, out_dir: str, sums: str = "configs/cluener.sha256") -> None:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(archive) as zf:
        for info in zf.infolist():
            name = Path(info.filename).name
            if name.endswith(".json"):
                (out / name).write_bytes(zf.read(info))
    check(out, Path(sums))
    print(f"Unpacked and checked CLUENER into {out}")


if __name__ == "__main__":
    main(*sys.argv[1:])
