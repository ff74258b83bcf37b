//! Decompressing a layer on one core while extracting it on another: a helper thread inflates
//! the blob into 1 MiB chunks and sends them over a bounded channel (`std::sync::mpsc`,
//! 8 chunks in flight, so a fast decompressor cannot run far ahead in memory); the caller's
//! thread reads them as one stream, hashing each chunk as it arrives (the layer's diff_id is
//! the sha256 of all of it), parsing the tar and writing files. Read chunks go back to the
//! helper over a second channel to be filled again, so the buffers are allocated once per layer.
//!
//! The helper's result tells whether the whole stream decompressed; it stops early, with an
//! error, when the reader hangs up (extraction failed or was stopped).

use std::io::{self, Read};
use std::sync::mpsc;

use ct_layout::Digest;
use sha2::{Digest as _, Sha256};

/// A reader that hashes everything read through it.
pub struct HashingReader<R> {
    inner: R,
    hasher: Sha256,
}

impl<R: Read> HashingReader<R> {
    pub fn new(inner: R) -> Self {
        HashingReader {
            inner,
            hasher: Sha256::new(),
        }
    }

    /// Read the rest of the stream and return the digest of all of it.
    pub fn finish(mut self) -> io::Result<Digest> {
        io::copy(&mut self, &mut io::sink())?;
        Ok(Digest::from_hasher(self.hasher))
    }
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
}

/// Size of the pieces handed from the decompressing thread to the extracting one.
const CHUNK: u64 = 1 << 20;
/// Pieces in flight: bounds the memory a fast decompressor can run ahead by.
const AHEAD: usize = 8;

/// The uncompressed stream, read on the caller's thread from chunks that a helper thread
/// decompresses ahead of it: inflate runs on one core while sha256 (of each whole chunk as it
/// arrives), tar parsing and file writes run on another — about an even split of the work. Read
/// chunks go back to the helper to be filled again, so the memory is allocated and zeroed once
/// per layer, not once per chunk.
pub struct Chunks {
    rx: mpsc::Receiver<io::Result<Vec<u8>>>,
    back: mpsc::Sender<Vec<u8>>,
    cur: Vec<u8>,
    pos: usize,
    hasher: Sha256,
}

impl Chunks {
    /// The digest of every byte received so far (all of the stream once `read` returned 0).
    pub fn digest(&self) -> Digest {
        Digest::from_hasher(self.hasher.clone())
    }
}

impl Read for Chunks {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.pos == self.cur.len() {
            match self.rx.recv() {
                Ok(Ok(c)) => {
                    self.hasher.update(&c);
                    let used = std::mem::replace(&mut self.cur, c);
                    // The helper may be gone (end of stream): then the buffer is simply freed.
                    let _ = self.back.send(used);
                    self.pos = 0;
                }
                Ok(Err(e)) => return Err(e),
                // The producer finished: end of stream.
                Err(_) => return Ok(0),
            }
        }
        let n = buf.len().min(self.cur.len() - self.pos);
        buf[..n].copy_from_slice(&self.cur[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

/// Fill `chunk` (its length is the chunk size) from `r`; returns how many bytes came, fewer
/// only at the end of the stream.
fn fill(r: &mut impl Read, chunk: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < chunk.len() {
        match r.read(&mut chunk[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// Start decompressing `reader` on a helper thread; its result says whether the whole stream
/// decompressed (once the consumer has read all of it or hung up).
pub fn decompress_ahead(
    reader: Box<dyn Read + Send>,
) -> (Chunks, std::thread::JoinHandle<io::Result<()>>) {
    let (tx, rx) = mpsc::sync_channel::<io::Result<Vec<u8>>>(AHEAD);
    let (back, returned) = mpsc::channel::<Vec<u8>>();
    let producer = std::thread::spawn(move || {
        let mut reader = reader;
        loop {
            let mut chunk = returned.try_recv().unwrap_or_default();
            chunk.resize(CHUNK as usize, 0);
            match fill(&mut reader, &mut chunk) {
                Ok(0) => return Ok(()),
                Ok(n) => {
                    chunk.truncate(n);
                    if tx.send(Ok(chunk)).is_err() {
                        return Err(io::Error::other("extraction stopped"));
                    }
                }
                Err(e) => {
                    let copy = io::Error::new(e.kind(), e.to_string());
                    let _ = tx.send(Err(e));
                    return Err(copy);
                }
            }
        }
    });
    (
        Chunks {
            rx,
            back,
            cur: Vec::new(),
            pos: 0,
            hasher: Sha256::new(),
        },
        producer,
    )
}
