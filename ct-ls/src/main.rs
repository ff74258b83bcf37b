//! ct-ls: list images, layers and containers.

use clap::Parser;

/// list images, layers and containers.
///
/// NOT IMPLEMENTED YET: this tool is a placeholder and always exits 1.
#[derive(Parser)]
#[command(name = "ct-ls", version)]
struct Cli {
    /// Ignored.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    args: Vec<String>,
}

fn main() {
    let _ = Cli::parse();
    eprintln!("ct-ls: not implemented yet");
    std::process::exit(ct_layout::pipe::EXIT_FAILURE);
}
