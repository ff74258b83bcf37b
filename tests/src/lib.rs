//! Test harness shared by ct's crates: where the built tools are, fixture images made from
//! Debian's busybox-static, a real `docker-registry` on a free loopback port. Tests that cross
//! tools live in `tests/tests/`.

pub mod bins;
pub mod bundle;
pub mod cgroups;
pub mod child;
pub mod host_disk;
pub mod image;
pub mod mounts;
pub mod netns;
pub mod registry;
pub mod sandbox;
pub mod tree;
pub mod user;
