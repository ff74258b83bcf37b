//! ct-unpack: unpack image layers into the shared layer store and write an OCI runtime bundle.
//!
//! Not implemented yet: this crate is a placeholder so the workspace has its final shape.
