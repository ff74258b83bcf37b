//! ct-cgroup: cgroup limits (memory, cpu, pids) on cgroup v1, v2 and hybrid hosts.

use clap::Parser;

/// cgroup limits (memory, cpu, pids) on cgroup v1, v2 and hybrid hosts.
///
/// NOT IMPLEMENTED YET: this tool is a placeholder and always exits 1.
#[derive(Parser)]
#[command(name = "ct-cgroup", version)]
struct Cli {
    /// Ignored.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    args: Vec<String>,
}

fn main() {
    let _ = Cli::parse();
    eprintln!("ct-cgroup: not implemented yet");
    std::process::exit(ct_layout::pipe::EXIT_FAILURE);
}
