#!/usr/bin/env bash
# The main job end to end on the embedded SQLite database under var/:
# schema, data, the retrain DAG and the nightly DAG through Airflow, then the worklist.
# Safe to run again: nothing is loaded, registered or scored twice.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
bin=$root/.venv/bin
export PATH=$bin:$PATH

export BANK_SCORING_VAR_DIR=${BANK_SCORING_VAR_DIR:-$root/var}
var=$BANK_SCORING_VAR_DIR
export BANK_SCORING_DB_URL=${BANK_SCORING_DB_URL:-sqlite:///$var/bank_scoring.db}
export BANK_SCORING_MODEL_DIR=${BANK_SCORING_MODEL_DIR:-$var/models}
export AIRFLOW_HOME=${AIRFLOW_HOME:-$var/airflow}
export AIRFLOW__CORE__DAGS_FOLDER=$root/dags
export AIRFLOW__CORE__LOAD_EXAMPLES=False
export AIRFLOW__CORE__UNIT_TEST_MODE=False
score_date=${SCORE_DATE:-$(date -u +%F)}
logs=$var/logs
mkdir -p "$logs"

step() { printf '\n== %s\n' "$*"; }
run_dag() {  # dag_id logical_date
    local log=$logs/$1.log
    if airflow dags test "$1" "$2" >"$log" 2>&1; then
        echo "$1: success (log: $log)"
        grep -E '^(model v|published run|run [0-9]+:)' "$log" | sed 's/^/  /' || true
    else
        echo "$1: FAILED; the last lines of $log:" >&2
        tail -n 40 "$log" >&2
        exit 1
    fi
}

step "1/5 Database: $(python -c 'import os; from bank_scoring.db import safe_url; print(safe_url(os.environ["BANK_SCORING_DB_URL"]))')"
bank-scoring init-db

step "2/5 Data (BANK_CSV=${BANK_CSV:-unset})"
bank-scoring load-data --synthetic-if-unavailable 45211

step "3/5 Airflow metadata database ($AIRFLOW_HOME)"
airflow db migrate >"$logs/airflow-db-migrate.log" 2>&1 || { tail -n 30 "$logs/airflow-db-migrate.log" >&2; exit 1; }
echo "ready"

step "4/5 Retrain: DAG bank_scoring_retrain"
run_dag bank_scoring_retrain "$score_date"

step "5/5 Nightly scoring for $score_date: DAG bank_scoring_nightly"
run_dag bank_scoring_nightly "$score_date"

step "Summary"
bank-scoring summary --date "$score_date" --limit 20

step "Agents: what the contact policy lets be called at 10:00, and the first lead"
# Demo users for the desk on this demo database only; a bank adds its own with a prompt.
echo demo-password | bank-scoring users add demo-agent --role agent --password-stdin
echo demo-password | bank-scoring users add demo-lead --role team_lead --password-stdin
bank-scoring agent release --all --agent demo-agent --at "$score_date 10:00" >/dev/null
bank-scoring worklist --preview --at "$score_date 10:00"
bank-scoring agent next --agent demo-agent --at "$score_date 10:00"

step "The agents' desk"
echo "Open it on this data with:"
if [ "$var" = "$root/var" ]; then hint="     (or: make desk)"; else hint=""; fi
echo "  .venv/bin/bank-scoring --db-url '$BANK_SCORING_DB_URL' serve$hint"
echo "then http://127.0.0.1:8000/ and log in as demo-agent (an agent) or demo-lead (a team lead),"
echo "password demo-password. The API is described at http://127.0.0.1:8000/api/docs."
