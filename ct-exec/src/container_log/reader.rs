//! Reading a container's log back (`ct-exec logs`): FILE.(N-1) … FILE.1, FILE in that order;
//! the `P` parts of a line joined per stream; `--since` keeps the lines written from then on,
//! `--tail N` the last N; `--follow` reads on as FILE grows or is rotated (FILE's inode
//! changes), until the process `--pid` has ended. A line that is not an entry (not written by
//! ct-exec) is shown as a stdout line of unknown time; an entry a writer is half-way through is
//! left for the next read.

use std::fs::{self, File};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::time::{format_time, parse_time};
use super::{rotated, Stream};
use crate::ExecError;

/// One entry of the file, parsed; a line that is none (not written by ct-exec) is a full
/// stdout line of unknown time.
struct Entry<'a> {
    time: Option<i128>,
    stream: Stream,
    full: bool,
    text: &'a [u8],
}

fn parse_entry(line: &[u8]) -> Entry<'_> {
    let parsed = (|| {
        let mut f = line.splitn(4, |b| *b == b' ');
        let t = std::str::from_utf8(f.next()?).ok()?;
        let stream = match f.next()? {
            b"stdout" => Stream::Stdout,
            b"stderr" => Stream::Stderr,
            _ => return None,
        };
        let full = match f.next()? {
            b"F" => true,
            b"P" => false,
            _ => return None,
        };
        Some(Entry {
            time: Some(parse_time(t)?),
            stream,
            full,
            text: f.next().unwrap_or_default(),
        })
    })();
    parsed.unwrap_or(Entry {
        time: None,
        stream: Stream::Stdout,
        full: true,
        text: line,
    })
}

/// A line as `logs` shows it: its time is its first part's.
struct Line {
    time: Option<i128>,
    stream: Stream,
    text: Vec<u8>,
    complete: bool,
}

/// `ct-exec logs`: what to show.
#[derive(Debug, Clone, Default)]
pub struct ReadOptions {
    pub path: PathBuf,
    pub follow: bool,
    pub tail: Option<usize>,
    pub since: Option<i128>,
    pub timestamps: bool,
    /// With `follow`: stop once this process has ended.
    pub pid: Option<i32>,
}

/// The longest line `logs` joins from parts.
const LINE_MAX: usize = 1 << 20;

/// Joins the parts of each stream's lines, entry by entry.
#[derive(Default)]
struct Joiner {
    lines: Vec<Line>,
    open: [Option<usize>; 2],
}

impl Joiner {
    fn push(&mut self, e: Entry) {
        let s = e.stream as usize;
        match self.open[s] {
            Some(i) => self.lines[i].text.extend_from_slice(e.text),
            None => {
                self.lines.push(Line {
                    time: e.time,
                    stream: e.stream,
                    text: e.text.to_vec(),
                    complete: false,
                });
                self.open[s] = Some(self.lines.len() - 1);
            }
        }
        // A line longer than LINE_MAX (a container that never writes a newline) is shown in
        // pieces of about that size, not gathered in memory whole.
        let long = self.open[s].is_some_and(|i| self.lines[i].text.len() >= LINE_MAX);
        if e.full || long {
            if let Some(i) = self.open[s].take() {
                self.lines[i].complete = true;
            }
        }
    }

    fn push_bytes(&mut self, data: &[u8]) {
        for l in data.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
            self.push(parse_entry(l));
        }
    }
}

struct Printer {
    o: ReadOptions,
    out: io::Stdout,
    err: io::Stderr,
}

impl Printer {
    /// False once nobody reads our output.
    fn print(&mut self, l: &Line) -> bool {
        if let Some(since) = self.o.since {
            if l.time.is_none_or(|t| t < since) {
                return true;
            }
        }
        let mut buf = Vec::with_capacity(l.text.len() + 32);
        if self.o.timestamps {
            if let Some(t) = l.time {
                buf.extend_from_slice(format_time(t).as_bytes());
                buf.push(b' ');
            }
        }
        buf.extend_from_slice(&l.text);
        if l.complete {
            buf.push(b'\n');
        }
        let r = match l.stream {
            Stream::Stdout => self.out.write_all(&buf).and_then(|_| self.out.flush()),
            Stream::Stderr => self.err.write_all(&buf),
        };
        r.is_ok()
    }
}

/// The log's files, oldest first.
fn files(path: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = (1..=1000)
        .map(|k| rotated(path, k))
        .take_while(|p| p.exists())
        .collect();
    v.reverse();
    v.push(path.to_path_buf());
    v
}

/// `ct-exec logs`: print the log (stdout lines on stdout, stderr lines on stderr).
pub fn print(o: &ReadOptions) -> Result<i32, ExecError> {
    let read_err = |path: &Path, source: io::Error| ExecError::ConfigRead {
        path: path.to_path_buf(),
        source,
    };
    let mut j = Joiner::default();
    let mut current: Option<(File, u64)> = None;
    for f in files(&o.path) {
        match File::open(&f) {
            Ok(mut file) => {
                let mut data = Vec::new();
                file.read_to_end(&mut data).map_err(|e| read_err(&f, e))?;
                j.push_bytes(complete_part(&data));
                if f == o.path {
                    let keep = complete_part(&data).len() as u64;
                    let _ = file.seek(SeekFrom::Start(keep));
                    current = Some((file, keep));
                }
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(read_err(&f, e)),
        }
    }
    let mut p = Printer {
        o: o.clone(),
        out: io::stdout(),
        err: io::stderr(),
    };
    let from = match o.tail {
        Some(n) => j.lines.len().saturating_sub(n),
        None => 0,
    };
    // Following, a line still open is printed when it is complete.
    let shown = if o.follow {
        j.lines[from..]
            .iter()
            .position(|l| !l.complete)
            .map_or(j.lines.len(), |i| from + i)
    } else {
        j.lines.len()
    };
    for l in &j.lines[from..shown] {
        if !p.print(l) {
            return Ok(0);
        }
    }
    if !o.follow {
        return Ok(0);
    }
    let mut j = Joiner {
        lines: j.lines.split_off(shown),
        open: [None; 2],
    };
    for (i, l) in j.lines.iter().enumerate() {
        if !l.complete {
            j.open[l.stream as usize] = Some(i);
        }
    }
    follow(&mut p, &mut j, current)
}

/// The entries that are whole (a writer may be half-way through one).
fn complete_part(data: &[u8]) -> &[u8] {
    match data.iter().rposition(|b| *b == b'\n') {
        Some(i) => &data[..=i],
        None => &[],
    }
}

fn alive(pid: Option<i32>) -> bool {
    match pid {
        None => true,
        Some(p) => rustix::process::Pid::from_raw(p)
            .is_some_and(|p| rustix::process::test_kill_process(p).is_ok()),
    }
}

fn follow(p: &mut Printer, j: &mut Joiner, mut cur: Option<(File, u64)>) -> Result<i32, ExecError> {
    let path = p.o.path.clone();
    let mut pending = Vec::new();
    loop {
        let running = alive(p.o.pid);
        // Read what the current file has grown by; then, if FILE is another file now (it was
        // rotated), the new one from its start.
        loop {
            if let Some((f, off)) = &mut cur {
                let mut data = Vec::new();
                if f.read_to_end(&mut data).is_ok() {
                    *off += data.len() as u64;
                    pending.extend_from_slice(&data);
                    let n = complete_part(&pending).len();
                    j.push_bytes(&pending[..n]);
                    pending.drain(..n);
                }
            }
            let same = match (&cur, fs::metadata(&path)) {
                (Some((f, _)), Ok(m)) => f.metadata().is_ok_and(|fm| fm.ino() == m.ino()),
                (None, Ok(_)) => false,
                (_, Err(_)) => true,
            };
            if same {
                break;
            }
            cur = File::open(&path).ok().map(|f| (f, 0));
            pending.clear();
        }
        let done = j.lines.iter().take_while(|l| l.complete).count();
        for l in j.lines.drain(..done) {
            if !p.print(&l) {
                return Ok(0);
            }
        }
        for o in j.open.iter_mut() {
            *o = o.map(|i| i - done);
        }
        if !running {
            for l in j.lines.drain(..) {
                p.print(&l);
            }
            return Ok(0);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::container_log::time::parse_time;

    #[test]
    fn parts_of_a_line_are_joined_per_stream() {
        let mut j = Joiner::default();
        j.push_bytes(
            b"2026-12-07T03:52:45.1Z stdout P hel\n\
              2026-12-07T03:52:45.2Z stderr F oops\n\
              2026-12-07T03:52:45.3Z stdout F lo\n",
        );
        let texts: Vec<_> = j.lines.iter().map(|l| l.text.clone()).collect();
        assert_eq!(texts, vec![b"hello".to_vec(), b"oops".to_vec()]);
        assert_eq!(j.lines[0].time, parse_time("2026-12-07T03:52:45.1Z"));
    }
}
