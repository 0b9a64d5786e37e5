"""The installed environment is the one the README and requirements.txt describe.

The README's Requirements table gives the download and venv size of each torch
build; the test below reads the installed torch, names its build (CPU or CUDA)
and checks that the README has a row for exactly that build and version, and
that the version is requirements.txt's exact pin. scripts/install_requirements.py,
which picks the build, is tested on local servers: the pin is read exactly, and
an index that does not answer is given up within its deadline.
"""

from __future__ import annotations

import http.server
import importlib.util
import re
import socket
import sys
import threading
import time
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]


def _install_requirements():
    spec = importlib.util.spec_from_file_location(
        "install_requirements", ROOT / "scripts" / "install_requirements.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def torch_build() -> str:
    """'CPU' or 'CUDA' (or 'ROCm'), from the installed torch itself."""
    if torch.version.cuda is not None:
        return "CUDA"
    if getattr(torch.version, "hip", None) is not None:
        return "ROCm"
    return "CPU"


def test_installed_torch_is_the_pin_and_the_readme_describes_its_build():
    build, version = torch_build(), torch.__version__
    pin = _install_requirements().pinned_version(ROOT / "requirements.txt", "torch")
    assert version.split("+")[0] == pin, f"installed torch {version}, requirements.txt pins {pin}"
    assert (build == "CPU") == (not torch.cuda.is_available() and torch.version.cuda is None)
    shown = f"`{version}`"
    rows = [line for line in (ROOT / "README.md").read_text(encoding="utf8").splitlines()
            if line.startswith(f"| {build} (") and shown in line]
    assert rows, (f"the installed torch is the {build} build {version}; the README's Requirements "
                  f"table has no row '| {build} ({shown} ...' for it")
    print(f"installed torch: {version}, {build} build, Python {sys.version.split()[0]}")


def test_pinned_version_is_read_exactly(tmp_path):
    module = _install_requirements()
    req = tmp_path / "requirements.txt"
    req.write_text("torchvision==0.29.1\n# torch==1.0\ntorch == 2.13.0  # comment\n", encoding="utf8")
    assert module.pinned_version(req, "torch") == "2.13.0"
    req.write_text("torch>=2\n", encoding="utf8")
    with pytest.raises(SystemExit, match="no exact pin"):
        module.pinned_version(req, "torch")


class _Index(http.server.BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 - the http.server API
        self.send_response(200 if self.path.startswith("/whl/cpu/torch/") else 404)
        self.end_headers()

    def log_message(self, *args):
        pass


def test_reachable_index_is_found():
    server = http.server.HTTPServer(("127.0.0.1", 0), _Index)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        base = f"http://127.0.0.1:{server.server_port}/whl"
        reachable = _install_requirements().reachable
        assert reachable(f"{base}/cpu/torch/", 5)
        assert not reachable(f"{base}/other/", 5)          # 404: not an index
    finally:
        server.shutdown()


def test_silent_index_is_given_up_within_the_deadline():
    """A host that accepts the connection but never answers costs the deadline, not minutes."""
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(1)
    try:
        start = time.monotonic()
        assert not _install_requirements().reachable(f"http://127.0.0.1:{silent.getsockname()[1]}/torch/", 1.0)
        assert time.monotonic() - start < 2.0
    finally:
        silent.close()
