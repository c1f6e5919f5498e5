#!/usr/bin/env bash
# Install the Debian packages the web page, its browser tests and the Chinese
# report need, when they are missing: Chromium (headless browser tests), Noto CJK
# fonts (Chinese in figures and PDF reports) and poppler-utils (pdftotext checks
# the PDF's text). Called by `make demo` and `make test`; does nothing when all
# three are present. Without root or sudo it says what is missing and goes on
# (the tests that need them then skip, saying why).
set -euo pipefail

missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
fc-list :lang=zh 2>/dev/null | grep -q . || missing+=(fonts-noto-cjk)
command -v pdftotext >/dev/null 2>&1 || missing+=(poppler-utils)
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -eq 0 ]; then
    as_root=()
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    as_root=(sudo -n)
else
    echo "system packages missing: ${missing[*]} (install them with apt-get as root)" >&2
    exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "system packages missing: ${missing[*]} (no apt-get on this machine)" >&2
    exit 0
fi
export DEBIAN_FRONTEND=noninteractive
"${as_root[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}" \
    || { "${as_root[@]}" apt-get update -q && "${as_root[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"; }
