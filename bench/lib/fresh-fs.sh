#!/bin/sh
# bench/lib/fresh-fs.sh KIND MNT LOOPFILE — mount a FRESH file system on MNT for one benchmark
# run: KIND=ext4 makes a new 6 GiB ext4 in LOOPFILE (every inode table written now, so no lazy
# init runs during the measurement) and loop-mounts it; KIND=tmpfs mounts an empty tmpfs.
# Whatever was mounted on MNT before is unmounted first, and dirty data of the run before is
# flushed (sync), so it does not land in the next measurement.
#
# The loop device does direct I/O on its file (LOOP_DIO=1, the default), closer to a disk:
# buffered, every block written is copied a second time, into the page cache of the file
# system holding LOOPFILE, and written back from there by that file system, which costs CPU
# (the loop worker's copies, the second writeback) and memory that no disk costs, on the same
# CPUs as the tools measured. LOOP_DIO=0 keeps the buffered loop, for comparison.
set -e
kind=$1 mnt=$2 loop=$3
umount -R "$mnt" 2>/dev/null || true
mkdir -p "$mnt"
case $kind in
ext4)
    rm -f "$loop"
    truncate -s 6G "$loop"
    mkfs.ext4 -q -F -E lazy_itable_init=0,lazy_journal_init=0 "$loop"
    mount -o loop "$loop" "$mnt"
    if [ "${LOOP_DIO:-1}" = 1 ]; then
        losetup --direct-io=on "$(findmnt -n -o SOURCE "$mnt")"
    fi
    ;;
tmpfs)
    mount -t tmpfs -o size=6g ct-bench "$mnt"
    ;;
*)
    echo "fresh-fs.sh: unknown file system '$kind' (ext4 or tmpfs)" >&2
    exit 2
    ;;
esac
sync
