#!/usr/bin/env bash
# bench/lifecycle.sh — ct-exec as an OCI runtime, against crun and runc, side by side:
#
# 1. the runtime spec's lifecycle as containerd's shim and conmon drive it: `create` (with a
#    pid file), `start`, wait until the container's process has exited, `delete` — of the
#    stock `runc spec` bundle (busybox `true`), each runtime with a state root of its own;
# 2. `podman run --rm` of the same root filesystem with each as `--runtime` (temporary podman
#    root, runroot and tmpdir; cgroupfs manager, file events, no network).
#
# Same conditions for all three: one private mount namespace (`unshare -m`) where
# /sys/fs/cgroup/unified is unmounted (crun 1.8 takes a hybrid host with it mounted for a
# cgroup v2 host and fails); bundle and runtime state on a tmpfs. ct-exec is built as
# bench/exec.sh builds it (build-static.sh; CT_EXEC_DYNAMIC=1 for the plain release build).
#
# Prints hyperfine's tables and the ratios of mean and of median wall time (target: ct-exec at
# most 0.80 of crun's in both), then the runtime's own share of a podman run and the same
# podman ratios from runs where the two runtimes alternate (podman's own time drifts between
# hyperfine's batches by more than the runtimes differ).
# Usage: sudo bench/lifecycle.sh   (RUNS=N timed runs for the lifecycle, default 100;
#                                   PODMAN_RUNS=N for podman, default 20)
set -euo pipefail

runs=${RUNS:-100}
podman_runs=${PODMAN_RUNS:-20}
[ "$(id -u)" = 0 ] || { echo "bench/lifecycle.sh: needs root (namespaces, mounts)" >&2; exit 2; }
for t in hyperfine jq awk runc crun podman unshare busybox tar; do
    command -v "$t" >/dev/null || { echo "bench/lifecycle.sh: needs $t (apt-get install hyperfine jq runc crun podman busybox-static)" >&2; exit 2; }
done

here=$(cd "$(dirname "$0")/.." && pwd)
target=${CARGO_TARGET_DIR:-$here/target}
if [ -n "${CT_EXEC_DYNAMIC:-}" ]; then
    (cd "$here" && cargo build --release -q -p ct-exec)
else
    CARGO_TARGET_DIR=$target "$here/build-static.sh" release ct-exec >/dev/null
fi
ct=$target/release/ct-exec

work=$(mktemp -d /tmp/ct-bench-lifecycle.XXXXXX)
cleanup() {
    if [ -d "$work/podman" ]; then
        podman --root "$work/podman/root" --runroot "$work/podman/runroot" \
            --storage-driver overlay system reset --force >/dev/null 2>&1 || true
    fi
    umount -R "$work" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT
mount -t tmpfs -o size=256m tmpfs "$work"

# The bundle: busybox-static and two applets, config from `runc spec`.
b=$work/bundle
mkdir -p "$b/rootfs/bin" "$b/rootfs/proc" "$b/rootfs/sys" "$b/rootfs/dev"
cp "$(command -v busybox)" "$b/rootfs/bin/busybox"
ln -s busybox "$b/rootfs/bin/true"
ln -s busybox "$b/rootfs/bin/sh"
runc spec --bundle "$b"
jq '.process.terminal = false | .process.args = ["true"]' \
    "$b/config.json" > "$b/config.json.new"
mv "$b/config.json.new" "$b/config.json"

# One lifecycle: create, start, wait for the process to end, delete.
cat > "$work/lifecycle" <<'EOF'
#!/usr/bin/env bash
set -eu
rt=$1 root=$2 bundle=$3 id=c$$
"$rt" --root "$root" create --bundle "$bundle" --pid-file "$root.pid" "$id"
pid=$(< "$root.pid")
"$rt" --root "$root" start "$id"
# Until it has exited: gone, or a zombie (its reaper is the machine's PID 1, whose speed at
# reaping orphans is no runtime's).
while read -r _ _ st _ 2>/dev/null < "/proc/$pid/stat" && [ "$st" != Z ]; do :; done
"$rt" --root "$root" delete "$id"
EOF
chmod +x "$work/lifecycle"

# podman, with each runtime.
pm() {
    podman --root "$work/podman/root" --runroot "$work/podman/runroot" \
        --tmpdir "$work/podman/tmp" --storage-driver overlay --cgroup-manager cgroupfs \
        --events-backend file "$@"
}
tar -C "$b/rootfs" -cf "$work/rootfs.tar" .
pm import "$work/rootfs.tar" localhost/ct-bench >/dev/null
podman_run="run --rm --network none --ulimit nofile=1024:1024 --ulimit nproc=1024:1024 localhost/ct-bench true"
pm_prefix="podman --root $work/podman/root --runroot $work/podman/runroot --tmpdir $work/podman/tmp --storage-driver overlay --cgroup-manager cgroupfs --events-backend file"

unshare -m bash -euo pipefail -c "
    umount /sys/fs/cgroup/unified 2>/dev/null || true
    for r in '$ct' crun runc; do
        '$work/lifecycle' \$r $work/state-\$(basename \$r) $b 2>/dev/null ||
            { echo \"bench/lifecycle.sh: failed: \$r\" >&2; exit 1; }
        $pm_prefix --runtime \$(command -v \$r) $podman_run ||
            { echo \"bench/lifecycle.sh: podman failed with \$r\" >&2; exit 1; }
    done
    hyperfine -N --warmup 5 --runs $runs --export-json $work/lifecycle.json \
        -n ct-exec '$work/lifecycle $ct $work/state-ct $b' \
        -n crun '$work/lifecycle crun $work/state-crun $b' \
        -n runc '$work/lifecycle runc $work/state-runc $b'
    hyperfine -N --warmup 2 --runs $podman_runs --export-json $work/podman.json \
        -n ct-exec '$pm_prefix --runtime $ct $podman_run' \
        -n crun '$pm_prefix --runtime $(command -v crun) $podman_run' \
        -n runc '$pm_prefix --runtime $(command -v runc) $podman_run'
"

# The runtime's own share of a podman run: the same podman run with each runtime behind a
# wrapper that logs how long each of its calls takes (from just before its exec to its exit,
# so the wrapper's own start is not counted). What podman and conmon take besides is what
# even an instant runtime would cost. The runs alternate, so a change in load hits both alike.
for r in "$ct" "$(command -v crun)"; do
    n=$(basename "$r")
    cat > "$work/timed-$n" <<WRAPPER
#!/usr/bin/env bash
s=\$EPOCHREALTIME
$r "\$@"
rc=\$?
echo "\$s \$EPOCHREALTIME" >> "$work/times-$n"
exit \$rc
WRAPPER
    chmod +x "$work/timed-$n"
done
# Then the whole podman runs with the runtimes alternating, and without the wrapper (whose
# own bash start, ~1 ms per call, would add alike to both and pull their ratio towards 1):
# a drift in podman's own time (hyperfine times one runtime's runs after the other's)
# reaches both alike.
unshare -m bash -euo pipefail -c "
    umount /sys/fs/cgroup/unified 2>/dev/null || true
    for i in \$(seq $podman_runs); do
        for n in ct-exec crun; do
            $pm_prefix --runtime $work/timed-\$n $podman_run
        done
    done
    for i in \$(seq $podman_runs); do
        for r in $ct $(command -v crun); do
            s=\$EPOCHREALTIME
            $pm_prefix --runtime \$r $podman_run
            echo \"\$s \$EPOCHREALTIME\" >> $work/whole-\$(basename \$r)
        done
    done
"
share() { awk -v n="$podman_runs" '{ t += $2 - $1; c++ } END { printf "%.4f %d", t / n, c / n }' "$work/times-$1"; }
# The whole podman runs of the second loop.
whole() { awk '{ t += $2 - $1; c++ } END { printf "%.4f", t / c }' "$work/whole-$1"; }
# Their median: one podman run slowed by something else on the machine moves a mean of 20-30
# runs by a millisecond, more than the runtimes' own difference moves it.
whole_median() { awk '{ print $2 - $1 }' "$work/whole-$1" | sort -g | awk '{ v[NR] = $1 } END { printf "%.4f", NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

ratios() {
    local f=$1 what=$2 stat
    for stat in mean median; do
        of() { jq -r --arg n "$1" --arg s "$stat" '.results[] | select(.command == $n) | .[$s]' "$f"; }
        awk -v w="$what" -v s="$stat" -v c="$(of ct-exec)" -v r="$(of crun)" -v u="$(of runc)" 'BEGIN {
            printf "%s (%s): ct-exec %.1f ms, crun %.1f ms, runc %.1f ms; ct-exec/crun %.2f, ct-exec/runc %.2f (target: <= 0.80 of crun)\n",
                w, s, c * 1000, r * 1000, u * 1000, c / r, c / u
        }'
    done
}
echo
ratios "$work/lifecycle.json" "create+start+wait+delete"
ratios "$work/podman.json" "podman run --rm"
read -r ct_share ct_calls <<<"$(share ct-exec)"
read -r crun_share crun_calls <<<"$(share crun)"
awk -v t="$(jq '.results[] | select(.command == "crun") | .mean' "$work/podman.json")" \
    -v c="$ct_share" -v cn="$ct_calls" -v r="$crun_share" -v rn="$crun_calls" 'BEGIN {
    printf "the runtime itself in podman run --rm: ct-exec %.1f ms (%d calls), crun %.1f ms (%d calls): ct-exec/crun %.2f\n",
        c * 1000, cn, r * 1000, rn, c / r
    printf "podman and conmon besides: %.0f ms of crun'"'"'s %.0f ms, so even an instant runtime would be %.2f of crun'"'"'s time\n",
        (t - r) * 1000, t * 1000, (t - r) / t
}'
awk -v c="$(whole ct-exec)" -v r="$(whole crun)" -v mc="$(whole_median ct-exec)" -v mr="$(whole_median crun)" -v n="$podman_runs" 'BEGIN {
    printf "podman run --rm, the runtimes alternating (%d runs each): mean ct-exec %.1f ms, crun %.1f ms: ct-exec/crun %.2f; median %.1f ms vs %.1f ms: %.2f (target: <= 0.80)\n",
        n, c * 1000, r * 1000, c / r, mc * 1000, mr * 1000, mc / mr
}'
