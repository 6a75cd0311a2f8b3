# Sourced by the other scripts: make sure the project virtualenv exists and is up to date.
#   PYTHON  interpreter to build it with (default: python3)
#   VENV    where it lives (default: .venv in the repository)
#   DJANGO  optional pip requirement for Django, e.g. "Django>=5.2,<5.3"
#   EXTRAS  the extras to install with the package (default: dev,postgres; empty: runtime only)
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PYTHON=${PYTHON:-python3}
VENV=${VENV:-$REPO/.venv}
EXTRAS=${EXTRAS-dev,postgres}

if [ ! -x "$VENV/bin/python" ]; then
  echo "Creating the virtualenv $VENV with $PYTHON" >&2
  "$PYTHON" -m venv "$VENV"
fi
stamp="$VENV/.migration_studio-installed"
wanted="$(cat "$REPO/pyproject.toml") ${DJANGO:-} [${EXTRAS}]"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$wanted" ]; then
  echo "Installing migration_studio${EXTRAS:+ with its extras $EXTRAS} into $VENV" >&2
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check \
    -e "$REPO${EXTRAS:+[$EXTRAS]}" ${DJANGO:+"$DJANGO"}
  printf '%s' "$wanted" > "$stamp"
fi
export PATH="$VENV/bin:$PATH"
