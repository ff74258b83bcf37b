//! ct-ls: list images, layers and containers. Thin CLI over the `ct_ls` library.

fn main() {
    ct_layout::tool::main("ct-ls", ct_ls::cli::run)
}
