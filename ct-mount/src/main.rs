//! ct-mount: stack a bundle's layers with overlayfs into its rootfs; volumes. Thin CLI over
//! the `ct_mount` library.

use clap::Parser;
use ct_layout::pipe::{emit, input, report, EXIT_FAILURE, EXIT_USAGE};
use ct_layout::Store;
use ct_mount::overlay::Api;
use ct_mount::volume::{Tmpfs, Volume};
use ct_mount::{Options, Outcome};

/// Mount a bundle's root filesystem: overlayfs with the image's layers as lower directories
/// (top layer first) and a per-container upper/ and work/ in the bundle. Prints the bundle.
///
/// Input: a bundle directory or a container id, as the argument or one line on stdin.
/// A --flat bundle has nothing to mount and is passed through.
///
/// Exit codes: 0 ok, 1 failure (nothing is left half-mounted), 2 usage.
#[derive(Parser)]
#[command(name = "ct-mount", version)]
struct Cli {
    /// Bundle directory or container id (default: one line of stdin).
    bundle: Option<String>,
    /// Mount the layers alone, with no upper dir; also sets root.readonly in config.json.
    #[arg(long, conflicts_with = "unmount")]
    read_only: bool,
    /// Unmount the bundle's rootfs (succeeds when nothing is mounted). Keeps upper/.
    #[arg(long, conflicts_with_all = ["volume", "tmpfs"])]
    unmount: bool,
    /// Bind mount HOST at CTR in the container (config.json mounts; `:ro` read-only).
    #[arg(short = 'v', long = "volume", value_name = "HOST:CTR[:ro]")]
    volume: Vec<Volume>,
    /// Mount a fresh tmpfs at CTR (nosuid,nodev,noexec plus OPTS such as size=64m).
    #[arg(long, value_name = "CTR[:OPTS]")]
    tmpfs: Vec<Tmpfs>,
}

fn main() {
    ct_layout::cli::generate_if_asked::<Cli>();
    let cli = Cli::parse();
    let store = Store::from_env();
    let what = match input(cli.bundle, "bundle") {
        Ok(w) => w,
        Err(e) => {
            report("ct-mount", &e, &[]);
            std::process::exit(EXIT_USAGE);
        }
    };
    let r = if cli.unmount {
        ct_mount::unmount(&store, &what).map(|(b, was)| {
            if !was {
                eprintln!("ct-mount: '{}' is not mounted", b.rootfs().display());
            }
            b
        })
    } else {
        let opts = Options {
            read_only: cli.read_only,
            volumes: cli.volume,
            tmpfs: cli.tmpfs,
        };
        ct_mount::mount(&store, &what, &opts).map(|(b, outcome)| {
            match outcome {
                Outcome::Mounted(Api::New) => {}
                Outcome::Mounted(Api::Classic) => eprintln!(
                    "ct-mount: mounted with mount(2): this kernel has no overlay lowerdir+ (Linux 6.8)"
                ),
                Outcome::AlreadyMounted => {
                    eprintln!("ct-mount: '{}' is already mounted", b.rootfs().display())
                }
                Outcome::Flat => eprintln!(
                    "ct-mount: '{}' is a flat bundle (ct-unpack --flat): nothing to mount",
                    b.dir.display()
                ),
                Outcome::Foreign => eprintln!(
                    "ct-mount: '{}' has no ct.json (not made by ct-unpack): nothing to mount",
                    b.dir.display()
                ),
            }
            b
        })
    };
    match r {
        Ok(b) => emit(b.dir.display()),
        Err(e) => {
            report("ct-mount", &e, &e.hints());
            std::process::exit(EXIT_FAILURE);
        }
    }
}
