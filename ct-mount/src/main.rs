//! ct-mount: stack a bundle's layers with overlayfs into its rootfs; volumes.

use clap::Parser;

/// stack a bundle's layers with overlayfs into its rootfs; volumes.
///
/// NOT IMPLEMENTED YET: this tool is a placeholder and always exits 1.
#[derive(Parser)]
#[command(name = "ct-mount", version)]
struct Cli {
    /// Ignored.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    args: Vec<String>,
}

fn main() {
    let _ = Cli::parse();
    eprintln!("ct-mount: not implemented yet");
    std::process::exit(ct_layout::pipe::EXIT_FAILURE);
}
