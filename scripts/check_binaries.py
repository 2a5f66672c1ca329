#!/usr/bin/env python3
"""Checks that every function the template deploys was built, as an ELF for the named
machine: `check_binaries.py --arch aarch64|x86_64 target/lambda`. Prints each size."""
import argparse
import re
import sys
from pathlib import Path

# e_machine of the ELF header (offset 18, little-endian): what the binary runs on.
MACHINES = {"x86_64": 62, "aarch64": 183}


def template_binaries(template: str) -> list[str]:
    return re.findall(r"^\s+Binary:\s*(\S+)\s*$", Path(template).read_text(), re.M)


def machine(path: Path) -> int | None:
    head = path.read_bytes()[:20]
    if len(head) < 20 or head[:4] != b"\x7fELF":
        return None
    return int.from_bytes(head[18:20], "little")


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--arch", choices=sorted(MACHINES), required=True)
    p.add_argument("--template", default="template.yaml")
    p.add_argument("dir")
    a = p.parse_args()
    failed = False
    for name in sorted(set(template_binaries(a.template))):
        f = Path(a.dir) / name / "bootstrap"
        if not f.is_file():
            print(f"  {name}: {f} was not built")
            failed = True
            continue
        m = machine(f)
        ok = m == MACHINES[a.arch]
        failed |= not ok
        print(f"  {name:<20} {f.stat().st_size:>10} bytes  {'ok' if ok else f'not {a.arch} (machine {m})'}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
