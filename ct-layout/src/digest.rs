//! Content addresses as the OCI image spec defines them: `algorithm:encoded`, here
//! `sha256:` + 64 lowercase hex digits. Every blob and every unpacked layer is named by one.
//!
//! [`Verifier`] wraps a writer, hashes and counts what passes through it, and at the end says
//! whether the bytes were exactly the ones the digest (and size) promised.

use std::fmt;
use std::io::{self, Write};
use std::str::FromStr;

use sha2::{Digest as _, Sha256};

/// A validated `sha256:<64 hex>` digest.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digest(String);

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DigestError {
    #[error("digest '{0}' has no algorithm (expected sha256:<64 hex digits>)")]
    NoAlgorithm(String),
    #[error("digest '{0}' uses unsupported algorithm '{1}' (only sha256 is supported)")]
    Algorithm(String, String),
    #[error("digest '{0}' is not 64 lowercase hex digits")]
    Encoding(String),
}

impl Digest {
    /// The digest of `bytes`.
    pub fn of(bytes: &[u8]) -> Digest {
        Digest(format!("sha256:{}", hex::encode(Sha256::digest(bytes))))
    }

    /// From a finished hasher.
    pub fn from_hasher(h: Sha256) -> Digest {
        Digest(format!("sha256:{}", hex::encode(h.finalize())))
    }

    pub fn algorithm(&self) -> &str {
        "sha256"
    }

    /// The 64 hex digits.
    pub fn hex(&self) -> &str {
        &self.0[7..]
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// First 12 hex digits, for humans.
    pub fn short(&self) -> &str {
        &self.0[7..19]
    }
}

impl FromStr for Digest {
    type Err = DigestError;
    fn from_str(s: &str) -> Result<Digest, DigestError> {
        let Some((alg, enc)) = s.split_once(':') else {
            return Err(DigestError::NoAlgorithm(s.to_string()));
        };
        if alg != "sha256" {
            return Err(DigestError::Algorithm(s.to_string(), alg.to_string()));
        }
        if enc.len() != 64
            || !enc
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        {
            return Err(DigestError::Encoding(s.to_string()));
        }
        Ok(Digest(s.to_string()))
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl serde::Serialize for Digest {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> serde::Deserialize<'de> for Digest {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Digest, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// A writer that hashes and counts everything written through it.
pub struct Verifier<W> {
    inner: W,
    hasher: Sha256,
    written: u64,
}

impl<W: Write> Verifier<W> {
    pub fn new(inner: W) -> Self {
        Verifier {
            inner,
            hasher: Sha256::new(),
            written: 0,
        }
    }

    /// Continue a hash over bytes already written (e.g. when resuming a download):
    /// feed the existing bytes through [`Verifier::absorb`] first.
    pub fn absorb(&mut self, bytes: &[u8]) {
        self.hasher.update(bytes);
        self.written += bytes.len() as u64;
    }

    pub fn written(&self) -> u64 {
        self.written
    }

    /// The digest of all bytes seen, and the inner writer back.
    pub fn finish(self) -> (Digest, u64, W) {
        (Digest::from_hasher(self.hasher), self.written, self.inner)
    }
}

impl<W: Write> Write for Verifier<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.written += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_print() {
        let hello = Digest::of(b"hello");
        assert_eq!(
            hello.as_str(),
            "sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
        );
        assert_eq!(hello.as_str().parse::<Digest>().unwrap(), hello);
        assert_eq!(hello.short(), "2cf24dba5fb0");
        assert!(matches!(
            "abc".parse::<Digest>(),
            Err(DigestError::NoAlgorithm(_))
        ));
        assert!(matches!(
            "md5:abc".parse::<Digest>(),
            Err(DigestError::Algorithm(..))
        ));
        assert!(matches!(
            "sha256:ABC".parse::<Digest>(),
            Err(DigestError::Encoding(_))
        ));
        let upper = format!("sha256:{}", "A".repeat(64));
        assert!(upper.parse::<Digest>().is_err());
    }

    #[test]
    fn verifier_hashes_what_passes() {
        let mut v = Verifier::new(Vec::new());
        v.absorb(b"he");
        v.write_all(b"llo").unwrap();
        let (d, n, out) = v.finish();
        assert_eq!(d, Digest::of(b"hello"));
        assert_eq!(n, 5);
        assert_eq!(out, b"llo");
    }
}
