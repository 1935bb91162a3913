#!/usr/bin/env bash
# Install the headless browser of the book's browser test (tests/test_book_browser.py):
# Debian's chromium and chromium-driver. Idempotent: does nothing when both are present.
set -euo pipefail

if [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; then
  echo "chromium and chromedriver already installed: $(/usr/bin/chromium --version 2>/dev/null || echo '?')"
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "error: installing chromium needs root (or sudo)" >&2; exit 1; }
  SUDO="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q chromium chromium-driver
echo "installed: $(/usr/bin/chromium --version) / $(/usr/bin/chromedriver --version)"
