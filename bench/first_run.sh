#!/usr/bin/env bash
# The first ten minutes, measured: clone this repository at REF into a fresh directory, run
# `make run` there (a new virtual environment, pip's cache as it is) and time it to the ready
# banner; then Ctrl-C the whole process group, as a terminal does.
#   bench/first_run.sh [REF] [BASE_PORT]      (defaults: HEAD, 31081)
# Prints the seconds to the banner, the environment's size and package count, and what the run
# wrote to stderr after the signal. Compare two REFs in the same window: the machine's load moves
# the absolute figure a lot.
set -euo pipefail
ref=${1:-HEAD}
port=${2:-31081}
repo=$(git -C "$(dirname "$0")" rev-parse --show-toplevel)
dir=$(mktemp -d /tmp/first-run.XXXXXX)
git clone -q "$repo" "$dir"
git -C "$dir" checkout -q "$(git -C "$repo" rev-parse "$ref")"
cd "$dir"
start=$(date +%s.%N)
setsid env MASTERY_BASE_PORT="$port" make run > run.out 2> run.err &
pid=$!
until grep -q "^Ctrl-C stops" run.out; do
    kill -0 "$pid" 2> /dev/null || { echo "make run exited early; see $dir/run.err"; exit 1; }
    sleep 0.5
done
end=$(date +%s.%N)
echo "ref=$ref seconds_to_banner=$(echo "$end - $start" | bc) load=$(cut -d' ' -f1 /proc/loadavg)"
echo "venv_mb=$(du -sm .venv | cut -f1) packages=$(.venv/bin/python -m pip list 2> /dev/null | tail -n +3 | wc -l)"
kill -INT -- -"$pid"
wait "$pid" || true
echo "--- stderr after Ctrl-C:"
sed -n '/^stopping/,$p' run.err
rm -rf "$dir"
