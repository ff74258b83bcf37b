//! Stop and start again: `ct-net --release` gives a stopped container's address, ports, veth
//! and namespace back to the network and remembers them in `BUNDLE/net.released.json`;
//! `ct-net --renew` wires it the same way when it starts again (the same address if it is
//! still free). `net.json` is what the container had; the release record is what it asks
//! for again.

use std::fs;
use std::io;
use std::net::Ipv4Addr;
use std::path::PathBuf;

use ct_layout::bundle::Bundle;
use ct_layout::Store;

use crate::{bridge, down, up, write_runtime_json, Error, Mode, NetOpts, NetRecord};
use crate::{PortMapping, UpOptions};

/// `BUNDLE/net.released.json`: what [`release`] tore down, for [`renew`] to make again —
/// `{"network":"bridge"|"none"|"pasta"|"slirp4netns","bridge":"ct0","ip":"10.66.0.2","ports":[PORT MAPPING, …]}`.
pub const RELEASED: &str = "net.released.json";

/// What a stopped container had, to wire it again when it starts.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
struct ReleaseRecord {
    network: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    bridge: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    ip: Option<Ipv4Addr>,
    #[serde(default)]
    ports: Vec<PortMapping>,
}

/// `ct-net --release BUNDLE` (a container stopped): give its address, ports, veth and
/// namespace back, as `--down` does, and keep in `net.released.json` what it had, so
/// [`renew`] wires it the same way when it starts again. A bundle without a network (never
/// wired, already released, `--network host`) is left as it is. Returns the bundle.
pub fn release(store: &Store, input: &str) -> Result<String, Error> {
    let bundle = Bundle::find(store, input)?;
    let path = bundle.net_result();
    let result: NetRecord = match fs::read(&path) {
        Ok(b) => serde_json::from_slice(&b).map_err(|source| Error::StoreParse {
            path: path.clone(),
            source,
        })?,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Ok(bundle.dir.display().to_string())
        }
        Err(source) => return Err(Error::StoreRead { path, source }),
    };
    let keep = match (result.address(), result.interfaces.first()) {
        // A user's network: the same ports again on a new one.
        _ if result.user_net.is_some() => ReleaseRecord {
            network: result
                .user_net
                .as_ref()
                .map_or("bridge", |h| h.program.as_str())
                .into(),
            bridge: None,
            ip: None,
            ports: result.port_mappings.clone(),
        },
        (Some(ip), Some(br)) => ReleaseRecord {
            network: "bridge".into(),
            bridge: Some(br.name.clone()),
            ip: Some(ip),
            ports: result.port_mappings.clone(),
        },
        (None, Some(_)) => ReleaseRecord {
            network: "none".into(),
            bridge: None,
            ip: None,
            ports: Vec::new(),
        },
        // --network host: nothing of the host's to give back.
        _ => return Ok(bundle.dir.display().to_string()),
    };
    let record = bundle.dir.join(RELEASED);
    write_runtime_json(&record, &keep).map_err(|source| Error::WriteFile {
        path: record.clone(),
        source,
    })?;
    down(store, input)?;
    // down() removes the record too (it undoes everything): write it back.
    write_runtime_json(&record, &keep).map_err(|source| Error::WriteFile {
        path: record,
        source,
    })?;
    Ok(bundle.dir.display().to_string())
}

/// `ct-net --renew BUNDLE` (a released container starts again): wire it as it was — same
/// network, same published ports, the same address if it is still free (else the lowest
/// free one). Without a release record there is nothing to do. Returns the bundle.
pub fn renew(store: &Store, input: &str) -> Result<PathBuf, Error> {
    let bundle = Bundle::find(store, input)?;
    let record = bundle.dir.join(RELEASED);
    let keep: ReleaseRecord = match fs::read(&record) {
        Ok(b) => serde_json::from_slice(&b).map_err(|source| Error::StoreParse {
            path: record.clone(),
            source,
        })?,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(bundle.dir),
        Err(source) => {
            return Err(Error::StoreRead {
                path: record,
                source,
            })
        }
    };
    let mut o = UpOptions {
        mode: match keep.network.as_str() {
            "none" => Mode::None,
            "pasta" => Mode::Pasta,
            "slirp4netns" => Mode::Slirp4netns,
            _ => Mode::Bridge,
        },
        net: NetOpts {
            bridge: keep.bridge.unwrap_or_else(|| bridge::DEFAULT_BRIDGE.into()),
            subnet: None,
            subnet6: None,
            table: None,
        },
        ip: keep.ip,
        ports: keep.ports,
        publish_all: false,
    };
    let dir = match up(store, input, &o) {
        Err(Error::IpTaken { .. }) => {
            o.ip = None;
            up(store, input, &o)?
        }
        r => r?,
    };
    let _ = fs::remove_file(&record);
    Ok(dir)
}
