//! The command-line skeleton every ct tool shares, so that all eight parse, fail and exit
//! the same way (the conventions are in [`crate::pipe`]):
//!
//! 1. [`parse`]: with `CT_GENERATE=man|bash|zsh|fish` in the environment, print that artifact
//!    (a man page or a completion script, generated from the tool's own clap definition so it
//!    can never disagree with `--help`) and exit; `make install` uses it. Else parse argv with
//!    clap: `--help`/`--version` print to stdout and exit 0; a usage error is turned from
//!    clap's multi-paragraph text into ONE line, `TOOL: unexpected argument '--x'; see TOOL
//!    --help`, and exit 2.
//! 2. The tool's `run` does the work and returns its exit code or its error.
//! 3. [`exit`]: an error is reported as one line ([`crate::pipe::report`]) and the process
//!    exits with the code the error's [`Failure`] impl gives (the table in `pipe.rs`).
//!
//! [`main`] is the three in a row: a tool's `main` is `cli::main("ct-gc", run)`.

use clap::error::ErrorKind;
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

/// Parse, run, exit: the whole `main` of a tool.
pub fn main<C: Parser, E: Failure>(tool: &str, run: impl FnOnce(C) -> Result<i32, E>) -> ! {
    let cli = parse::<C>(tool);
    exit(tool, run(cli))
}

/// End the process: `Ok(code)` exits with `code`; an error is reported as one line and exits
/// with its code.
pub fn exit<E: Failure>(tool: &str, r: Result<i32, E>) -> ! {
    match r {
        Ok(code) => std::process::exit(code),
        Err(e) => fail(tool, &e, e.exit_code()),
    }
}

/// Report `err` (with its hints) as one line and exit with `code`.
pub fn fail<E: Failure>(tool: &str, err: &E, code: i32) -> ! {
    let hints = err.hints();
    let hints: Vec<&str> = hints.iter().map(String::as_str).collect();
    pipe::report(tool, err, &hints);
    std::process::exit(code)
}

/// The parsed command line of `tool` (after [`generate_if_asked`]). `--help` and `--version`
/// print and exit 0; a usage error is one line on stderr and exit 2.
pub fn parse<C: Parser>(tool: &str) -> C {
    generate_if_asked::<C>();
    match C::try_parse() {
        Ok(c) => c,
        Err(e) if !e.use_stderr() => e.exit(),
        Err(e) => usage::<C>(tool, &e),
    }
}

/// Print clap's error as one line, `TOOL: what; see TOOL --help`, and exit 2.
pub fn usage<C: CommandFactory>(tool: &str, e: &clap::Error) -> ! {
    eprintln!("{}", pipe::one_line(&usage_line::<C>(tool, e)));
    std::process::exit(EXIT_USAGE)
}

/// Clap's error text is several paragraphs (the error, a tip, the usage, "for more
/// information…"); its first line says what is wrong, the rest is what `--help` says anyway.
fn usage_line<C: CommandFactory>(tool: &str, e: &clap::Error) -> String {
    let what = if e.kind() == ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand {
        let cmd = C::command();
        let subs: Vec<&str> = cmd.get_subcommands().map(|s| s.get_name()).collect();
        format!("no command given ({})", subs.join(", "))
    } else {
        let text = e.to_string();
        let first = text.lines().next().unwrap_or("invalid arguments");
        let first = first.trim_start_matches("error: ");
        first.strip_suffix(" found").unwrap_or(first).to_string()
    };
    format!("{tool}: {what}; see {tool} --help")
}

/// The environment variable that asks a tool for its man page or a completion script.
pub const GENERATE_ENV: &str = "CT_GENERATE";

/// If `$CT_GENERATE` names an artifact, print it for `C` and exit 0 (2 if the name is unknown).
pub fn generate_if_asked<C: CommandFactory>() {
    let Some(what) = std::env::var_os(GENERATE_ENV) else {
        return;
    };
    let mut cmd = C::command();
    let name = cmd.get_name().to_string();
    let mut out = Vec::new();
    let r = match what.to_str() {
        Some("man") => clap_mangen::Man::new(cmd).render(&mut out),
        Some(shell) => match shell.parse::<clap_complete::Shell>() {
            Ok(sh) => {
                clap_complete::generate(sh, &mut cmd, name.clone(), &mut out);
                Ok(())
            }
            Err(_) => {
                eprintln!("{name}: {GENERATE_ENV}: unknown artifact '{shell}' (man, bash, zsh, fish, elvish, powershell)");
                std::process::exit(crate::pipe::EXIT_USAGE);
            }
        },
        None => {
            eprintln!("{name}: {GENERATE_ENV} is not UTF-8");
            std::process::exit(crate::pipe::EXIT_USAGE);
        }
    };
    if let Err(e) = r {
        eprintln!("{name}: cannot render {}: {e}", what.to_string_lossy());
        std::process::exit(crate::pipe::EXIT_FAILURE);
    }
    crate::pipe::print_out(&String::from_utf8_lossy(&out));
    std::process::exit(crate::pipe::EXIT_OK);
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
        usage_line::<X>("ct-x", &e)
    }

    #[test]
    fn a_usage_error_is_one_line_naming_the_tool() {
        assert_eq!(
            line(&["ct-x", "--bundle"]),
            "ct-x: unexpected argument '--bundle'; see ct-x --help"
        );
        assert_eq!(
            line(&["ct-x"]),
            "ct-x: no command given (kill, delete); see ct-x --help"
        );
        let l = line(&["ct-x", "kill", "a", "--n", "300"]);
        assert!(
            l.starts_with("ct-x: invalid value '300' for '--n <N>'") && !l.contains('\n'),
            "{l}"
        );
        let l = line(&["ct-x", "kill"]);
        assert!(
            l.starts_with("ct-x: the following required arguments were not provided"),
            "{l}"
        );
    }
}
