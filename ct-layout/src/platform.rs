//! Platforms of multi-arch images (image-spec `image-index.md`, field `platform`): an index
//! lists one manifest per `os/architecture[/variant]`, and a puller picks the one that runs
//! here — the host's, as Go names it (`amd64`, `arm64`, `arm/v7`…) — or the one asked for with
//! `--platform`. ct-pull (what to fetch) and ct-unpack (what to unpack of an index in the
//! store) choose with the same [`select`], so they agree on the manifest.

use std::fmt;
use std::str::FromStr;

use serde::Deserialize;

/// A `--platform` that is not `os/arch[/variant]`.
#[derive(Debug, thiserror::Error)]
#[error("invalid --platform '{0}': expected os/arch[/variant], e.g. linux/arm64/v8")]
pub struct PlatformSyntax(pub String);

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Platform {
    pub os: String,
    pub architecture: String,
    #[serde(default)]
    pub variant: Option<String>,
}

impl Platform {
    /// This machine, in Go's GOOS/GOARCH names.
    pub fn host() -> Platform {
        let architecture = match std::env::consts::ARCH {
            "x86_64" => "amd64",
            "aarch64" => "arm64",
            "x86" => "386",
            "arm" => "arm",
            "powerpc64" => "ppc64le",
            "s390x" => "s390x",
            "riscv64" => "riscv64",
            other => other,
        };
        let variant = match architecture {
            "arm64" => Some("v8".to_string()),
            "arm" => Some("v7".to_string()),
            _ => None,
        };
        Platform {
            os: "linux".into(),
            architecture: architecture.into(),
            variant,
        }
    }

    /// Does an index entry's platform satisfy this wanted one. A missing variant on either
    /// side matches any; `arm64` without a variant means `v8`.
    pub fn accepts(&self, offered: &Platform) -> bool {
        let norm = |p: &Platform| match (p.architecture.as_str(), p.variant.as_deref()) {
            ("arm64", None) => Some("v8".to_string()),
            (_, v) => v.map(str::to_string),
        };
        self.os == offered.os
            && self.architecture == offered.architecture
            && match (norm(self), norm(offered)) {
                (Some(a), Some(b)) => a == b,
                _ => true,
            }
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(v) = &self.variant {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}

impl FromStr for Platform {
    type Err = PlatformSyntax;
    fn from_str(s: &str) -> Result<Platform, PlatformSyntax> {
        let parts: Vec<&str> = s.split('/').collect();
        let ok =
            |p: &&str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
        if !(2..=3).contains(&parts.len()) || !parts.iter().all(ok) {
            return Err(PlatformSyntax(s.to_string()));
        }
        Ok(Platform {
            os: parts[0].to_string(),
            architecture: parts[1].to_string(),
            variant: parts.get(2).map(|v| v.to_string()),
        })
    }
}

/// The entry of `entries` (an index's manifests) for platform `want`: with a variant asked
/// for, an exact variant match beats an entry without one; then the first that
/// [`Platform::accepts`].
pub fn select<'a, T>(
    entries: &'a [T],
    platform_of: impl Fn(&T) -> Option<&Platform>,
    want: &Platform,
) -> Option<&'a T> {
    let exact = entries.iter().find(|d| {
        platform_of(d)
            .is_some_and(|p| want.accepts(p) && p.variant.is_some() == want.variant.is_some())
    });
    exact.or_else(|| {
        entries
            .iter()
            .find(|d| platform_of(d).is_some_and(|p| want.accepts(p)))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints() {
        let p: Platform = "linux/arm64/v8".parse().unwrap();
        assert_eq!(p.to_string(), "linux/arm64/v8");
        assert!("linux".parse::<Platform>().is_err());
        assert!("linux//x".parse::<Platform>().is_err());
        assert!("a/b/c/d".parse::<Platform>().is_err());
    }
}
