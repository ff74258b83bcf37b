//! A container's log in podman's (conmon's) `k8s-file` format, written by ct-exec as the
//! output arrives and read back by `ct-exec logs`.
//!
//! Every entry is one line: `TIME STREAM TAG TEXT`, where TIME is RFC 3339 with nanoseconds
//! (UTC, `2026-12-07T03:52:45.123456789Z`), the moment ct-exec read the bytes from the
//! container; STREAM is `stdout` or `stderr`; TAG is `F` for a full line (its newline is the
//! entry's own) or `P` for a part of one (the container wrote no newline yet: the next entries
//! of the same stream continue it). The container's bytes are written as they are.
//!
//! Writing (`--log-path FILE`): the container's stdout and stderr are two pipes (without a
//! terminal) whose read ends the relay polls; with a terminal, what the pty master gives is
//! `stdout`. In the foreground the bytes also go on to ct-exec's own stdout and stderr.
//! Bounded (`--log-max-size SIZE --log-max-file N`, docker's json-file options): an entry that
//! would take FILE past SIZE first rotates it — FILE.1 becomes FILE.2 and so on, FILE becomes
//! FILE.1, the oldest beyond N files is dropped; with N = 1 FILE starts again empty.
//!
//! Reading: FILE.(N-1) … FILE.1, FILE in that order; parts joined into lines; `--since` keeps
//! the lines written from then on, `--tail N` the last N; `--follow` reads on as FILE grows or
//! is rotated, until the process `--pid` has ended.

use std::fs::{self, File};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::ExecError;

/// Where and how much: `--log-path`, `--log-max-size`, `--log-max-file`.
#[derive(Debug, Clone, Default)]
pub struct LogOptions {
    pub path: PathBuf,
    /// Rotate before the file would grow past this many bytes (none: never).
    pub max_size: Option<u64>,
    /// Files kept, the current one included (at least 1).
    pub max_file: u32,
}

/// One of the container's two output streams.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
}

impl Stream {
    fn name(self) -> &'static str {
        match self {
            Stream::Stdout => "stdout",
            Stream::Stderr => "stderr",
        }
    }
}

fn rotated(path: &Path, k: u32) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(format!(".{k}"));
    PathBuf::from(s)
}

/// The writing end: the open file, its size, and the bound.
pub struct Writer {
    opts: LogOptions,
    file: File,
    size: u64,
}

impl Writer {
    pub fn open(opts: &LogOptions) -> io::Result<Writer> {
        let file = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&opts.path)?;
        let size = file.metadata()?.len();
        Ok(Writer {
            opts: opts.clone(),
            file,
            size,
        })
    }

    /// The bytes `data` the container wrote on `stream`, as entries stamped with this moment.
    /// A failing write loses the entry, never the container's output on the terminal.
    pub fn write(&mut self, stream: Stream, data: &[u8]) {
        let now = format_time(now_nanos());
        for piece in data.split_inclusive(|b| *b == b'\n') {
            let (text, tag) = match piece.strip_suffix(b"\n") {
                Some(t) => (t, 'F'),
                None => (piece, 'P'),
            };
            let mut entry = format!("{now} {} {tag} ", stream.name()).into_bytes();
            entry.extend_from_slice(text);
            entry.push(b'\n');
            if let Some(max) = self.opts.max_size {
                if self.size > 0 && self.size + entry.len() as u64 > max {
                    let _ = self.rotate();
                }
            }
            if self.file.write_all(&entry).is_ok() {
                self.size += entry.len() as u64;
            }
        }
    }

    fn rotate(&mut self) -> io::Result<()> {
        let p = &self.opts.path;
        if self.opts.max_file <= 1 {
            self.file.set_len(0)?;
            self.size = 0;
            return Ok(());
        }
        for k in (1..self.opts.max_file - 1).rev() {
            let _ = fs::rename(rotated(p, k), rotated(p, k + 1));
        }
        fs::rename(p, rotated(p, 1))?;
        self.file = fs::OpenOptions::new().create(true).append(true).open(p)?;
        self.size = 0;
        Ok(())
    }
}

/// What the relay copies from the container into the log: the read ends of its stdout and
/// stderr pipes (none with a terminal: the pty master is read instead), and whether the bytes
/// also go on to ct-exec's stdout and stderr (the foreground).
pub struct Capture {
    pub writer: Writer,
    pub out: Option<OwnedFd>,
    pub err: Option<OwnedFd>,
    pub passthrough: bool,
}

/// Our own stdout and stderr while the container is being started (its fds 1 and 2 are the
/// pipes' write ends, inherited through clone): dropped, it puts them back.
pub struct Redirected {
    saved: [OwnedFd; 2],
}

impl Drop for Redirected {
    fn drop(&mut self) {
        let _ = rustix::stdio::dup2_stdout(&self.saved[0]);
        let _ = rustix::stdio::dup2_stderr(&self.saved[1]);
    }
}

/// Open the log; without a terminal, make the two pipes and put their write ends on our fds
/// 1 and 2 for the container to inherit (keep [`Redirected`] until it has been started).
pub fn capture(
    opts: &LogOptions,
    passthrough: bool,
    terminal: bool,
) -> Result<(Capture, Option<Redirected>), ExecError> {
    let writer = Writer::open(opts).map_err(|source| ExecError::StateDir {
        path: opts.path.clone(),
        source,
    })?;
    if terminal {
        let c = Capture {
            writer,
            out: None,
            err: None,
            passthrough,
        };
        return Ok((c, None));
    }
    let fail = |source: io::Error| ExecError::Spawn {
        step: "make the log's pipes",
        source,
    };
    let pipe = || nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(|e| fail(e.into()));
    let (out_r, out_w) = pipe()?;
    let (err_r, err_w) = pipe()?;
    let dup = |fd| rustix::io::fcntl_dupfd_cloexec(fd, 3).map_err(|e| fail(e.into()));
    let saved = [dup(rustix::stdio::stdout())?, dup(rustix::stdio::stderr())?];
    let redirected = Redirected { saved };
    rustix::stdio::dup2_stdout(&out_w).map_err(|e| fail(e.into()))?;
    rustix::stdio::dup2_stderr(&err_w).map_err(|e| fail(e.into()))?;
    let c = Capture {
        writer,
        out: Some(out_r),
        err: Some(err_r),
        passthrough,
    };
    Ok((c, Some(redirected)))
}

impl Capture {
    /// Bytes read from the container: into the log, and on to our own fd in the foreground.
    pub fn got(&mut self, stream: Stream, data: &[u8]) {
        self.writer.write(stream, data);
        if self.passthrough {
            let ok = match stream {
                Stream::Stdout => write_all(rustix::stdio::stdout(), data),
                Stream::Stderr => write_all(rustix::stdio::stderr(), data),
            };
            // Nobody reads our output any more: the log still gets it.
            if !ok {
                self.passthrough = false;
            }
        }
    }
}

fn write_all(fd: impl AsFd, mut buf: &[u8]) -> bool {
    while !buf.is_empty() {
        match rustix::io::write(&fd, buf) {
            Ok(n) => buf = &buf[n..],
            Err(rustix::io::Errno::INTR) => {}
            Err(_) => return false,
        }
    }
    true
}

/// Now, in nanoseconds since the epoch.
pub fn now_nanos() -> i128 {
    match SystemTime::now().duration_since(UNIX_EPOCH) {
        Ok(d) => d.as_nanos() as i128,
        Err(e) => -(e.duration().as_nanos() as i128),
    }
}

/// Days since 1970-01-01 → (year, month, day) in the proleptic Gregorian calendar
/// (H. Hinnant's `civil_from_days`).
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Nanoseconds since the epoch → `YYYY-MM-DDTHH:MM:SS.NNNNNNNNNZ`.
pub fn format_time(ns: i128) -> String {
    let secs = ns.div_euclid(1_000_000_000) as i64;
    let frac = ns.rem_euclid(1_000_000_000);
    let (y, mo, d) = civil_from_days(secs.div_euclid(86_400));
    let s = secs.rem_euclid(86_400);
    format!(
        "{y:04}-{mo:02}-{d:02}T{:02}:{:02}:{:02}.{frac:09}Z",
        s / 3600,
        s / 60 % 60,
        s % 60
    )
}

/// RFC 3339 (`2026-12-07T03:52:45.5Z`, `…+01:00`, a space for the `T`) or a bare date (UTC
/// midnight) → nanoseconds since the epoch.
pub fn parse_time(s: &str) -> Option<i128> {
    let b = s.as_bytes();
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let t = b.get(r)?;
        t.iter()
            .all(u8::is_ascii_digit)
            .then(|| std::str::from_utf8(t).ok()?.parse().ok())?
    };
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    if b.get(4) != Some(&b'-') || b.get(7) != Some(&b'-') || !(1..=12).contains(&mo) {
        return None;
    }
    if !(1..=31).contains(&d) {
        return None;
    }
    let day = i128::from(days_from_civil(y, mo, d)) * 86_400 * 1_000_000_000;
    if b.len() == 10 {
        return Some(day);
    }
    if !matches!(b.get(10), Some(b'T' | b't' | b' ')) || b.get(13) != Some(&b':') {
        return None;
    }
    let (h, mi, sec) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if b.get(16) != Some(&b':') || h > 23 || mi > 59 || sec > 60 {
        return None;
    }
    let mut i = 19;
    let mut frac: i128 = 0;
    if b.get(i) == Some(&b'.') {
        i += 1;
        let start = i;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        let digits = &s[start..i];
        if digits.is_empty() {
            return None;
        }
        let nine = format!("{:0<9}", &digits[..digits.len().min(9)]);
        frac = nine.parse().ok()?;
    }
    let offset: i64 = match &b[i..] {
        [b'Z' | b'z'] => 0,
        [sign @ (b'+' | b'-'), _, _, b':', _, _] => {
            let (oh, om) = (num(i + 1..i + 3)?, num(i + 4..i + 6)?);
            let o = oh * 3600 + om * 60;
            if *sign == b'+' {
                o
            } else {
                -o
            }
        }
        _ => return None,
    };
    let secs = i128::from(h * 3600 + mi * 60 + sec - offset);
    Some(day + secs * 1_000_000_000 + frac)
}

/// docker's `--since`: a duration before now (`10m`, `1h30m`, `2.5s`), a Unix time (`1733543565`,
/// `1733543565.5`), or an RFC 3339 time or date → nanoseconds since the epoch.
pub fn parse_since(s: &str, now: i128) -> Option<i128> {
    if let Some(d) = parse_duration(s) {
        return Some(now - d);
    }
    if !s.is_empty() && s.bytes().all(|c| c.is_ascii_digit() || c == b'.') {
        let (whole, frac) = s.split_once('.').unwrap_or((s, ""));
        let w: i128 = whole.parse().ok()?;
        let f: i128 = if frac.is_empty() {
            0
        } else {
            format!("{:0<9}", &frac[..frac.len().min(9)]).parse().ok()?
        };
        return Some(w * 1_000_000_000 + f);
    }
    parse_time(s)
}

/// Go's duration syntax (`1h30m`, `500ms`, `2.5s`) → nanoseconds.
fn parse_duration(s: &str) -> Option<i128> {
    let mut rest = s;
    let mut total: f64 = 0.0;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let n = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .filter(|&n| n > 0)?;
        let v: f64 = rest[..n].parse().ok()?;
        rest = &rest[n..];
        let u = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let unit = match &rest[..u] {
            "ns" => 1.0,
            "us" | "µs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return None,
        };
        total += v * unit;
        rest = &rest[u..];
    }
    Some(total as i128)
}

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

    #[test]
    fn times_round_trip() {
        let t = parse_time("2026-12-07T03:52:45.123456789Z").unwrap();
        assert_eq!(format_time(t), "2026-12-07T03:52:45.123456789Z");
        assert_eq!(parse_time("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(
            parse_time("2026-12-07T04:52:45.5+01:00"),
            parse_time("2026-12-07T03:52:45.500Z")
        );
        assert_eq!(parse_time("2000-03-01"), Some(951_868_800 * 1_000_000_000));
        assert_eq!(parse_time("2026-13-07T03:52:45Z"), None);
        assert_eq!(parse_time("yesterday"), None);
    }

    #[test]
    fn since_takes_durations_unix_times_and_dates() {
        let now = 10_000 * 1_000_000_000;
        assert_eq!(parse_since("10m", now), Some(now - 600 * 1_000_000_000));
        assert_eq!(parse_since("1h30m", now), Some(now - 5400 * 1_000_000_000));
        assert_eq!(parse_since("1.5", now), Some(1_500_000_000));
        assert_eq!(
            parse_since("1970-01-01T00:00:01Z", now),
            Some(1_000_000_000)
        );
        assert_eq!(parse_since("10x", now), None);
    }

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
