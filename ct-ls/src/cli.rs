//! ct-ls's command line: the clap definition (its doc comments are `--help` and the man
//! page) and `run`, which does what the parsed command says; `main.rs` hands both to the
//! tool skeleton (`ct_layout::tool::main`).

use crate::LsError;
use clap::{Parser, Subcommand};
use ct_layout::pipe::EXIT_OK;
use ct_layout::Store;

/// List what ct holds: images in the store, unpacked layers, containers.
///
/// Exit codes: 0 ok, 1 failure (unreadable store), 2 usage.
#[derive(Parser)]
#[command(name = "ct-ls", version)]
pub struct Cli {
    #[command(subcommand)]
    what: What,
}

#[derive(Subcommand)]
enum What {
    /// Images in $CT_ROOT/images: reference, digest, platform, size, created.
    Images(crate::Format),
    /// Unpacked layers in $CT_ROOT/layers: diff_id, size, images using them.
    Layers(crate::Format),
    /// Containers: id, name, image, command, status, pid, address, ports, limits.
    Containers {
        /// Also stopped containers.
        #[arg(short, long)]
        all: bool,
        #[command(flatten)]
        format: crate::Format,
    },
}

pub fn run(cli: Cli) -> Result<i32, LsError> {
    let store = Store::from_env();
    match cli.what {
        What::Images(f) => crate::images::list(&store, &f)?,
        What::Layers(f) => crate::layers::list(&store, &f)?,
        What::Containers { all, format } => crate::containers::list(&store, all, &format)?,
    }
    Ok(EXIT_OK)
}
