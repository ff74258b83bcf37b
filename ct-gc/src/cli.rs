//! ct-gc's command line: the clap definition (its doc comments are `--help` and the man
//! page) and `run`, which does what the parsed command says; `main.rs` hands both to the
//! tool skeleton (`ct_layout::tool::main`).

use std::time::Duration;

use crate::{Options, Report};
use clap::{Parser, Subcommand};
use ct_layout::pipe::{emit, print_out, EXIT_OK};
use ct_layout::tool::{AnyFailure, CannotCreate};
use ct_layout::Store;

/// Remove images from the store and collect what nothing uses any more: blobs in
/// $CT_ROOT/images, unpacked layers in $CT_ROOT/layers, leftovers of interrupted downloads and
/// extractions, and mounts left in the bundles of containers that are gone or stopped.
///
/// It is the only ct tool that deletes from the image store. It holds $CT_ROOT/locks/gc.lock
/// and the images.lock of every index.json writer for its whole mark and sweep, and it never
/// removes what a container still uses: each bundle's ct.json names its manifest and layers.
///
/// Exit codes: 0 ok, 1 failure (no such image, image in use, unreadable store: nothing is
/// removed), 2 usage.
#[derive(Parser)]
#[command(name = "ct-gc", version)]
pub struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Remove images by name (alpine, host/repo:tag) or manifest digest (prefix of 12+ hex), and
    /// the blobs and layers only they used. Prints each removed name.
    Rmi {
        #[arg(required = true, value_name = "IMAGE")]
        images: Vec<String>,
        /// Remove the name even when a container was made from the image (its blobs and layers
        /// stay as long as the container does).
        #[arg(short, long)]
        force: bool,
        /// Only show what would be removed.
        #[arg(short = 'n', long)]
        dry_run: bool,
    },
    /// Collect every unreferenced blob and layer, interrupted downloads and extractions, and
    /// stale mounts. Prints one summary line.
    Prune {
        /// Leave what landed less than SECS seconds ago (for writers that do not take
        /// gc.lock).
        #[arg(long, value_name = "SECS", env = "CT_GC_GRACE", default_value_t = 600)]
        grace: u64,
        /// Only show what would be removed (one path per line on stderr).
        #[arg(short = 'n', long)]
        dry_run: bool,
    },
}

fn show(r: &Report, dry: bool) {
    let verb = if dry { "would remove" } else { "removed" };
    for d in &r.blobs {
        eprintln!("ct-gc: {verb} blob {d}");
    }
    for d in &r.layers {
        eprintln!("ct-gc: {verb} layer {d}");
    }
    for p in &r.temp {
        eprintln!("ct-gc: {verb} {}", p.display());
    }
    for p in &r.mounts {
        eprintln!("ct-gc: {verb} mount {}", p.display());
    }
    for l in &r.leases {
        let verb = if dry { "would release" } else { "released" };
        eprintln!(
            "ct-gc: {verb} address {} of container '{}' on '{}'",
            l.ip, l.owner, l.bridge
        );
    }
}

pub fn run(cli: Cli) -> Result<i32, AnyFailure> {
    let store = Store::from_env();
    store
        .ensure_root("ct-gc")
        .map_err(|(path, e)| CannotCreate(path, e))?;
    match cli.cmd {
        Cmd::Rmi {
            images,
            force,
            dry_run,
        } => {
            let opts = Options {
                grace: Duration::ZERO,
                dry_run,
            };
            let r = crate::rmi(&store, &images, force, &opts)?;
            show(&r, dry_run);
            print_out(
                &r.untagged
                    .iter()
                    .map(|n| format!("{n}\n"))
                    .collect::<String>(),
            );
        }
        Cmd::Prune { grace, dry_run } => {
            let opts = Options {
                grace: Duration::from_secs(grace),
                dry_run,
            };
            let r = crate::prune(&store, &opts)?;
            show(&r, dry_run);
            emit(r.summary(dry_run));
        }
    }
    Ok(EXIT_OK)
}
