#!/usr/bin/env bash
# bench/unpack.sh — ct-unpack against `umoci unpack` and against sequential `tar -xzf` of the
# same layers, on the same multi-layer gzip image (>= 150 MB compressed, built from files on
# this machine), side by side in one hyperfine run, each run on a FRESH filesystem (tmpfs by
# default, or a fresh loop-mounted ext4 with FS=ext4), then the cost of a second container
# from the already unpacked image.
#
# Targets (issue 3): ct-unpack <= 0.3x umoci, <= 0.8x sequential tar; second container < 20 ms.
#
# Usage: sudo bench/unpack.sh            (RUNS=3 FS=tmpfs|ext4 SRC="dirs to layer")
# The image is built once and kept in /var/tmp/ct-bench-unpack (delete it to rebuild).
set -euo pipefail

runs=${RUNS:-3}
fs=${FS:-tmpfs}
src_dirs=${SRC:-/usr/bin /usr/include /usr/lib/gcc /usr/libexec /usr/lib/python3.11}
[ "$(id -u)" = 0 ] || { echo "bench/unpack.sh: needs root (mounts, owners)" >&2; exit 2; }
for t in hyperfine jq umoci tar gzip sha256sum; do
    command -v "$t" >/dev/null || { echo "bench/unpack.sh: needs $t" >&2; exit 2; }
done

here=$(cd "$(dirname "$0")/.." && pwd)
target=${CARGO_TARGET_DIR:-$here/target}
(cd "$here" && cargo build --release -q -p ct-unpack)
ct_unpack=$target/release/ct-unpack

cache=/var/tmp/ct-bench-unpack
img=$cache/image
name=localhost/bench:1

# --- the image: one gzip layer per source directory ------------------------------------------
. "$here/bench/lib/big-image.sh"
big_image "$cache" "$name" "$src_dirs"
manifest=$(jq -r '.manifests[0].digest' "$img/index.json" | cut -d: -f2)
mapfile -t blobs < <(jq -r '.layers[].digest' "$img/blobs/sha256/$manifest" | cut -d: -f2)
compressed=$(jq '[.layers[].size] | add' "$img/blobs/sha256/$manifest")
echo "image: ${#blobs[@]} gzip layers, $((compressed / 1000000)) MB compressed" >&2

# --- a fresh filesystem per run ----------------------------------------------------------------
work=$(mktemp -d /tmp/ct-bench-unpack.XXXXXX)
mnt=$work/mnt
mkdir -p "$mnt"
cleanup() {
    umount "$mnt" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

fresh=$work/fresh.sh
cat > "$fresh" <<EOF
#!/bin/sh
set -e
umount "$mnt" 2>/dev/null || true
if [ "$fs" = ext4 ]; then
    rm -f "$work/ext4.img"
    truncate -s 6G "$work/ext4.img"
    mkfs.ext4 -q -F -E lazy_itable_init=0,lazy_journal_init=0 "$work/ext4.img"
    mount -o loop "$work/ext4.img" "$mnt"
else
    mount -t tmpfs -o size=6g ct-bench "$mnt"
fi
mkdir -p "$mnt/ct" "$mnt/tar"
ln -s "$img" "$mnt/ct/images"
EOF
chmod +x "$fresh"

tarseq=$work/tar-seq.sh
{
    echo '#!/bin/sh'
    echo 'set -e'
    for b in "${blobs[@]}"; do
        echo "tar --same-owner -xzpf '$img/blobs/sha256/$b' -C '$mnt/tar'"
    done
} > "$tarseq"
chmod +x "$tarseq"

export CT_RUN=$work/run
# Rounds interleave the tools (ct-unpack, ct-unpack --flat, umoci, tar, ct-unpack, ...) so a
# change in the machine's load hits all of them alike; each run gets a fresh filesystem.
for r in $(seq 1 "$runs"); do
    hyperfine --runs 1 --prepare "$fresh" --export-json "$work/round-$r.json" \
        -n ct-unpack "CT_ROOT=$mnt/ct $ct_unpack --id bench $name" \
        -n ct-unpack-flat "CT_ROOT=$mnt/ct $ct_unpack --flat --id flat $name" \
        -n umoci "umoci unpack --image $img:$name $mnt/umoci" \
        -n tar-seq "$tarseq" >&2
done

# --- the second container: the layers are in the store already --------------------------------
"$fresh"
CT_ROOT=$mnt/ct "$ct_unpack" --id first "$name" >/dev/null
json2=$work/second.json
hyperfine --runs 30 --warmup 3 --export-json "$json2" -N \
    -n second-container "env CT_ROOT=$mnt/ct $ct_unpack $name" >&2

# stat FIELD NAME: mean over the rounds of FIELD (mean = wall, user, system) for NAME.
stat() {
    jq -s -r --arg f "$1" --arg n "$2" \
        '[.[].results[] | select(.command == $n) | .[$f]] | add / length' "$work"/round-*.json
}
second=$(jq -r '.results[0].mean' "$json2")
echo
echo "fs: $fs   image: ${#blobs[@]} layers, $((compressed / 1000000)) MB gzip   rounds: $runs   load: $(cut -d' ' -f1-3 /proc/loadavg)"
awk -v c="$(stat mean ct-unpack)" -v u="$(stat mean umoci)" -v t="$(stat mean tar-seq)" \
    -v f="$(stat mean ct-unpack-flat)" -v fc="$(stat user ct-unpack-flat)+$(stat system ct-unpack-flat)" \
    -v cc="$(stat user ct-unpack)+$(stat system ct-unpack)" \
    -v uc="$(stat user umoci)+$(stat system umoci)" \
    -v tc="$(stat user tar-seq)+$(stat system tar-seq)" -v s="$second" '
function sum(e,  p) { split(e, p, "+"); return p[1] + p[2] }
BEGIN {
    cc = sum(cc); uc = sum(uc); tc = sum(tc); fc = sum(fc)
    printf "%-18s %10s %10s\n", "", "wall (s)", "cpu (s)"
    printf "%-18s %10.3f %10.3f\n", "ct-unpack", c, cc
    printf "%-18s %10.3f %10.3f\n", "ct-unpack --flat", f, fc
    printf "%-18s %10.3f %10.3f\n", "umoci unpack", u, uc
    printf "%-18s %10.3f %10.3f\n", "tar -xzf (seq.)", t, tc
    printf "ratio ct-unpack / umoci   = %.2fx wall, %.2fx cpu   (target <= 0.30x)\n", c / u, cc / uc
    printf "ratio ct-unpack / tar-seq = %.2fx wall, %.2fx cpu   (target <= 0.80x)\n", c / t, cc / tc
    printf "ratio --flat / umoci      = %.2fx wall, %.2fx cpu\n", f / u, fc / uc
    printf "second container          = %.1f ms (target < 20 ms)\n", s * 1000
}'
