//! The three files a container's resolver reads, kept in the bundle and bind-mounted over the
//! image's own (hosts(5), hostname(5), resolv.conf(5)), like docker and podman do:
//!
//! * `BUNDLE/hosts`: localhost plus the container's own name on its address.
//! * `BUNDLE/hostname`: the container's host name.
//! * `BUNDLE/resolv.conf`: the host's name servers, minus loopback ones (127.0.0.53 of
//!   systemd-resolved means the host's own loopback, unreachable from a container's namespace),
//!   unless the container shares the host's network.

use std::fs;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use crate::Error;
use ct_layout::net_record::Dns;

pub const FILES: [&str; 3] = ["hosts", "hostname", "resolv.conf"];

/// `BUNDLE/NAME` for each of the files, with the path it is mounted on in the container.
pub fn mounts(bundle: &Path) -> Vec<(PathBuf, PathBuf)> {
    FILES
        .iter()
        .map(|f| (bundle.join(f), Path::new("/etc").join(f)))
        .collect()
}

pub fn hosts(hostname: &str, addr: Option<Ipv4Addr>) -> String {
    let mut s = String::from("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n");
    match addr {
        Some(a) => s.push_str(&format!("{a}\t{hostname}\n")),
        None => s.push_str(&format!("127.0.1.1\t{hostname}\n")),
    }
    s
}

/// Parse a resolv.conf into the CNI `dns` shape, dropping loopback servers unless `keep_loopback`.
pub fn parse_resolv(text: &str, keep_loopback: bool) -> Dns {
    let mut dns = Dns::default();
    for line in text.lines() {
        let mut w = line.split_whitespace();
        match (w.next(), w.next()) {
            (Some("nameserver"), Some(ns)) => {
                let loopback = ns
                    .parse::<std::net::IpAddr>()
                    .map(|a| a.is_loopback())
                    .unwrap_or(false);
                if keep_loopback || !loopback {
                    dns.nameservers.push(ns.to_string());
                }
            }
            (Some("search"), Some(first)) => {
                dns.search = std::iter::once(first).chain(w).map(String::from).collect();
            }
            (Some("domain"), Some(d)) => dns.domain = Some(d.to_string()),
            (Some("options"), Some(first)) => {
                dns.options = std::iter::once(first).chain(w).map(String::from).collect();
            }
            _ => {}
        }
    }
    dns
}

pub fn resolv_conf(dns: &Dns) -> String {
    let mut s = String::from("# written by ct-net\n");
    if dns.nameservers.is_empty() {
        s.push_str("# the host has no name server a container can reach\n");
    }
    for ns in &dns.nameservers {
        s.push_str(&format!("nameserver {ns}\n"));
    }
    if let Some(d) = &dns.domain {
        s.push_str(&format!("domain {d}\n"));
    }
    if !dns.search.is_empty() {
        s.push_str(&format!("search {}\n", dns.search.join(" ")));
    }
    if !dns.options.is_empty() {
        s.push_str(&format!("options {}\n", dns.options.join(" ")));
    }
    s
}

/// The host's resolver configuration in CNI form.
pub fn host_dns(keep_loopback: bool) -> Dns {
    parse_resolv(
        &fs::read_to_string("/etc/resolv.conf").unwrap_or_default(),
        keep_loopback,
    )
}

/// Write the three files into the bundle (each by temp file + rename).
pub fn write(bundle: &Path, hostname: &str, hosts: &str, dns: &Dns) -> Result<(), Error> {
    let files = [
        ("hosts", hosts.to_string()),
        ("hostname", format!("{hostname}\n")),
        ("resolv.conf", resolv_conf(dns)),
    ];
    for (name, text) in files {
        let path = bundle.join(name);
        crate::write_runtime(&path, text.as_bytes())
            .map_err(|source| Error::WriteFile { path, source })?;
    }
    Ok(())
}

/// Remove the files (missing ones are fine).
pub fn remove(bundle: &Path) {
    for f in FILES {
        let _ = fs::remove_file(bundle.join(f));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolv_drops_loopback_servers() {
        let text = "nameserver 127.0.0.53\nnameserver 192.0.2.1\nsearch a.example b.example\noptions ndots:2\n";
        let d = parse_resolv(text, false);
        assert_eq!(d.nameservers, ["192.0.2.1"]);
        assert_eq!(d.search, ["a.example", "b.example"]);
        assert_eq!(parse_resolv(text, true).nameservers.len(), 2);
        let out = resolv_conf(&d);
        assert!(out.contains("nameserver 192.0.2.1\n") && !out.contains("127.0.0.53"));
        assert!(out.contains("search a.example b.example\n"));
    }

    #[test]
    fn hosts_names_the_container() {
        let h = hosts("web", Some(Ipv4Addr::new(10, 88, 0, 2)));
        assert!(h.starts_with("127.0.0.1\tlocalhost\n"));
        assert!(h.contains("10.88.0.2\tweb\n"));
    }
}
