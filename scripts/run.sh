#!/usr/bin/env bash
# Start DbTools in the foreground: web (gunicorn), workers (three Django-Q2 clusters: routine,
# interactive, collect) and the simulated SQL Server fleet. Ctrl-C stops all of them within a few
# seconds.
set -uo pipefail
cd "$(dirname "$0")/.."
if [[ -f .env ]]; then set -a; source .env; set +a; fi
export DJANGO_SETTINGS_MODULE=dbtools.settings
PORT=${PORT:-8000}
WEB_WORKERS=${DBTOOLS_WEB_WORKERS:-3}
# Threads per web process; connection tests may hold all but one (see dbtools/settings.py).
export DBTOOLS_WEB_THREADS=${DBTOOLS_WEB_THREADS:-4}
pids=()

# Each component runs in its own session (setsid), so stopping it reaches every process it
# started: Django-Q2's cluster forks a sentinel and workers below itself.
stop() {
  trap - INT TERM
  echo; echo "Stopping…"
  for p in "${pids[@]}"; do kill -TERM -- "-$p" 2>/dev/null; done
  # Django-Q2's cluster can hang on SIGTERM: give everyone 4 s, then make sure.
  for _ in $(seq 1 40); do
    alive=0; for p in "${pids[@]}"; do pgrep -s "$p" >/dev/null && alive=1; done
    (( alive )) || break; sleep 0.1
  done
  for p in "${pids[@]}"; do kill -KILL -- "-$p" 2>/dev/null; done
  wait 2>/dev/null
  exit 0
}
trap stop INT TERM

setsid .venv/bin/gunicorn dbtools.wsgi:application --bind "0.0.0.0:${PORT}" --workers "$WEB_WORKERS" \
  --threads "$DBTOOLS_WEB_THREADS" --timeout 60 --graceful-timeout 3 --access-logfile - --log-level warning &
pids+=($!)
# One qcluster per cluster; each reads its worker count and timeouts from the settings
# (DBTOOLS_Q_WORKERS, DBTOOLS_INTERACTIVE_WORKERS, DBTOOLS_COLLECT_WORKERS). Django-Q2 picks the
# cluster from Q_CLUSTER_NAME.
for cluster in dbtools interactive collect; do
  Q_CLUSTER_NAME=$cluster setsid .venv/bin/python manage.py qcluster &
  pids+=($!)
done
# The collector slots start with the first tick (within a minute); queue them now.
.venv/bin/python manage.py shell -c "from monitoring import collector; collector.tick()" || true
SIM_PORT=${DBTOOLS_SQLSIM_PORT:-14330}
SIM_COUNT=${DBTOOLS_SQLSIM_COUNT:-20}
if [[ "${DBTOOLS_SQLSIM:-1}" == "1" ]]; then
  # The simulated fleet of the demo tenant: a stand-in for real SQL Servers, which DbTools reaches
  # exactly as it would reach them (TDS over TCP, TLS, logins).
  setsid .venv/bin/python -m sqlsim --count "$SIM_COUNT" --base-port "$SIM_PORT" \
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
# Poll rather than `wait -n`: bash defers an INT trap while it waits for children that did not
# get the SIGINT themselves (they run in their own sessions).
while true; do
  for p in "${pids[@]}"; do
    if ! kill -0 "$p" 2>/dev/null; then
      echo "A DbTools process exited; stopping the others."
      stop
    fi
  done
  sleep 0.5
done
