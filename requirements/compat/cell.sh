#!/usr/bin/env bash
# Build one compatibility-matrix cell: a fresh venv with a given Airflow + mlflow-skinny and the provider wheel.
#
# Usage:
#   AIRFLOW_VERSION=3.0.6 MLFLOW_SKINNY_VERSION=3.17.2 \
#   WHEEL=dist/airflow_provider_hokusai-0.2.0-py3-none-any.whl EXTRAS=redis,sqs \
#   VENV=/tmp/cells/af306 ./cell.sh
#
# Variables:
#   AIRFLOW_VERSION        required, e.g. 3.0.6 / 3.1.8 / 3.2.2 / 3.3.2
#   MLFLOW_SKINNY_VERSION  required, e.g. 3.17.2 (the provider needs >=3.3: webhooks API; >=3.1 for Airflow>=3.2)
#   WHEEL                  path to the provider wheel; if unset, the wheel's dependencies are installed
#                          directly (stand-in used to test this script before the wheel exists)
#   EXTRAS                 comma list of the wheel's extras (e.g. "redis,sqs"); default none
#   VENV                   venv dir (default /tmp/compat/venvs/cell-<af>-<mls>)
#   PYTHON                 interpreter (default python3.11)
#   UV                     uv binary (default: uv on PATH, else the repository's .venv/bin/uv)
#   SMOKE=1                also run `airflow version` and `airflow db migrate` on SQLite in $VENV/airflow-home
#
# Writes $VENV/cell.env: environment a test run of this cell should source (e.g. AIRFLOW__API__WORKERS for 3.0).
set -euo pipefail

: "${AIRFLOW_VERSION:?set AIRFLOW_VERSION}"
: "${MLFLOW_SKINNY_VERSION:?set MLFLOW_SKINNY_VERSION}"
EXTRAS=${EXTRAS:-}
PYTHON=${PYTHON:-python3.11}
UV=${UV:-$(command -v uv || echo "$(cd "$(dirname "$0")/../.." && pwd)/.venv/bin/uv")}
VENV=${VENV:-/tmp/compat/venvs/cell-${AIRFLOW_VERSION//./}-${MLFLOW_SKINNY_VERSION//./}}

minor=$(echo "$AIRFLOW_VERSION" | cut -d. -f1-2)

# Extra pins each Airflow minor needs because Airflow's constraint files are not used (found 2026-12, PyPI state):
#  3.0: fastapi>=0.118 pulls starlette 1.x (TemplateResponse signature change -> UI 500) and cadwyn 9 (needs fastapi
#       >=0.137); pyjwt>=2.11 rejects iss=None ("Issuer (iss) must be a string") -> every API login fails.
#       api-server default [api] workers=4 + uvicorn's 5 s worker healthcheck crash-loops on 2-core machines -> workers=1.
#  3.1: none needed (sqlalchemy 2.1.x passes migrate/api-server/dags test).
#  3.2: fastapi>=0.137 (+cadwyn 9) breaks api-server startup (pydantic discriminator error on TITerminalStatePayload);
#       svcs>=26 breaks in-process execution API (`airflow dags test`/dag.test(): KeyError 'svcs_registry').
#  3.3: none (Airflow itself caps fastapi<0.137).
constraints=()
cell_env=()
case "$minor" in
  3.0) constraints=("fastapi<0.118" "pyjwt<2.11"); cell_env=("AIRFLOW__API__WORKERS=1") ;;
  3.1) ;;
  3.2) constraints=("fastapi<0.137" "svcs<26") ;;
  3.3) ;;
  *) echo "warning: no known pins for Airflow $minor" >&2 ;;
esac

reqs=("apache-airflow==${AIRFLOW_VERSION}" "mlflow-skinny==${MLFLOW_SKINNY_VERSION}")
if [[ -n "${WHEEL:-}" ]]; then
  [[ -f "$WHEEL" ]] || { echo "no wheel at $WHEEL" >&2; exit 2; }
  reqs+=("${WHEEL}${EXTRAS:+[$EXTRAS]}")
else
  # stand-in for the wheel: its planned core deps plus the planned extras
  reqs+=("pydantic>=2.7,<3")
  IFS=, read -ra ex <<<"$EXTRAS"
  for e in "${ex[@]}"; do
    case "$e" in
      redis) reqs+=("apache-airflow-providers-redis") ;;
      sqs|amazon) reqs+=("apache-airflow-providers-amazon[aiobotocore]") ;;
      "") ;;
      *) echo "unknown extra $e" >&2; exit 2 ;;
    esac
  done
fi

cfile=$(mktemp)
trap 'rm -f "$cfile"' EXIT
printf '%s\n' "${constraints[@]}" >"$cfile"

rm -rf "$VENV"
"$UV" venv -q --python "$PYTHON" "$VENV"
start=$(date +%s)
"$UV" pip install --python "$VENV/bin/python" -c "$cfile" "${reqs[@]}"
echo "install took $(( $(date +%s) - start ))s"
"$UV" pip check --python "$VENV/bin/python" || true

printf 'export %s\n' "${cell_env[@]}" "AIRFLOW_HOME=$VENV/airflow-home" >"$VENV/cell.env"
"$UV" pip list --python "$VENV/bin/python" 2>/dev/null | grep -iE '^(apache-airflow|mlflow-skinny|fastapi|starlette|pyjwt|svcs|sqlalchemy|pydantic|airflow-provider-hokusai) '

if [[ "${SMOKE:-0}" == 1 ]]; then
  # shellcheck disable=SC1091
  source "$VENV/cell.env"
  mkdir -p "$AIRFLOW_HOME"
  export AIRFLOW__CORE__LOAD_EXAMPLES=False
  "$VENV/bin/airflow" version
  "$VENV/bin/airflow" db migrate >"$VENV/migrate.log" 2>&1 && echo "db migrate ok" || { tail -20 "$VENV/migrate.log"; exit 1; }
  "$VENV/bin/python" -c "import mlflow; from mlflow import MlflowClient; print('mlflow', mlflow.__version__)"
fi
