# shellcheck shell=bash
# A large multi-layer image for the benchmarks, built from files already on the machine: one
# gzip layer per source directory, written as an OCI image layout (the same format ct-pull
# stores and umoci reads), named NAME in its index.json. Built once and kept in CACHE.
#
#   . bench/lib/big-image.sh
#   big_image CACHE NAME "DIR DIR …"      # the layout is CACHE/image
#
# The benches share one image, $BENCH_CACHE with $BENCH_SRC: six layers, about 540 MB and 41k
# files unpacked, 200+ MB gzip — the shape of issue 19's image (6 layers, 152 MB gzip, 494 MB /
# 51k files): many small files (headers, man pages, docs, python) and some large ones (gcc).

BENCH_CACHE=${BENCH_CACHE:-/var/tmp/ct-bench-image}
# shellcheck disable=SC2034 # used by the benches that source this file
BENCH_SRC=${SRC:-/usr/include /usr/share/man /usr/share/doc /usr/lib/python3.11 /usr/share/perl /usr/lib/gcc}

big_image() {
    local cache=$1 name=$2 src_dirs=$3 img=$1/image
    [ -f "$img/index.json" ] && return 0
    echo "building the bench image from: $src_dirs" >&2
    rm -rf "$cache"
    mkdir -p "$img/blobs/sha256"
    echo '{"imageLayoutVersion":"1.0.0"}' > "$img/oci-layout"
    local diff_ids=() layers=() d t diff dig size
    for d in $src_dirs; do
        [ -d "$d" ] || continue
        t=$cache/layer.tar
        tar --numeric-owner -C / -cf "$t" "${d#/}"
        diff=$(sha256sum "$t" | cut -d' ' -f1)
        gzip -6 -n -c "$t" > "$cache/layer.tgz"
        dig=$(sha256sum "$cache/layer.tgz" | cut -d' ' -f1)
        size=$(stat -c %s "$cache/layer.tgz")
        mv "$cache/layer.tgz" "$img/blobs/sha256/$dig"
        rm -f "$t"
        diff_ids+=("\"sha256:$diff\"")
        layers+=("{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar+gzip\",\"digest\":\"sha256:$dig\",\"size\":$size}")
    done
    _join() { local IFS=,; echo "$*"; }
    # A blob is named by the sha256 of its bytes.
    _blob() {
        local dig
        dig=$(sha256sum "$1" | cut -d' ' -f1)
        echo "$dig $(stat -c %s "$1")"
        mv "$1" "$img/blobs/sha256/$dig"
    }
    printf '{"architecture":"amd64","os":"linux","config":{"Cmd":["/bin/sh"]},"rootfs":{"type":"layers","diff_ids":[%s]}}' \
        "$(_join "${diff_ids[@]}")" > "$cache/config.json"
    local c m
    read -r -a c < <(_blob "$cache/config.json")
    printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:%s","size":%s},"layers":[%s]}' \
        "${c[0]}" "${c[1]}" "$(_join "${layers[@]}")" > "$cache/manifest.json"
    read -r -a m < <(_blob "$cache/manifest.json")
    printf '{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:%s","size":%s,"annotations":{"org.opencontainers.image.ref.name":"%s"}}]}' \
        "${m[0]}" "${m[1]}" "$name" > "$img/index.json"
}
