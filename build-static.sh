#!/bin/sh
# build-static.sh [PROFILE] [TOOL…] — build the tools a container's start runs, as `make`
# installs them and the benches measure them: linked statically, so that a start maps no
# ld.so and no shared libc, and against musl where the Rust toolchain has (or can add) that
# target, else glibc. TOOLs: ct-exec ct-mount ct-net ct-cgroup (the default, all four).
#
# Why musl: every process of glibc's probes the CPU's caches at start-up with dozens of
# `cpuid` instructions — each a trap to the hypervisor in a virtual machine (12-20 µs apiece
# on the machine this was measured on, ~1.3 ms per start); musl's start-up runs none. ct-exec
# starts twice per container (once from the host's file, once from its read-only clone, see
# ct-exec/src/cloned_binary.rs), and `ct run --rm` starts ct-mount, ct-net and ct-cgroup once
# to set up and again to undo. ct-unpack and ct-pull stay glibc's: they spend seconds, not
# milliseconds, unpacking and downloading on several threads, where glibc's allocator is
# faster than musl's. libseccomp (ct-exec's) is Debian's `libseccomp.a` either way
# (ct-exec/build.rs supplies the one glibc symbol it needs under musl).
#
# Each result replaces target/PROFILE/TOOL (cargo's own build of it), where `make install`
# and the benches take it from; its path is printed. PROFILE: release (default) or debug.
set -eu
profile=${1:-release}
[ $# -gt 0 ] && shift
[ $# -gt 0 ] || set -- ct-exec ct-mount ct-net ct-cgroup
here=$(cd "$(dirname "$0")" && pwd)
target=${CARGO_TARGET_DIR:-$here/target}
# Absolute: libseccomp-sys's build script, which reads LIBSECCOMP_LIB_PATH below, runs in its
# own directory (`make` passes CARGO_TARGET_DIR=target, relative to where it was started).
case $target in /*) ;; *) target=$PWD/$target ;; esac
cargo=${CARGO:-cargo}
[ "$profile" = debug ] && flag= || flag="--profile $profile"

# The link search path gets a directory holding libseccomp.a alone: the one it ships in also
# holds glibc's libc.a, which a musl link must not pick up.
lib=$(find /usr/lib /usr/local/lib -name libseccomp.a 2>/dev/null | head -n 1)
[ -n "$lib" ] || { echo "build-static.sh: libseccomp.a not found (apt-get install libseccomp-dev)" >&2; exit 1; }
seccomp=$target/libseccomp-static
mkdir -p "$seccomp"
cp "$lib" "$seccomp/libseccomp.a"

musl=$(uname -m)-unknown-linux-musl
if rustup target list --installed 2>/dev/null | grep -qx "$musl" ||
    rustup target add "$musl" >/dev/null 2>&1; then
    dir=$target/$musl/$profile
else
    echo "build-static.sh: no $musl target for rustc here: linking glibc statically" >&2
    musl='' dir=$target/$profile
fi
for tool; do
    case $tool in ct-exec | ct-mount | ct-net | ct-cgroup) ;; *)
        echo "build-static.sh: '$tool' is not one of ct-exec ct-mount ct-net ct-cgroup" >&2; exit 2 ;;
    esac
    if [ -n "$musl" ]; then
        # shellcheck disable=SC2086 # $flag is empty or two words
        (cd "$here" && LIBSECCOMP_LINK_TYPE=static LIBSECCOMP_LIB_PATH=$seccomp \
            "$cargo" rustc -q -p "$tool" --bin "$tool" $flag --target "$musl")
    else
        # crt-static is a flag of the final link only, which `cargo build` cannot set for one
        # binary, hence `cargo rustc`.
        # shellcheck disable=SC2086
        (cd "$here" && LIBSECCOMP_LINK_TYPE=static LIBSECCOMP_LIB_PATH=$seccomp \
            "$cargo" rustc -q -p "$tool" --bin "$tool" $flag -- -C target-feature=+crt-static)
    fi
    if [ "$dir" != "$target/$profile" ]; then
        mkdir -p "$target/$profile"
        cp "$dir/$tool" "$target/$profile/.$tool.static.tmp"
        mv "$target/$profile/.$tool.static.tmp" "$target/$profile/$tool"
    fi
    echo "$target/$profile/$tool"
done
