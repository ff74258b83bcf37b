#!/usr/bin/env bash
# bench/unpack.sh — ct-unpack against `umoci unpack`, sequential `tar -xzf` and `tar -I pigz`
# of the same layers (the shared bench image, bench/lib/big-image.sh), side by side, each run
# on a FRESH file system: a new loop-mounted ext4 and a new tmpfs (FS="ext4 tmpfs"); then the
# cost of a second container from the already unpacked image.
#
# Durability differs: ct-unpack returns with everything on the disk (syncfs before it names
# the result); umoci and tar return with the data still in the page cache (strace: no fsync,
# fdatasync or syncfs at all). So each tool also runs as "TOOL && sync -f DIR" (syncfs of the
# destination, as ct-unpack ends): the ratios print both ways, "same durability" and "tool as
# it ships".
#
# The floor: `cp -a` of the same tree, already unpacked on a tmpfs, then `sync -f` — what
# writing these files costs on this file system and disk, with no decompression at all.
#
# Targets (issue 19): ct-unpack <= 0.5x tar xzf and <= 0.15x umoci, on ext4 and on tmpfs;
# second container < 20 ms.
#
# Usage: sudo bench/unpack.sh            (RUNS=3 FS="ext4 tmpfs" SRC="dirs to layer")
# The image is built once and kept in /var/tmp/ct-bench-image (delete it to rebuild).
set -euo pipefail

runs=${RUNS:-3}
fses=${FS:-ext4 tmpfs}
[ "$(id -u)" = 0 ] || { echo "bench/unpack.sh: needs root (mounts, owners)" >&2; exit 2; }
for t in hyperfine jq umoci tar gzip pigz sha256sum mkfs.ext4; do
    command -v "$t" >/dev/null || { echo "bench/unpack.sh: needs $t" >&2; exit 2; }
done

here=$(cd "$(dirname "$0")/.." && pwd)
target=${CARGO_TARGET_DIR:-$here/target}
(cd "$here" && cargo build --release -q -p ct-unpack)
ct_unpack=$target/release/ct-unpack

name=bench

# --- the image ---------------------------------------------------------------------------------
# shellcheck source=bench/lib/big-image.sh
. "$here/bench/lib/big-image.sh"
img=$BENCH_CACHE/image
big_image "$BENCH_CACHE" "$name" "$BENCH_SRC"
manifest=$(jq -r '.manifests[0].digest' "$img/index.json" | cut -d: -f2)
mapfile -t blobs < <(jq -r '.layers[].digest' "$img/blobs/sha256/$manifest" | cut -d: -f2)
compressed=$(jq '[.layers[].size] | add' "$img/blobs/sha256/$manifest")
echo "image: ${#blobs[@]} gzip layers, $((compressed / 1000000)) MB compressed" >&2

# --- a fresh file system per run -----------------------------------------------------------------
work=$(mktemp -d /var/tmp/ct-bench-unpack.XXXXXX)
mnt=$work/mnt
mkdir -p "$mnt"
tree=$work/tree
mkdir -p "$tree"
cleanup() {
    umount "$mnt" 2>/dev/null || true
    umount "$tree" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

# The unpacked tree for the floor, in memory (tmpfs), read by `cp -a` in each round.
mount -t tmpfs -o size=3g ct-bench-tree "$tree"
for b in "${blobs[@]}"; do
    tar --same-owner -xzpf "$img/blobs/sha256/$b" -C "$tree"
done

# tar-seq.sh [gzip|pigz] [sync]: the layers one after the other, with gzip or pigz, then
# (with sync) a syncfs of the destination.
tarseq=$work/tar-seq.sh
{
    echo '#!/bin/sh'
    echo 'set -e'
    # shellcheck disable=SC2016 # expanded by the generated script
    echo 'z=-z; [ "${1:-}" != pigz ] || z="-I pigz"'
    echo "mkdir -p '$mnt/tar'"
    for b in "${blobs[@]}"; do
        echo "tar --same-owner \$z -xpf '$img/blobs/sha256/$b' -C '$mnt/tar'"
    done
    # shellcheck disable=SC2016 # expanded by the generated script
    echo '[ "${2:-}" != sync ] || sync -f '"'$mnt/tar'"
} > "$tarseq"
chmod +x "$tarseq"

export CT_RUN=$work/run
for fs in $fses; do
    prepare="$here/bench/lib/fresh-fs.sh $fs $mnt $work/ext4.img && mkdir -p $mnt/ct && ln -s $img $mnt/ct/images"
    # Rounds interleave the tools (ct-unpack, ct-unpack --flat, umoci, tar, pigz, ct-unpack, ...)
    # so a change in the machine's load hits all of them alike.
    for r in $(seq 1 "$runs"); do
        hyperfine --runs 1 --prepare "$prepare" --export-json "$work/round-$fs-$r.json" \
            -n ct-unpack "CT_ROOT=$mnt/ct $ct_unpack --id bench $name" \
            -n ct-unpack-flat "CT_ROOT=$mnt/ct $ct_unpack --flat --id flat $name" \
            -n umoci "umoci unpack --image $img:$name $mnt/umoci" \
            -n umoci-sync "umoci unpack --image $img:$name $mnt/umoci && sync -f $mnt/umoci" \
            -n tar-seq "$tarseq" \
            -n tar-seq-sync "$tarseq gzip sync" \
            -n tar-pigz "$tarseq pigz" \
            -n tar-pigz-sync "$tarseq pigz sync" \
            -n cp-floor "cp -a $tree/. $mnt/cp && sync -f $mnt/cp" >&2
    done
done

# --- the second container: the layers are in the store already --------------------------------
"$here/bench/lib/fresh-fs.sh" tmpfs "$mnt" "$work/ext4.img"
mkdir -p "$mnt/ct" && ln -s "$img" "$mnt/ct/images"
CT_ROOT=$mnt/ct "$ct_unpack" --id first "$name" >/dev/null
json2=$work/second.json
hyperfine --runs 30 --warmup 3 --export-json "$json2" -N \
    -n second-container "env CT_ROOT=$mnt/ct $ct_unpack $name" >&2

# stat FS FIELD NAME: mean over the rounds on FS of FIELD (mean = wall, user, system) for NAME.
stat() {
    jq -s -r --arg f "$2" --arg n "$3" \
        '[.[].results[] | select(.command == $n) | .[$f]] | add / length' "$work"/round-"$1"-*.json
}
cpu() { echo "$(stat "$1" user "$2")+$(stat "$1" system "$2")"; }
second=$(jq -r '.results[0].mean' "$json2")
echo
echo "image: ${#blobs[@]} layers, $((compressed / 1000000)) MB gzip   rounds: $runs   load: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), kernel $(uname -r)"
for fs in $fses; do
    awk -v fs="$fs" -v c="$(stat "$fs" mean ct-unpack)" -v f="$(stat "$fs" mean ct-unpack-flat)" \
        -v u="$(stat "$fs" mean umoci)" -v us="$(stat "$fs" mean umoci-sync)" \
        -v t="$(stat "$fs" mean tar-seq)" -v ts="$(stat "$fs" mean tar-seq-sync)" \
        -v p="$(stat "$fs" mean tar-pigz)" -v ps="$(stat "$fs" mean tar-pigz-sync)" \
        -v fl="$(stat "$fs" mean cp-floor)" \
        -v cc="$(cpu "$fs" ct-unpack)" -v fc="$(cpu "$fs" ct-unpack-flat)" \
        -v uc="$(cpu "$fs" umoci)" -v tc="$(cpu "$fs" tar-seq)" -v pc="$(cpu "$fs" tar-pigz)" '
function sum(e,  q) { split(e, q, "+"); return q[1] + q[2] }
BEGIN {
    cc = sum(cc); uc = sum(uc); tc = sum(tc); fc = sum(fc); pc = sum(pc)
    printf "\n%-26s %10s %10s\n", fs, "wall (s)", "cpu (s)"
    printf "%-26s %10.3f %10.3f\n", "ct-unpack (durable)", c, cc
    printf "%-26s %10.3f %10.3f\n", "ct-unpack --flat (durable)", f, fc
    printf "%-26s %10.3f %10.3f\n", "umoci unpack", u, uc
    printf "%-26s %10.3f\n", "umoci unpack + sync", us
    printf "%-26s %10.3f %10.3f\n", "tar -xzf (seq.)", t, tc
    printf "%-26s %10.3f\n", "tar -xzf (seq.) + sync", ts
    printf "%-26s %10.3f %10.3f\n", "tar -I pigz (seq.)", p, pc
    printf "%-26s %10.3f\n", "tar -I pigz (seq.) + sync", ps
    printf "%-26s %10.3f\n", "floor: cp -a tree + sync", fl
    printf "same durability (tool + sync -f):\n"
    printf "  ratio ct-unpack / umoci   = %.2fx wall   (target <= 0.15x)\n", c / us
    printf "  ratio ct-unpack / tar xzf = %.2fx wall   (target <= 0.50x)\n", c / ts
    printf "  ratio ct-unpack / pigz    = %.2fx wall\n", c / ps
    printf "  ratio --flat / umoci      = %.2fx wall\n", f / us
    printf "  ratio ct-unpack / floor   = %.2fx wall   (cp -a of the unpacked tree + sync)\n", c / fl
    printf "tool as it ships (no sync; ct-unpack still syncs):\n"
    printf "  ratio ct-unpack / umoci   = %.2fx wall, %.2fx cpu   (target <= 0.15x)\n", c / u, cc / uc
    printf "  ratio ct-unpack / tar xzf = %.2fx wall, %.2fx cpu   (target <= 0.50x)\n", c / t, cc / tc
    printf "  ratio ct-unpack / pigz    = %.2fx wall\n", c / p
    printf "  ratio --flat / umoci      = %.2fx wall, %.2fx cpu\n", f / u, fc / uc
}'
done
awk -v s="$second" 'BEGIN { printf "\nsecond container = %.1f ms (target < 20 ms)\n", s * 1000 }'
