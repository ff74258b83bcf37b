//! Writing a file's data, and keeping the holes of sparse files holes.
//!
//! A sparse file has ranges that were never written; they read as zeros but take no disk
//! blocks. tar stores such a file with a map of its data chunks, in one of three formats:
//! - old GNU (`'S'` type flag, map in the header): the `tar` crate parses it and hands the data
//!   back with the holes filled in as zeros;
//! - PAX 0.1 (`GNU.sparse.map=off,size,off,size,…` record) and PAX 1.0 (`GNU.sparse.major=1`;
//!   the map leads the data as decimal lines padded to 512 bytes), with the real name in
//!   `GNU.sparse.name` and the real size in `GNU.sparse.realsize`: parsed here.
//!
//! A hole is made by moving the file offset past it (`lseek(2)`) instead of writing zeros, and
//! `ftruncate(2)` at the end gives the file its full size when it ends in a hole.

use std::io::{self, Read};
use std::os::fd::OwnedFd;
use std::path::PathBuf;

use ct_layout::free_space::Meter;
use rustix::fs::SeekFrom;

use super::dir_fd::write_all_fd;

/// A file stored sparse in the PAX formats of GNU tar (`GNU.sparse.*` records, versions 0.1
/// and 1.0; the old GNU 'S' type is parsed by the `tar` crate itself).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PaxSparse {
    /// The real name (`GNU.sparse.name`); the header's is `GNUSparseFile.N/NAME`.
    pub name: Option<PathBuf>,
    /// The file's real size.
    pub size: u64,
    /// 0.1: the map from the header; 1.0: `None`, the map leads the data.
    pub map: Option<Vec<(u64, u64)>>,
}

pub(crate) fn pax_sparse<R: Read>(entry: &mut tar::Entry<'_, R>) -> io::Result<Option<PaxSparse>> {
    let Some(pax) = entry.pax_extensions()? else {
        return Ok(None);
    };
    let mut sp = PaxSparse::default();
    let mut is_sparse = false;
    let mut v1 = false;
    for ext in pax {
        let ext = ext?;
        let (Ok(k), Ok(v)) = (ext.key(), ext.value()) else {
            continue;
        };
        let num = || {
            v.parse::<u64>()
                .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, format!("bad {k}")))
        };
        match k {
            "GNU.sparse.major" => {
                is_sparse = true;
                v1 = v == "1";
            }
            "GNU.sparse.name" => sp.name = Some(PathBuf::from(v)),
            "GNU.sparse.realsize" | "GNU.sparse.size" => {
                is_sparse = true;
                sp.size = num()?;
            }
            "GNU.sparse.map" => {
                is_sparse = true;
                let nums: Result<Vec<u64>, _> = v.split(',').map(str::parse::<u64>).collect();
                let nums = nums.map_err(|_| {
                    io::Error::new(io::ErrorKind::InvalidData, "bad GNU.sparse.map")
                })?;
                sp.map = Some(
                    nums.chunks(2)
                        .filter(|c| c.len() == 2)
                        .map(|c| (c[0], c[1]))
                        .collect(),
                );
            }
            _ => {}
        }
    }
    if !is_sparse {
        return Ok(None);
    }
    if v1 {
        sp.map = None;
    }
    Ok(Some(sp))
}

/// Read the 1.0 sparse map that leads the data: decimal numbers, one per line (count, then
/// offset/size pairs), padded to a 512-byte block.
pub(crate) fn read_sparse_map<R: Read>(r: &mut R) -> io::Result<Vec<(u64, u64)>> {
    let bad = || io::Error::new(io::ErrorKind::InvalidData, "bad GNU sparse 1.0 map");
    let mut block = [0u8; 512];
    let mut nums: Vec<u64> = Vec::new();
    let mut cur = String::new();
    let mut want: Option<usize> = None;
    loop {
        r.read_exact(&mut block)?;
        for &b in block.iter() {
            if b == b'\n' {
                nums.push(cur.parse().map_err(|_| bad())?);
                cur.clear();
                if want.is_none() {
                    let n = usize::try_from(nums[0]).map_err(|_| bad())?;
                    if n > 1 << 20 {
                        return Err(bad());
                    }
                    want = Some(1 + 2 * n);
                }
            } else if b.is_ascii_digit() {
                cur.push(b as char);
            } else {
                return Err(bad());
            }
            if want.is_some_and(|w| nums.len() == w) {
                return Ok(nums[1..].chunks(2).map(|c| (c[0], c[1])).collect());
            }
        }
    }
}

/// Copy the entry's data. GNU sparse entries come with their holes as zeros from the tar
/// crate; writing around all-zero blocks (lseek) keeps them holes on disk.
pub(crate) fn copy<R: Read>(
    entry: &mut tar::Entry<'_, R>,
    fd: &OwnedFd,
    buf: &mut [u8],
    mut meter: Option<&mut Meter>,
    sparse: bool,
    size: u64,
) -> io::Result<u64> {
    let mut total = 0u64;
    let mut pending_hole = false;
    loop {
        let n = entry.read(buf)?;
        if n == 0 {
            break;
        }
        let chunk = &buf[..n];
        if sparse && chunk.iter().all(|&b| b == 0) {
            if let Some(m) = meter.as_deref_mut() {
                m.add(0, n as u64).map_err(io::Error::other)?;
            }
            rustix::fs::seek(fd, SeekFrom::Current(n as i64))?;
            pending_hole = true;
        } else {
            if let Some(m) = meter.as_deref_mut() {
                m.add(n as u64, 0).map_err(io::Error::other)?;
            }
            write_all_fd(fd, chunk)?;
            pending_hole = false;
        }
        total += n as u64;
    }
    if pending_hole || sparse {
        rustix::fs::ftruncate(fd, size)?;
    }
    Ok(total)
}

/// PAX sparse: write each (offset, size) chunk at its offset, leave the rest as holes.
pub(crate) fn copy_pax_sparse<R: Read>(
    entry: &mut tar::Entry<'_, R>,
    fd: &OwnedFd,
    sp: &PaxSparse,
    mut meter: Option<&mut Meter>,
) -> io::Result<u64> {
    let map = match &sp.map {
        Some(m) => m.clone(),
        None => read_sparse_map(entry)?,
    };
    let mut buf = vec![0u8; 128 * 1024];
    let mut total = 0;
    for (off, len) in map {
        if off.checked_add(len).is_none_or(|end| end > sp.size) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "sparse chunk beyond the file size",
            ));
        }
        rustix::fs::seek(fd, SeekFrom::Start(off))?;
        let mut left = len;
        while left > 0 {
            let n = (left as usize).min(buf.len());
            entry.read_exact(&mut buf[..n])?;
            if let Some(m) = meter.as_deref_mut() {
                m.add(n as u64, 0).map_err(io::Error::other)?;
            }
            write_all_fd(fd, &buf[..n])?;
            left -= n as u64;
        }
        total += len;
    }
    // The holes count against --max-layer-size: they cost no blocks here, but the file
    // is that large for every reader.
    if let Some(m) = meter {
        m.add(0, sp.size.saturating_sub(total))
            .map_err(io::Error::other)?;
    }
    rustix::fs::ftruncate(fd, sp.size)?;
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sparse_map_1_0() {
        let mut data = b"3\n0\n5\n4096\n10\n9000\n0\n".to_vec();
        data.resize(512, 0);
        data.extend_from_slice(b"payload");
        let mut r = &data[..];
        assert_eq!(
            read_sparse_map(&mut r).unwrap(),
            vec![(0, 5), (4096, 10), (9000, 0)]
        );
        assert_eq!(r, b"payload");
        let mut bad = b"x\n".to_vec();
        bad.resize(512, 0);
        assert!(read_sparse_map(&mut &bad[..]).is_err());
    }
}
