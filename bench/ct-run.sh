#!/usr/bin/env bash
# bench/ct-run.sh — the whole front-end: `ct run --rm IMAGE true` against
# `podman run --rm IMAGE true`, side by side, on the same image (a busybox-static root
# filesystem, then Debian 12 minbase, each imported into both stores), image present, default bridge network for both.
#
# Same conditions: both stores live on one tmpfs; ct uses release builds of the stages and its
# own bridge, subnet, nft table and cgroup parent (removed afterwards). podman (Debian 12's
# 4.3.1) uses its overlay driver, cgroupfs and file events (no systemd here), and two settings
# without which it cannot run on this host at all: `--runtime runc` (crun 1.8 refuses a hybrid
# cgroup host: "cgroups in hybrid mode not supported") and explicit rlimits, because podman's
# defaults (nofile 1048576, a large nproc) exceed the hard limits here and CAP_SYS_RESOURCE is
# not in the bounding set ("setrlimit RLIMIT_NOFILE: Operation not permitted"). Each run creates the container,
# its overlay, network namespace, veth, address and cgroup, runs `true`, and removes it all.
#
# Prints hyperfine's table, then the ratio of mean wall times (target, issue 18: ct <= 0.1 x podman for both images).
# Usage: sudo bench/ct-run.sh   (RUNS=N timed runs each, default 30; NOBUILD=1 skips the build)
set -euo pipefail

runs=${RUNS:-30}
[ "$(id -u)" = 0 ] || { echo "bench/ct-run.sh: needs root" >&2; exit 2; }
for t in hyperfine jq podman busybox nft; do
	command -v "$t" >/dev/null || { echo "bench/ct-run.sh: needs $t (apt-get install hyperfine jq podman busybox-static nftables mmdebstrap)" >&2; exit 2; }
done

here=$(cd "$(dirname "$0")/.." && pwd)
target=${CARGO_TARGET_DIR:-$here/target}
# NOBUILD=1 times the release binaries already built. Built as installed (`make build`):
# ct-exec linked statically, which a plain `cargo build` would replace with a dynamic one.
[ -n "${NOBUILD:-}" ] || CARGO_TARGET_DIR=$target make -s -C "$here" build >&2

work=$(mktemp -d /tmp/ct-bench-run.XXXXXX)
export CT_ROOT=$work/ct/root CT_RUN=$work/ct/run
export CT_NET_BRIDGE=ctbench0 CT_NET_SUBNET=10.250.77.0/24 CT_NET_TABLE=ctbench CT_CGROUP_PARENT=ctbench-run
export PATH="$target/release:$PATH"
pod=(podman --root "$work/podman" --runroot "$work/podman-run" --storage-driver overlay
	--cgroup-manager cgroupfs --events-backend file --runtime runc)
cleanup() {
	"$here/ct" rm -f --all >/dev/null 2>&1 || true
	"${pod[@]}" rm -af >/dev/null 2>&1 || true
	"${pod[@]}" system reset -f >/dev/null 2>&1 || true
	ip link del "$CT_NET_BRIDGE" 2>/dev/null || true
	nft delete table ip "$CT_NET_TABLE" 2>/dev/null || true
	for h in /sys/fs/cgroup/*/; do rmdir "$h$CT_CGROUP_PARENT" 2>/dev/null || true; done
	grep -o " ${work}[^ ]*" /proc/mounts | sort -r | while read -r m; do umount -l "$m" 2>/dev/null || true; done
	rm -rf "$work"
}
trap cleanup EXIT
mount -t tmpfs -o size=2g tmpfs "$work"

# The images: busybox-static with one symlink per applet, and Debian 12 minbase (mmdebstrap
# from the apt mirror, cached in /var/tmp/ct-bench-debian.tar; delete it to rebuild), each as a
# rootfs tarball imported into both stores.
r=$work/rootfs
mkdir -p "$r/bin" "$r/etc" "$r/proc" "$r/sys" "$r/dev" "$r/tmp"
cp "$(command -v busybox)" "$r/bin/busybox"
for a in $(busybox --list); do [ "$a" = busybox ] || ln -sf busybox "$r/bin/$a"; done
echo 'root:x:0:0:root:/root:/bin/sh' >"$r/etc/passwd"
echo 'root:x:0:' >"$r/etc/group"
tar -C "$r" -cf "$work/busybox.tar" .
debian=${DEBIAN_TAR:-/var/tmp/ct-bench-debian.tar}
if [ ! -s "$debian" ]; then
	command -v mmdebstrap >/dev/null || { echo "bench/ct-run.sh: needs mmdebstrap (apt-get install mmdebstrap) for the Debian image" >&2; exit 2; }
	# --format: the name ends in .tmp, from which mmdebstrap would guess a directory.
	mmdebstrap -q --variant=minbase --format=tar bookworm "$debian.tmp" && mv "$debian.tmp" "$debian"
fi

summary=()
for image in busybox debian; do
	tarball=$work/$image.tar
	[ "$image" = busybox ] || tarball=$debian
	"$here/ct" import "$tarball" "ctbench-$image:1" >/dev/null
	"${pod[@]}" import -q "$tarball" "localhost/ctbench-$image:1" >/dev/null

	ct_cmd="$here/ct run --rm ctbench-$image:1 true"
	pod_cmd="${pod[*]} run --rm --ulimit nofile=1024:20000 --ulimit nproc=1024:1024 localhost/ctbench-$image:1 true"
	# Each must work before it is timed.
	$ct_cmd || { echo "bench/ct-run.sh: failed: $ct_cmd" >&2; exit 1; }
	$pod_cmd || { echo "bench/ct-run.sh: failed: $pod_cmd" >&2; exit 1; }

	# The same without a network (no veth, address, NAT): what the rest of each costs.
	echo "== $image ==" >&2
	hyperfine -N --warmup 3 --runs "$runs" --export-json "$work/times-$image.json" \
		-n "ct run --rm $image" "$ct_cmd" -n "podman run --rm $image" "$pod_cmd" \
		-n "ct run --rm --network none $image" "${ct_cmd/--rm/--rm --network none}" \
		-n "podman run --rm --network none $image" "${pod_cmd/--rm/--rm --network none}"
	summary+=("$(jq -r --arg i "$image" '.results | "\($i): ratio (mean wall time, ct / podman): \(.[0].mean / .[1].mean * 1000 | round / 1000); with --network none: \(.[2].mean / .[3].mean * 1000 | round / 1000)"' "$work/times-$image.json")")
done
printf '%s\n' "${summary[@]}"
