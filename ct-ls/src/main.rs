//! ct-ls: list images, layers and containers. Thin CLI over the `ct_ls` library.

use clap::{Parser, Subcommand};
use ct_layout::pipe::EXIT_OK;
use ct_layout::Store;
use ct_ls::LsError;

/// List what ct holds: images in the store, unpacked layers, containers.
///
/// Exit codes: 0 ok, 1 failure (unreadable store), 2 usage.
#[derive(Parser)]
#[command(name = "ct-ls", version)]
struct Cli {
    #[command(subcommand)]
    what: What,
}

#[derive(Subcommand)]
enum What {
    /// Images in $CT_ROOT/images: reference, digest, platform, size, created.
    Images(ct_ls::Format),
    /// Unpacked layers in $CT_ROOT/layers: diff_id, size, images using them.
    Layers(ct_ls::Format),
    /// Containers: id, name, image, command, status, pid, address, ports, limits.
    Containers {
        /// Also stopped containers.
        #[arg(short, long)]
        all: bool,
        #[command(flatten)]
        format: ct_ls::Format,
    },
}

fn run(cli: Cli) -> Result<i32, LsError> {
    let store = Store::from_env();
    match cli.what {
        What::Images(f) => ct_ls::images::list(&store, &f)?,
        What::Layers(f) => ct_ls::layers::list(&store, &f)?,
        What::Containers { all, format } => ct_ls::containers::list(&store, all, &format)?,
    }
    Ok(EXIT_OK)
}

fn main() {
    ct_layout::tool::main("ct-ls", run)
}
