#!/usr/bin/env bash
# Start DbTools in the foreground: web (gunicorn), workers (Django-Q2 cluster) and the simulated
# SQL Server fleet. Ctrl-C stops all of them within a few seconds.
set -uo pipefail
cd "$(dirname "$0")/.."
if [[ -f .env ]]; then set -a; source .env; set +a; fi
export DJANGO_SETTINGS_MODULE=dbtools.settings
PORT=${PORT:-8000}
WEB_WORKERS=${DBTOOLS_WEB_WORKERS:-3}
pids=()

stop() {
  trap - INT TERM
  echo; echo "Stopping…"
  kill -TERM "${pids[@]}" 2>/dev/null
  # Django-Q2's cluster can hang on SIGTERM: give everyone 5 s, then make sure.
  for _ in $(seq 1 50); do
    alive=0; for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null && alive=1; done
    (( alive )) || break; sleep 0.1
  done
  for p in "${pids[@]}"; do pkill -KILL -P "$p" 2>/dev/null; kill -KILL "$p" 2>/dev/null; done
  wait 2>/dev/null
  exit 0
}
trap stop INT TERM

.venv/bin/gunicorn dbtools.wsgi:application --bind "0.0.0.0:${PORT}" --workers "$WEB_WORKERS" \
  --threads 4 --timeout 60 --graceful-timeout 3 --access-logfile - --log-level warning &
pids+=($!)
.venv/bin/python manage.py qcluster &
pids+=($!)
SIM_PORT=${DBTOOLS_SQLSIM_PORT:-14330}
SIM_COUNT=${DBTOOLS_SQLSIM_COUNT:-20}
if [[ "${DBTOOLS_SQLSIM:-1}" == "1" ]]; then
  # The simulated fleet of the demo tenant: a stand-in for real SQL Servers, which DbTools reaches
  # exactly as it would reach them (TDS over TCP, TLS, logins).
  .venv/bin/python -m sqlsim --count "$SIM_COUNT" --base-port "$SIM_PORT" \
    --control-port "${DBTOOLS_SQLSIM_CONTROL_PORT:-14329}" &
  pids+=($!)
  sleep 1
  half=$((SIM_PORT + SIM_COUNT / 2))
  .venv/bin/python manage.py onboard_servers --tenant demo --ports "$SIM_PORT-$((half - 1))" \
    --username dbtools --password 'DbTools!2026' --group Production --label prod --deploy || true
  .venv/bin/python manage.py onboard_servers --tenant demo --ports "$half-$((SIM_PORT + SIM_COUNT - 1))" \
    --username dbtools --password 'DbTools!2026' --group Reporting --label reporting --deploy || true
fi

sleep 1
cat <<MSG

  DbTools is running at http://localhost:${PORT}/
  $(.venv/bin/python manage.py seed_demo | tail -1)
  API docs: http://localhost:${PORT}/api/docs/    Ctrl-C stops everything.

MSG
wait -n "${pids[@]}"
echo "A DbTools process exited; stopping the others."
stop
