//! The skeleton every ct tool's `main` is made of, so that all eight parse, fail and exit the
//! same way (the conventions and the exit-code table are in [`crate::pipe`]):
//!
//! 1. [`parse`]: with `CT_GENERATE=man|bash|…` in the environment, print that artifact and
//!    exit ([`crate::man_pages`]). Else parse argv with clap: `--help`/`--version` print to
//!    stdout and exit 0; a usage error is turned from clap's multi-paragraph text into ONE
//!    line, `TOOL: unexpected argument '--x'; see TOOL --help`, and exit 2.
//! 2. The tool's `run` does the work and returns its exit code, or an error whose [`Failure`]
//!    impl says which code of the table it means (and which `hint:`s go with it).
//! 3. [`exit`]: an error is reported as one line, `TOOL: what failed: cause: cause`
//!    ([`crate::pipe::report`]), and the process exits with the error's code.
//!
//! [`main`] is the three in a row: a tool's `main` is `tool::main("ct-gc", run)`. Between
//! parsing and running, a user other than root enters their own user and mount namespaces
//! ([`crate::rootless`]), where every tool of theirs works on the same store and mounts. A `run` that
//! meets errors of several types returns [`AnyFailure`], into which `?` turns any of them.

use std::ffi::OsString;

use clap::error::{ContextKind, ContextValue, ErrorKind};
use clap::{CommandFactory, Parser};

use crate::pipe::{self, EXIT_FAILURE, EXIT_USAGE};

/// A tool's error type: the exit code it means and the hints that go with it.
pub trait Failure: std::error::Error {
    /// The code from the table in `pipe.rs`; a failure (1) unless said otherwise.
    fn exit_code(&self) -> i32 {
        EXIT_FAILURE
    }
    /// `hint:`s for a known usual cause.
    fn hints(&self) -> Vec<String> {
        Vec::new()
    }
}

impl Failure for crate::pipe::InputError {
    fn exit_code(&self) -> i32 {
        match self {
            crate::pipe::InputError::Missing(_) => EXIT_USAGE,
            crate::pipe::InputError::Read(..) => EXIT_FAILURE,
        }
    }
}

/// Any tool's [`Failure`], for a `run` that meets errors of several types (its own, a
/// [`crate::pipe::InputError`], …): `?` converts each.
pub struct AnyFailure(Box<dyn Failure>);

impl<E: Failure + 'static> From<E> for AnyFailure {
    fn from(e: E) -> Self {
        AnyFailure(Box::new(e))
    }
}

/// `$CT_ROOT` (or another directory a tool needs) could not be created.
#[derive(Debug, thiserror::Error)]
#[error("cannot create {}", pipe::quote_path(.0))]
pub struct CannotCreate(pub std::path::PathBuf, #[source] pub std::io::Error);

impl Failure for CannotCreate {}

impl Failure for crate::rootless::RootlessError {}

/// Parse, run, exit: the whole `main` of a tool.
pub fn main<C: Parser, E: Into<AnyFailure>>(
    tool: &str,
    run: impl FnOnce(C) -> Result<i32, E>,
) -> ! {
    let cli = parse::<C>(tool);
    if let Err(e) = crate::rootless::enter(tool) {
        fail(tool, &e);
    }
    exit(tool, run(cli))
}

/// End the process: `Ok(code)` exits with `code`; an error is reported as one line and exits
/// with its code.
pub fn exit<E: Into<AnyFailure>>(tool: &str, r: Result<i32, E>) -> ! {
    match r {
        Ok(code) => std::process::exit(code),
        Err(e) => fail(tool, &*e.into().0),
    }
}

/// Report `err` (with its hints) as one line and exit with its code.
pub fn fail(tool: &str, err: &dyn Failure) -> ! {
    let hints = err.hints();
    let hints: Vec<&str> = hints.iter().map(String::as_str).collect();
    pipe::report(tool, err, &hints);
    std::process::exit(err.exit_code())
}

/// The parsed command line of `tool` (see [`parse_from`]).
pub fn parse<C: Parser>(tool: &str) -> C {
    parse_from(tool, std::env::args_os())
}

/// `args` (argv, program name first) parsed for `tool`, after
/// [`crate::man_pages::generate_if_asked`]. `--help` and `--version` print and exit 0; a usage
/// error is one line on stderr and exit 2.
pub fn parse_from<C: Parser>(tool: &str, args: impl IntoIterator<Item = OsString>) -> C {
    crate::man_pages::generate_if_asked::<C>();
    match C::try_parse_from(args) {
        Ok(c) => c,
        Err(e) if !e.use_stderr() => e.exit(),
        Err(e) => usage_error::<C>(tool, &e),
    }
}

/// Print clap's error as one line, `TOOL: what; see TOOL --help`, and exit 2.
fn usage_error<C: CommandFactory>(tool: &str, e: &clap::Error) -> ! {
    usage(tool, &usage_line::<C>(e))
}

/// Print a usage error found by the tool itself, `TOOL: what; see TOOL --help`, and exit 2.
pub fn usage(tool: &str, what: &str) -> ! {
    eprintln!(
        "{}",
        pipe::one_line(&format!("{tool}: {what}; see {tool} --help"))
    );
    std::process::exit(EXIT_USAGE)
}

/// Clap's error text is several paragraphs (the error, a tip, the usage, "for more
/// information…"); its first line says what is wrong, the rest is what `--help` says anyway —
/// except after "the following required arguments were not provided:", where the next
/// indented lines name them.
fn usage_line<C: CommandFactory>(e: &clap::Error) -> String {
    if e.kind() == ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand {
        let cmd = C::command();
        let subs: Vec<&str> = cmd.get_subcommands().map(|s| s.get_name()).collect();
        return format!("no command given ({})", subs.join(", "));
    }
    // What the user typed, quoted in clap's text, is kept whole on the line: a control
    // character in it (a newline would end the line there) is escaped first. clap's text
    // shows it without its escape sequences, as a StyledStr shows any text.
    let mut text = e.to_string();
    for kind in [
        ContextKind::InvalidArg,
        ContextKind::InvalidValue,
        ContextKind::InvalidSubcommand,
    ] {
        if let Some(ContextValue::String(typed)) = e.get(kind) {
            let shown = clap::builder::StyledStr::from(typed.clone()).to_string();
            if shown.chars().any(char::is_control) {
                text = text.replace(&shown, &pipe::escaped(&shown));
            }
        }
    }
    let mut lines = text.lines();
    let first = lines.next().unwrap_or("invalid arguments");
    let first = first.trim_start_matches("error: ");
    let first = first.strip_suffix(" found").unwrap_or(first);
    match first.strip_suffix(':') {
        Some(head) => {
            let named: Vec<&str> = lines
                .take_while(|l| l.starts_with(' '))
                .map(str::trim)
                .collect();
            format!("{head}: {}", named.join(" "))
        }
        None => first.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Parser, Debug)]
    #[command(name = "ct-x")]
    struct X {
        #[command(subcommand)]
        cmd: Sub,
    }

    #[derive(clap::Subcommand, Debug)]
    enum Sub {
        Kill {
            id: String,
            #[arg(long, value_parser = clap::value_parser!(u8))]
            n: Option<u8>,
        },
        Delete,
    }

    fn line(args: &[&str]) -> String {
        let e = X::try_parse_from(args).unwrap_err();
        assert_eq!(e.exit_code(), 2);
        usage_line::<X>(&e)
    }

    #[test]
    fn a_usage_error_is_one_line_saying_what_is_wrong() {
        assert_eq!(
            line(&["ct-x", "--bundle"]),
            "unexpected argument '--bundle'"
        );
        assert_eq!(line(&["ct-x"]), "no command given (kill, delete)");
        let l = line(&["ct-x", "kill", "a", "--n", "300"]);
        assert!(
            l.starts_with("invalid value '300' for '--n <N>'") && !l.contains('\n'),
            "{l}"
        );
        assert_eq!(
            line(&["ct-x", "kill"]),
            "the following required arguments were not provided: <ID>"
        );
    }

    /// What the user typed is quoted whole, with its control characters escaped: a newline
    /// in it once cut the line there, losing the rest and the closing quote.
    #[test]
    fn a_usage_error_keeps_a_typed_argument_whole_on_its_line() {
        assert_eq!(
            line(&["ct-x", "--bad\nrest\u{1b}[31m"]),
            "unexpected argument '--bad\\nrest'"
        );
        assert_eq!(
            line(&["ct-x", "kill", "a", "--n", "3\n00"]),
            "invalid value '3\\n00' for '--n <N>': invalid digit found in string"
        );
    }
}
