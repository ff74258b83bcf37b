//! ct-exec: run an OCI bundle as a container. Thin CLI over the `ct_exec` library: runc's
//! global flags off argv, parse, as a user the user's namespaces when the bundle has none of
//! its own (`ct_exec::rootless`), a read-only view of the binary for the verbs that enter a
//! container, run the verb, exit (`ct_exec::verbs` explains the order).

use ct_exec::runc_cli::{split_globals, Cli};
use ct_layout::tool;

// Built against musl: its allocator maps and unmaps too eagerly (ct_layout::musl_alloc).
ct_layout::musl_allocator!();

fn main() {
    let (global, mut args) = split_globals(std::env::args_os().collect());
    let mut cli = tool::parse_from::<Cli>("ct-exec", args.clone());
    ct_exec::rootless::enter(&global, &mut cli, &mut args);
    ct_exec::verbs::enter_read_only_view(&args);
    tool::exit("ct-exec", ct_exec::verbs::run(global, cli))
}
