#!/usr/bin/env bash
# bench/cgroup.sh — ct-cgroup against cgroup-tools (Debian package cgroup-tools: cgcreate,
# cgset, cgclassify, cgdelete) doing the same job on the same host, side by side:
#
#   1. create a cgroup, limit it to 64 MiB, half a CPU and 100 pids, move a running process in;
#   2. remove the (empty) cgroup again.
#
# Both tools write the same kernel files (memory.limit_in_bytes, cpu.cfs_quota_us/period_us,
# pids.max, cgroup.procs). ct-cgroup does more per call: it creates the cgroup on EVERY
# hierarchy (all v1 controllers plus the cgroup2 tree, as runc does), cgroup-tools only on the
# controllers named with -g. Before each timed run a prepare step moves the process back to
# the root cgroups and removes what the previous run made, so each run starts from the same
# state. Everything the script creates lives under its own parent cgroups, removed at exit.
# Usage: sudo bench/cgroup.sh   (RUNS=N to change the number of runs, default 100)
set -euo pipefail

runs=${RUNS:-100}
[ "$(id -u)" = 0 ] || { echo "bench/cgroup.sh: needs root (cgroups)" >&2; exit 2; }
for t in hyperfine jq cgcreate cgset cgclassify cgdelete; do
    command -v "$t" >/dev/null || { echo "bench/cgroup.sh: needs $t (apt-get install hyperfine jq cgroup-tools)" >&2; exit 2; }
done

here=$(cd "$(dirname "$0")/.." && pwd)
target=${CARGO_TARGET_DIR:-$here/target}
(cd "$here" && cargo build --release -q -p ct-cgroup)
ct=$target/release/ct-cgroup

ctp=ctbench-ct-$$   # ct-cgroup's parent
cgp=ctbench-cgt-$$  # cgroup-tools' parent
work=$(mktemp -d /tmp/ct-bench-cgroup.XXXXXX)
sleep 3600 &
pid=$!

# Every cgroup mount point, from mountinfo (no hard-coded list).
mounts=$(awk '$0 ~ / - cgroup2? / {print $5}' /proc/self/mountinfo | tr '\n' ' ')

cat > "$work/reset" <<SH
#!/bin/sh
# Put the process back in the root cgroup everywhere, then rmdir the benchmark's cgroups.
for m in $mounts; do
    echo $pid > "\$m/cgroup.procs" 2>/dev/null || true
    rmdir "\$m/$ctp/b" "\$m/$cgp/b" 2>/dev/null || true
done
SH
cat > "$work/unjoin" <<SH
#!/bin/sh
# Only move the process back to the root cgroups (leaving an empty cgroup to remove).
for m in $mounts; do echo $pid > "\$m/cgroup.procs" 2>/dev/null || true; done
SH
chmod +x "$work/reset" "$work/unjoin"

cleanup() {
    "$work/reset" || true
    kill "$pid" 2>/dev/null || true
    "$ct" rm "/$ctp" >/dev/null 2>&1 || true
    # rmdir can answer EBUSY for a moment after the last task left: retry, bounded.
    for _ in $(seq 50); do
        left=0
        for m in $mounts; do
            for d in "$m/$cgp/b" "$m/$cgp"; do
                [ -d "$d" ] && { rmdir "$d" 2>/dev/null || left=1; }
            done
        done
        [ "$left" = 0 ] && break
        sleep 0.1
    done
    rm -rf "$work"
}
trap cleanup EXIT
export CT_CGROUP_PARENT=$ctp

ct_create="$ct --pid $pid --name b --memory 64m --cpus 0.5 --pids-limit 100 >/dev/null"
cgt_create="cgcreate -g memory,cpu,pids:/$cgp/b && cgset -r memory.limit_in_bytes=64m -r cpu.cfs_quota_us=50000 -r cpu.cfs_period_us=100000 -r pids.max=100 $cgp/b && cgclassify -g memory,cpu,pids:/$cgp/b $pid"

# Sanity: both really apply the same limits.
eval "$ct_create"
eval "$cgt_create"
for f in memory/memory.limit_in_bytes cpu/cpu.cfs_quota_us pids/pids.max; do
    c=${f%%/*}; file=${f#*/}
    m=$(awk -v c="$c" '$0 ~ / - cgroup / && $NF ~ ("(^|,)" c "(,|$)") {print $5; exit}' /proc/self/mountinfo)
    a=$(cat "$m/$ctp/b/$file"); b=$(cat "$m/$cgp/b/$file")
    [ "$a" = "$b" ] || { echo "bench/cgroup.sh: $file differs: ct-cgroup $a, cgroup-tools $b" >&2; exit 1; }
done
"$work/reset"

echo "== create + limit (64m, 0.5 CPU, 100 pids) + move a process in"
hyperfine -N --warmup 5 --runs "$runs" --prepare "$work/reset" \
    --export-json "$work/create.json" \
    -n ct-cgroup "sh -c '$ct_create'" \
    -n cgroup-tools "sh -c '$cgt_create'"

echo "== remove an empty cgroup"
hyperfine -N --warmup 5 --runs "$runs" \
    --export-json "$work/rm.json" \
    -n "ct-cgroup rm" --prepare "sh -c '$work/reset; $ct --pid $pid --name b >/dev/null; $work/unjoin'" "$ct rm b" \
    -n "cgdelete" --prepare "sh -c '$work/reset; cgcreate -g memory,cpu,pids:/$cgp/b'" "cgdelete -g memory,cpu,pids:/$cgp/b"

ratio() {
    jq -r '.results | "\(.[0].command): \(.[0].mean*1000|.*100|round/100) ms, \(.[1].command): \(.[1].mean*1000|.*100|round/100) ms, ratio ct/other = \(.[0].mean/.[1].mean|.*100|round/100)"' "$1"
}
echo
echo "create+limit+join: $(ratio "$work/create.json")"
echo "remove:            $(ratio "$work/rm.json")"
