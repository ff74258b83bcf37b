#!/bin/sh
# ct-exec/build-static.sh [PROFILE] — build ct-exec as `make` installs it and bench/exec.sh
# measures it: linked statically, so that a start maps no ld.so and no shared libc, and
# against musl where the Rust toolchain has (or can add) that target, else glibc.
#
# Why musl: ct-exec starts twice per container (once from the host's file, once from its
# read-only clone, see ct-exec/src/cloned_binary.rs), and glibc's start-up probes the CPU's
# caches with dozens of `cpuid` instructions — each a trap to the hypervisor in a virtual
# machine (12-20 µs apiece on the machine this was measured on, ~1.3 ms per start). musl's
# start-up runs none. libseccomp is Debian's `libseccomp.a` either way (ct-exec/build.rs
# supplies the one glibc symbol it needs under musl).
#
# The result replaces target/PROFILE/ct-exec (cargo's own build of it), where `make install`
# and the bench take it from. PROFILE: release (default) or debug.
set -eu
profile=${1:-release}
here=$(cd "$(dirname "$0")/.." && pwd)
target=${CARGO_TARGET_DIR:-$here/target}
# Absolute: libseccomp-sys's build script, which reads LIBSECCOMP_LIB_PATH below, runs in its
# own directory (`make` passes CARGO_TARGET_DIR=target, relative to where it was started).
case $target in /*) ;; *) target=$PWD/$target ;; esac
cargo=${CARGO:-cargo}
[ "$profile" = debug ] && flag= || flag="--profile $profile"

# The link search path gets a directory holding libseccomp.a alone: the one it ships in also
# holds glibc's libc.a, which a musl link must not pick up.
lib=$(find /usr/lib /usr/local/lib -name libseccomp.a 2>/dev/null | head -n 1)
[ -n "$lib" ] || { echo "ct-exec/build-static.sh: libseccomp.a not found (apt-get install libseccomp-dev)" >&2; exit 1; }
seccomp=$target/libseccomp-static
mkdir -p "$seccomp"
cp "$lib" "$seccomp/libseccomp.a"

musl=$(uname -m)-unknown-linux-musl
if rustup target list --installed 2>/dev/null | grep -qx "$musl" ||
    rustup target add "$musl" >/dev/null 2>&1; then
    # shellcheck disable=SC2086 # $flag is empty or two words
    (cd "$here" && LIBSECCOMP_LINK_TYPE=static LIBSECCOMP_LIB_PATH=$seccomp \
        "$cargo" rustc -q -p ct-exec --bin ct-exec $flag --target "$musl")
    built=$target/$musl/$profile/ct-exec
else
    echo "ct-exec/build-static.sh: no $musl target for rustc here: linking glibc statically" >&2
    # crt-static is a flag of the final link only, which `cargo build` cannot set for one
    # binary, hence `cargo rustc`.
    # shellcheck disable=SC2086
    (cd "$here" && LIBSECCOMP_LINK_TYPE=static LIBSECCOMP_LIB_PATH=$seccomp \
        "$cargo" rustc -q -p ct-exec --bin ct-exec $flag -- -C target-feature=+crt-static)
    built=$target/$profile/ct-exec
fi
if [ "$built" != "$target/$profile/ct-exec" ]; then
    mkdir -p "$target/$profile"
    cp "$built" "$target/$profile/.ct-exec.static.tmp"
    mv "$target/$profile/.ct-exec.static.tmp" "$target/$profile/ct-exec"
fi
echo "$target/$profile/ct-exec"
