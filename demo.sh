#!/bin/bash
# demo.sh — set up a fresh Debian machine and run the ct pipeline end to end.
#
#   ./demo.sh            no internet needed: builds a busybox image from Debian's busybox-static,
#                        serves it from a docker-registry on 127.0.0.1 and pulls it from there
#   ./demo.sh alpine     with internet: the same pipeline, pulling from docker.io
#
# Needs root (mounts, namespaces). Leaves the image in $CT_ROOT and removes the container.
set -euo pipefail
cd "$(dirname "$0")"

export CT_ROOT=${CT_ROOT:-/var/lib/ct} CT_RUN=${CT_RUN:-/run/ct}
need=(docker-registry skopeo umoci busybox-static jq iproute2 nftables libseccomp-dev pkg-config curl)
missing=()
for p in "${need[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if ((${#missing[@]})); then
    echo "demo: installing ${missing[*]}" >&2
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

echo "demo: building ct (release)" >&2
cargo build --release --quiet
PATH=$PWD/target/release:$PATH

work=$(mktemp -d /tmp/ct-demo.XXXXXX)
registry_pid=
id=demo-$$
cleanup() {
    ./ct rm -f "$id" >/dev/null 2>&1 || true
    if [[ -n $registry_pid ]]; then kill "$registry_pid" 2>/dev/null; wait "$registry_pid" 2>/dev/null || true; fi
    rm -rf "$work"
}
trap cleanup EXIT

image=${1:-}
if [[ -z $image ]]; then
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    cat >"$work/registry.yml" <<YML
version: 0.1
storage: {filesystem: {rootdirectory: $work/registry}}
http: {addr: 127.0.0.1:$port}
log: {level: error}
YML
    docker-registry serve "$work/registry.yml" >"$work/registry.log" 2>&1 &
    registry_pid=$!
    for _ in $(seq 50); do curl -sf "http://127.0.0.1:$port/v2/" >/dev/null && break; sleep 0.1; done

    echo "demo: building a busybox image from Debian's busybox-static with umoci" >&2
    umoci init --layout "$work/oci"
    umoci new --image "$work/oci:busybox"
    umoci unpack --image "$work/oci:busybox" "$work/bundle" >/dev/null
    rootfs=$work/bundle/rootfs
    mkdir -p "$rootfs"/{bin,etc,tmp,root}
    cp /bin/busybox "$rootfs/bin/busybox"
    for a in $(/bin/busybox --list); do [[ $a == busybox ]] || ln -sf busybox "$rootfs/bin/$a"; done
    printf 'root:x:0:0:root:/root:/bin/sh\n' >"$rootfs/etc/passwd"
    printf 'root:x:0:\n' >"$rootfs/etc/group"
    umoci repack --image "$work/oci:busybox" "$work/bundle"
    umoci config --image "$work/oci:busybox" --config.cmd /bin/sh \
        --config.env PATH=/usr/sbin:/usr/bin:/sbin:/bin
    skopeo copy -q --dest-tls-verify=false "oci:$work/oci:busybox" "docker://127.0.0.1:$port/demo/busybox:latest"
    image=127.0.0.1:$port/demo/busybox:latest
fi

echo "demo: ct-pull $image | ct-unpack --name $id | ct-mount | ct-net | ct-cgroup --memory 64m | ct-exec -- …" >&2
# shellcheck disable=SC2016 # the $(…) run inside the container
ct-pull "$image" | ct-unpack --name "$id" | ct-mount | ct-net | ct-cgroup --memory 64m |
    ct-exec -- sh -c 'echo "hello from ct: $(hostname), $(ip -4 -o addr show eth0 | awk "{print \$4}"), memory limit $(cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null || cat /sys/fs/cgroup/memory.max)"'
ct-ls images
