#!/usr/bin/env bash
# bench/pull-unpack.sh — from a registry to a runnable bundle: `ct-pull IMG | ct-unpack` against
# `skopeo copy` + `umoci unpack` and against `podman pull` (its own storage root, overlay
# driver), all from a docker-registry on 127.0.0.1 serving the shared bench image
# (bench/lib/big-image.sh), each run on a FRESH file system (new loop-mounted ext4, or tmpfs).
#
# Then the same image behind a throttling proxy (bench/lib/throttle.py, RATE bytes/s for all
# connections together, as a registry across the internet): the pipeline against ct-pull
# alone. When ct-unpack extracts each layer as soon as it lands, the unpack hides behind the
# download and the pipeline costs little more than the pull.
#
# Durability differs: the pipeline returns with the blobs and the layers on the disk; skopeo
# fsyncs its blob files, umoci syncs nothing, podman's storage may not either. So each also
# runs as "TOOLS && sync -f DIR" (syncfs of its destination); the ratios print both ways,
# "same durability" and "tools as they ship".
#
# Targets (issue 19): ct-pull | ct-unpack <= 0.2x podman pull; throttled, the pipeline <= 1.15x
# ct-pull alone.
#
# Last, the CPU floor: the pipeline's parts, each done alone by the fastest single-purpose tool
# on the same input and file system (RUNS times each), their CPU time (all CPUs, from
# /proc/stat) added up:
#   fetch    curl of the blobs into files, then sync -f (the registry sending, the kernel
#            receiving, writing and writing back the blobs);
#   verify   sha256 of the blobs (openssl);
#   inflate  libdeflate-gunzip of the blobs to /dev/null (faster than zlib, zlib-rs and ISA-L
#            here);
#   diff_id  sha256 of the uncompressed layers (openssl);
#   write    tar -xpf of the uncompressed layers, then sync -f (the kernel creating the files,
#            ext4's journal and writeback).
# A tool that did all of it as cheaply could not take less wall time than that sum / N on N
# CPUs; where the CPUs are all busy (the pipeline keeps 2 busy), that is the floor. The
# pipeline's own CPU time is printed beside it. Each part alone also reads its input from the
# page cache, which the pipeline partly does not, so the sum is a little high; a second sum
# counts verify, inflate and diff_id by their user time alone (their computation), a bound no
# tool can go under without dropping a part.
#
# Usage: sudo bench/pull-unpack.sh    (RUNS=3 FS="ext4 tmpfs" RATE=20000000 SRC="dirs to layer")
set -euo pipefail

runs=${RUNS:-3}
fses=${FS:-ext4 tmpfs}
rate=${RATE:-20000000}
case $rate in '' | *[!0-9]* | 0) echo "bench/pull-unpack.sh: RATE must be bytes per second, more than 0" >&2; exit 2 ;; esac
[ "$(id -u)" = 0 ] || { echo "bench/pull-unpack.sh: needs root (mounts, owners)" >&2; exit 2; }
for t in hyperfine jq skopeo umoci podman docker-registry curl python3 mkfs.ext4 openssl libdeflate-gunzip tar; do
    command -v "$t" >/dev/null || { echo "bench/pull-unpack.sh: needs $t" >&2; exit 2; }
done
[ -x /usr/bin/time ] || { echo "bench/pull-unpack.sh: needs /usr/bin/time" >&2; exit 2; }

here=$(cd "$(dirname "$0")/.." && pwd)
target=${CARGO_TARGET_DIR:-$here/target}
(cd "$here" && cargo build --release -q -p ct-pull -p ct-unpack)
ct_pull=$target/release/ct-pull
ct_unpack=$target/release/ct-unpack

# shellcheck source=bench/lib/big-image.sh
. "$here/bench/lib/big-image.sh"
# shellcheck source=bench/lib/registry.sh
. "$here/bench/lib/registry.sh"
img=$BENCH_CACHE/image
big_image "$BENCH_CACHE" bench "$BENCH_SRC"
total=$(du -cb "$img"/blobs/sha256/* | tail -1 | cut -f1)

work=$(mktemp -d /dev/shm/ct-bench-pu.XXXXXX)
loopdir=$(mktemp -d /var/tmp/ct-bench-pu-loop.XXXXXX)
mnt=$work/mnt
proxy_pid=
cleanup() {
    if [ -n "$proxy_pid" ]; then kill "$proxy_pid" 2>/dev/null || true; wait "$proxy_pid" 2>/dev/null || true; fi
    stop_registry
    umount "$mnt/podman/overlay" 2>/dev/null || true
    umount "$mnt" 2>/dev/null || true
    rm -rf "$work" "$loopdir"
}
trap cleanup EXIT
start_registry "$work/registry"
ref=127.0.0.1:$registry_port/bench/usr:1
skopeo copy -q --dest-tls-verify=false "oci:$img:bench" "docker://$ref"

proxy_port=$(free_port)
python3 "$here/bench/lib/throttle.py" "$proxy_port" "$registry_port" "$rate" > "$work/proxy.log" 2>&1 &
proxy_pid=$!
for _ in $(seq 100); do grep -q ready "$work/proxy.log" && break; sleep 0.1; done
slow_ref=127.0.0.1:$proxy_port/bench/usr:1

export CT_ROOT=$mnt/ct CT_RUN=$work/run
# podman keeps its own storage on the measured file system; its run root and config stay apart.
podman_cmd="podman --root $mnt/podman --runroot $work/podman-run --storage-driver overlay"
podman_cmd="$podman_cmd pull -q --tls-verify=false docker://$ref"
for fs in $fses; do
    prepare="umount $mnt/podman/overlay 2>/dev/null; $here/bench/lib/fresh-fs.sh $fs $mnt $loopdir/ext4.img"
    hyperfine --runs "$runs" --prepare "$prepare" --export-json "$work/fast-$fs.json" \
        -n "ct-pull | ct-unpack" "$ct_pull -q $ref | $ct_unpack" \
        -n "skopeo + umoci" "skopeo copy -q --src-tls-verify=false docker://$ref oci:$mnt/sk:bench && umoci unpack --image $mnt/sk:bench $mnt/bundle" \
        -n "podman pull" "$podman_cmd" \
        -n "skopeo + umoci + sync" "skopeo copy -q --src-tls-verify=false docker://$ref oci:$mnt/sk:bench && umoci unpack --image $mnt/sk:bench $mnt/bundle && sync -f $mnt" \
        -n "podman pull + sync" "$podman_cmd && sync -f $mnt" >&2
done

# Throttled: the pipeline against the pull alone, on the first file system, with ct-pull's
# default 4 downloads at once and with one at a time (on a link that is the bottleneck, parallel
# downloads share it and all land near the end, so their unpack cannot start earlier; one at a
# time, largest first, each layer lands early and only the last, smallest one is unpacked after
# the download).
slow_fs=${fses%% *}
hyperfine --runs "$runs" --prepare "$here/bench/lib/fresh-fs.sh $slow_fs $mnt $loopdir/ext4.img" \
    --export-json "$work/slow.json" \
    -n "ct-pull -j4 (throttled)" "$ct_pull -q -j 4 $slow_ref" \
    -n "ct-pull -j4 | ct-unpack (throttled)" "$ct_pull -q -j 4 $slow_ref | $ct_unpack" \
    -n "ct-pull -j1 (throttled)" "$ct_pull -q -j 1 $slow_ref" \
    -n "ct-pull -j1 | ct-unpack (throttled)" "$ct_pull -q -j 1 $slow_ref | $ct_unpack" >&2

# --- the CPU floor ----------------------------------------------------------------------------
# busy CMD...: run CMD, print the CPU-seconds all CPUs spent meanwhile (user, nice, system, irq,
# softirq, steal from /proc/stat: every process and kernel thread, the writeback included),
# then CMD's own user time (its computation alone, without its reads and writes).
busy() {
    local a b
    a=$(awk '/^cpu /{print $2+$3+$4+$7+$8+$9}' /proc/stat)
    /usr/bin/time -f %U -o "$work/user" "$@" >/dev/null
    b=$(awk '/^cpu /{print $2+$3+$4+$7+$8+$9}' /proc/stat)
    awk -v a="$a" -v b="$b" -v hz="$(getconf CLK_TCK)" -v u="$(tail -1 "$work/user")" \
        'BEGIN { printf "%.3f %.3f", (b - a) / hz, u }'
}
manifest=$(jq -r '.manifests[0].digest' "$img/index.json" | cut -d: -f2)
mapfile -t blobs < <(jq -r '.config.digest, .layers[].digest' "$img/blobs/sha256/$manifest" | cut -d: -f2)
mapfile -t layer_blobs < <(jq -r '.layers[].digest' "$img/blobs/sha256/$manifest" | cut -d: -f2)
mkdir -p "$work/tars"
for b in "${layer_blobs[@]}"; do libdeflate-gunzip -c < "$img/blobs/sha256/$b" > "$work/tars/$b.tar"; done
fetch_sh=$work/fetch.sh
{
    echo '#!/bin/sh'
    echo 'set -e'
    echo "mkdir -p '$mnt/curl'"
    for b in "${blobs[@]}"; do
        echo "curl -sf -o '$mnt/curl/$b' 'http://127.0.0.1:$registry_port/v2/bench/usr/blobs/sha256:$b' &"
    done
    echo 'wait'
    echo "sync -f '$mnt/curl'"
} > "$fetch_sh"
write_sh=$work/write.sh
{
    echo '#!/bin/sh'
    echo 'set -e'
    echo "mkdir -p '$mnt/tree'"
    for b in "${layer_blobs[@]}"; do echo "tar --same-owner -xpf '$work/tars/$b.tar' -C '$mnt/tree'"; done
    echo "sync -f '$mnt/tree'"
} > "$write_sh"
chmod +x "$fetch_sh" "$write_sh"
(cd "$img/blobs/sha256" && cat "${blobs[@]}" > /dev/null) # in the page cache, as after the pull
for fs in $fses; do
    fresh="$here/bench/lib/fresh-fs.sh $fs $mnt $loopdir/ext4.img"
    for _ in $(seq 1 "$runs"); do
        $fresh; f=$(busy "$fetch_sh")
        v=$(cd "$img/blobs/sha256" && busy openssl dgst -sha256 "${blobs[@]}")
        # shellcheck disable=SC2016 # expanded by that sh
        i=$(cd "$img/blobs/sha256" && busy sh -c 'for b; do libdeflate-gunzip -c < "$b" > /dev/null; done' sh "${layer_blobs[@]}")
        d=$(busy openssl dgst -sha256 "$work"/tars/*.tar)
        $fresh; w=$(busy "$write_sh")
        $fresh; p=$(busy sh -c "$ct_pull -q $ref | $ct_unpack")
        echo "$f $v $i $d $w $p" >> "$work/floor-$fs"
    done
done

echo
echo "image: $((total / 1000000)) MB gzip   runs: $runs   load: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), kernel $(uname -r)"
for fs in $fses; do
    j=$work/fast-$fs.json
    r() { jq ".results[$1].mean" "$j"; }
    awk -v fs="$fs" -v ct="$(r 0)" -v su="$(r 1)" -v po="$(r 2)" -v sus="$(r 3)" -v pos="$(r 4)" 'BEGIN {
        printf "\n%s                           wall (s)\n", fs
        printf "  ct-pull | ct-unpack (durable) %8.3f\n", ct
        printf "  skopeo copy + umoci          %8.3f\n", su
        printf "  skopeo copy + umoci + sync   %8.3f\n", sus
        printf "  podman pull                  %8.3f\n", po
        printf "  podman pull + sync           %8.3f\n", pos
        printf "  same durability: pipeline / podman+sync       = %.2fx   (target <= 0.20x)\n", ct / pos
        printf "                   pipeline / skopeo+umoci+sync = %.2fx\n", ct / sus
        printf "  as tools ship:   pipeline / podman            = %.2fx   (target <= 0.20x)\n", ct / po
        printf "                   pipeline / skopeo+umoci      = %.2fx\n", ct / su
    }'
done
s() { jq ".results[$1].mean" "$work/slow.json"; }
awk -v fs="$slow_fs" -v rate="$rate" -v p4="$(s 0)" -v pu4="$(s 1)" -v p1="$(s 2)" -v pu1="$(s 3)" 'BEGIN {
    printf "\nthrottled to %.0f MB/s, %s              wall (s)\n", rate / 1e6, fs
    printf "  ct-pull -j4 alone           %8.3f\n", p4
    printf "  ct-pull -j4 | ct-unpack     %8.3f\n", pu4
    printf "  ct-pull -j1 alone           %8.3f\n", p1
    printf "  ct-pull -j1 | ct-unpack     %8.3f\n", pu1
    printf "  ratio pipeline / pull alone, -j4 = %.2fx   (target <= 1.15x)\n", pu4 / p4
    printf "  ratio pipeline / pull alone, -j1 = %.2fx   (target <= 1.15x)\n", pu1 / p1
    printf "  ratio pipeline -j1 / pull -j4    = %.2fx\n", pu1 / p4
}'
for fs in $fses; do
    j=$work/fast-$fs.json
    # Each record: busy and user time of fetch, verify, inflate, diff_id, write, the pipeline.
    awk -v fs="$fs" -v n="$(nproc)" -v pos="$(jq ".results[4].mean" "$j")" -v ct="$(jq ".results[0].mean" "$j")" '
        { for (k = 1; k <= 12; k++) t[k] += $k; runs++ }
        END {
            for (k = 1; k <= 12; k++) t[k] /= runs
            sum = t[1] + t[3] + t[5] + t[7] + t[9]
            # The computing parts by their user time alone: a lower bound for any tool.
            low = t[1] + t[4] + t[6] + t[8] + t[9]
            printf "\nCPU floor, %s (CPU-seconds, mean of %d)     all CPUs   user time\n", fs, runs
            printf "  fetch: curl of the blobs + sync        %6.2f\n", t[1]
            printf "  verify: sha256 of the blobs            %6.2f      %6.2f\n", t[3], t[4]
            printf "  inflate: libdeflate-gunzip             %6.2f      %6.2f\n", t[5], t[6]
            printf "  diff_id: sha256 of the layers          %6.2f      %6.2f\n", t[7], t[8]
            printf "  write: tar -xpf of the layers + sync   %6.2f\n", t[9]
            printf "  sum of the parts                       %6.2f      %6.2f (fetch and write as they are)\n", sum, low
            printf "  ct-pull | ct-unpack                    %6.2f   (%.2fx the parts)\n", t[11], t[11] / sum
            printf "  the parts spread on %d CPUs: %.3f s = %.2fx podman+sync; user time only: %.3f s = %.2fx\n", n, sum / n, sum / n / pos, low / n, low / n / pos
            printf "  the pipeline: %.3f s = %.2fx podman+sync (target <= 0.20x)\n", ct, ct / pos
        }' "$work/floor-$fs"
done
