//! ct-cgroup: cgroup limits (memory, cpu, pids) on cgroup v1, v2 and hybrid hosts.
//!
//! Not implemented yet: this crate is a placeholder so the workspace has its final shape.
