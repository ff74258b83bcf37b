//! ct-net: give a container a network: netns, bridge, veth, addresses, NAT, published ports.
//! Parses the command line and hands over to the library (`lib.rs` explains the steps).

// Built against musl: its allocator maps and unmaps too eagerly (ct_layout::musl_alloc).
ct_layout::musl_allocator!();

fn main() {
    // Run by a CNI runtime (containerd, podman with CNI, cnitool): the CNI
    // protocol, JSON on stdin and stdout, instead of ct's command line.
    if std::env::var_os("CNI_COMMAND").is_some() {
        std::process::exit(ct_net::cni::main());
    }
    ct_layout::tool::main("ct-net", ct_net::cli::run)
}
