//! ct-ls: list images, layers and containers. Thin CLI over the `ct_ls` library.

use clap::{Parser, Subcommand};
use ct_layout::pipe::{report, EXIT_FAILURE};
use ct_layout::Store;

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

fn main() {
    ct_layout::cli::generate_if_asked::<Cli>();
    let cli = Cli::parse();
    let store = Store::from_env();
    let r = match cli.what {
        What::Images(f) => ct_ls::images::list(&store, &f),
        What::Layers(f) => ct_ls::layers::list(&store, &f),
        What::Containers { all, format } => ct_ls::containers::list(&store, all, &format),
    };
    if let Err(e) = r {
        report("ct-ls", &e, &[]);
        std::process::exit(EXIT_FAILURE);
    }
}
