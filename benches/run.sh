#!/usr/bin/env bash
# Runs the whole benchmark suite (issue 6) on this machine and prints the tables of BENCHMARKS.md.
#
#   benches/run.sh            full run (about ten minutes on two cores)
#   benches/run.sh --smoke    short run to check that everything works; its figures are indicative
#   benches/run.sh --update   also rewrite the tables section of BENCHMARKS.md with this run
#   benches/run.sh --dirty    also run the `dirty` bench: a journal and a buffered writer each write
#                             1.5 x the kernel's dirty-page budget (several GiB) to disk, once
#
# Anything after `--` goes to every bench binary (criterion flags, or a filter).
# Environment: TMPDIR moves the journal files (default /tmp); JOURNAL_BENCH_PIN=0 stops pinning the
# two sides of the cross-thread and cross-process benchmarks to CPUs 0 and 1;
# JOURNAL_BENCH_ROUNDS sets the round trips of each latency histogram (default 500000).
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
out="$root/target/journal-bench"
smoke=0
update=0
dirty=0
extra=()
while [ $# -gt 0 ]; do
    case "$1" in
        --smoke) smoke=1 ;;
        --update) update=1 ;;
        --dirty) dirty=1 ;;
        --) shift; extra=("$@"); break ;;
        *) echo "usage: benches/run.sh [--smoke] [--update] [--dirty] [-- criterion args]" >&2; exit 2 ;;
    esac
    shift
done

export CRITERION_HOME="$out/criterion"
export JOURNAL_BENCH_RESULTS="$out/results.jsonl"
rm -rf "$CRITERION_HOME" "$JOURNAL_BENCH_RESULTS"
mkdir -p "$out"

args=()
label="Full run, $(date -u +%Y-%m-%d)"
command="benches/run.sh"
if [ "$smoke" = 1 ]; then
    args=(--warm-up-time 0.2 --measurement-time 0.4)
    export JOURNAL_BENCH_ROUNDS="${JOURNAL_BENCH_ROUNDS:-50000}"
    export JOURNAL_BENCH_WARMUP_ROUNDS="${JOURNAL_BENCH_WARMUP_ROUNDS:-5000}"
    export JOURNAL_BENCH_WAIT_ROUNDS="${JOURNAL_BENCH_WAIT_ROUNDS:-500}"
    export JOURNAL_BENCH_WAIT_IDLE_MS="${JOURNAL_BENCH_WAIT_IDLE_MS:-1000}"
    label="SMOKE RUN, $(date -u +%Y-%m-%d): 0.2 s warm-up, 0.4 s measurement, 50,000 round trips per histogram. Indicative only; replace with a full run."
    command="benches/run.sh --smoke"
fi

start=$(date +%s)
load_start=$(cut -d' ' -f1-3 /proc/loadavg)
# The peers (seglog, khata-rs, rtrb, iceoryx2) sit behind the `peers` feature (benches/Cargo.toml).
cargo bench -p journal-benches --features peers --no-run
for bench in append mmap_table read ring latency replay wait; do
    echo "=== $bench" >&2
    cargo bench -p journal-benches --features peers --bench "$bench" -- "${args[@]}" "${extra[@]}"
done
if [ "$dirty" = 1 ]; then
    echo "=== dirty" >&2
    cargo bench -p journal-benches --features peers --bench dirty -- "${extra[@]}"
fi
took=$(( $(date +%s) - start ))
load_end=$(cut -d' ' -f1-3 /proc/loadavg)
echo "=== suite took $took s" >&2
label="$label Suite time ${took} s; load average (1, 5, 15 min) at start ${load_start}, at end ${load_end}."

summary=(--criterion "$CRITERION_HOME" --results "$JOURNAL_BENCH_RESULTS" --label "$label" --command "$command")
if [ "$update" = 1 ]; then
    summary+=(--update "$root/BENCHMARKS.md")
fi
cargo run --release -q -p journal-benches --features peers --bin bench-summary -- "${summary[@]}" | tee "$out/tables.md"
echo "tables written to $out/tables.md" >&2
