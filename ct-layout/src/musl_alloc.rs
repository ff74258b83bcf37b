//! The memory allocator of the tools built against musl (`build-static.sh`: ct-exec, ct-mount,
//! ct-net, ct-cgroup), which start many times per container and live a few milliseconds.
//!
//! musl's own malloc (mallocng) gives memory back to the kernel as soon as a group of slots is
//! free: every short burst of allocations — clap building the command line, serde reading a
//! `config.json` — becomes a series of mmap(2)/munmap(2) calls, and every munmap a TLB flush.
//! In `ct-exec create` of podman's config that was about a fifth of the process's time.
//! dlmalloc (Doug Lea's allocator, the one Rust's standard library uses on wasm) takes memory
//! from the kernel in segments and returns it only when more than 2 MiB sit free at the top, so
//! a short-lived tool maps a few segments and never unmaps. glibc builds keep glibc's malloc,
//! which behaves the same way already.
//!
//! A binary opts in with `ct_layout::musl_allocator!();` in its `main.rs` (nothing changes in
//! its glibc build).
//!
//! Thread- and fork-safe: one global lock, taken around `fork(3)` by a `pthread_atfork`
//! handler. ct-exec's `clone3` bypasses those handlers, which is sound because it clones from a
//! single thread that holds no lock.

/// The global allocator type; see the module note.
pub use dlmalloc::GlobalDlmalloc as Allocator;
