#!/usr/bin/env bash
# Create .venv with every dependency, on any machine with Python >= 3.12 (uv is installed if missing).
set -euo pipefail
cd "$(dirname "$0")/.."

find_python() {
  local candidates=(python3.13 python3.12 python3)
  if command -v pyenv >/dev/null 2>&1; then
    local root; root=$(pyenv root)
    candidates+=("$root"/versions/3.13*/bin/python3 "$root"/versions/3.12*/bin/python3)
  fi
  for py in "${candidates[@]}"; do
    if command -v "$py" >/dev/null 2>&1 || [ -x "$py" ]; then
      if PYENV_VERSION=system "$py" -c 'import sys; sys.exit(sys.version_info < (3, 12))' 2>/dev/null \
         || "$py" -c 'import sys; sys.exit(sys.version_info < (3, 12))' 2>/dev/null; then
        command -v "$py" 2>/dev/null || echo "$py"
        return 0
      fi
    fi
  done
  return 1
}

PY=$(find_python) || { echo "Python 3.12 or newer is required." >&2; exit 1; }
export UV_PYTHON_DOWNLOADS=never
if ! "$PY" -m uv --version >/dev/null 2>&1; then
  echo "Installing uv for $PY ..." >&2
  "$PY" -m pip install --quiet --disable-pip-version-check uv 2>/dev/null \
    || "$PY" -m pip install --quiet --disable-pip-version-check --user uv \
    || "$PY" -m pip install --quiet --disable-pip-version-check --break-system-packages uv
fi
"$PY" -m uv sync --frozen --python "$PY" --quiet
