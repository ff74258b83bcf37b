//! ct-pull's command line: the clap definition (its doc comments are `--help` and the man
//! page) and `run`, which does what the parsed command says; `main.rs` hands both to the
//! tool skeleton (`ct_layout::tool::main`).

use std::path::PathBuf;
use std::time::Duration;

use crate::credentials::Credentials;
use crate::distribution::HttpOptions;
use crate::{Options, PullError};
use clap::Parser;
use ct_layout::pipe;
use ct_layout::platform::Platform;
use ct_layout::Store;

/// Fetch an image's manifest, config and layers from a registry — or import an archive — into
/// the OCI image layout $CT_ROOT/images, and print its canonical reference with the manifest
/// digest (docker.io/library/alpine:3.20@sha256:…) for the next stage.
///
/// IMAGE is one of:
///   alpine, host:port/ns/name:tag, name@sha256:…   a registry (distribution v2)
///   oci:DIR[:REF]                                   an OCI image layout
///   oci-archive:FILE[:REF]                          a tar of an OCI image layout
///   docker-archive:FILE[:REF]                       the output of `docker save`
///   FILE.tar, FILE.tar.gz, FILE.tar.zst             a root filesystem (needs --tag)
///   - (stdin)                                       an image archive or a root filesystem
///
/// Without IMAGE, one line is read from stdin.
#[derive(Parser)]
#[command(
    name = "ct-pull",
    version,
    verbatim_doc_comment,
    after_help = "Credentials: --creds, else $REGISTRY_AUTH_FILE (or $XDG_RUNTIME_DIR/containers/auth.json), \
else $DOCKER_CONFIG/config.json (or ~/.docker/config.json).\n\
Plain HTTP is used with --insecure, or for loopback hosts when HTTPS fails.\n\n\
Exit codes:\n  0  pulled; the reference is on stdout\n  1  failure (network, registry, auth, \
integrity, store)\n  2  usage error (bad reference, --platform, --creds, --tag)"
)]
pub struct Cli {
    /// The image to pull or import.
    image: Option<String>,
    /// os/arch[/variant] to pick from a multi-platform image (default: this machine's).
    #[arg(long, value_name = "OS/ARCH[/VARIANT]")]
    platform: Option<String>,
    /// Registry credentials (instead of the auth files).
    #[arg(long, value_name = "USER:PASSWORD")]
    creds: Option<String>,
    /// Use plain HTTP, whatever the host.
    #[arg(long)]
    insecure: bool,
    /// Also trust the CA certificates in this PEM file.
    #[arg(long, value_name = "PEM")]
    ca_file: Option<PathBuf>,
    /// How many blobs to download at once.
    #[arg(short, long, default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=64))]
    jobs: u16,
    /// Seconds to wait to connect, and for each read, before giving up on a request.
    #[arg(long, default_value_t = 30, value_name = "SECS", value_parser = clap::value_parser!(u64).range(1..))]
    timeout: u64,
    /// Extra attempts after a reset connection, a timeout or a 5xx answer (with backoff).
    #[arg(long, default_value_t = 3)]
    retries: u32,
    /// Name for an imported image (required for a plain tarball).
    #[arg(short, long, value_name = "NAME")]
    tag: Option<String>,
    /// No progress bars (they are shown only when stderr is a terminal anyway).
    #[arg(short, long)]
    quiet: bool,
}

fn options(cli: &Cli) -> Result<Options, PullError> {
    Ok(Options {
        http: HttpOptions {
            insecure: cli.insecure,
            ca_file: cli.ca_file.clone(),
            timeout: Duration::from_secs(cli.timeout),
            retries: cli.retries,
        },
        creds: cli
            .creds
            .as_deref()
            .map(str::parse::<Credentials>)
            .transpose()?,
        platform: cli
            .platform
            .as_deref()
            .map(str::parse::<Platform>)
            .transpose()?,
        jobs: usize::from(cli.jobs),
        quiet: cli.quiet,
        tag: cli.tag.clone(),
    })
}

pub fn run(cli: Cli) -> Result<i32, PullError> {
    let opts = options(&cli)?;
    let input = pipe::input(cli.image, "image")?;
    let store = Store::from_env();
    pipe::emit(crate::pull(&input, &opts, &store)?);
    Ok(pipe::EXIT_OK)
}
