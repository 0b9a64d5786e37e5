"""Install requirements.txt into the running interpreter, torch as its CPU build.

On Linux, ``pip install torch==X`` from the Python Package Index gives the CUDA
build of PyTorch (several GB of GPU libraries the course never uses). PyTorch
publishes the CPU build of the same release, ``X+cpu``, on its own wheel index.
So, on Linux, this script first asks that index (with a deadline of a few
seconds, not pip's default of minutes) whether it can be reached; if so, torch
is installed from it, without dependencies, at the exact version pinned in
requirements.txt. Then everything in requirements.txt is installed as usual:
the torch already there satisfies the pin (``==X`` accepts ``X+cpu``).

Where the index cannot be reached (a machine without internet, a blocked host),
the pin is installed from the configured package index instead: a local CPU
wheel if one is configured (``pip config``'s find-links), else PyPI's build.

Usage: python scripts/install_requirements.py [requirements.txt]
Environment: TORCH_INDEX_URL (default https://download.pytorch.org/whl/cpu;
empty to skip the CPU index), TORCH_INDEX_TIMEOUT seconds (default 5).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import urllib.request
from pathlib import Path

DEFAULT_INDEX = "https://download.pytorch.org/whl/cpu"
DEFAULT_TIMEOUT_S = 5.0


def pinned_version(requirements: Path, name: str) -> str:
    """The exact version ``name==X`` pinned in ``requirements`` (an error if unpinned)."""
    pattern = re.compile(rf"^\s*{re.escape(name)}\s*==\s*([^\s;#]+)", re.IGNORECASE)
    for line in requirements.read_text(encoding="utf8").splitlines():
        match = pattern.match(line)
        if match:
            return match.group(1)
    raise SystemExit(f"{requirements}: no exact pin `{name}==...` found")


def reachable(url: str, timeout_s: float) -> bool:
    """True if ``url`` answers within ``timeout_s`` seconds in all (DNS included)."""
    answered = threading.Event()

    def probe() -> None:
        try:
            with urllib.request.urlopen(url, timeout=timeout_s) as response:
                if response.status < 400:
                    answered.set()
        except Exception:  # noqa: BLE001 - any failure means "not reachable"
            pass

    worker = threading.Thread(target=probe, daemon=True)
    worker.start()
    worker.join(timeout_s)
    return answered.is_set()


def pip(*args: str) -> None:
    command = [sys.executable, "-m", "pip", "install", *args]
    print("+", " ".join(command), flush=True)
    subprocess.run(command, check=True)


def main(argv: list[str]) -> int:
    requirements = Path(argv[1] if len(argv) > 1 else "requirements.txt")
    index = os.environ.get("TORCH_INDEX_URL", DEFAULT_INDEX).rstrip("/")
    timeout_s = float(os.environ.get("TORCH_INDEX_TIMEOUT", DEFAULT_TIMEOUT_S))
    torch = f"torch=={pinned_version(requirements, 'torch')}"
    if sys.platform.startswith("linux") and index:
        if reachable(f"{index}/torch/", timeout_s):
            print(f"{index} is reachable: installing the CPU build of {torch} from it")
            pip("--no-deps", "--index-url", index, torch)
        else:
            print(f"{index} did not answer within {timeout_s:g} s: {torch} comes from "
                  "the configured package index (a local CPU wheel if pip is configured "
                  "with one, else the CUDA build from PyPI)")
    pip("-r", str(requirements))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
