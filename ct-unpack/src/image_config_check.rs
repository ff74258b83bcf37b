//! An image config (image-spec `config.md`) is written by whoever built the image: every value
//! in it is data to check, never a path or a command to trust. This file holds the rules
//! ct-unpack applies before it extracts a single layer, so a refused image leaves nothing in
//! the store:
//!
//! 1. Container paths (`Volumes` keys, `WorkingDir`) are cleaned lexically, the way
//!    `filepath.Clean` does, but a `..` that would climb above the container's `/` is refused
//!    rather than clamped: `VOLUME ["/.."]` is an attack, not a typo. A volume cannot be `/`
//!    itself. A relative `WorkingDir` is taken from `/`, as docker's builder does for a first
//!    `WORKDIR rel`.
//! 2. Strings the kernel will see as C strings (paths, `Env`, `Entrypoint`, `Cmd`, `User`,
//!    label keys and values) must not hold a NUL, and are bounded: paths by `PATH_MAX`, the
//!    others by `MAX_ARG_STRLEN` (execve(2) refuses longer ones anyway).
//! 3. `Env` entries are `KEY=VALUE` with a non-empty key.
//! 4. A field of the wrong JSON type is refused, never skipped without a word.
//!
//! Keys the conversion does not use (`Healthcheck`, `OnBuild`…) are named by [`unsupported`]
//! so ct-unpack can warn about them.

use serde_json::Value;

/// `PATH_MAX` (linux/limits.h): the longest path the kernel takes.
pub const MAX_PATH: usize = 4096;
/// `MAX_ARG_STRLEN` (linux/binfmts.h, 32 pages): the longest argument or environment string
/// execve(2) accepts.
pub const MAX_STRING: usize = 32 * 4096;
/// `NAME_MAX`: the longest file name, which bounds a volume's directory name.
pub const MAX_NAME: usize = 255;

/// One refused value: which key of the image config, its value, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("config key '{key}' has the value {}: {why}", ct_layout::pipe::quote(.value))]
pub struct Refused {
    pub key: String,
    pub value: String,
    pub why: &'static str,
}

fn refuse(key: &str, value: &str, why: &'static str) -> Refused {
    Refused {
        key: key.to_string(),
        value: value.to_string(),
        why,
    }
}

/// Clean an absolute container path: drop empty and `.` components, apply `..`, refuse a
/// `..` that climbs above `/`. Returns `/` for the root itself.
pub fn clean_container_path(p: &str) -> Result<String, &'static str> {
    if p.contains('\0') {
        return Err("it contains a NUL byte");
    }
    if p.len() > MAX_PATH {
        return Err("it is longer than PATH_MAX (4096 bytes)");
    }
    if !p.starts_with('/') {
        return Err("it is not an absolute path");
    }
    let mut out: Vec<&str> = Vec::new();
    for c in p.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                if out.pop().is_none() {
                    return Err("its '..' climbs above the container's root");
                }
            }
            n => out.push(n),
        }
    }
    Ok(format!("/{}", out.join("/")))
}

/// The cleaned destination of one image volume (a key of `Volumes`).
pub fn volume_path(key: &str) -> Result<String, Refused> {
    let v = clean_container_path(key).map_err(|why| refuse("Volumes", key, why))?;
    if v == "/" {
        return Err(refuse("Volumes", key, "it is the container's root"));
    }
    if volume_name(&v).len() > MAX_NAME {
        return Err(refuse(
            "Volumes",
            key,
            "it is too long to name its directory (255 bytes)",
        ));
    }
    Ok(v)
}

/// The one-component directory name (below `BUNDLE/volumes/`) of a cleaned volume path.
/// The mapping is one-to-one and never yields `.`, `..` or a `/`: letters, digits, `.`, `-`
/// and `_` stay, `/` becomes `+`, every other byte `%XX`. `/var/lib/my sql` →
/// `var+lib+my%20sql`.
pub fn volume_name(clean: &str) -> String {
    let mut s = String::new();
    for b in clean.trim_start_matches('/').bytes() {
        match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'.' | b'-' | b'_' => s.push(b as char),
            b'/' => s.push('+'),
            b => s.push_str(&format!("%{b:02X}")),
        }
    }
    if s.is_empty() || s == "." || s == ".." {
        // Unreachable for a cleaned path other than `/`; kept so the name is never special.
        s = format!("%{s}");
    }
    s
}

/// The image's `WorkingDir`, cleaned; `None` when unset or empty.
pub fn working_dir(config: &Value) -> Result<Option<String>, Refused> {
    let w = &config["WorkingDir"];
    let w = match w {
        Value::Null => return Ok(None),
        Value::String(s) if s.is_empty() => return Ok(None),
        Value::String(s) => s,
        other => return Err(refuse("WorkingDir", &other.to_string(), "not a string")),
    };
    let abs = if w.starts_with('/') {
        w.clone()
    } else {
        format!("/{w}")
    };
    clean_container_path(&abs)
        .map(Some)
        .map_err(|why| refuse("WorkingDir", w, why))
}

/// A C string the kernel will get: no NUL, at most `max` bytes.
fn c_string(key: &str, s: &str, max: usize) -> Result<(), Refused> {
    if s.contains('\0') {
        return Err(refuse(key, s, "it contains a NUL byte"));
    }
    if s.len() > max {
        return Err(refuse(key, s, "it is too long"));
    }
    Ok(())
}

/// An array of strings (`Env`, `Entrypoint`, `Cmd`), or null.
fn string_array<'a>(config: &'a Value, key: &str) -> Result<Vec<&'a str>, Refused> {
    match &config[key] {
        Value::Null => Ok(Vec::new()),
        Value::Array(a) => a
            .iter()
            .map(|v| {
                let s = v
                    .as_str()
                    .ok_or_else(|| refuse(key, &v.to_string(), "not a string"))?;
                c_string(key, s, MAX_STRING)?;
                Ok(s)
            })
            .collect(),
        other => Err(refuse(key, &other.to_string(), "not an array of strings")),
    }
}

/// Check the `config` object of an image config (what is under `"config"`).
pub fn check(config: &Value) -> Result<(), Refused> {
    if !(config.is_object() || config.is_null()) {
        return Err(refuse("config", &config.to_string(), "not an object"));
    }
    string_array(config, "Entrypoint")?;
    string_array(config, "Cmd")?;
    for e in string_array(config, "Env")? {
        match e.split_once('=') {
            Some((k, _)) if !k.is_empty() => {}
            _ => return Err(refuse("Env", e, "not KEY=VALUE")),
        }
    }
    match &config["User"] {
        Value::Null => {}
        Value::String(u) => c_string("User", u, MAX_NAME)?,
        other => return Err(refuse("User", &other.to_string(), "not a string")),
    }
    working_dir(config)?;
    match &config["Volumes"] {
        Value::Null => {}
        Value::Object(m) => {
            for k in m.keys() {
                volume_path(k)?;
            }
        }
        other => return Err(refuse("Volumes", &other.to_string(), "not an object")),
    }
    match &config["Labels"] {
        Value::Null => {}
        Value::Object(m) => {
            for (k, v) in m {
                c_string("Labels", k, MAX_NAME * 4)?;
                let v = v
                    .as_str()
                    .ok_or_else(|| refuse("Labels", k, "its value is not a string"))?;
                c_string("Labels", v, MAX_STRING)?;
            }
        }
        other => return Err(refuse("Labels", &other.to_string(), "not an object")),
    }
    Ok(())
}

/// The keys of the image config's `config` object the runtime config cannot express, present
/// in this image, in spec order. `Healthcheck`, `OnBuild`, `Shell` are docker extensions a
/// runtime has no field for; `ArgsEscaped` only means something on Windows.
pub fn unsupported(config: &Value) -> Vec<&'static str> {
    const KNOWN_UNSUPPORTED: [&str; 6] = [
        "Healthcheck",
        "OnBuild",
        "Shell",
        "ArgsEscaped",
        "StopTimeout",
        "NetworkDisabled",
    ];
    KNOWN_UNSUPPORTED
        .into_iter()
        .filter(|k| !config[*k].is_null())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn container_paths_are_cleaned_and_never_climb() {
        assert_eq!(clean_container_path("/a//b/./c/").unwrap(), "/a/b/c");
        assert_eq!(clean_container_path("/a/../b").unwrap(), "/b");
        assert_eq!(clean_container_path("/").unwrap(), "/");
        for bad in ["/..", "/../../x", "/a/../..", "/a/../../b"] {
            assert!(clean_container_path(bad).is_err(), "{bad}");
        }
        assert!(clean_container_path("rel").is_err());
        assert!(clean_container_path("/a\0b").is_err());
    }

    #[test]
    fn volumes_never_name_the_root_or_a_special_directory() {
        assert!(volume_path("/").is_err());
        assert!(volume_path("/./").is_err());
        assert!(volume_path("/a/..").is_err());
        assert_eq!(volume_path("/data/").unwrap(), "/data");
        assert_eq!(volume_name("/var/lib/my sql"), "var+lib+my%20sql");
        assert_ne!(volume_name("/a_b"), volume_name("/a/b"));
        assert_ne!(volume_name("/a+b"), volume_name("/a/b"));
        assert_eq!(volume_name("/..."), "...");
        assert!(volume_path(&format!("/{}", "x".repeat(300))).is_err());
    }

    #[test]
    fn working_dir_is_made_absolute_and_checked() {
        let w = |v: Value| working_dir(&json!({ "WorkingDir": v }));
        assert_eq!(w(json!("app")).unwrap().as_deref(), Some("/app"));
        assert_eq!(w(json!("/")).unwrap().as_deref(), Some("/"));
        assert_eq!(w(json!("")).unwrap(), None);
        let e = w(json!("../../etc")).unwrap_err();
        assert_eq!(e.key, "WorkingDir");
        assert_eq!(e.value, "../../etc");
        assert!(w(json!(3)).is_err());
    }

    #[test]
    fn strings_env_and_labels_are_checked() {
        assert!(check(&json!({"Env": ["A=1", "B="]})).is_ok());
        assert_eq!(check(&json!({"Env": ["NOEQ"]})).unwrap_err().key, "Env");
        assert!(check(&json!({"Env": ["=x"]})).is_err());
        assert!(check(&json!({"Cmd": ["a\u{0}b"]})).is_err());
        assert!(check(&json!({"Cmd": [1]})).is_err());
        assert!(check(&json!({"Entrypoint": "sh"})).is_err());
        assert!(check(&json!({"User": "x".repeat(300)})).is_err());
        assert!(check(&json!({"Labels": {"a": 1}})).is_err());
        assert!(check(&json!({"Volumes": {"/..": {}}})).is_err());
        assert!(check(&json!({"Cmd": ["x".repeat(MAX_STRING + 1)]})).is_err());
        let e = check(&json!({"Volumes": {"/a/../..": {}}})).unwrap_err();
        assert_eq!(
            e.to_string(),
            "config key 'Volumes' has the value '/a/../..': its '..' climbs above the container's root"
        );
    }

    #[test]
    fn unsupported_keys_are_named() {
        let c = json!({"Cmd": ["x"], "Healthcheck": {"Test": ["NONE"]}, "OnBuild": ["RUN x"]});
        assert_eq!(unsupported(&c), ["Healthcheck", "OnBuild"]);
    }
}
