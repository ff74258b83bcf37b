//! ct-unpack: unpack image layers into the shared layer store and write an OCI runtime bundle.

use clap::Parser;

/// unpack image layers into the shared layer store and write an OCI runtime bundle.
///
/// NOT IMPLEMENTED YET: this tool is a placeholder and always exits 1.
#[derive(Parser)]
#[command(name = "ct-unpack", version)]
struct Cli {
    /// Ignored.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    args: Vec<String>,
}

fn main() {
    let _ = Cli::parse();
    eprintln!("ct-unpack: not implemented yet");
    std::process::exit(ct_layout::pipe::EXIT_FAILURE);
}
