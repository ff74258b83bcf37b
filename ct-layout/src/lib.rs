//! The contract between the ct tools: everything one stage writes and the next one reads.
//!
//! Nothing here makes a syscall beyond plain file I/O (open, write, fsync, rename, flock).
//! The layout it describes is documented for humans in `docs/LAYOUT.md`:
//!
//! * [`paths`] — where things live under `$CT_ROOT` (default `/var/lib/ct`) and `$CT_RUN`
//!   (default `/run/ct`).
//! * [`reference`] — image references read the way docker reads them.
//! * [`digest`] — content addresses (`sha256:…`) and a hashing writer that checks them.
//! * [`free_space`] — `statvfs(2)` limits on what one extraction or import may write.
//! * [`atomic`] — temp file + fsync + rename, so a crash never leaves half a file.
//! * [`lock`] — `flock(2)` locks that serialize writers of one file.
//! * [`mountinfo`] — the one parser of `/proc/self/mountinfo` lines.
//! * [`image_layout`] — the OCI image layout in `$CT_ROOT/images`.
//! * [`bundle`] — OCI runtime bundles in `$CT_ROOT/containers/ID` and ct's note beside them.
//! * [`state`] — runtime-spec container state in `$CT_RUN/containers/ID/state.json`.
//! * [`in_root`] — paths inside a container's root, opened so they never lead out of it
//!   (openat2 `RESOLVE_IN_ROOT`).
//! * [`pipe`] — the one-line-per-stage pipe protocol and the CLI conventions (exit codes,
//!   one-line errors).
//! * [`pipe_handoff`] — how `ct-pull | ct-unpack` overlap: the manifest announced under the
//!   pipe's inode while the pull runs.

pub mod atomic;
pub mod bundle;
pub mod cli;
pub mod digest;
pub mod free_space;
pub mod gc_lock;
pub mod image_layout;
pub mod in_root;
pub mod lock;
pub mod mountinfo;
pub mod paths;
pub mod pipe;
pub mod pipe_handoff;
pub mod reference;
pub mod seccomp_default;
pub mod state;

pub use digest::Digest;
pub use paths::Store;
pub use reference::Reference;
