//! Test harness shared by ct's crates: the one [`sandbox::Sandbox`] every integration test
//! runs in (its own store, run dir, bridge, table, cgroup parent and netns names, all removed
//! when it drops, also on panic) and the parts it is made of, where the built tools are,
//! fixture images and bundles made from Debian's busybox-static, a real `docker-registry` on a
//! free loopback port, device nodes opened to users for one test. Tests that cross tools live in `tests/tests/`; the crate-local suites
//! build their fixtures on a `Sandbox`.

pub mod bins;
pub mod bundle;
pub mod cgroups;
pub mod child;
pub mod device_mode;
pub mod host_disk;
pub mod image;
pub mod mounts;
pub mod netns;
pub mod power_cut;
pub mod registry;
pub mod runc;
pub mod sandbox;
pub mod tree;
pub mod user;
