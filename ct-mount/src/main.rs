//! ct-mount: stack a bundle's layers with overlayfs into its rootfs; volumes. Thin CLI over
//! the `ct_mount` library.

fn main() {
    ct_layout::tool::main("ct-mount", ct_mount::cli::run)
}
