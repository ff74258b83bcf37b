//! ct-net: give a container a network: netns, bridge, veth, addresses, NAT, published ports.

use clap::Parser;

/// give a container a network: netns, bridge, veth, addresses, NAT, published ports.
///
/// NOT IMPLEMENTED YET: this tool is a placeholder and always exits 1.
#[derive(Parser)]
#[command(name = "ct-net", version)]
struct Cli {
    /// Ignored.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    args: Vec<String>,
}

fn main() {
    let _ = Cli::parse();
    eprintln!("ct-net: not implemented yet");
    std::process::exit(ct_layout::pipe::EXIT_FAILURE);
}
