//! A real `docker-registry` (Debian's distribution registry) on a free 127.0.0.1 port,
//! started per test and stopped on drop. (Being written with ct-pull.)
