#!/usr/bin/env bash
# The Python virtualenv with the independent ESP/AH oracle's dependencies (scapy, cryptography,
# pinned in tests/lab/oracle/requirements.txt). Idempotent: makes it only when missing or when
# the requirements changed; prints the venv's python on stdout.
#   tests/lab/venv.sh            make if needed, print the python path
#   tests/lab/venv.sh --check    only say whether it is ready (exit 1 if not)
# Location: $LAB_VENV, default ${XDG_CACHE_HOME:-$HOME/.cache}/ipsec-xlat/lab-venv.
# Needs python3 with the venv module (Debian: python3-venv) and access to PyPI the first time.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
req=$here/oracle/requirements.txt
venv=${LAB_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/ipsec-xlat/lab-venv}
stamp=$venv/.requirements.sha256
want=$(sha256sum <"$req" | cut -d' ' -f1)

ready() {
    [[ -x $venv/bin/python && -f $stamp && $(cat "$stamp") == "$want" ]] &&
        "$venv/bin/python" -c 'import scapy.layers.ipsec, cryptography' 2>/dev/null
}

if [[ ${1:-} == --check ]]; then
    if ready; then echo "$venv/bin/python"; exit 0; fi
    echo "no oracle virtualenv at $venv (run tests/lab/venv.sh)" >&2
    exit 1
fi
if ! ready; then
    echo "venv.sh: making $venv (scapy, cryptography from PyPI)" >&2
    rm -rf "$venv"
    mkdir -p "$(dirname "$venv")"
    python3 -m venv "$venv" >&2
    timeout 600 "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$req" >&2
    "$venv/bin/python" -c 'import scapy.layers.ipsec, cryptography'
    echo "$want" >"$stamp"
fi
echo "$venv/bin/python"
