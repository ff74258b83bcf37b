//! The pipe protocol and CLI conventions every ct tool follows.
//!
//! * Input: the positional argument, or when there is none, ONE line read from stdin
//!   (`ct-pull alpine | ct-unpack`). A terminal on stdin with no argument is a usage error.
//! * Output: exactly one line on stdout for the next stage; everything for humans on stderr.
//! * A closed pipe downstream is not an error: exit 0 quietly.
//! * An empty pipe upstream (the stage before failed, and said why in its one line) ends
//!   this stage quietly, with the usage code of "no input given": one failure is one message,
//!   not one per later stage.
//! * Errors: ONE line, `TOOL: what failed: cause: cause`, then any `; hint: …`, at most
//!   [`LINE_MAX`] bytes and with no control character in it ([`report`]); untrusted text in
//!   it (a registry's answer, an image's config, a file name from a layer) is [`quote`]d.
//! * Exit codes: 0 ok, 1 failure, 2 usage. ct-exec, which runs a user command, uses 125 for its
//!   own failure, 126 command not runnable, 127 command not found, else the command's status.

use std::error::Error;
use std::io::{self, BufRead, IsTerminal, Write};

// The exit-code table, the same in every tool and in `ct` (README "Exit codes",
// docs/LAYOUT.md), and the same as docker's, podman's and runc's so their scripts keep working:
//   0 ok · 1 failure — a runtime failure, something named that does not exist (image,
//   container, bundle, cgroup), or a conflict (already exists, in use, still running); the
//   one-line message says which · 2 usage (bad flags or arguments).
// Verbs that run a container's command (ct-exec run and exec, `ct run`, `ct exec`) use 125
// for their own failures (1..=124 are the command's), 126 not runnable, 127 not found, else
// the command's own status (128+N when killed by signal N).
/// Success.
pub const EXIT_OK: i32 = 0;
/// The operation failed: a runtime failure, a missing image/container/bundle, a conflict.
pub const EXIT_FAILURE: i32 = 1;
/// Usage: bad flags or arguments.
pub const EXIT_USAGE: i32 = 2;
pub const EXIT_RUNTIME_FAILURE: i32 = 125;
pub const EXIT_NOT_EXECUTABLE: i32 = 126;
pub const EXIT_NOT_FOUND: i32 = 127;

#[derive(Debug, thiserror::Error)]
pub enum InputError {
    #[error("no {0} given: pass it as an argument or as one line on stdin")]
    Missing(&'static str),
    #[error("cannot read {0} from stdin")]
    Read(&'static str, #[source] io::Error),
}

/// The stage's input: `arg`, else one trimmed non-empty line of stdin.
pub fn input(arg: Option<String>, what: &'static str) -> Result<String, InputError> {
    if let Some(a) = arg {
        return Ok(a);
    }
    let stdin = io::stdin();
    if stdin.is_terminal() {
        return Err(InputError::Missing(what));
    }
    let mut line = String::new();
    stdin
        .lock()
        .read_line(&mut line)
        .map_err(|e| InputError::Read(what, e))?;
    if line.is_empty() && stdin_is_pipe() {
        std::process::exit(EXIT_USAGE);
    }
    let line = line.trim();
    if line.is_empty() {
        return Err(InputError::Missing(what));
    }
    Ok(line.to_string())
}

/// Stdin is a pipe (fstat: a FIFO), as between two stages, not a file or /dev/null.
fn stdin_is_pipe() -> bool {
    use std::os::unix::fs::FileTypeExt;
    std::fs::metadata("/proc/self/fd/0").is_ok_and(|m| m.file_type().is_fifo())
}

/// Print the one line for the next stage. If the reader has gone away, exit 0 quietly.
pub fn emit(line: impl std::fmt::Display) {
    let mut out = io::stdout().lock();
    if let Err(e) = writeln!(out, "{line}").and_then(|_| out.flush()) {
        if e.kind() == io::ErrorKind::BrokenPipe {
            std::process::exit(EXIT_OK);
        }
        eprintln!("ct: cannot write to stdout: {e}");
        std::process::exit(EXIT_FAILURE);
    }
}

/// Write a listing to stdout; a closed pipe ends the process quietly.
pub fn print_out(text: &str) {
    let mut out = io::stdout().lock();
    if let Err(e) = out.write_all(text.as_bytes()).and_then(|_| out.flush()) {
        if e.kind() == io::ErrorKind::BrokenPipe {
            std::process::exit(EXIT_OK);
        }
        eprintln!("ct: cannot write to stdout: {e}");
        std::process::exit(EXIT_FAILURE);
    }
}

/// Untrusted text (a registry's error body, a value from an image config, a file name from a
/// layer) for an error message: in single quotes, at most [`QUOTE_MAX`] bytes of it (then
/// `…`), with control characters, escape sequences, NULs, quotes and backslashes escaped, so
/// that it can neither paint the terminal nor break the one-line format.
pub fn quote(text: impl AsRef<[u8]>) -> String {
    let b = text.as_ref();
    let cut = b.len() > QUOTE_MAX;
    let b = &b[..b.len().min(QUOTE_MAX)];
    let mut s = String::with_capacity(b.len() + 2);
    s.push('\'');
    for chunk in b.utf8_chunks() {
        for c in chunk.valid().chars() {
            match (c, control_escape(c)) {
                ('\'', _) => s.push_str("\\'"),
                ('\\', _) => s.push_str("\\\\"),
                (_, Some(e)) => s.push_str(&e),
                (c, None) => s.push(c),
            }
        }
        for x in chunk.invalid() {
            s.push_str(&format!("\\x{x:02x}"));
        }
    }
    if cut {
        s.push('…');
    }
    s.push('\'');
    s
}

/// [`quote`] for a path (from a layer, a bundle, a config).
pub fn quote_path(path: impl AsRef<std::path::Path>) -> String {
    use std::os::unix::ffi::OsStrExt;
    quote(path.as_ref().as_os_str().as_bytes())
}

/// How much of an untrusted text [`quote`] keeps.
pub const QUOTE_MAX: usize = 200;

/// `err` and its whole `source()` chain on one line, joined by `: `.
pub fn chain(err: &dyn Error) -> String {
    let mut s = err.to_string();
    let mut cur = err.source();
    while let Some(e) = cur {
        let m = e.to_string();
        if !s.contains(&m) {
            s.push_str(": ");
            s.push_str(&m);
        }
        cur = e.source();
    }
    s
}

/// How long the error part of a message line may be, in bytes (hints come after it).
pub const LINE_MAX: usize = 1024;

/// `TOOL: error: causes; hint: …` as the ONE line [`report`] prints: control characters
/// escaped wherever they came from (an OS error, a value the code forgot to [`quote`]), and
/// the error cut at [`LINE_MAX`] bytes, so that no message can paint the terminal or flood a
/// log. Hints are ct's own words and are kept whole.
pub fn line(tool: &str, err: &dyn Error, hints: &[&str]) -> String {
    let mut s = one_line(&format!("{tool}: {}", chain(err)));
    for h in hints {
        s.push_str("; hint: ");
        s.push_str(&one_line(h));
    }
    s
}

/// How a control character is shown in a message (`\n`, `\t`, `\r`, `\u{1b}`); `None` for
/// any other character.
fn control_escape(c: char) -> Option<String> {
    match c {
        '\n' => Some("\\n".into()),
        '\t' => Some("\\t".into()),
        '\r' => Some("\\r".into()),
        c if c.is_control() => Some(format!("\\u{{{:x}}}", c as u32)),
        _ => None,
    }
}

/// `text` with every control character escaped as [`one_line`] does, whole (not cut): for
/// text shown among other text, such as a table's cell.
pub fn escaped(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.chars().any(char::is_control) {
        return text.into();
    }
    let mut s = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match control_escape(c) {
            Some(e) => s.push_str(&e),
            None => s.push(c),
        }
    }
    s.into()
}

/// `text` with every control character escaped (`\n`, `\u{1b}`), cut at [`LINE_MAX`]
/// bytes (then `…`).
pub fn one_line(text: &str) -> String {
    let mut s = String::with_capacity(text.len().min(LINE_MAX + 4));
    let mut buf = [0u8; 4];
    for c in text.chars() {
        let esc = control_escape(c);
        let piece = match &esc {
            Some(e) => e,
            None => &*c.encode_utf8(&mut buf),
        };
        if s.len() + piece.len() > LINE_MAX {
            s.push('…');
            break;
        }
        s.push_str(piece);
    }
    s
}

/// Print the error as one line to stderr (see [`line`]).
pub fn report(tool: &str, err: &dyn Error, hints: &[&str]) {
    eprintln!("{}", line(tool, err, hints));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("cannot mount overlay on '/x'")]
    struct Outer(#[source] io::Error);

    #[test]
    fn chain_is_one_line() {
        let e = Outer(io::Error::from_raw_os_error(libc::EINVAL));
        let s = chain(&e);
        assert!(
            s.starts_with("cannot mount overlay on '/x': Invalid argument"),
            "{s}"
        );
        assert!(!s.contains('\n'));
        assert_eq!(input(Some("a".into()), "image").unwrap(), "a");
    }

    #[test]
    fn quote_is_short_and_inert() {
        assert_eq!(quote("a b"), "'a b'");
        assert_eq!(quote("it's\\"), "'it\\'s\\\\'");
        let q = quote(b"\x1b[2J\0\n\xff");
        assert_eq!(q, "'\\u{1b}[2J\\u{0}\\n\\xff'");
        let long = quote("x".repeat(1 << 20));
        assert!(
            long.len() < QUOTE_MAX + 8 && long.ends_with("…'"),
            "{}",
            long.len()
        );
        assert!(!quote("\u{9b}31m").contains('\u{9b}'), "C1 CSI escaped");
    }

    #[derive(Debug, thiserror::Error)]
    #[error("registry said {0}")]
    struct Raw(String);

    #[test]
    fn a_report_line_is_one_bounded_line_without_control_characters() {
        let body = "\x1b[2J\x1b]0;title\x07\0\r\n\u{9b}x".repeat(50_000);
        let l = line("ct-pull", &Raw(body), &["see ct-pull --help"]);
        assert!(l.starts_with("ct-pull: registry said \\u{1b}[2J\\u{1b}]0;title\\u{7}\\u{0}\\r\\n"));
        assert!(l.len() <= LINE_MAX + 64, "{}", l.len());
        assert!(!l.chars().any(char::is_control), "{l}");
        assert!(l.ends_with("…; hint: see ct-pull --help"), "{l}");
        assert_eq!(one_line("caf\u{e9} ok"), "caf\u{e9} ok");
    }
}
