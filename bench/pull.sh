#!/usr/bin/env bash
# bench/pull.sh — ct-pull against `skopeo copy docker://… oci:…` and against the floor, `curl`
# fetching the same blobs into files (as many at once as ct-pull's --jobs; "+sync" then flushes
# them to the disk, as ct-pull does before it names the image), all pulling the shared bench
# image (bench/lib/big-image.sh) from a docker-registry on 127.0.0.1 whose storage is on tmpfs.
# Each run gets a FRESH destination file system: a new loop-mounted ext4, or a new tmpfs.
# Then the re-pull of an image already present.
#
# Durability differs: ct-pull returns with every blob on the disk (one syncfs before it names
# the image); skopeo's oci: destination fsyncs each blob file but not the directory that names
# it (strace), and curl syncs nothing. So skopeo and curl also run as "TOOL && sync -f DIR"
# (syncfs of the destination); the ratios print both ways, "same durability" and "tool as it
# ships".
#
# Targets (issue 19): on ext4, ct-pull <= 0.5x skopeo and <= 1.3x the curl floor;
# re-pull of a present image < 50 ms.
#
# Usage: sudo bench/pull.sh        (RUNS=5 JOBS=4 FS="ext4 tmpfs" SRC="dirs to layer")
# The image is built once and kept in /var/tmp/ct-bench-image (delete it to rebuild).
set -euo pipefail

runs=${RUNS:-5}
jobs=${JOBS:-4}
fses=${FS:-ext4 tmpfs}
[ "$(id -u)" = 0 ] || { echo "bench/pull.sh: needs root (mounts)" >&2; exit 2; }
for t in hyperfine jq skopeo docker-registry tar gzip sha256sum curl python3 mkfs.ext4; do
    command -v "$t" >/dev/null || { echo "bench/pull.sh: needs $t" >&2; exit 2; }
done

here=$(cd "$(dirname "$0")/.." && pwd)
target=${CARGO_TARGET_DIR:-$here/target}
(cd "$here" && cargo build --release -q -p ct-pull)
ct_pull=$target/release/ct-pull

# --- the image ---------------------------------------------------------------------------------
# shellcheck source=bench/lib/big-image.sh
. "$here/bench/lib/big-image.sh"
# shellcheck source=bench/lib/registry.sh
. "$here/bench/lib/registry.sh"
img=$BENCH_CACHE/image
big_image "$BENCH_CACHE" bench "$BENCH_SRC"
total=$(du -cb "$img"/blobs/sha256/* | tail -1 | cut -f1)
manifest=$(jq -r '.manifests[0].digest' "$img/index.json" | cut -d: -f2)
nlayers=$(jq '.layers | length' "$img/blobs/sha256/$manifest")
echo "image: $nlayers layers, $((total / 1000000)) MB compressed" >&2
[ "$total" -ge 150000000 ] || { echo "bench/pull.sh: image is under 150 MB; add directories to SRC" >&2; exit 1; }

# --- the registry (storage on tmpfs), a fresh destination per run ------------------------------
work=$(mktemp -d /dev/shm/ct-bench-pull.XXXXXX)
loopdir=$(mktemp -d /var/tmp/ct-bench-pull-loop.XXXXXX)
mnt=$work/mnt
cleanup() {
    stop_registry
    umount "$mnt" 2>/dev/null || true
    rm -rf "$work" "$loopdir"
}
trap cleanup EXIT
start_registry "$work/registry"
ref=127.0.0.1:$registry_port/bench/usr:1
skopeo copy -q --dest-tls-verify=false "oci:$img:bench" "docker://$ref"

# The curl floor: GET every blob the pull needs (config and layers) into a file, JOBS at once.
urls=$work/urls
{
    base=http://127.0.0.1:$registry_port/v2/bench/usr/blobs
    jq -r '.config.digest, .layers[].digest' "$img/blobs/sha256/$manifest" |
        while read -r d; do echo "$base/$d ${d#sha256:}"; done
} > "$urls"
floor=$work/curl.sh
cat > "$floor" <<EOF
#!/bin/sh
set -e
mkdir -p "$mnt/curl"
xargs -P $jobs -L 1 sh -c 'curl -sf -o "$mnt/curl/\$1" "\$0"' < "$urls"
[ "\${1:-}" != sync ] || sync -f "$mnt/curl"
EOF
chmod +x "$floor"

for fs in $fses; do
    hyperfine --runs "$runs" --warmup 1 \
        --prepare "$here/bench/lib/fresh-fs.sh $fs $mnt $loopdir/ext4.img" \
        --export-json "$work/pull-$fs.json" \
        -n "ct-pull -j $jobs" "CT_ROOT=$mnt/ct $ct_pull -q -j $jobs $ref" \
        -n "skopeo copy" "skopeo copy -q --src-tls-verify=false docker://$ref oci:$mnt/sk:bench" \
        -n "skopeo copy+sync" "skopeo copy -q --src-tls-verify=false docker://$ref oci:$mnt/sk:bench && sync -f $mnt/sk" \
        -n "curl" "$floor" \
        -n "curl+sync" "$floor sync" >&2
done

# --- re-pull of the present image (tmpfs) --------------------------------------------------------
"$here/bench/lib/fresh-fs.sh" tmpfs "$mnt" "$loopdir/ext4.img"
CT_ROOT=$mnt/ct "$ct_pull" -q "$ref" >/dev/null
hyperfine --runs 30 --warmup 3 -N --export-json "$work/repull.json" \
    -n "ct-pull (present)" "env CT_ROOT=$mnt/ct $ct_pull -q $ref" >&2

echo
echo "image: $nlayers layers, $((total / 1000000)) MB gzip   runs: $runs   jobs: $jobs   load: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), kernel $(uname -r)"
for fs in $fses; do
    j=$work/pull-$fs.json
    m() { jq ".results[$1].mean" "$j"; }
    c() { jq ".results[$1].user + .results[$1].system" "$j"; }
    awk -v fs="$fs" -v ct="$(m 0)" -v sk="$(m 1)" -v sks="$(m 2)" -v cu="$(m 3)" -v cs="$(m 4)" \
        -v ctc="$(c 0)" -v skc="$(c 1)" -v cuc="$(c 3)" 'BEGIN {
        printf "\n%s               wall (s)   cpu (s)\n", fs
        printf "  ct-pull (durable) %8.3f  %8.3f\n", ct, ctc
        printf "  skopeo copy       %8.3f  %8.3f\n", sk, skc
        printf "  skopeo copy+sync  %8.3f\n", sks
        printf "  curl              %8.3f  %8.3f\n", cu, cuc
        printf "  curl+sync         %8.3f\n", cs
        printf "  same durability:  ct-pull / skopeo+sync = %.2fx   (target <= 0.50x)\n", ct / sks
        printf "                    ct-pull / curl+sync   = %.2fx   (target <= 1.30x)\n", ct / cs
        printf "  as tools ship:    ct-pull / skopeo      = %.2fx   (target <= 0.50x)\n", ct / sk
        printf "                    ct-pull / curl        = %.2fx   (target <= 1.30x)\n", ct / cu
    }'
done
awk -v re="$(jq '.results[0].mean' "$work/repull.json")" \
    'BEGIN { printf "\nre-pull of a present image: %.1f ms (target < 50 ms)\n", re * 1000 }'
