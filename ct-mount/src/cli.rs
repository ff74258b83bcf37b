//! ct-mount's command line: the clap definition (its doc comments are `--help` and the man
//! page) and `run`, which does what the parsed command says; `main.rs` hands both to the
//! tool skeleton (`ct_layout::tool::main`).

use crate::overlay::Api;
use crate::volume::{Tmpfs, Volume};
use crate::{MountError, Options, Outcome};
use clap::Parser;
use ct_layout::bundle::BundleError;
use ct_layout::pipe::{emit, input, quote, EXIT_OK};
use ct_layout::tool::AnyFailure;
use ct_layout::Store;

pub const TOOL: &str = "ct-mount";

/// Mount a bundle's root filesystem: overlayfs with the image's layers as lower directories
/// (top layer first) and a per-container upper/ and work/ in the bundle. Prints the bundle.
///
/// Input: a bundle directory or a container id, as the argument or one line on stdin.
/// A --flat bundle has nothing to mount and is passed through.
///
/// Exit codes: 0 ok, 1 failure (nothing is left half-mounted), 2 usage.
#[derive(Parser)]
#[command(name = "ct-mount", version)]
pub struct Cli {
    /// Bundle directory or container id (default: one line of stdin).
    bundle: Option<String>,
    /// Mount the layers alone, with no upper dir; also sets root.readonly in config.json.
    #[arg(long, conflicts_with = "unmount")]
    read_only: bool,
    /// Unmount the bundle's rootfs (succeeds when nothing is mounted or the bundle is gone).
    /// Keeps upper/.
    #[arg(long, conflicts_with_all = ["volume", "tmpfs"])]
    unmount: bool,
    /// Bind mount HOST at CTR in the container (config.json mounts; `:ro` read-only).
    #[arg(short = 'v', long = "volume", value_name = "HOST:CTR[:ro]")]
    volume: Vec<Volume>,
    /// Mount a fresh tmpfs at CTR (nosuid,nodev,noexec plus OPTS such as size=64m).
    #[arg(long, value_name = "CTR[:OPTS]")]
    tmpfs: Vec<Tmpfs>,
}

pub fn run(cli: Cli) -> Result<i32, AnyFailure> {
    let store = Store::from_env();
    let what = input(cli.bundle, "bundle")?;
    if cli.unmount {
        // Undoing what is already undone succeeds: a bundle that is gone has nothing mounted.
        let (b, was) = match crate::unmount(&store, &what) {
            Err(MountError::Bundle(BundleError::NotFound(_))) => {
                eprintln!("{TOOL}: no bundle {}: nothing to unmount", quote(&what));
                return Ok(EXIT_OK);
            }
            r => r?,
        };
        if !was {
            eprintln!("{TOOL}: '{}' is not mounted", b.rootfs().display());
        }
        emit(b.dir.display());
        return Ok(EXIT_OK);
    }
    let opts = Options {
        read_only: cli.read_only,
        volumes: cli.volume,
        tmpfs: cli.tmpfs,
    };
    let (b, outcome) = crate::mount(&store, &what, &opts)?;
    match outcome {
        Outcome::Mounted(Api::New) => {}
        Outcome::Mounted(Api::Classic) => eprintln!(
            "{TOOL}: mounted with mount(2): this kernel has no overlay lowerdir+ (Linux 6.8)"
        ),
        Outcome::Fuse(why) => eprintln!(
            "{TOOL}: mounted with fuse-overlayfs: the kernel's overlay cannot be mounted here: {why}"
        ),
        Outcome::Copied(why) => eprintln!(
            "{TOOL}: copied the layers into '{}' (as ct-unpack --flat): no overlay can be mounted here: {why}",
            b.rootfs().display()
        ),
        Outcome::AlreadyCopied => eprintln!(
            "{TOOL}: '{}' holds a copy of the layers: nothing to mount",
            b.rootfs().display()
        ),
        Outcome::AlreadyMounted => {
            eprintln!("{TOOL}: '{}' is already mounted", b.rootfs().display())
        }
        Outcome::Flat => eprintln!(
            "{TOOL}: '{}' is a flat bundle (ct-unpack --flat): nothing to mount",
            b.dir.display()
        ),
        Outcome::Foreign => eprintln!(
            "{TOOL}: '{}' has no ct.json (not made by ct-unpack): nothing to mount",
            b.dir.display()
        ),
    }
    emit(b.dir.display());
    Ok(EXIT_OK)
}
