//! ct-unpack's command line: the clap definition (its doc comments are `--help` and the man
//! page) and `run`, which does what the parsed command says; `main.rs` hands both to the
//! tool skeleton (`ct_layout::tool::main`).

use crate::runtime_config::Overrides;
use crate::{unpack, Options};
use clap::Parser;
use ct_layout::pipe;
use ct_layout::tool::AnyFailure;
use ct_layout::Store;

/// Unpack an image from the store into an OCI runtime bundle.
///
/// Reads an image reference (as typed, or the line ct-pull printed) from the argument or one
/// line of stdin. Each layer is extracted once into $CT_ROOT/layers/sha256/DIFF_ID and shared;
/// the bundle $CT_ROOT/containers/ID gets config.json (from the image config plus docker-like
/// defaults), ct.json (the layers, bottom first) and an empty rootfs/ for ct-mount — or, with
/// --flat, a rootfs/ holding all layers applied. Prints the bundle directory.
///
/// Exit codes: 0 ok, 1 failure (no such image, corrupt layer, bad user...), 2 usage.
#[derive(Parser)]
#[command(name = "ct-unpack", version)]
pub struct Cli {
    /// Image reference (default: one line of stdin).
    image: Option<String>,
    /// Container name; it is also the id.
    #[arg(long, conflicts_with = "id")]
    name: Option<String>,
    /// Container id (default: 12 random hex digits).
    #[arg(long)]
    id: Option<String>,
    /// Apply all layers into a plain rootfs/ (no overlay needed) instead of the layer store.
    #[arg(long)]
    flat: bool,
    /// Set an environment variable (KEY=VALUE, or KEY to copy ours). Repeatable.
    #[arg(short = 'e', long = "env", value_name = "KEY[=VALUE]")]
    env: Vec<String>,
    /// Working directory inside the container.
    #[arg(short = 'w', long = "workdir", value_name = "DIR")]
    workdir: Option<String>,
    /// User to run as: user, uid, user:group or uid:gid (names from the image's /etc/passwd).
    #[arg(short = 'u', long = "user", value_name = "USER[:GROUP]")]
    user: Option<String>,
    /// Hostname (default: the container id).
    #[arg(long)]
    hostname: Option<String>,
    /// Keep at least SIZE free on the store's file system: extraction stops (and removes the
    /// partial layer) before going under it [default: 5% of the file system, at most 1G].
    #[arg(long, value_name = "SIZE", value_parser = ct_layout::free_space::parse_size)]
    min_free: Option<u64>,
    /// Refuse a layer that unpacks to more than SIZE (holes of sparse files included), e.g.
    /// 512M, 2G.
    #[arg(long, value_name = "SIZE", value_parser = ct_layout::free_space::parse_size)]
    max_layer_size: Option<u64>,
    /// Progress on stderr.
    #[arg(short, long)]
    verbose: bool,
    /// Command and arguments replacing the image's Cmd (after --).
    #[arg(last = true, value_name = "CMD")]
    cmd: Vec<String>,
}

pub fn run(cli: Cli) -> Result<i32, AnyFailure> {
    let store = Store::from_env();
    let limits = ct_layout::free_space::Limits {
        min_free: cli.min_free,
        max_size: cli.max_layer_size,
    };
    let verbose = cli.verbose;
    let image = cli.image.clone();
    let go = |image: Result<String, pipe::InputError>| -> Result<_, pipe::InputError> {
        let opts = Options {
            image: image?,
            id: cli.id,
            name: cli.name,
            flat: cli.flat,
            overrides: Overrides {
                env: cli.env,
                workdir: cli.workdir,
                user: cli.user,
                hostname: cli.hostname,
                cmd: cli.cmd,
            },
            verbose,
            limits,
        };
        Ok(unpack(&store, &opts))
    };
    // Reading the reference from a pipe, extract the layers a ct-pull upstream has already
    // landed while its line has not come yet.
    let done = match image {
        Some(i) => go(Ok(i)),
        None => crate::pipe_handoff::with_stdin(&store, limits, verbose, go),
    };
    // The outer error: no reference could be read; the inner one: unpack's own.
    let bundle = done??;
    pipe::emit(bundle.dir.display());
    Ok(pipe::EXIT_OK)
}
