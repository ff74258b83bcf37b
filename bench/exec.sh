#!/usr/bin/env bash
# bench/exec.sh — starting a container: ct-exec against crun and runc, side by side, on the
# same busybox bundle running `true` (config from `runc spec`: new pid, net, ipc, uts and mount
# namespaces, the default mounts, masked and read-only paths, capabilities, rlimits, and its
# linux.resources: the device cgroup that denies every device but the defaults — kept, so all
# three create, fill and remove a cgroup per start, as they do for real containers).
#
# Same conditions for all three: everything runs in one private mount namespace
# (`unshare -m`) where /sys/fs/cgroup/unified is unmounted — crun 1.8 takes a hybrid host with
# it mounted for a cgroup v2 host and fails. The bundle and the runtimes' state live on a tmpfs.
# Each runtime runs the container in the foreground and removes it when it exits (`run`).
#
# Prints hyperfine's table, then the ratios of mean wall time and of peak RSS (GNU time's
# maximum resident set size of the runtime and everything it waited for).
# Usage: sudo bench/exec.sh   (RUNS=N to change the number of timed runs, default 200)
set -euo pipefail

runs=${RUNS:-200}
[ "$(id -u)" = 0 ] || { echo "bench/exec.sh: needs root (namespaces, mounts)" >&2; exit 2; }
for t in hyperfine jq awk runc crun unshare /usr/bin/time busybox; do
    command -v "$t" >/dev/null || { echo "bench/exec.sh: needs $t (apt-get install hyperfine jq runc crun time busybox-static)" >&2; exit 2; }
done

here=$(cd "$(dirname "$0")/.." && pwd)
target=${CARGO_TARGET_DIR:-$here/target}
# ct-exec as it is installed (build-static.sh, which `make` runs): linked
# statically, against musl where rustup has the target — a start maps no ld.so and no shared
# libc, and runs none of glibc's cpuid cache probing, which traps to the hypervisor in a VM.
# Set CT_EXEC_DYNAMIC=1 to measure the plain `cargo build --release` binary instead.
if [ -n "${CT_EXEC_DYNAMIC:-}" ]; then
    (cd "$here" && cargo build --release -q -p ct-exec)
else
    CARGO_TARGET_DIR=$target "$here/build-static.sh" release ct-exec >/dev/null
fi
ct=$target/release/ct-exec

work=$(mktemp -d /tmp/ct-bench-exec.XXXXXX)
cleanup() {
    umount "$work" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT
mount -t tmpfs -o size=64m tmpfs "$work"

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

# The same command line for all three (runc's: --root, run --bundle, an id), so no runtime
# pays for an extra program such as env(1) in front of it.
ct_cmd="$ct --root $work/ct run --bundle $b bench-ct"
crun_cmd="crun --root $work/crun run --bundle $b bench-crun"
runc_cmd="runc --root $work/runc run --bundle $b bench-runc"

unshare -m bash -euo pipefail -c "
    umount /sys/fs/cgroup/unified 2>/dev/null || true
    # Each must work before it is timed.
    for c in '$ct_cmd' '$crun_cmd' '$runc_cmd'; do \$c 2>/dev/null || { echo \"bench/exec.sh: failed: \$c\" >&2; exit 1; }; done
    hyperfine -N --warmup 10 --runs $runs --export-json $work/times.json \
        -n ct-exec '$ct_cmd' -n crun '$crun_cmd' -n runc '$runc_cmd'
    # Peak RSS: the median of 20 runs of each.
    for n in ct-exec crun runc; do
        case \$n in ct-exec) c='$ct_cmd';; crun) c='$crun_cmd';; runc) c='$runc_cmd';; esac
        for i in \$(seq 20); do /usr/bin/time -f %M \$c 2>&1 >/dev/null | tail -1; done |
            sort -n | sed -n 10p | sed \"s/^/\$n /\"
    done > $work/rss.txt
"

mean() { jq -r --arg n "$1" '.results[] | select(.command == $n) | .mean' "$work/times.json"; }
rss() { awk -v n="$1" '$1 == n {print $2}' "$work/rss.txt"; }
ct_t=$(mean ct-exec); crun_t=$(mean crun); runc_t=$(mean runc)
echo
awk -v c="$ct_t" -v r="$crun_t" -v u="$runc_t" 'BEGIN {
    printf "mean wall time: ct-exec %.1f ms, crun %.1f ms, runc %.1f ms\n", c * 1000, r * 1000, u * 1000
    printf "ratio ct-exec/crun: %.2f   ct-exec/runc: %.2f   (target: <= 0.80 of crun)\n", c / r, c / u
}'
awk -v c="$(rss ct-exec)" -v r="$(rss crun)" -v u="$(rss runc)" 'BEGIN {
    printf "peak RSS: ct-exec %d KiB, crun %d KiB, runc %d KiB; ratio ct-exec/crun: %.2f\n", c, r, u, c / r
}'
