//! Progress bars: drawn on a terminal (run under `script(1)`, which gives ct-pull a pty),
//! never with `-q`, never when stderr is a pipe.

mod common;

use std::process::Command;

use common::*;
use ct_tests::registry::{Auth, Registry};

/// Run `ct-pull ARGS` on a pseudo-terminal; everything it wrote to the terminal.
fn on_tty(env: &Env, args: &str) -> String {
    let cmd = format!("{} {args}", env!("CARGO_BIN_EXE_ct-pull"));
    let out = Command::new("script")
        .args(["-qfec", &cmd, "/dev/null"])
        .env("CT_ROOT", env.root())
        .env("HOME", env.sb.dir.path())
        .env("TERM", "xterm")
        .env("COLUMNS", "120")
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn bars_only_on_a_terminal_and_not_with_quiet() {
    let t = Sandbox::new();
    let fx = fixtures(&t.dir.path().join("fx"));
    let reg = Registry::start(Auth::None);
    let r = reg.push_layout(&fx.dir, "multi:1", "test/multi:1");

    let env = Env::new();
    let shown = on_tty(&env, &r);
    assert!(shown.contains("done"), "no bars on a terminal: {shown:?}");
    assert!(shown.contains(&format!("{r}@{}", fx.multi)));

    let env = Env::new();
    let quiet = on_tty(&env, &format!("-q {r}"));
    assert_eq!(quiet.trim(), format!("{r}@{}", fx.multi), "{quiet:?}");

    let env = Env::new();
    let piped = env.run(&[&r]);
    assert!(piped.status.success());
    assert!(
        piped.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&piped.stderr)
    );
}
