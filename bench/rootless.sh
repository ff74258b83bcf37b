#!/usr/bin/env bash
# bench/rootless.sh — ct without root: `ct run --rm IMAGE true` as an ordinary user against
# rootless `podman run --rm IMAGE true` as the same user, side by side, on the same image (a
# busybox-static root filesystem imported into both of the user's stores), image present.
#
# Same conditions: a user made for the run (subordinate ids in /etc/subuid and /etc/subgid,
# removed afterwards) whose home and runtime directory are one tmpfs; ct uses release builds of
# the stages. Both run in the user's namespaces (ct: its pause process, README "Without
# root"; podman: its own), both with the same user-mode network, `--network slirp4netns`
# (podman 4.3's default; it has no pasta), which needs /dev/net/tun open to users: it is made
# 0666 for the run and restored. ct's own default, pasta, is timed too, for information. podman (Debian 12's 4.3.1) uses `--runtime runc` (crun 1.8 refuses this
# hybrid cgroup host), cgroupfs, file events and explicit rlimits, as in bench/ct-run.sh. No
# limits are asked for: neither can apply one without a delegated cgroup v2 subtree.
#
# Prints hyperfine's table, then the ratio of mean wall times (target: ct <= 0.3 x podman).
# Usage: sudo bench/rootless.sh   (RUNS=N timed runs each, default 20; NOBUILD=1 skips the build)
set -euo pipefail

runs=${RUNS:-20}
[ "$(id -u)" = 0 ] || { echo "bench/rootless.sh: needs root (to make the user)" >&2; exit 2; }
for t in hyperfine jq podman busybox useradd newuidmap; do
	command -v "$t" >/dev/null || { echo "bench/rootless.sh: needs $t (apt-get install hyperfine jq podman busybox-static passwd uidmap)" >&2; exit 2; }
done

here=$(cd "$(dirname "$0")/.." && pwd)
target=${CARGO_TARGET_DIR:-$here/target}
[ -n "${NOBUILD:-}" ] || CARGO_TARGET_DIR=$target make -s -C "$here" build >&2

user=ctbench$$
work=$(mktemp -d /tmp/ct-bench-rootless.XXXXXX)
chmod 755 "$work"
tun_mode=$(stat -c %a /dev/net/tun)
cleanup() {
	local pids
	# The user's processes (its pause process, podman's), by pid, then the user.
	pids=$(pgrep -u "$user" 2>/dev/null || true)
	# shellcheck disable=SC2086 # one pid per word
	[ -z "$pids" ] || kill -9 $pids 2>/dev/null || true
	sleep 0.2
	chmod "$tun_mode" /dev/net/tun
	grep -o " ${work}[^ ]*" /proc/mounts | sort -r | while read -r m; do umount -l "$m" 2>/dev/null || true; done
	userdel -f "$user" 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT
mount -t tmpfs -o size=512m,mode=755 tmpfs "$work"
useradd -M -d "$work/home" -s /bin/sh "$user"
mkdir -p "$work/home" "$work/run"
chown "$user:" "$work/home" "$work/run"
chmod 700 "$work/run"
chmod 666 /dev/net/tun

# The image: busybox-static and one symlink per applet, as a rootfs tarball.
r=$work/rootfs
mkdir -p "$r/bin" "$r/etc" "$r/proc" "$r/sys" "$r/dev" "$r/tmp"
cp "$(command -v busybox)" "$r/bin/busybox"
for a in $(busybox --list); do [ "$a" = busybox ] || ln -sf busybox "$r/bin/$a"; done
echo 'root:x:0:0:root:/root:/bin/sh' >"$r/etc/passwd"
echo 'root:x:0:' >"$r/etc/group"
tar -C "$r" -cf "$work/rootfs.tar" .
chmod 644 "$work/rootfs.tar"

# As the user, with a login-like environment: ct's store in ~/.local/share/ct and
# $XDG_RUNTIME_DIR/ct, podman's in ~/.local/share/containers and $XDG_RUNTIME_DIR.
as_user() {
	setpriv --reuid "$user" --regid "$user" --init-groups --reset-env -- env \
		HOME="$work/home" XDG_RUNTIME_DIR="$work/run" PATH="$target/release:$here:/usr/bin:/bin" "$@"
}
pod=(podman --runtime runc --cgroup-manager cgroupfs --events-backend file)
as_user ct import "$work/rootfs.tar" ctbench:1 >/dev/null
as_user "${pod[@]}" import -q "$work/rootfs.tar" localhost/ctbench:1 >/dev/null

ct_run=(ct run --rm --network slirp4netns ctbench:1 true)
pod_run=("${pod[@]}" run --rm --network slirp4netns --ulimit nofile=1024:20000 --ulimit nproc=1024:1024 localhost/ctbench:1 true)
# Each must work before it is timed.
as_user "${ct_run[@]}" || { echo "bench/rootless.sh: failed as $user: ${ct_run[*]}" >&2; exit 1; }
as_user "${pod_run[@]}" || { echo "bench/rootless.sh: failed as $user: ${pod_run[*]}" >&2; exit 1; }
ct_cmd=${ct_run[*]} pod_cmd=${pod_run[*]}

as_user hyperfine -N --warmup 3 --runs "$runs" --export-json "$work/run/times.json" \
	-n "ct run --rm --network slirp4netns (user)" "$ct_cmd" \
	-n "podman run --rm --network slirp4netns (rootless)" "$pod_cmd" \
	-n "ct run --rm --network none (user)" "${ct_cmd/slirp4netns/none}" \
	-n "podman run --rm --network none (rootless)" "${pod_cmd/slirp4netns/none}" \
	-n "ct run --rm --network pasta (user, ct's default)" "${ct_cmd/slirp4netns/pasta}"
jq -r '.results | "ratio (mean wall time, ct / podman), slirp4netns: \(.[0].mean / .[1].mean * 1000 | round / 1000)",
	"ratio with --network none:                       \(.[2].mean / .[3].mean * 1000 | round / 1000)",
	"ct with pasta / podman with slirp4netns:         \(.[4].mean / .[1].mean * 1000 | round / 1000)"' "$work/run/times.json"
