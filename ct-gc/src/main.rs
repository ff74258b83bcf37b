//! ct-gc: remove images and collect what nothing uses. Thin CLI over the `ct_gc` library.

fn main() {
    ct_layout::tool::main("ct-gc", ct_gc::cli::run)
}
