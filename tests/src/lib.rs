//! Test harness shared by ct's crates: where the built tools are, a throwaway store,
//! a real `docker-registry` on a free loopback port, fixture images made from Debian's
//! busybox-static. Tests that cross tools live in `tests/tests/`.

pub mod bins;
