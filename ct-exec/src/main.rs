//! ct-exec: run an OCI bundle: namespaces, pivot_root, /proc and /dev, privileges, exec.

use clap::Parser;

/// run an OCI bundle: namespaces, pivot_root, /proc and /dev, privileges, exec.
///
/// NOT IMPLEMENTED YET: this tool is a placeholder and always exits 1.
#[derive(Parser)]
#[command(name = "ct-exec", version)]
struct Cli {
    /// Ignored.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    args: Vec<String>,
}

fn main() {
    let _ = Cli::parse();
    eprintln!("ct-exec: not implemented yet");
    std::process::exit(ct_layout::pipe::EXIT_FAILURE);
}
