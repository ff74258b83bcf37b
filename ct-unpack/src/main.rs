//! ct-unpack: unpack image layers into the shared layer store and write an OCI runtime bundle.
//! Thin CLI over the `ct_unpack` library: parse, unpack, print the bundle directory.

fn main() {
    ct_layout::tool::main("ct-unpack", ct_unpack::cli::run)
}
