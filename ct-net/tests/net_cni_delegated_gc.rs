//! CNI 1.1's STATUS and GC when ct-net delegates `ipam` to another plugin (containernetworking/cni
//! `SPEC.md`, "STATUS", "GC" and "Delegated plugin execution procedure"): the IPAM plugin's
//! STATUS decides whether the network is ready, GC is passed on to it with the runtime's
//! `cni.dev/valid-attachments`, and the reservations of the attachments GC removes are given
//! back with DEL. An IPAM plugin whose VERSION answer lacks 1.1.0 is never sent STATUS or GC.
//!
//! No IPAM plugin installed here speaks CNI 1.1 (Debian's host-local 1.1.1 stops at 1.0.0), so
//! the 1.1 cases use a small IPAM plugin written by the test (a shell script in the test's own
//! CNI_PATH): a mock, because the real one cannot run here. It answers VERSION with 1.1.0,
//! records each command with its container, interface and stdin, and hands out addresses on
//! ADD. The 1.0 case uses the real host-local, behind a wrapper that only records the command.
//! Each call is made with the exact environment and stdin the spec defines.

mod lab;

use std::fs;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};

use lab::*;
use serde_json::{json, Value};

/// A runtime-made namespace, deleted when the lab's sandbox drops.
struct Ns(String);
impl Ns {
    fn new(lab: &Lab, name: String) -> Ns {
        lab.sb.add_netns(&name);
        Ns(name)
    }
    fn path(&self) -> String {
        format!("/run/netns/{}", self.0)
    }
}

/// A CNI_PATH holding ct-net and the IPAM plugin `ipam` (a script), then Debian's plugins.
fn cni_path(lab: &Lab, ipam: &str) -> (String, PathBuf) {
    let dir = lab.root.path().join("cni-bin");
    fs::create_dir_all(&dir).unwrap();
    let ct = dir.join("ct-net");
    if !ct.exists() {
        std::os::unix::fs::symlink(BIN, ct).unwrap();
    }
    let log = lab.root.path().join("ipam.log");
    let script = dir.join("test-ipam");
    fs::write(&script, ipam.replace("@LOG@", log.to_str().unwrap())).unwrap();
    fs::set_permissions(&script, fs::Permissions::from_mode(0o755)).unwrap();
    (format!("{}:/usr/lib/cni", dir.display()), log)
}

/// The mock CNI 1.1 IPAM plugin: logs `COMMAND CONTAINERID IFNAME` then its stdin; ADD gives
/// SUBNET.N (N from 10 up); STATUS fails with code 51 while `@LOG@.not-ready` exists.
const IPAM_1_1: &str = r#"#!/bin/sh
in=$(cat)
printf '%s %s %s\n%s\n' "$CNI_COMMAND" "$CNI_CONTAINERID" "$CNI_IFNAME" "$in" >> @LOG@
case "$CNI_COMMAND" in
VERSION) echo '{"cniVersion":"1.1.0","supportedVersions":["0.4.0","1.0.0","1.1.0"]}' ;;
ADD)
  n=$(cat @LOG@.n 2>/dev/null || echo 9); n=$((n+1)); echo $n > @LOG@.n
  echo '{"cniVersion":"1.1.0","ips":[{"address":"10.231.91.'$n'/24","gateway":"10.231.91.1"}]}' ;;
STATUS)
  if [ -e @LOG@.not-ready ]; then
    echo '{"cniVersion":"1.1.0","code":51,"msg":"address pool exhausted"}'; exit 1
  fi ;;
esac
"#;

/// The real host-local behind a wrapper that logs the command it was sent.
const HOST_LOCAL: &str = r#"#!/bin/sh
echo "$CNI_COMMAND $CNI_CONTAINERID $CNI_IFNAME" >> @LOG@
exec /usr/lib/cni/host-local
"#;

/// One CNI call with the spec's environment and stdin, in the lab host.
fn cni(lab: &Lab, path: &str, cmd: &str, conf: &Value, id: &str, ns: Option<&Ns>) -> Output {
    let mut c = lab.cmd();
    c.env("CNI_COMMAND", cmd)
        .env("CNI_PATH", path)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if !id.is_empty() {
        c.env("CNI_CONTAINERID", id).env("CNI_IFNAME", "eth0");
    }
    if let Some(n) = ns {
        c.env("CNI_NETNS", n.path());
    }
    let mut child = c.spawn().unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(conf.to_string().as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

fn ok(o: &Output) {
    assert!(
        o.status.success(),
        "{} {}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
}

/// The logged calls: (first line "COMMAND ID IFNAME", stdin as JSON when there was one).
fn calls(log: &Path) -> Vec<(String, Value)> {
    let text = fs::read_to_string(log).unwrap_or_default();
    let mut out: Vec<(String, Value)> = Vec::new();
    for line in text.lines() {
        match serde_json::from_str::<Value>(line) {
            Ok(v) if !out.is_empty() => out.last_mut().unwrap().1 = v,
            _ => out.push((line.trim().to_string(), Value::Null)),
        }
    }
    out
}

fn conf(lab: &Lab, version: &str, ipam: Value) -> Value {
    json!({"cniVersion": version, "name": format!("dg{}", lab.tag), "type": "ct-net",
           "bridge": lab.bridge, "nftTable": lab.table, "dataDir": lab.store(), "ipam": ipam})
}

/// GC reaches a CNI 1.1 IPAM plugin with the runtime's valid attachments, and the reservation
/// of the attachment GC removes is given back to it (DEL for that container); the valid one
/// is kept, by ct-net and by the IPAM plugin.
#[test]
fn gc_is_passed_on_to_a_cni_1_1_ipam_plugin_with_the_valid_attachments() {
    let lab = Lab::new("10.231.91.0/24", false);
    let (path, log) = cni_path(&lab, IPAM_1_1);
    let c = conf(&lab, "1.1.0", json!({"type": "test-ipam"}));
    let (ns1, ns2) = (
        Ns::new(&lab, format!("cni{}g1", lab.tag)),
        Ns::new(&lab, format!("cni{}g2", lab.tag)),
    );
    let (id1, id2) = (format!("g1{}", lab.tag), format!("g2{}", lab.tag));
    ok(&cni(&lab, &path, "ADD", &c, &id1, Some(&ns1)));
    ok(&cni(&lab, &path, "ADD", &c, &id2, Some(&ns2)));
    assert_eq!(lab.leases().len(), 2);
    fs::write(&log, "").unwrap();

    let mut gc = c.clone();
    gc["cni.dev/valid-attachments"] = json!([{"containerID": id1, "ifname": "eth0"}]);
    ok(&cni(&lab, &path, "GC", &gc, "", None));

    let got = calls(&log);
    let gcs: Vec<&Value> = got
        .iter()
        .filter(|(l, _)| l.starts_with("GC"))
        .map(|(_, v)| v)
        .collect();
    assert_eq!(gcs.len(), 1, "GC not passed on once: {got:?}");
    assert_eq!(
        gcs[0]["cni.dev/valid-attachments"],
        json!([{"containerID": id1, "ifname": "eth0"}]),
        "{got:?}"
    );
    assert_eq!(gcs[0]["ipam"]["type"], "test-ipam");
    let dels: Vec<&String> = got
        .iter()
        .map(|(l, _)| l)
        .filter(|l| l.starts_with("DEL"))
        .collect();
    assert_eq!(dels, [&format!("DEL {id2} eth0")], "{got:?}");
    let left = lab.leases();
    assert_eq!(left.len(), 1, "{left:?}");
    assert!(left.contains_key("10.231.91.10"), "{left:?}");
    ok(&cni(&lab, &path, "DEL", &c, &id1, Some(&ns1)));
    assert!(lab.leases().is_empty());
}

/// STATUS asks the CNI 1.1 IPAM plugin too: ready while it is, and its error (code 51, its
/// message) passed on when it is not.
#[test]
fn status_follows_the_status_of_a_cni_1_1_ipam_plugin() {
    let lab = Lab::new("10.231.92.0/24", false);
    let (path, log) = cni_path(&lab, IPAM_1_1);
    let c = conf(&lab, "1.1.0", json!({"type": "test-ipam"}));
    ok(&cni(&lab, &path, "STATUS", &c, "", None));
    assert!(
        calls(&log).iter().any(|(l, _)| l.starts_with("STATUS")),
        "{:?}",
        calls(&log)
    );

    fs::write(format!("{}.not-ready", log.display()), "").unwrap();
    let st = cni(&lab, &path, "STATUS", &c, "", None);
    assert!(
        !st.status.success(),
        "STATUS passed with the IPAM not ready"
    );
    let e: Value = serde_json::from_slice(&st.stdout).unwrap();
    assert_eq!(e["code"], 51, "{e}");
    assert!(
        e["msg"]
            .as_str()
            .unwrap()
            .contains("address pool exhausted"),
        "{e}"
    );

    fs::remove_file(format!("{}.not-ready", log.display())).unwrap();
    ok(&cni(&lab, &path, "STATUS", &c, "", None));
}

/// host-local 1.1.1 (real, VERSION up to 1.0.0) is never sent STATUS or GC, and both succeed;
/// an attachment added under 1.0.0 that GC removes still gets its host-local reservation
/// back, through DEL in 1.0.0.
#[test]
fn gc_gives_a_leaked_host_local_reservation_back_without_sending_it_gc_or_status() {
    let lab = Lab::new("10.231.93.0/24", false);
    let (path, log) = cni_path(&lab, HOST_LOCAL);
    let store = lab.root.path().join("host-local");
    let ipam = json!({"type": "test-ipam", "dataDir": store,
                      "ranges": [[{"subnet": "10.231.93.0/24", "rangeStart": "10.231.93.50"}]]});
    let c10 = conf(&lab, "1.0.0", ipam.clone());
    let c11 = conf(&lab, "1.1.0", ipam);
    let ns = Ns::new(&lab, format!("cni{}hl", lab.tag));
    let id = format!("hl{}", lab.tag);
    ok(&cni(&lab, &path, "ADD", &c10, &id, Some(&ns)));
    let reserved = store.join(format!("dg{}", lab.tag)).join("10.231.93.50");
    assert!(reserved.exists(), "host-local did not reserve it");

    ok(&cni(&lab, &path, "STATUS", &c11, "", None));
    let mut gc = c11.clone();
    gc["cni.dev/valid-attachments"] = json!([]);
    ok(&cni(&lab, &path, "GC", &gc, "", None));

    let got = calls(&log);
    assert!(
        !got.iter()
            .any(|(l, _)| l.starts_with("GC") || l.starts_with("STATUS")),
        "{got:?}"
    );
    assert!(
        got.iter().any(|(l, _)| *l == format!("DEL {id} eth0")),
        "{got:?}"
    );
    assert!(!reserved.exists(), "host-local kept the leaked address");
    assert!(lab.leases().is_empty());
}
