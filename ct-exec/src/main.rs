//! ct-exec: run an OCI bundle as a container. Thin CLI over the `ct_exec` library: runc's
//! global flags off argv, a read-only view of the binary for the verbs that enter a container,
//! parse, run the verb, exit (`ct_exec::verbs` explains the order).

use ct_exec::runc_cli::{split_globals, Cli};
use ct_layout::tool;

fn main() {
    let (global, args) = split_globals(std::env::args_os().collect());
    ct_exec::verbs::enter_read_only_view(&args);
    let cli = tool::parse_from::<Cli>("ct-exec", args);
    tool::exit("ct-exec", ct_exec::verbs::run(global, cli))
}
