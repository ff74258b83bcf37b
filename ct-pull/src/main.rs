//! ct-pull: fetch an image into $CT_ROOT/images. Thin CLI over the `ct_pull` library.

fn main() {
    ct_layout::tool::main("ct-pull", ct_pull::cli::run)
}
