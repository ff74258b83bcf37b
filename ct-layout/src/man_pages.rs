//! Man pages and shell completion scripts, generated from a tool's own clap definition so
//! they can never disagree with its `--help`: `CT_GENERATE=man ct-gc` prints ct-gc's man page
//! (roff, from clap_mangen), `CT_GENERATE=bash` (zsh, fish, elvish, powershell) its completion
//! script (clap_complete), and exits. `make install` writes them; [`crate::tool::parse`] calls
//! [`generate_if_asked`] before it parses argv, so every tool answers.

use clap::CommandFactory;

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
