#!/usr/bin/env bash
# Idempotent set-up for a fresh Debian machine (as root) or a developer's one.
#   scripts/setup.sh          everything `make run` needs
#   scripts/setup.sh --test   the same plus the browser for the Playwright tests
# Re-running it is quick: each step checks first and does nothing when already done.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
TEST=0; [[ "${1:-}" == "--test" ]] && TEST=1
say() { printf '\033[1;34m==>\033[0m %s\n' "$*"; }

# --- .env (optional) -------------------------------------------------------------------------
if [[ -f .env ]]; then set -a; source .env; set +a; fi
DATABASE_URL=${DATABASE_URL:-postgres://dbtools:dbtools@127.0.0.1:5432/dbtools_system}

# --- system packages -------------------------------------------------------------------------
need=()
have_pkg() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }
for p in unixodbc unixodbc-dev tdsodbc freetds-bin; do have_pkg "$p" || need+=("$p"); done
command -v psql >/dev/null || need+=(postgresql-client)
command -v npm >/dev/null || need+=(npm)
(( TEST )) && { have_pkg chromium || need+=(chromium); }
# The tenant move tests start their own PostgreSQL clusters (initdb, pg_ctl).
(( TEST )) && { compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || need+=(postgresql); }
# The scale-out test starts its own Redis as a second node's broker.
(( TEST )) && { command -v redis-server >/dev/null || need+=(redis-server); }
# A PostgreSQL server only when none answers at the configured address.
pg_hostport=$(python3 - "$DATABASE_URL" <<'PY'
import sys, urllib.parse as u
p = u.urlparse(sys.argv[1]); print(p.hostname or "127.0.0.1", p.port or 5432)
PY
)
read -r PGHOST_ PGPORT_ <<<"$pg_hostport"
pg_up() { command -v pg_isready >/dev/null && pg_isready -q -h "$PGHOST_" -p "$PGPORT_"; }
if ! pg_up && ! have_pkg postgresql; then need+=(postgresql); fi
if (( ${#need[@]} )); then
  say "Installing system packages: ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
if ! pg_up; then
  say "Starting PostgreSQL"
  if command -v pg_ctlcluster >/dev/null; then
    ver=$(ls /etc/postgresql | sort -V | tail -1)
    pg_ctlcluster --skip-systemctl-redirect "$ver" main start || true
  fi
  for _ in $(seq 1 30); do pg_up && break; sleep 1; done
  pg_up || { echo "PostgreSQL does not answer at $PGHOST_:$PGPORT_" >&2; exit 1; }
fi

# --- Python ----------------------------------------------------------------------------------
find_python() {
  local v full
  for v in 3.13 3.12; do
    if command -v pyenv >/dev/null; then
      full=$(pyenv versions --bare 2>/dev/null | grep -E "^${v//./\\.}\.[0-9]+$" | sort -V | tail -1 || true)
      if [[ -n "$full" ]]; then echo "env PYENV_VERSION=$full python$v"; return; fi
    fi
    if command -v "python$v" >/dev/null && "python$v" -c 'import venv' 2>/dev/null; then echo "python$v"; return; fi
  done
  return 1
}
if [[ ! -x .venv/bin/python ]] || ! .venv/bin/python -c 'import sys; assert sys.version_info >= (3, 12)' 2>/dev/null; then
  PY=$(find_python) || { echo "DbTools needs Python 3.12 or 3.13 (Django 6). Install one (e.g. pyenv) and retry." >&2; exit 1; }
  say "Creating .venv with $($PY --version)"
  rm -rf .venv
  $PY -m venv .venv
fi
req_sum=$(sha256sum requirements.txt | cut -d' ' -f1)
if [[ "$(cat .venv/.requirements.sha 2>/dev/null)" != "$req_sum" ]]; then
  say "Installing Python packages"
  .venv/bin/pip install -q --upgrade pip 2>/dev/null || true
  .venv/bin/pip install -q -r requirements.txt
  echo "$req_sum" > .venv/.requirements.sha
fi

# --- front-end assets (npm registry; served from our own static files) -------------------------
lock_sum=$(cat package.json package-lock.json 2>/dev/null | sha256sum | cut -d' ' -f1)
if [[ "$(cat node_modules/.dbtools.sha 2>/dev/null)" != "$lock_sum" || ! -f static/vendor/icons.svg ]]; then
  say "Installing front-end assets"
  npm ci --no-audit --no-fund --loglevel=error >/dev/null
  .venv/bin/python scripts/build_assets.py
  echo "$lock_sum" > node_modules/.dbtools.sha
fi

# --- this machine's secrets (the settings only read them) ---------------------------------------
.venv/bin/python -m dbtools.local_secrets

# --- databases -------------------------------------------------------------------------------
.venv/bin/python scripts/bootstrap_db.py
export DJANGO_SETTINGS_MODULE=dbtools.settings
say "Migrating the system database and every tenant database"
.venv/bin/python manage.py migrate --noinput -v 0
.venv/bin/python manage.py migrate_tenants --quiet
.venv/bin/python manage.py collectstatic --noinput -v 0
.venv/bin/python manage.py setup_schedules >/dev/null
.venv/bin/python manage.py seed_demo
