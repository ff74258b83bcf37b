#!/usr/bin/env bash
# bench/pull.sh — ct-pull against `skopeo copy docker://… oci:…` pulling the same multi-layer
# gzip image (>= 150 MB compressed, built from files on this machine, one layer per source
# directory) from a docker-registry on 127.0.0.1, side by side in one hyperfine run, a FRESH
# destination on tmpfs each run; then a re-pull of the image already present.
#
# Targets (issue 2): ct-pull <= 0.5x skopeo's wall time; re-pull of a present image < 50 ms.
#
# Usage: bench/pull.sh        (RUNS=5 JOBS=4 SRC="dirs to layer")
# The image is built once and kept in /var/tmp/ct-bench-pull (delete it to rebuild).
set -euo pipefail

runs=${RUNS:-5}
jobs=${JOBS:-4}
src_dirs=${SRC:-/usr/bin /usr/include /usr/lib/gcc /usr/libexec /usr/lib/python3.11 /usr/lib/llvm-14}
for t in hyperfine jq skopeo docker-registry tar gzip sha256sum curl python3; do
    command -v "$t" >/dev/null || { echo "bench/pull.sh: needs $t" >&2; exit 2; }
done

here=$(cd "$(dirname "$0")/.." && pwd)
target=${CARGO_TARGET_DIR:-$here/target}
(cd "$here" && cargo build --release -q -p ct-pull)
ct_pull=$target/release/ct-pull

cache=/var/tmp/ct-bench-pull
img=$cache/image

# --- the image: one gzip layer per source directory ------------------------------------------
. "$here/bench/lib/big-image.sh"
big_image "$cache" bench "$src_dirs"
total=$(du -cb "$img"/blobs/sha256/* | tail -1 | cut -f1)
nlayers=$(find "$img/blobs/sha256" -type f -size +1M | wc -l)
echo "image: $nlayers layers, $((total / 1000000)) MB compressed" >&2
[ "$total" -ge 150000000 ] || { echo "bench/pull.sh: image is under 150 MB; add directories to SRC" >&2; exit 1; }

# --- a registry on 127.0.0.1, its storage and every destination on tmpfs ----------------------
work=$(mktemp -d /dev/shm/ct-bench-pull.XXXXXX)
registry_pid=
cleanup() {
    if [ -n "$registry_pid" ]; then kill "$registry_pid" 2>/dev/null || true; wait "$registry_pid" 2>/dev/null || true; fi
    rm -rf "$work"
}
trap cleanup EXIT
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat > "$work/registry.yml" <<YML
version: 0.1
log: {level: error, accesslog: {disabled: true}}
storage: {filesystem: {rootdirectory: $work/registry}}
http: {addr: 127.0.0.1:$port}
YML
docker-registry serve "$work/registry.yml" > "$work/registry.log" 2>&1 &
registry_pid=$!
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/v2/" >/dev/null && break; sleep 0.1; done
ref=127.0.0.1:$port/bench/usr:1
skopeo copy -q --dest-tls-verify=false "oci:$img:bench" "docker://$ref"

# --- fresh pulls, side by side ----------------------------------------------------------------
hyperfine --runs "$runs" --warmup 1 \
    --prepare "rm -rf $work/ct $work/sk" \
    --export-json "$work/pull.json" \
    -n "ct-pull -j $jobs" "CT_ROOT=$work/ct $ct_pull -q -j $jobs $ref" \
    -n "skopeo copy" "skopeo copy -q --src-tls-verify=false docker://$ref oci:$work/sk:bench"

# --- re-pull of the present image -------------------------------------------------------------
CT_ROOT=$work/ct "$ct_pull" -q "$ref" >/dev/null
hyperfine --runs 30 --warmup 3 -N --export-json "$work/repull.json" \
    -n "ct-pull (present)" "env CT_ROOT=$work/ct $ct_pull -q $ref"

ct=$(jq '.results[0].mean' "$work/pull.json")
sk=$(jq '.results[1].mean' "$work/pull.json")
re=$(jq '.results[0].mean' "$work/repull.json")
ct_cpu=$(jq '.results[0].user + .results[0].system' "$work/pull.json")
sk_cpu=$(jq '.results[1].user + .results[1].system' "$work/pull.json")
awk -v ct="$ct" -v sk="$sk" -v re="$re" -v mb="$((total / 1000000))" -v cc="$ct_cpu" -v sc="$sk_cpu" 'BEGIN {
    printf "\nct-pull %.2f s, skopeo %.2f s for %d MB: ratio ct-pull/skopeo = %.2fx (target <= 0.5x)\n", ct, sk, mb, ct / sk
    printf "CPU time (user+sys, less sensitive to a busy machine): %.2f s vs %.2f s = %.2fx\n", cc, sc, cc / sc
    printf "re-pull of a present image: %.1f ms (target < 50 ms)\n", re * 1000
}'
