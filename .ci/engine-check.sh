#!/usr/bin/env bash
# The real Pulumi engine over this repository's layout, with no cloud: proves that the SmokeTest's
# dynamic provider starts (launcher, virtualenv resolution, unpickling) where the engine starts it.
#
# A tiny project derived from the real one — its Pulumi.yaml gets this repository's `runtime` and
# `main`, its root links to this .venv (where `make setup` installed app/ and infra/, editable), its
# program folder gets the links the real one holds (stacks/.venv) — whose program registers only the
# SmokeTest, against gunicorn serving app/ on loopback. State in a temporary file backend. Steps:
#   preview; up (create, v1.0.0); restart the app as v1.1.0 and up (update); up expecting a version
#   nobody serves must fail with the smoke report; destroy (the provider stored in the state deletes).
# Each run also reads the stack's own last outputs as the real program does before it registers anything
# (infra/stack_outputs.py): a new stack has none, an update sees what the run before it exported.
#
# Needs the Pulumi CLI on PATH and `make .venv/.installed`. Run by CI's `engine` job (.github/workflows/ci.yml);
# by hand: .ci/engine-check.sh (your own Pulumi login and plugins are not touched).
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
python="$repo/.venv/bin/python"
work=$(mktemp -d)
project="$work/project"
app_pid=""

fail() {
  echo "engine check: $*" >&2
  exit 1
}

stop_app() {
  if [ -n "$app_pid" ]; then
    kill -TERM "$app_pid" 2>/dev/null || true
    wait "$app_pid" 2>/dev/null || true
    app_pid=""
  fi
}
trap 'stop_app; rm -rf "$work"' EXIT

command -v pulumi >/dev/null || fail "no pulumi CLI on PATH; install the version the workflows pin (PULUMI_VERSION)."
[ -x "$python" ] || fail "$python is missing; run 'make .venv/.installed' first."
"$python" -c 'import infra.smoke_test' 2>/dev/null || fail "$python cannot import infra; run 'make .venv/.installed' first."

# --- the app: gunicorn with app/gunicorn.conf.py on 127.0.0.1 -------------------------------------

url=""
start_app() { # VERSION PORT (0: the kernel picks); sets url and app_pid
  local version=$1 port=$2 log="$work/gunicorn-$1.log"
  (cd "$repo" && APP_VERSION="$version" BIND="127.0.0.1:$port" WEB_WORKERS=1 GRACEFUL_TIMEOUT=1 \
    exec "$python" -m gunicorn -c app/gunicorn.conf.py) >"$log" 2>&1 &
  app_pid=$!
  for _ in $(seq 200); do
    url=$(sed -n 's|.*Listening at: \(http://127\.0\.0\.1:[0-9]*\).*|\1|p' "$log" | head -n 1)
    if [ -n "$url" ] && grep -q "Booting worker" "$log"; then
      echo "app $version at $url"
      return 0
    fi
    kill -0 "$app_pid" 2>/dev/null || { cat "$log" >&2; fail "gunicorn $version exited before listening."; }
    sleep 0.1
  done
  cat "$log" >&2
  fail "gunicorn $version did not listen within 20 s."
}

# --- the tiny project, derived from the real one ---------------------------------------------------

mkdir -p "$project"
main=$("$python" - "$repo/Pulumi.yaml" "$project/Pulumi.yaml" <<'PY'
import sys

import yaml

real = yaml.safe_load(open(sys.argv[1], encoding="utf-8"))
tiny = {
    "name": "engine-check",
    "description": "The SmokeTest alone, under the real engine (.ci/engine-check.sh).",
    "runtime": real["runtime"],
    "main": real["main"],
}
with open(sys.argv[2], "w", encoding="utf-8") as out:
    yaml.safe_dump(tiny, out, sort_keys=False)
print(real["main"])
PY
)
[ -d "$repo/$main" ] || fail "Pulumi.yaml's main ($main) is no longer a folder; make this check mirror the new layout."
ln -s "$repo/.venv" "$project/.venv" # app and infra come from it: the repository is installed there
mkdir -p "$project/$main"
# The links the real program folder holds (stacks/.venv → ../.venv), copied as links.
find "$repo/$main" -maxdepth 1 -type l -exec cp -P {} "$project/$main/" \;
cat >"$project/$main/__main__.py" <<'PY'
"""The SmokeTest alone, against the app .ci/engine-check.sh started (config: baseUrl, expectedVersion, timeout)."""

import pulumi

from infra.smoke_test import SmokeTest, SmokeTestArgs
from infra.stack_outputs import OwnStackOutputs

config = pulumi.Config()
last = OwnStackOutputs().last()  # the real program's first read, on this engine and a diy backend
if last.error:
    raise pulumi.RunError(f"the stack cannot read its own outputs: {last.error}")
pulumi.export("expectedVersion", config.require("expectedVersion"))
pulumi.export("lastExpectedVersion", last.values.get("expectedVersion") or "none")
smoke = SmokeTest(
    "engine-check-smoke",
    SmokeTestArgs(
        base_url=config.require("baseUrl"),
        expected_version=config.require("expectedVersion"),
        consecutive=2,
        timeout=float(config.require("timeout")),
        interval=0.2,
    ),
)
pulumi.export("report", smoke.report)
PY
echo "tiny project in $project:"
cat "$project/Pulumi.yaml"
ls -la "$project" "$project/$main"

# --- the real engine, on a throwaway file backend ---------------------------------------------------

export PULUMI_HOME="$work/pulumi-home" # this run's own login and plugins
export PULUMI_CONFIG_PASSPHRASE="engine-check" # secrets of a throwaway stack that holds none
export PULUMI_SKIP_UPDATE_CHECK=true
pulumi version
pulumi login "file://$work/state"
cd "$project"
pulumi stack init engine-check --non-interactive

up() { # LOG: pulumi up, its output kept in LOG and shown
  pulumi up --yes --non-interactive --color never --stack engine-check 2>&1 | tee "$1"
  return "${PIPESTATUS[0]}"
}

expect_report() { # VERSION: the stack's report says VERSION passed
  local report
  report=$(pulumi stack output report --stack engine-check)
  echo "$report"
  grep -qF "for version $1: passed" <<<"$report" || fail "the stored report is not a pass for $1."
}

expect_last() { # VALUE: the run read VALUE as its stack's previous expectedVersion output
  local last
  last=$(pulumi stack output lastExpectedVersion --stack engine-check)
  [ "$last" = "$1" ] || fail "the program read its own last expectedVersion output as '$last', not '$1'."
}

echo "::group::create: preview, then up with the app at v1.0.0"
start_app v1.0.0 0
port=${url##*:}
pulumi config set baseUrl "$url"
pulumi config set expectedVersion v1.0.0
pulumi config set timeout 30
pulumi preview --non-interactive --color never --stack engine-check
up "$work/create.log"
expect_report v1.0.0
expect_last none # a stack that was never updated has no outputs
echo "::endgroup::"

echo "::group::update: the app restarted as v1.1.0 on the same port, up again"
stop_app
start_app v1.1.0 "$port"
pulumi config set expectedVersion v1.1.0
up "$work/update.log"
expect_report v1.1.0 # only the provider's update writes a report for v1.1.0
expect_last v1.0.0 # the outputs its last update left, not this run's
echo "::endgroup::"

echo "::group::failure: up expecting v9.9.9, which nobody serves, must fail with the smoke report"
pulumi config set expectedVersion v9.9.9
pulumi config set timeout 5
if up "$work/failure.log"; then
  fail "pulumi up passed although the app answers v1.1.0, not v9.9.9."
fi
grep -qF "Smoke test of $url for version v9.9.9: FAILED" "$work/failure.log" \
  || fail "the failed up does not show the smoke report's verdict."
grep -qF "saw: v1.1.0" "$work/failure.log" || fail "the failed up does not say what the app answered."
expect_report v1.1.0 # the failed update left the last passing state
echo "::endgroup::"

echo "::group::destroy: the provider stored in the state deletes the resource"
pulumi destroy --yes --non-interactive --color never --stack engine-check
echo "::endgroup::"

echo "engine check passed: preview, create, update, the failing up and destroy ran the SmokeTest under pulumi $(pulumi version)."
