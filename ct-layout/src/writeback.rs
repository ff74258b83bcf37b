//! Writing a large new tree to the disk WHILE it is being written, instead of all at the end:
//! a thread that calls `syncfs(2)` every [`PERIOD`], then one last `syncfs` as the
//! durability point.
//!
//! The kernel keeps written data in the page cache ("dirty") and writes it out late: the
//! flusher threads wait `vm.dirty_expire_centisecs` (30 s) or until `vm.dirty_background_ratio`
//! of the memory is dirty. A tool that extracts 500 MB and then calls `syncfs` once keeps the
//! CPU busy and the disk idle, then the disk busy and the CPU idle. A background `syncfs` every
//! few hundred milliseconds overlaps the two: by the time the work is done, the last `syncfs`
//! finds little left (bench/unpack.sh, ext4: the final flush drops from ~0.6 s to ~0.1 s).
//!
//! Why `syncfs` and not the writeback of each file started as it is closed
//! (`sync_file_range(SYNC_FILE_RANGE_WRITE)`, or `fadvise(POSIX_FADV_DONTNEED)`, which does the
//! same without `unsafe`): measured on the bench image (540 MB, 41k files, 2 CPUs, ext4),
//! ct-unpack took 0.84 s + 0.59 s final flush with neither; 0.92 s + 0.52 s starting the
//! writeback of every file of 64 KiB or more (1.12 s + 0.30 s from 16 KiB: the small files'
//! system calls and I/Os cost the extraction CPU); 1.17 s + 0.08 s with a `syncfs` every
//! 100 ms, which writes whatever is dirty in batches and commits the metadata (inodes,
//! directories) on the way. Each journal commit briefly stalls the extraction, hence 100 ms
//! and not less.
//!
//! The period runs from the START of one `syncfs` to the start of the next. A `syncfs` takes as
//! long as the disk needs for what is dirty; counted from its end, a 180 ms flush was followed
//! by 100 ms in which nothing was written out, and the last flush found that much more left.
//! Measured on ext4 (a loop device, 2 CPUs): ct-pull of the bench image 0.36 → 0.30 s and
//! 0.33 → 0.30 s over 6 and 8 alternating runs; ct-unpack 1.53 → 1.46 s over 4. Shorter
//! periods (25, 50 ms) gained nothing more.
//!
//! Errors. Since Linux 5.8 `syncfs` reports a writeback error on the file system that
//! happened after the descriptor it is called on was opened (`errseq_t`), once per
//! descriptor. The descriptor is therefore opened when the work STARTS (so an error during
//! the work, even one met by the kernel's own flusher, is seen), and the first error any
//! `syncfs` on it met is the one [`Flusher::finish`] returns.
//!
//! On a file system without writeback (tmpfs) each `syncfs` is a cheap no-op.

use std::fs::File;
use std::io;
use std::path::Path;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Time between the starts of two background flushes: long enough that each writes a batch
/// (a journal commit each), short enough that the disk never sits idle for long
/// (bench/unpack.sh).
pub const PERIOD: Duration = Duration::from_millis(100);

/// Flushes the file system holding a directory in the background until [`finish`](Self::finish).
pub struct Flusher {
    fs: Arc<File>,
    stop: Option<mpsc::Sender<()>>,
    thread: Option<JoinHandle<io::Result<()>>>,
}

impl Flusher {
    /// Open `dir` (which names the file system) and start flushing it every [`PERIOD`].
    pub fn start(dir: &Path) -> io::Result<Flusher> {
        let fs = Arc::new(File::open(dir)?);
        let (stop, stopped) = mpsc::channel::<()>();
        let thread = {
            let fs = Arc::clone(&fs);
            std::thread::Builder::new()
                .name("syncfs".into())
                .spawn(move || {
                    let mut first = Ok(());
                    // Every PERIOD from the start of the last flush, not from its end: one
                    // that took longer than PERIOD (the disk is behind) is followed at once.
                    let mut next = Instant::now() + PERIOD;
                    while let Err(RecvTimeoutError::Timeout) =
                        stopped.recv_timeout(next.saturating_duration_since(Instant::now()))
                    {
                        next = Instant::now() + PERIOD;
                        if let Err(e) = rustix::fs::syncfs(&*fs) {
                            first = first.and(Err(e.into()));
                        }
                    }
                    first
                })
        };
        // No thread (out of threads): still a flusher, whose finish() does all the work.
        let (stop, thread) = match thread {
            Ok(t) => (Some(stop), Some(t)),
            Err(_) => (None, None),
        };
        Ok(Flusher { fs, stop, thread })
    }

    /// Stop the background flushes and make everything written to the file system so far
    /// durable (one last `syncfs`, which waits); the first error of any flush.
    pub fn finish(mut self) -> io::Result<()> {
        let background = self.halt();
        let last = rustix::fs::syncfs(&*self.fs).map_err(io::Error::from);
        background.and(last)
    }

    fn halt(&mut self) -> io::Result<()> {
        drop(self.stop.take());
        match self.thread.take().map(JoinHandle::join) {
            None => Ok(()),
            Some(Ok(r)) => r,
            Some(Err(_)) => Err(io::Error::other("the syncfs thread panicked")),
        }
    }
}

impl Drop for Flusher {
    /// Abandoned (the work failed): stop the thread, flush nothing more.
    fn drop(&mut self) {
        let _ = self.halt();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finish_stops_the_thread_and_flushes() {
        let d = tempfile::tempdir().unwrap();
        let f = Flusher::start(d.path()).unwrap();
        std::fs::write(d.path().join("f"), [1u8; 100_000]).unwrap();
        std::thread::sleep(PERIOD * 2);
        f.finish().unwrap();
    }

    #[test]
    fn a_dropped_flusher_stops_its_thread() {
        let d = tempfile::tempdir().unwrap();
        drop(Flusher::start(d.path()).unwrap());
    }

    #[test]
    fn a_directory_that_is_not_there_is_an_error_at_start() {
        let d = tempfile::tempdir().unwrap();
        assert!(Flusher::start(&d.path().join("nope")).is_err());
    }
}
