#!/usr/bin/env bash
# bench/mount.sh — ct-mount against a plain `mount -t overlay` of the same layers, and the
# cost of a second container from an image that is already unpacked (ct-unpack | ct-mount).
#
# Targets (issue 3): ct-mount under 5 ms; a second container under 20 ms.
#
# Everything happens on a fresh tmpfs (this machine's / is ext4 without a journal, slow and
# erratic right after mass deletes), which is unmounted at the end, whatever happens.
# Usage: sudo bench/mount.sh [LAYERS]   (default 10 layers on top of a busybox layer)
set -euo pipefail

layers=${1:-10}
runs=${RUNS:-60}
[ "$(id -u)" = 0 ] || { echo "bench/mount.sh: needs root (mounts)" >&2; exit 2; }
for t in hyperfine jq busybox sha256sum; do
    command -v "$t" >/dev/null || { echo "bench/mount.sh: needs $t" >&2; exit 2; }
done

here=$(cd "$(dirname "$0")/.." && pwd)
target=${CARGO_TARGET_DIR:-$here/target}
(cd "$here" && cargo build --release -q -p ct-unpack -p ct-mount)
ct_unpack=$target/release/ct-unpack
ct_mount=$target/release/ct-mount

work=$(mktemp -d /tmp/ct-bench-mount.XXXXXX)
cleanup() {
    # Deepest mounts first, then the tmpfs itself.
    grep -o " ${work}[^ ]*" /proc/self/mountinfo | sort -r | while read -r m; do
        umount -l "$m" 2>/dev/null || true
    done
    rm -rf "$work"
}
trap cleanup EXIT
mount -t tmpfs -o size=1g ct-bench "$work"

export CT_ROOT=$work/root CT_RUN=$work/run
images=$CT_ROOT/images
mkdir -p "$images/blobs/sha256"
echo '{"imageLayoutVersion":"1.0.0"}' > "$images/oci-layout"

# blob FILE: store FILE as a blob, print its digest.
blob() {
    local d
    d=$(sha256sum "$1" | cut -d' ' -f1)
    cp "$1" "$images/blobs/sha256/$d"
    echo "$d"
}

# The image: a busybox root filesystem, then LAYERS small layers, each adding and changing.
src=$work/src
mkdir -p "$src/l0/bin" "$src/l0/etc" "$src/l0/tmp"
cp "$(command -v busybox)" "$src/l0/bin/busybox"
for a in $(busybox --list); do [ "$a" = busybox ] || ln -s busybox "$src/l0/bin/$a"; done
echo 'root:x:0:0:root:/root:/bin/sh' > "$src/l0/etc/passwd"
echo 'root:x:0:' > "$src/l0/etc/group"
diff_ids=() manifest_layers=()
for i in $(seq 0 "$layers"); do
    mkdir -p "$src/l$i/etc"
    echo "layer $i" > "$src/l$i/etc/motd"
    mkdir -p "$src/l$i/data/$i" && head -c 4096 /dev/urandom > "$src/l$i/data/$i/blob"
    tar -C "$src/l$i" -cf "$work/l$i.tar" .
    diff_ids+=("\"sha256:$(sha256sum "$work/l$i.tar" | cut -d' ' -f1)\"")
    gzip -1 -n "$work/l$i.tar"
    d=$(blob "$work/l$i.tar.gz")
    manifest_layers+=("{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar+gzip\",\"digest\":\"sha256:$d\",\"size\":$(stat -c %s "$work/l$i.tar.gz")}")
done
join() { local IFS=,; echo "$*"; }
printf '{"architecture":"amd64","os":"linux","config":{"Cmd":["/bin/sh"],"Env":["PATH=/bin"]},"rootfs":{"type":"layers","diff_ids":[%s]}}' \
    "$(join "${diff_ids[@]}")" > "$work/config.json"
cd_=$(blob "$work/config.json")
printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:%s","size":%s},"layers":[%s]}' \
    "$cd_" "$(stat -c %s "$work/config.json")" "$(join "${manifest_layers[@]}")" > "$work/manifest.json"
md=$(blob "$work/manifest.json")
printf '{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:%s","size":%s,"annotations":{"org.opencontainers.image.ref.name":"localhost/bench:1"}}]}' \
    "$md" "$(stat -c %s "$work/manifest.json")" > "$images/index.json"
image=localhost/bench:1
total=$((layers + 1))

# The first container unpacks the layers; everything after reuses them.
bundle=$("$ct_unpack" --id first "$image")
lower=$(jq -r '.layers | reverse | map("'"$CT_ROOT"'/layers/" + sub(":"; "/")) | join(":")' "$bundle/ct.json")
plain=$work/plain
mkdir -p "$plain/rootfs" "$plain/upper" "$plain/work"
plain_mount() { mount -t overlay -o "lowerdir=$lower,upperdir=$plain/upper,workdir=$plain/work" overlay "$plain/rootfs"; }
plain_mount  # so that the first `umount` in --prepare has something to undo

echo "== mounting $total layers: ct-mount vs mount -t overlay (both fork+exec a binary) =="
hyperfine -N --warmup 3 --runs "$runs" --export-json "$work/mount.json" \
    --prepare "$ct_mount --unmount first" \
    -n ct-mount "$ct_mount first" \
    --prepare "umount $plain/rootfs" \
    -n "mount -t overlay" "mount -t overlay -o lowerdir=$lower,upperdir=$plain/upper,workdir=$plain/work overlay $plain/rootfs" \
    2>&1 | sed "s|$work|\$WORK|g"

echo "== a second container of the same image: ct-unpack | ct-mount =="
hyperfine --warmup 3 --runs "$runs" --export-json "$work/second.json" \
    -n "ct-unpack | ct-mount" "$ct_unpack $image | $ct_mount >/dev/null" \
    2>&1 | sed "s|$work|\$WORK|g"

# Mean and median: the machine is shared, and the median shrugs off other people's builds.
stat_of() { jq -r ".results[] | select(.command == \"$2\") | .$3 * 1000" "$1"; }
echo
printf '%-32s %9s %9s\n' "" "mean ms" "median ms"
for row in "mount.json;ct-mount;ct-mount ($total layers, target < 5)" \
           "mount.json;mount -t overlay;mount -t overlay" \
           "second.json;ct-unpack | ct-mount;second container (target < 20)"; do
    IFS=';' read -r f c label <<<"$row"
    printf '%-32s %9.2f %9.2f\n' "$label" "$(stat_of "$work/$f" "$c" mean)" "$(stat_of "$work/$f" "$c" median)"
done
ratio() { awk "BEGIN { printf \"%.2f\", $1 / $2 }"; }
printf 'ratio ct-mount / mount -t overlay: %s x (mean), %s x (median)\n' \
    "$(ratio "$(stat_of "$work/mount.json" ct-mount mean)" "$(stat_of "$work/mount.json" "mount -t overlay" mean)")" \
    "$(ratio "$(stat_of "$work/mount.json" ct-mount median)" "$(stat_of "$work/mount.json" "mount -t overlay" median)")"
