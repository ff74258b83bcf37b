//! ct-net: give a container a network: netns, bridge, veth, addresses, NAT, published ports.
//!
//! Not implemented yet: this crate is a placeholder so the workspace has its final shape.
