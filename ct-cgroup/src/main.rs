//! ct-cgroup: cgroup limits (memory, cpu, pids) on cgroup v1, v2 and hybrid hosts.
//! Parse the command line, run the library, exit with its code (0 ok, 1 failure, 2 usage).

// Built against musl: its allocator maps and unmaps too eagerly (ct_layout::musl_alloc).
ct_layout::musl_allocator!();

fn main() {
    ct_layout::tool::main("ct-cgroup", ct_cgroup::run::run)
}
