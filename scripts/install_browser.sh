#!/usr/bin/env bash
# Install the browser used by the browser tests (tests/browser/) and by `make pdf`,
# and poppler-utils (pdfinfo, pdftotext, pdfimages), with which tests/test_pdf.py
# reads the PDF.
#
# The tests drive Debian's own `chromium` package through Playwright for Python,
# launched with executable_path=/usr/bin/chromium. Playwright's bundled browser
# download (`playwright install`) is never used: nothing is fetched at test time.
#
# Usage: scripts/install_browser.sh          (safe to run again; does nothing if present)
set -euo pipefail

CHROMIUM=/usr/bin/chromium

if [ -x "$CHROMIUM" ] && command -v pdftotext >/dev/null 2>&1; then
    echo "chromium already installed: $("$CHROMIUM" --version 2>/dev/null || echo "$CHROMIUM")"
    exit 0
fi

if [ "$(id -u)" -eq 0 ]; then
    SUDO=""
elif command -v sudo >/dev/null 2>&1; then
    SUDO="sudo"
else
    echo "error: $CHROMIUM or poppler-utils is missing and this script needs root (or sudo) to run apt-get" >&2
    exit 1
fi

$SUDO apt-get update
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y chromium poppler-utils

if [ ! -x "$CHROMIUM" ]; then
    echo "error: apt-get finished but $CHROMIUM is still missing" >&2
    exit 1
fi
echo "installed: $("$CHROMIUM" --version 2>/dev/null || echo "$CHROMIUM")"
