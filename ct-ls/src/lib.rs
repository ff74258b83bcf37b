//! ct-ls: list images, layers and containers.
//!
//! Not implemented yet: this crate is a placeholder so the workspace has its final shape.
