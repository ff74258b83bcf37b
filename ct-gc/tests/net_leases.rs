//! `ct-gc prune` releases the network leases of its own store's containers that are gone (the
//! bundle was removed without `ct-net --down`), and nothing of a live container or of another
//! store: leases are host-global (`/run/ct/net`), shared by every store on the bridge. Runs in
//! a throw-away network namespace standing in for the host, with its own bridge and table.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use ct_tests::bins::bin;
use ct_tests::sandbox::Sandbox;

/// The lab: a host namespace, two stores, and cleanup of everything on drop — the stores'
/// dir and the namespace (with the bridge and table inside it) are a [`Sandbox`]'s.
struct Lab {
    host: String,
    bridge: String,
    sb: Sandbox,
}

impl Lab {
    fn new() -> Lab {
        let sb = Sandbox::with_prefix("ct-gc-net-");
        let tag = format!("{:05x}", std::process::id() & 0xfffff);
        Lab {
            host: sb.add_netns(&format!("ctgc{tag}")),
            bridge: format!("ctgb{tag}"),
            sb,
        }
    }

    fn root(&self, store: &str) -> PathBuf {
        self.sb.dir.path().join(store)
    }

    /// `TOOL ARGS` in the lab host with store `store`.
    fn run(&self, store: &str, tool: &str, args: &[&str]) -> Output {
        Command::new("nsenter")
            .arg(format!("--net=/run/netns/{}", self.host))
            .arg(bin(tool))
            .args(args)
            .env("CT_ROOT", self.root(store))
            .env("CT_RUN", self.sb.dir.path().join(format!("run-{store}")))
            .env("CT_NET_BRIDGE", &self.bridge)
            .env("CT_NET_SUBNET", "10.231.41.0/24")
            .env("CT_NET_TABLE", format!("t{}", self.bridge))
            .env("CT_GC_GRACE", "0")
            .output()
            .unwrap()
    }

    fn up(&self, store: &str, id: &str, port: u16) {
        let dir = self.root(store).join("containers").join(id);
        fs::create_dir_all(&dir).unwrap();
        let config = serde_json::json!({"ociVersion": "1.0.2",
            "process": {"args": ["sh"], "cwd": "/", "user": {"uid": 0, "gid": 0}},
            "root": {"path": "rootfs"}, "linux": {"namespaces": [{"type": "network"}]}});
        fs::write(dir.join("config.json"), config.to_string()).unwrap();
        let o = self.run(store, "ct-net", &["-p", &format!("{port}:80"), id]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }

    /// The lab's lease records, owner by owner.
    fn owners(&self) -> Vec<String> {
        use std::os::unix::fs::MetadataExt;
        let ino = fs::metadata(format!("/run/netns/{}", self.host))
            .unwrap()
            .ino();
        let f = Path::new("/run/ct/net")
            .join(format!("netns-{ino}"))
            .join(&self.bridge)
            .join("leases.json");
        let v: serde_json::Value =
            serde_json::from_slice(&fs::read(f).unwrap_or_else(|_| b"{}".to_vec())).unwrap();
        let mut o: Vec<String> = v
            .as_object()
            .unwrap()
            .values()
            .map(|l| l["owner"].as_str().unwrap().to_string())
            .collect();
        o.sort();
        o
    }

    fn netns(&self) -> Vec<String> {
        fs::read_dir("/run/netns")
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect()
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        use std::os::unix::fs::MetadataExt;
        let ino = fs::metadata(format!("/run/netns/{}", self.host)).map_or(0, |m| m.ino());
        for store in ["a", "b"] {
            for id in ["alive", "gone"] {
                let _ = self.run(store, "ct-net", &["--down", id]);
            }
        }
        // The sandbox deletes the namespace after this.
        let _ = fs::remove_dir_all(format!("/run/ct/net/netns-{ino}"));
    }
}

#[test]
fn prune_releases_the_leases_of_its_own_removed_containers_only() {
    let lab = Lab::new();
    lab.up("a", "alive", 8301);
    lab.up("a", "gone", 8302);
    lab.up("b", "gone", 8303);
    assert_eq!(lab.owners(), ["alive", "gone", "gone"]);
    // Both stores remove their `gone` bundle without tearing its network down.
    for s in ["a", "b"] {
        fs::remove_dir_all(lab.root(s).join("containers/gone")).unwrap();
    }
    let dry = lab.run("a", "ct-gc", &["prune", "--dry-run"]);
    assert!(
        dry.status.success(),
        "{}",
        String::from_utf8_lossy(&dry.stderr)
    );
    assert!(String::from_utf8_lossy(&dry.stderr).contains("would release address"));
    assert_eq!(lab.owners(), ["alive", "gone", "gone"]);

    let o = lab.run("a", "ct-gc", &["prune"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(err.matches("released address").count(), 1, "{err}");
    // Store a's `gone` is released (its namespace too); a's `alive` and b's `gone` stay.
    assert_eq!(lab.owners(), ["alive", "gone"]);
    let tag = |s: &str| ct_net::lease::store_tag(&lab.root(s));
    let ns = lab.netns();
    assert!(!ns.contains(&format!("gone-{}", tag("a"))), "{ns:?}");
    assert!(ns.contains(&format!("gone-{}", tag("b"))), "{ns:?}");
    assert!(ns.contains(&format!("alive-{}", tag("a"))), "{ns:?}");
}
