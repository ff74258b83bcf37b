//! ct-exec: run an OCI bundle: namespaces, pivot_root, /proc and /dev, privileges, exec.
//!
//! Not implemented yet: this crate is a placeholder so the workspace has its final shape.
pub mod seccomp;
