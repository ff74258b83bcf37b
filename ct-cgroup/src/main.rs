//! ct-cgroup: cgroup limits (memory, cpu, pids) on cgroup v1, v2 and hybrid hosts.
//! Parse the command line, run the library, exit with its code (0 ok, 1 failure, 2 usage).

fn main() {
    ct_layout::tool::main("ct-cgroup", ct_cgroup::run::run)
}
