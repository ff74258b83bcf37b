//! The contract between the ct tools: everything one stage writes and the next one reads.
//!
//! Nothing here makes a syscall beyond plain file I/O (open, write, fsync, rename, flock),
//! except [`in_root`] (openat2) and [`rootless`] (a user namespace and setns). The layout it describes is documented for humans in `docs/LAYOUT.md`:
//!
//! * [`paths`] — where things live under `$CT_ROOT` (default `/var/lib/ct`) and `$CT_RUN`
//!   (default `/run/ct`).
//! * [`reference`] — image references read the way docker reads them.
//! * [`digest`] — content addresses (`sha256:…`) and a hashing writer that checks them.
//! * [`media_type`] — what a descriptor's `mediaType` says a blob is; layer compression.
//! * [`platform`] — `os/arch[/variant]`, and which manifest of an index is for this machine.
//! * [`rfc3339`] — the UTC timestamps the OCI specs write.
//! * [`rootless`] — a user's own user namespace, kept by a pause process, that every tool of
//!   that user enters first.
//! * [`free_space`] — `statvfs(2)` limits on what one extraction or import may write.
//! * [`io_error`] — the one `cannot ACTION 'PATH': CAUSE` error every tool's enum holds.
//! * [`atomic`] — temp file + fsync + rename, so a crash never leaves half a file.
//! * [`lock`] — `flock(2)` locks that serialize writers of one file.
//! * [`mountinfo`] — the one parser of `/proc/self/mountinfo` lines.
//! * [`image_layout`] — the OCI image layout in `$CT_ROOT/images`.
//! * [`image_docs`] — an image's index, manifest and config, typed.
//! * [`bundle`] — OCI runtime bundles in `$CT_ROOT/containers/ID` and ct's note beside them.
//! * [`net_record`] — `BUNDLE/net.json`, the network record ct-net writes and ct-ls reads.
//! * [`state`] — runtime-spec container state in `$CT_RUN/containers/ID/state.json`.
//! * [`in_root`] — paths inside a container's root, opened so they never lead out of it
//!   (openat2 `RESOLVE_IN_ROOT`).
//! * [`pipe`] — the one-line-per-stage pipe protocol and the CLI conventions (exit codes,
//!   one-line errors).
//! * [`tool`] — the skeleton of every tool's `main`: parse, run, report one line, exit.
//! * [`man_pages`] — man pages and completion scripts from a tool's clap definition.
//! * [`writeback`] — a background `syncfs(2)` while a large tree is written, so the disk
//!   works alongside the CPU and the final `syncfs` of an unpack or pull finds little left.
//! * [`pipe_handoff`] — how `ct-pull | ct-unpack` overlap: the manifest announced under the
//!   pipe's inode while the pull runs.

pub mod atomic;
pub mod bundle;
pub mod digest;
pub mod free_space;
pub mod gc_lock;
pub mod image_docs;
pub mod image_layout;
pub mod in_root;
pub mod io_error;
pub mod lock;
pub mod man_pages;
pub mod media_type;
pub mod mountinfo;
#[cfg(target_env = "musl")]
pub mod musl_alloc;

/// In a tool's `main.rs`: its musl build allocates with [`musl_alloc`] (see there why).
#[macro_export]
macro_rules! musl_allocator {
    () => {
        #[cfg(target_env = "musl")]
        #[global_allocator]
        static ALLOC: $crate::musl_alloc::Allocator = $crate::musl_alloc::Allocator;
    };
}
pub mod net_record;
pub mod paths;
pub mod pipe;
pub mod pipe_handoff;
pub mod platform;
pub mod reference;
pub mod rfc3339;
pub mod rootless;
pub mod state;
pub mod tool;
pub mod writeback;

pub use digest::Digest;
pub use paths::Store;
pub use reference::Reference;
