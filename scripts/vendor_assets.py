"""Put the book's JavaScript into book/_static/vendor/ so built pages work offline.

By default a Jupyter Book page loads MathJax, RequireJS and the Jupyter widget
manager from public CDNs. This course's book serves its own copies instead:

* ``package.json`` / ``package-lock.json`` pin the npm packages;
* this script runs ``npm ci`` when ``node_modules/`` is missing or out of date,
  then copies the files the pages need into ``book/_static/vendor/``;
* without npm (a machine with only Python), it downloads the three locked
  tarballs itself, from the ``resolved`` URLs in ``package-lock.json`` (or, when
  the lock file leaves them out, the registry's standard tarball URL), checks
  each against the lock file's ``integrity`` (SHA-512) before unpacking it into
  ``node_modules/``, and copies from there in the same way;
* ``_config.yml`` points Sphinx (``mathjax_path``) and MyST-NB
  (``nb_ipywidgets_js``) at those copies.

``book/_static/vendor/`` is generated (and ignored by git). ``make book`` and
``make test`` run this script; it is safe to run it again at any time.

Usage: python scripts/vendor_assets.py [--force]
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
import urllib.request
from pathlib import Path, PurePosixPath

ROOT = Path(__file__).resolve().parents[1]
NODE_MODULES = ROOT / "node_modules"
VENDOR = ROOT / "book" / "_static" / "vendor"
STAMP = VENDOR / ".stamp.json"

# npm package -> list of (source inside the package, destination inside VENDOR).
# A source ending in "/" is a directory copied whole; a source with "*" is a glob.
ASSETS: dict[str, list[tuple[str, str]]] = {
    # The whole ES5 build: tex-mml-chtml.js loads its CHTML fonts
    # (output/chtml/fonts/woff-v2/) and, on demand, TeX extensions, the
    # accessibility menu and speech rules from folders beside it.
    "mathjax": [("es5/", "mathjax/"), ("LICENSE", "mathjax/LICENSE")],
    "requirejs": [("require.js", "requirejs/require.js")],
    # embed-amd.js bundles the built-in widgets (@jupyter-widgets/base,
    # controls, output); the hashed files beside it are its icon fonts.
    "@jupyter-widgets/html-manager": [
        ("dist/embed-amd.js", "html-manager/embed-amd.js"),
        ("dist/embed.js.LICENSE.txt", "html-manager/LICENSE.txt"),
        ("dist/*.woff2", "html-manager/"),
        ("dist/*.woff", "html-manager/"),
        ("dist/*.ttf", "html-manager/"),
        ("dist/*.eot", "html-manager/"),
        ("dist/*.svg", "html-manager/"),
    ],
}


def locked_versions() -> dict[str, str]:
    """Versions of the asset packages recorded in package-lock.json."""
    lock = json.loads((ROOT / "package-lock.json").read_text(encoding="utf8"))
    packages = lock["packages"]
    versions = {}
    for name in ASSETS:
        entry = packages.get(f"node_modules/{name}")
        if entry is None:
            raise SystemExit(f"package-lock.json has no entry for {name!r}; run `npm install` and commit the lock file")
        versions[name] = entry["version"]
    return versions


def installed_version(name: str) -> str | None:
    manifest = NODE_MODULES / name / "package.json"
    if not manifest.is_file():
        return None
    return json.loads(manifest.read_text(encoding="utf8")).get("version")


def locked_entries() -> dict[str, dict]:
    """package-lock.json's entries (version, resolved, integrity) of the asset packages."""
    lock = json.loads((ROOT / "package-lock.json").read_text(encoding="utf8"))
    return {name: lock["packages"][f"node_modules/{name}"] for name in ASSETS}


def check_integrity(data: bytes, integrity: str, what: str) -> None:
    """Raise SystemExit unless ``data`` matches a ``sha512-<base64>`` integrity string."""
    algorithm, _, expected = integrity.partition("-")
    if algorithm != "sha512" or not expected:
        raise SystemExit(f"{what}: expected a sha512 integrity in package-lock.json, got {integrity!r}")
    actual = base64.b64encode(hashlib.sha512(data).digest()).decode("ascii")
    if actual != expected:
        raise SystemExit(f"{what}: the download does not match package-lock.json "
                         f"(sha512 {actual[:16]}…, expected {expected[:16]}…); nothing was unpacked")


def unpack_tarball(data: bytes, target: Path) -> None:
    """Unpack an npm tarball (one top folder, usually ``package/``) into ``target``."""
    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True)
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        for member in tar.getmembers():
            parts = PurePosixPath(member.name).parts[1:]
            if not parts or not (member.isfile() or member.isdir()):
                continue
            if any(part in ("..", "") for part in parts) or PurePosixPath(member.name).is_absolute():
                raise SystemExit(f"unsafe path in tarball: {member.name!r}")
            dest = target.joinpath(*parts)
            if member.isdir():
                dest.mkdir(parents=True, exist_ok=True)
                continue
            dest.parent.mkdir(parents=True, exist_ok=True)
            source = tar.extractfile(member)
            dest.write_bytes(source.read() if source is not None else b"")


REGISTRY = "https://registry.npmjs.org"


def tarball_url(name: str, entry: dict) -> str:
    """The locked ``resolved`` URL, or the registry's usual URL for name@version."""
    if entry.get("resolved"):
        return entry["resolved"]
    registry = (os.environ.get("npm_config_registry") or REGISTRY).rstrip("/")
    return f"{registry}/{name}/-/{name.rsplit('/', 1)[-1]}-{entry['version']}.tgz"


def download(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=120) as response:
        return response.read()


def fetch_from_registry() -> None:
    """Without npm: the locked tarballs, verified, unpacked into node_modules/."""
    for name, entry in locked_entries().items():
        url, integrity = tarball_url(name, entry), entry.get("integrity")
        if not integrity:
            raise SystemExit(f"package-lock.json has no integrity for {name!r}")
        print(f"+ fetch {url}", flush=True)
        data = download(url)
        check_integrity(data, integrity, f"{name}@{entry['version']}")
        unpack_tarball(data, NODE_MODULES / name)


def npm_ci() -> None:
    npm = shutil.which("npm")
    if npm is None:
        print("npm was not found: fetching the locked packages from the registry with Python",
              flush=True)
        fetch_from_registry()
        return
    cmd = [npm, "ci", "--ignore-scripts", "--no-audit", "--no-fund"]
    print("+ npm " + " ".join(cmd[1:]), flush=True)
    subprocess.run(cmd, cwd=ROOT, check=True)


def copy_assets() -> None:
    if VENDOR.exists():
        shutil.rmtree(VENDOR)
    VENDOR.mkdir(parents=True)
    for package, items in ASSETS.items():
        package_dir = NODE_MODULES / package
        for source, destination in items:
            target = VENDOR / destination
            if source.endswith("/"):
                shutil.copytree(package_dir / source, target)
                continue
            matches = sorted(package_dir.glob(source)) if "*" in source else [package_dir / source]
            if not matches or not all(path.is_file() for path in matches):
                raise SystemExit(f"expected {package}/{source} in node_modules, found nothing")
            for path in matches:
                dest = target / path.name if destination.endswith("/") else target
                dest.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(path, dest)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--force", action="store_true", help="run npm ci and copy even if up to date")
    args = parser.parse_args(argv)

    wanted = locked_versions()
    if args.force or any(installed_version(name) != version for name, version in wanted.items()):
        npm_ci()
        missing = {n: v for n, v in wanted.items() if installed_version(n) != v}
        if missing:
            raise SystemExit(f"npm ci did not install the locked versions: {missing}")

    if not args.force and STAMP.is_file() and json.loads(STAMP.read_text(encoding="utf8")) == wanted:
        print(f"vendor assets up to date in {VENDOR.relative_to(ROOT)}/")
        return 0

    copy_assets()
    STAMP.write_text(json.dumps(wanted, indent=2, sort_keys=True) + "\n", encoding="utf8")
    listing = ", ".join(f"{name}@{version}" for name, version in wanted.items())
    print(f"copied {listing} into {VENDOR.relative_to(ROOT)}/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
