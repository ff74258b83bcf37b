//! ct-pull: fetch an image's manifest, config and blobs from a registry (or import an archive) into the OCI image layout.

use clap::Parser;

/// fetch an image's manifest, config and blobs from a registry (or import an archive) into the OCI image layout.
///
/// NOT IMPLEMENTED YET: this tool is a placeholder and always exits 1.
#[derive(Parser)]
#[command(name = "ct-pull", version)]
struct Cli {
    /// Ignored.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    args: Vec<String>,
}

fn main() {
    let _ = Cli::parse();
    eprintln!("ct-pull: not implemented yet");
    std::process::exit(ct_layout::pipe::EXIT_FAILURE);
}
