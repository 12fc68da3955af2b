#!/usr/bin/env bash
# Submit the gliner-beam job to a Flink cluster; job arguments pass through.
#
#   FLINK_MASTER=jobmanager:8081 FLINK_VERSION=1.20 \
#   FLINK_JOB_SERVER_JAR=/opt/jars/beam-runners-flink-1.20-job-server-2.77.0.jar \
#   WORKER_POOL=localhost:50000 \
#   templates/flink/submit.sh --input 'gs://b/docs/*.parquet' --output gs://b/out \
#       --model gs://b/models/NAME --labels person,location
#
#   JOB_ENDPOINT=localhost:8099 templates/flink/submit.sh ...   # job-server container
#   SDK_IMAGE=REGION-docker.pkg.dev/P/R/gliner-beam-gpu:TAG ...  # DOCKER environment
#   templates/flink/submit.sh --worker-pool                      # start a worker pool here
# See README.md in this directory.
set -euo pipefail
REPO_ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
VENV="${VENV:-$REPO_ROOT/.venv}"
PYTHON="$VENV/bin/python"

if [[ "${1:-}" == "--worker-pool" ]]; then
  # The venv's bin first on PATH: the pool starts harnesses as `python -m ...`.
  export PATH="$VENV/bin:$PATH"
  exec python -m apache_beam.runners.worker.worker_pool_main \
      --service_port="${WORKER_POOL_PORT:-50000}"
fi

if [[ -n "${SDK_IMAGE:-}" ]]; then
  env_flags=(--environment_type=DOCKER "--environment_config=$SDK_IMAGE")
else
  env_flags=(--environment_type=EXTERNAL "--environment_config=${WORKER_POOL:-localhost:50000}")
fi

if [[ -n "${JOB_ENDPOINT:-}" ]]; then
  runner_flags=(--runner=PortableRunner "--job_endpoint=$JOB_ENDPOINT"
                "--artifact_endpoint=${ARTIFACT_ENDPOINT:-${JOB_ENDPOINT%:*}:8098}")
else
  : "${FLINK_MASTER:?set FLINK_MASTER (host:port of the JobManager) or JOB_ENDPOINT}"
  runner_flags=(--runner=FlinkRunner "--flink_master=$FLINK_MASTER"
                "--flink_version=${FLINK_VERSION:-1.20}")
  if [[ -n "${FLINK_JOB_SERVER_JAR:-}" ]]; then
    runner_flags+=("--flink_job_server_jar=$FLINK_JOB_SERVER_JAR")
  fi
fi

cd "$REPO_ROOT"
exec "$PYTHON" -m pipeline "${runner_flags[@]}" "${env_flags[@]}" "$@"
