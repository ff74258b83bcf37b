//! ct-cgroup: cgroup limits (memory, cpu, pids) on cgroup v1, v2 and hybrid hosts.
//! Parse the command line, run the library, exit with its code (0 ok, 1 failure, 2 usage).

use clap::Parser;
use ct_cgroup::cli::Cli;

fn main() {
    ct_layout::cli::generate_if_asked::<Cli>();
    let cli = Cli::parse();
    std::process::exit(ct_cgroup::cli::run(cli));
}
