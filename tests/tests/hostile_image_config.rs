//! Hostile image configs through the real pipeline: each image is built here, pushed to a real
//! loopback `docker-registry`, pulled with ct-pull, then given to ct-unpack (and ct-mount,
//! ct-exec). An image config is the image builder's word: a `VOLUME ["/.."]` must not bind the
//! bundle directory (and its `config.json`) into the container, a `WorkingDir` must not climb
//! out of the root, and keys ct cannot honour are named, never dropped without a word.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use ct_layout::image_layout::ImageLayout;
use ct_layout::pipe::quote;
use ct_tests::bins::bin;
use ct_tests::image::{busybox_layer, Compression, Image};
use ct_tests::registry::{Auth, Registry};
use ct_tests::sandbox::Sandbox;
use serde_json::{json, Value};

/// A registry and a [`Sandbox`] (its store and cgroup parent; on drop, whatever is mounted
/// below its dir is unmounted before the dir goes).
struct Env {
    reg: Registry,
    sb: Sandbox,
}

impl Env {
    fn new() -> Env {
        Env {
            reg: Registry::start(Auth::None),
            sb: Sandbox::new(),
        }
    }

    fn tool(&self, name: &str, args: &[&str]) -> Output {
        Command::new(bin(name))
            .args(args)
            .env("CT_ROOT", &self.sb.root)
            .env("CT_RUN", &self.sb.run)
            .env("CT_CGROUP_PARENT", self.sb.cgroup_parent())
            .stdin(Stdio::null())
            .output()
            .unwrap()
    }

    fn ok(&self, name: &str, args: &[&str]) -> String {
        let o = self.tool(name, args);
        assert!(
            o.status.success(),
            "{name} {args:?}: {:?}: {}",
            o.status.code(),
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8(o.stdout).unwrap().trim().to_string()
    }

    /// Build a busybox image with `config`, push it, ct-pull it: the pulled reference.
    fn pulled(&self, tag: &str, config: Value) -> String {
        let dir = self.sb.dir.path().join(format!("layout-{tag}"));
        let layout = ImageLayout::at(&dir);
        Image::new()
            .layer(busybox_layer(), Compression::Gzip)
            .config(config)
            .write(&layout, "img");
        let r = self
            .reg
            .push_layout(&dir, "img", &format!("hostile/cfg:{tag}"));
        self.ok("ct-pull", &[&r])
    }

    /// What is in `$CT_ROOT/containers` (bundles and hidden temp bundles).
    fn bundles(&self) -> Vec<String> {
        fs::read_dir(self.sb.root.join("containers"))
            .map(|rd| {
                rd.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// The failure's stderr, checked to be exactly one line.
fn one_line_failure(o: &Output) -> String {
    assert_eq!(o.status.code(), Some(1), "{o:?}");
    let e = String::from_utf8(o.stderr.clone()).unwrap();
    assert_eq!(e.lines().count(), 1, "one line: {e}");
    e.trim_end().to_string()
}

/// The image's name as the store knows it: the pulled reference without its digest.
fn name(r: &str) -> &str {
    r.split('@').next().unwrap()
}

fn cmd_with(extra: Value) -> Value {
    let mut c = json!({"Cmd": ["/bin/sh", "-c", "pwd"]});
    for (k, v) in extra.as_object().unwrap() {
        c[k] = v.clone();
    }
    c
}

#[test]
fn an_image_volume_cannot_expose_the_bundle() {
    let env = Env::new();
    let cases = [
        (
            "Volumes",
            json!({"Volumes": {"/..": {}}}),
            "/..",
            "climbs above",
        ),
        (
            "Volumes",
            json!({"Volumes": {"/": {}}}),
            "/",
            "is the container's root",
        ),
        (
            "Volumes",
            json!({"Volumes": {"/../../x": {}}}),
            "/../../x",
            "climbs above",
        ),
        (
            "Volumes",
            json!({"Volumes": {"/a/../..": {}}}),
            "/a/../..",
            "climbs above",
        ),
        (
            "Volumes",
            json!({"Volumes": {"data": {}}}),
            "data",
            "not an absolute path",
        ),
        (
            "WorkingDir",
            json!({"WorkingDir": "../../etc"}),
            "../../etc",
            "climbs above",
        ),
        (
            "WorkingDir",
            json!({"WorkingDir": "/srv/../../etc"}),
            "/srv/../../etc",
            "climbs above",
        ),
        (
            "Env",
            json!({"Env": ["NOEQUALS"]}),
            "NOEQUALS",
            "not KEY=VALUE",
        ),
        (
            "Cmd",
            json!({"Cmd": ["/bin/sh\u{0}-c"]}),
            "/bin/sh\u{0}-c",
            "NUL",
        ),
        (
            "User",
            json!({"User": "x".repeat(4096)}),
            &"x".repeat(4096),
            "too long",
        ),
    ];
    for (i, (key, extra, value, why)) in cases.iter().enumerate() {
        let r = env.pulled(&format!("bad{i}"), cmd_with(extra.clone()));
        let e = one_line_failure(&env.tool("ct-unpack", &["--id", &format!("c{i}"), &r]));
        let prefix = format!(
            "ct-unpack: refusing image '{}': config key '{key}' has the value {}: ",
            name(&r),
            quote(value)
        );
        assert!(e.starts_with(&prefix), "{e}\nwanted: {prefix}");
        assert!(e.contains(why), "{e}");
        assert!(env.bundles().is_empty(), "case {i}: {:?}", env.bundles());
    }

    // Cleaned paths that stay inside are fine: the volume lands in BUNDLE/volumes/NAME, the
    // working directory is the cleaned one, and the bundle is root's alone.
    let r = env.pulled(
        "good",
        cmd_with(json!({"WorkingDir": "app/../srv", "Volumes": {"/data/../cache/": {}}})),
    );
    let dir = env.ok("ct-unpack", &["--id", "good", &r]);
    let bundle = PathBuf::from(&dir);
    let mode = fs::metadata(&bundle).unwrap().permissions().mode() & 0o7777;
    assert_eq!(mode, 0o700, "bundle directory mode");
    let config: Value =
        serde_json::from_slice(&fs::read(bundle.join("config.json")).unwrap()).unwrap();
    assert_eq!(config["process"]["cwd"], "/srv");
    let vol = config["mounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["destination"] == "/cache")
        .expect("the volume's mount");
    assert_eq!(vol["source"], json!(bundle.join("volumes/cache")));
    assert_eq!(env.ok("ct-mount", &[&dir]), dir);
    assert_eq!(env.ok("ct-exec", &[&dir]), "/srv");
    env.ok("ct-mount", &["--unmount", &dir]);

    // A config.json edited by hand (or by anything else) is checked again by ct-mount.
    let pristine = fs::read(bundle.join("config.json")).unwrap();
    fs::create_dir(bundle.join("volumes/evil-target")).unwrap();
    std::os::unix::fs::symlink("..", bundle.join("volumes/evil")).unwrap();
    let bundle_s = bundle.display().to_string();
    std::os::unix::fs::symlink("config.json", bundle.join("hostname")).unwrap();
    let edits: [(Value, &str); 8] = [
        (
            json!({"destination": "/etc/hostname", "source": format!("{bundle_s}/hostname"), "type": "bind", "options": ["rbind"]}),
            "bind mount source",
        ),
        (
            json!({"destination": "/x", "source": format!("{bundle_s}/config.json"), "type": "bind", "options": ["rbind"]}),
            "bind mount source",
        ),
        (
            json!({"destination": "/host", "source": bundle_s, "type": "bind", "options": ["rbind", "rw"]}),
            "bind mount source",
        ),
        (
            json!({"destination": "/host", "source": ".", "type": "bind", "options": ["rbind"]}),
            "bind mount source",
        ),
        (
            json!({"destination": "/host", "source": format!("{bundle_s}/volumes/evil"), "type": "bind", "options": ["rbind"]}),
            "bind mount source",
        ),
        (
            json!({"destination": "/host", "source": format!("{bundle_s}/volumes/cache/../.."), "options": ["rbind"]}),
            "bind mount source",
        ),
        (
            json!({"destination": "/host", "source": env.sb.root.display().to_string(), "type": "bind", "options": ["rbind"]}),
            "bind mount source",
        ),
        (
            json!({"destination": "/..", "source": format!("{bundle_s}/volumes/cache"), "type": "bind", "options": ["rbind"]}),
            "mount destination '/..'",
        ),
    ];
    for (m, what) in edits {
        let mut c: Value = serde_json::from_slice(&pristine).unwrap();
        c["mounts"].as_array_mut().unwrap().push(m.clone());
        fs::write(bundle.join("config.json"), serde_json::to_vec(&c).unwrap()).unwrap();
        let e = one_line_failure(&env.tool("ct-mount", &[&dir]));
        assert!(e.starts_with(&format!("ct-mount: {what}")), "{m}: {e}");
        assert_eq!(
            ct_tests::mounts::mounts_under(env.sb.dir.path()),
            Vec::<PathBuf>::new(),
            "nothing mounted"
        );
    }
    // The bundle's own volume is still fine, and so is a hosts file as ct-net writes it.
    fs::write(bundle.join("hosts"), "127.0.0.1 localhost\n").unwrap();
    let mut c: Value = serde_json::from_slice(&pristine).unwrap();
    c["mounts"]
        .as_array_mut()
        .unwrap()
        .push(json!({"destination": "/etc/hosts",
        "source": format!("{bundle_s}/hosts"), "type": "bind", "options": ["rbind", "ro"]}));
    fs::write(bundle.join("config.json"), serde_json::to_vec(&c).unwrap()).unwrap();
    assert_eq!(env.ok("ct-mount", &[&dir]), dir);
    env.ok("ct-mount", &["--unmount", &dir]);
}

#[test]
fn image_config_keys_ct_cannot_honour_are_named() {
    let env = Env::new();
    let r = env.pulled(
        "warn",
        cmd_with(json!({
            "Healthcheck": {"Test": ["CMD", "true"], "Interval": 1000000000},
            "OnBuild": ["RUN echo hi"],
            "Shell": ["/bin/bash", "-c"],
        })),
    );
    let o = env.tool("ct-unpack", &["--id", "w", &r]);
    assert!(o.status.success(), "{o:?}");
    let e = String::from_utf8(o.stderr).unwrap();
    let want: Vec<String> = ["Healthcheck", "OnBuild", "Shell"]
        .iter()
        .map(|k| {
            format!(
                "ct-unpack: warning: image '{}': config key '{k}' is not supported",
                name(&r)
            )
        })
        .collect();
    assert_eq!(e.lines().collect::<Vec<_>>(), want, "{e}");
    assert!(Path::new(&String::from_utf8(o.stdout).unwrap().trim())
        .join("config.json")
        .is_file());
}

/// An image's `Cmd` is shown in `ct ps`'s COMMAND column: a newline or an escape sequence in
/// it must neither add a row of its own (a fake container) nor reach the terminal (retitle
/// it, clear it, recolour the rest). The table shows them escaped, as error messages do.
#[test]
fn control_characters_of_an_image_never_reach_the_terminal_through_ps() {
    let env = Env::new();
    let cmd = ": '\u{1b}]0;owned\u{7}\u{1b}[2J\nfake   running'";
    let r = env.pulled("ctl", json!({"Cmd": ["/bin/sh", "-c", cmd]}));
    let o = env
        .sb
        .cmd(&["run", "--name", "c", "--network", "none", name(&r)])
        .output()
        .unwrap();
    assert!(o.status.success(), "{o:?}");
    let ps = env.sb.ok(&["ps", "-a"]);
    assert!(
        !ps.chars().any(|c| c.is_control() && c != '\n'),
        "a control character reached the terminal: {ps:?}"
    );
    assert_eq!(ps.lines().count(), 2, "{ps}");
    assert!(ps.contains("\\u{1b}]0;owned"), "{ps}");
}
