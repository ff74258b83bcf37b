//! ct-pull: fetch an image's manifest, config and blobs from a registry (or import an archive) into the OCI image layout.
//!
//! Not implemented yet: this crate is a placeholder so the workspace has its final shape.
