"""scripts/vendor_assets.py without npm: locked tarballs, verified before unpacking.

No network: the registry is replaced by a function serving tarballs made here.
"""

from __future__ import annotations

import base64
import hashlib
import importlib.util
import io
import json
import tarfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def vendor(tmp_path, monkeypatch):
    spec = importlib.util.spec_from_file_location("vendor_assets", ROOT / "scripts" / "vendor_assets.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    monkeypatch.setattr(module, "NODE_MODULES", tmp_path / "node_modules")
    monkeypatch.setattr(module, "VENDOR", tmp_path / "vendor")
    monkeypatch.setattr(module, "STAMP", tmp_path / "vendor" / ".stamp.json")
    return module


def tarball(files: dict[str, bytes], top: str = "package") -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(f"{top}/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def integrity(data: bytes) -> str:
    return "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode("ascii")


def fake_registry(vendor) -> dict[str, bytes]:
    """One tarball per asset package, with the files vendor_assets copies."""
    served = {}
    for name, entry in vendor.locked_entries().items():
        files = {"package.json": json.dumps({"name": name, "version": entry["version"]}).encode()}
        for source, _ in vendor.ASSETS[name]:
            if source.endswith("/"):
                files[source + "main.js"] = b"// " + name.encode()
            elif "*" in source:
                files[source.replace("*", "font")] = b"font"
            else:
                files[source] = b"// " + source.encode()
        served[vendor.tarball_url(name, entry)] = tarball(files)
    return served


def test_tarball_urls_follow_the_registry_layout(vendor):
    entries = vendor.locked_entries()
    url = vendor.tarball_url("@jupyter-widgets/html-manager", entries["@jupyter-widgets/html-manager"])
    assert url.endswith("/@jupyter-widgets/html-manager/-/html-manager-1.0.15.tgz")
    assert vendor.tarball_url("x", {"version": "1.0.0", "resolved": "https://r/x.tgz"}) == "https://r/x.tgz"


def test_without_npm_the_locked_tarballs_are_verified_unpacked_and_copied(vendor, monkeypatch):
    served = fake_registry(vendor)
    locked = vendor.locked_entries()
    real = {name: dict(entry) for name, entry in locked.items()}
    for name, entry in real.items():
        entry["integrity"] = integrity(served[vendor.tarball_url(name, entry)])
    monkeypatch.setattr(vendor, "locked_entries", lambda: real)
    monkeypatch.setattr(vendor.shutil, "which", lambda name: None)       # npm hidden
    monkeypatch.setattr(vendor, "download", lambda url: served[url])
    vendor.npm_ci()
    for name, entry in real.items():
        assert vendor.installed_version(name) == entry["version"]
    vendor.copy_assets()
    assert (vendor.VENDOR / "requirejs" / "require.js").read_bytes() == b"// require.js"
    assert (vendor.VENDOR / "mathjax" / "main.js").is_file()


def test_a_tarball_that_does_not_match_the_lock_file_is_not_unpacked(vendor, monkeypatch):
    served = fake_registry(vendor)       # the real lock file's hashes do not match these
    monkeypatch.setattr(vendor, "download", lambda url: served[url])
    with pytest.raises(SystemExit, match="does not match package-lock.json"):
        vendor.fetch_from_registry()
    assert not any((vendor.NODE_MODULES).glob("*/package.json"))


def test_unsafe_paths_in_a_tarball_are_refused(vendor, tmp_path):
    data = tarball({"../evil.js": b"x"})
    with pytest.raises(SystemExit, match="unsafe path"):
        vendor.unpack_tarball(data, tmp_path / "target")
