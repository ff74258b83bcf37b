//! ct-mount: stack a bundle's layers with overlayfs into its rootfs; volumes. Thin CLI over
//! the `ct_mount` library.

// Built against musl: its allocator maps and unmaps too eagerly (ct_layout::musl_alloc).
ct_layout::musl_allocator!();

fn main() {
    ct_layout::tool::main("ct-mount", ct_mount::cli::run)
}
