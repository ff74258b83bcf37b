//! ct-mount: stack a bundle's layers with overlayfs into its rootfs; volumes.
//!
//! Not implemented yet: this crate is a placeholder so the workspace has its final shape.
