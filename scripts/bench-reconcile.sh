#!/usr/bin/env bash
# Benchmark: cutover's bulk comparison of account-period totals against two peers, on the same
# data, in the same run. Benchmark only: nothing here is needed by `cargo test` or CI.
#
#   scripts/bench-reconcile.sh [ROWS]        (default 1,000,000 account-periods)
#
# 1. builds cutover (release) and generates ROWS account-periods (`cutover bench gen`): legacy.csv
#    and new.csv, about 1% differing and about 0.1% missing on one side;
# 2. installs DuckDB, datacompy and polars from PyPI into a virtualenv ($BENCH_DIR/venv);
# 3. runs, each under /usr/bin/time -v, each writing every differing account-period to a CSV:
#    - cutover:   `cutover bench reconcile` (a streaming merge of the two key-sorted files, Decimal money);
#    - DuckDB:    a SQL FULL OUTER JOIN compare (scripts/bench/duckdb_compare.py, DECIMAL(18,2));
#    - datacompy: PolarsCompare with abs_tol 0.01 (scripts/bench/datacompy_compare.py, Float64);
# 4. prints wall time and peak memory (max RSS) for each, and the ratios to cutover's, plus the
#    machine it ran on.
set -euo pipefail
cd "$(dirname "$0")/.."
rows="${1:-1000000}"
dir="${BENCH_DIR:-/tmp/cutover-bench}"
mkdir -p "$dir/data"
command -v /usr/bin/time >/dev/null || { echo "needs /usr/bin/time (apt-get install -y time)" >&2; exit 3; }

cargo build --release --quiet
bin="${CARGO_TARGET_DIR:-target}/release/cutover"
"$bin" bench gen --rows "$rows" --dir "$dir/data"

if [ ! -x "$dir/venv/bin/python" ]; then
  python3 -m venv "$dir/venv"
fi
"$dir/venv/bin/pip" install --quiet --disable-pip-version-check "duckdb==2.0.1" "datacompy==1.1.0" "polars==1.33.1"

measure() { # name, command...
  local name="$1"; shift
  /usr/bin/time -v "$@" >"$dir/$name.out" 2>"$dir/$name.time"
  local wall rss
  wall=$(grep "Elapsed (wall clock)" "$dir/$name.time" | awk '{print $NF}')
  rss=$(grep "Maximum resident set size" "$dir/$name.time" | awk '{print $NF}')
  # m:ss.ss or h:mm:ss -> seconds
  wall=$(echo "$wall" | awk -F: '{ if (NF==3) print $1*3600+$2*60+$3; else print $1*60+$2 }')
  echo "$name $wall $rss" >>"$dir/results"
  printf '%-10s wall %8.2f s   peak %8.1f MiB   %s\n' "$name" "$wall" "$(echo "$rss/1024" | bc -l)" "$(head -c 200 "$dir/$name.out" | tr '\n' ' ')"
}

rm -f "$dir/results"
echo "== $rows account-periods; each tool writes its differences to $dir/*.diff.csv"
measure cutover "$bin" bench reconcile --legacy "$dir/data/legacy.csv" --new "$dir/data/new.csv" --out "$dir/cutover.diff.csv"
measure duckdb "$dir/venv/bin/python" scripts/bench/duckdb_compare.py "$dir/data/legacy.csv" "$dir/data/new.csv" "$dir/duckdb.diff.csv"
measure datacompy "$dir/venv/bin/python" scripts/bench/datacompy_compare.py "$dir/data/legacy.csv" "$dir/data/new.csv" "$dir/datacompy.diff.csv"

echo "== ratios (peer / cutover; above 1 means cutover is faster or smaller)"
awk 'NR==FNR {if ($1=="cutover") {w=$2; m=$3}; next} $1!="cutover" {printf "%-10s time x%.2f   memory x%.2f\n", $1, $2/w, $3/m}' "$dir/results" "$dir/results"
echo "== machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(free -g | awk '/Mem:/ {print $2}') GiB RAM, $(uname -sr)"
