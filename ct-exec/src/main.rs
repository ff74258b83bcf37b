//! ct-exec: run an OCI bundle as a container. Thin CLI over the `ct_exec` library: runc's
//! global flags off argv; a read-only view of the binary for the verbs that enter a
//! container; parse; run the verb; exit (`ct_exec::verbs` explains the order). As a user,
//! the user's namespaces come between parsing and the read-only view, when the bundle has
//! none of its own (`ct_exec::rootless`: which bundle it is needs the parsed command line).

use ct_exec::runc_cli::{split_globals, Cli};
use ct_layout::tool;

// Built against musl: its allocator maps and unmaps too eagerly (ct_layout::musl_alloc).
ct_layout::musl_allocator!();

fn main() {
    let (global, mut args) = split_globals(std::env::args_os().collect());
    // As root nothing is entered first: re-execute before parsing, so that only the process
    // that runs parses (clap builds runc's whole command tree, ~0.3 ms).
    let root = rustix::process::geteuid().is_root();
    if root {
        ct_exec::verbs::enter_read_only_view(&args);
    }
    // The calls a runtime's caller makes for every container skip building clap's tree.
    let mut cli = match ct_exec::runc_cli::lifecycle_call(&args) {
        Some(cli) => cli,
        None => tool::parse_from::<Cli>("ct-exec", args.clone()),
    };
    ct_exec::rootless::enter(&global, &mut cli, &mut args);
    if !root {
        ct_exec::verbs::enter_read_only_view(&args);
    }
    tool::exit("ct-exec", ct_exec::verbs::run(global, cli))
}
