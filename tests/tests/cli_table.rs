//! The exit-code table (`ct_layout::pipe`, README "Exit codes") row by row, for all eight
//! tools and for `ct`: bad flags, missing input, missing files, unknown images and containers,
//! conflicts with a running container, and teardown of what is not there. Each row checks the
//! exit code and that stderr is exactly ONE line starting with the tool's name (or nothing,
//! where the row says so): 0 ok, 1 failure (also missing and conflict), 2 usage; the verbs that
//! run a command (ct-exec run and exec, `ct run`, `ct exec`) use 125 for their own failures.

use ct_layout::image_layout::ImageLayout;
use ct_layout::Store;
use ct_tests::bins::bin;
use ct_tests::image::busybox_image;
use ct_tests::sandbox::{stderr, wait_for, Sandbox};

/// What a row's stderr must be.
#[derive(Clone, Copy, Debug)]
enum Says {
    /// Exactly one line starting with this prefix.
    Line(&'static str),
    /// Nothing at all.
    Nothing,
}

use Says::*;

const IMG: &str = "localhost/busybox:1";

/// (program, args, exit code, stderr). `ct` is the front-end; the others are the tools.
fn rows() -> Vec<(&'static str, Vec<&'static str>, i32, Says)> {
    vec![
        (
            "ct-pull",
            vec!["--bundle"],
            2,
            Line("ct-pull: unexpected argument '--bundle'; see ct-pull --help"),
        ),
        ("ct-pull", vec![], 2, Line("ct-pull: no image given")),
        ("ct-pull", vec!["Bad//Ref"], 2, Line("ct-pull: ")),
        (
            "ct-pull",
            vec!["oci:/nonexistent/layout"],
            1,
            Line("ct-pull: "),
        ),
        (
            "ct-unpack",
            vec!["--bogus"],
            2,
            Line("ct-unpack: unexpected argument '--bogus'"),
        ),
        (
            "ct-unpack",
            vec![],
            2,
            Line("ct-unpack: no image reference given"),
        ),
        (
            "ct-unpack",
            vec!["nope:1"],
            1,
            Line("ct-unpack: no image 'nope:1'"),
        ),
        (
            "ct-unpack",
            vec!["--name", "busy", IMG],
            1,
            Line("ct-unpack: container 'busy' already exists"),
        ),
        (
            "ct-mount",
            vec!["--bogus"],
            2,
            Line("ct-mount: unexpected argument '--bogus'"),
        ),
        ("ct-mount", vec![], 2, Line("ct-mount: no bundle given")),
        (
            "ct-mount",
            vec!["/nonexistent/bundle"],
            1,
            Line("ct-mount: no bundle '/nonexistent/bundle'"),
        ),
        (
            "ct-mount",
            vec!["--unmount", "/nonexistent/bundle"],
            0,
            Line("ct-mount: no bundle '/nonexistent/bundle': nothing to unmount"),
        ),
        (
            "ct-exec",
            vec!["--bundle", "x"],
            2,
            Line("ct-exec: unexpected argument '--bundle'; see ct-exec --help"),
        ),
        ("ct-exec", vec![], 2, Line("ct-exec: no bundle given")),
        (
            "ct-exec",
            vec!["/nonexistent/bundle"],
            125,
            Line("ct-exec: no bundle '/nonexistent/bundle'"),
        ),
        (
            "ct-exec",
            vec!["busy"],
            125,
            Line("ct-exec: container 'busy' already exists and is in use"),
        ),
        (
            "ct-exec",
            vec!["exec", "nope", "--", "true"],
            125,
            Line("ct-exec: no container 'nope'"),
        ),
        (
            "ct-exec",
            vec!["kill", "nope"],
            1,
            Line("ct-exec: no container 'nope'"),
        ),
        (
            "ct-exec",
            vec!["kill", "busy", "NOSUCHSIG"],
            1,
            Line("ct-exec: unknown signal 'NOSUCHSIG'"),
        ),
        (
            "ct-exec",
            vec!["kill", "../x"],
            2,
            Line("ct-exec: invalid container id '../x'"),
        ),
        (
            "ct-exec",
            vec!["delete", "nope"],
            1,
            Line("ct-exec: no container 'nope'"),
        ),
        (
            "ct-exec",
            vec!["delete", "busy"],
            1,
            Line("ct-exec: container 'busy' is running"),
        ),
        ("ct-exec", vec!["delete", "--force", "nope"], 0, Nothing),
        (
            "ct-net",
            vec!["--bogus"],
            2,
            Line("ct-net: unexpected argument '--bogus'"),
        ),
        (
            "ct-net",
            vec!["--bridge", "bad name!", "x"],
            2,
            Line("ct-net: invalid bridge name 'bad name!'"),
        ),
        (
            "ct-net",
            vec!["/nonexistent/bundle"],
            1,
            Line("ct-net: no bundle '/nonexistent/bundle'"),
        ),
        (
            "ct-net",
            vec!["--down", "nope"],
            0,
            Line("ct-net: no bundle 'nope' and no network of it"),
        ),
        (
            "ct-cgroup",
            vec!["--bogus"],
            2,
            Line("ct-cgroup: unexpected argument '--bogus'"),
        ),
        (
            "ct-cgroup",
            vec!["--memory", "64x", "x"],
            2,
            Line("ct-cgroup: invalid value '64x' for '--memory <SIZE>'"),
        ),
        (
            "ct-cgroup",
            vec!["/nonexistent/bundle", "--memory", "64m"],
            1,
            Line("ct-cgroup: bundle '/nonexistent/bundle'"),
        ),
        (
            "ct-cgroup",
            vec!["stats", "nope"],
            1,
            Line("ct-cgroup: no cgroup '/"),
        ),
        (
            "ct-cgroup",
            vec!["rm", "nope"],
            1,
            Line("ct-cgroup: no cgroup '/"),
        ),
        (
            "ct-ls",
            vec![],
            2,
            Line("ct-ls: no command given (images, layers, containers); see ct-ls --help"),
        ),
        (
            "ct-ls",
            vec!["images", "--bogus"],
            2,
            Line("ct-ls: unexpected argument '--bogus'"),
        ),
        ("ct-ls", vec!["images"], 0, Nothing),
        ("ct-gc", vec![], 2, Line("ct-gc: no command given")),
        (
            "ct-gc",
            vec!["rmi", "nope:1"],
            1,
            Line("ct-gc: no image 'nope:1' in the store; hint: "),
        ),
        (
            "ct-gc",
            vec!["rmi", IMG],
            1,
            Line("ct-gc: image 'localhost/busybox:1' is used by container 'busy'"),
        ),
        (
            "ct",
            vec!["bogus"],
            2,
            Line("ct: unknown command 'bogus'; see ct help"),
        ),
        ("ct", vec!["run"], 2, Line("ct: run: no image given")),
        (
            "ct",
            vec!["run", "--name"],
            2,
            Line("ct: --name needs a value"),
        ),
        (
            "ct",
            vec!["run", "--bogus", IMG],
            2,
            Line("ct: run: unknown flag '--bogus'"),
        ),
        (
            "ct",
            vec!["run", "--rootfs", "/nonexistent/dir", "true"],
            125,
            Line("ct: --rootfs: '/nonexistent/dir' is not a directory"),
        ),
        (
            "ct",
            vec!["run", "--name", "busy", IMG, "true"],
            125,
            Line("ct: a container 'busy' exists"),
        ),
        (
            "ct",
            vec!["exec", "nope", "true"],
            125,
            Line("ct: no container 'nope'"),
        ),
        ("ct", vec!["exec", "-e"], 2, Line("ct: -e needs a value")),
        ("ct", vec!["pull"], 2, Line("ct: pull: no image given")),
        (
            "ct",
            vec!["images", "--bogus"],
            2,
            Line("ct-ls: unexpected argument '--bogus'"),
        ),
        ("ct", vec!["rm"], 2, Line("ct: rm: no container given")),
        (
            "ct",
            vec!["rm", "--bogus"],
            2,
            Line("ct: rm: unknown flag '--bogus'"),
        ),
        ("ct", vec!["rm", "nope"], 1, Line("ct: no container 'nope'")),
        (
            "ct",
            vec!["rm", "busy"],
            1,
            Line("ct: container 'busy' is running"),
        ),
        (
            "ct",
            vec!["stop", "nope"],
            1,
            Line("ct: no container 'nope'"),
        ),
        ("ct", vec!["stop", "-t"], 2, Line("ct: -t needs a value")),
        (
            "ct",
            vec!["stop", "--bogus"],
            2,
            Line("ct: stop: unknown flag '--bogus'"),
        ),
        (
            "ct",
            vec!["start", "nope"],
            1,
            Line("ct: no container 'nope'"),
        ),
        (
            "ct",
            vec!["logs", "nope"],
            1,
            Line("ct: no container 'nope'"),
        ),
        (
            "ct",
            vec!["inspect", "nope"],
            1,
            Line("ct: no container or image 'nope'"),
        ),
        (
            "ct",
            vec!["inspect"],
            2,
            Line("ct: inspect: one container or image"),
        ),
    ]
}

#[test]
fn every_tool_exits_by_the_table_with_one_line_naming_itself() {
    let ct = Sandbox::new();
    let store = Store::new(ct.root.clone(), ct.run.clone());
    busybox_image(&ImageLayout::of_store(&store), IMG);
    // A running container for the conflicts: `busy`, detached (Sandbox's Drop removes it).
    let tool = |name: &str, args: &[&str]| {
        let mut c = ct.program(&bin(name).to_string_lossy(), 60);
        c.args(args);
        c.output().unwrap()
    };
    let o = tool(
        "ct-unpack",
        &["--flat", "--name", "busy", IMG, "--", "sleep", "120"],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let o = tool("ct-exec", &["-d", "busy"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(wait_for(10, || {
        (ct_layout::state::State::load(&store, "busy")
            .is_ok_and(|s| s.refreshed().status == ct_layout::state::Status::Running))
        .then_some(())
    })
    .is_some());

    let mut wrong = Vec::new();
    for (prog, args, code, says) in rows() {
        let o = if prog == "ct" {
            ct.out(&args)
        } else {
            tool(prog, &args)
        };
        let err = stderr(&o);
        let lines: Vec<&str> = err.lines().collect();
        let ok_err = match says {
            Nothing => err.is_empty(),
            Line(prefix) => lines.len() == 1 && err.ends_with('\n') && lines[0].starts_with(prefix),
        };
        if o.status.code() != Some(code) || !ok_err {
            wrong.push(format!(
                "{prog} {args:?}: exit {:?} (want {code}), stderr {err:?} (want {says:?})",
                o.status.code()
            ));
        }
    }
    assert!(
        wrong.is_empty(),
        "{} rows wrong:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
}

/// Every tool's usage errors are ONE line, `TOOL: what is wrong; see TOOL --help`, exit 2 —
/// clap's own text is several paragraphs, and for a missing argument its first line ends in a
/// colon with the argument's name on the next one — while `--help` and `--version` print to
/// stdout and exit 0.
#[test]
fn every_tool_says_a_usage_error_in_one_line_naming_itself() {
    let tools = [
        "ct-pull",
        "ct-unpack",
        "ct-mount",
        "ct-exec",
        "ct-net",
        "ct-cgroup",
        "ct-ls",
        "ct-gc",
    ];
    let mut rows: Vec<(&str, Vec<&str>, String)> = tools
        .iter()
        .map(|t| {
            (
                *t,
                vec!["--no-such-flag"],
                format!("{t}: unexpected argument '--no-such-flag'; see {t} --help"),
            )
        })
        .collect();
    let missing = |t: &'static str, args: Vec<&'static str>, what: &str| {
        (t, args, format!("{t}: {what}; see {t} --help"))
    };
    rows.extend([
        missing(
            "ct-gc",
            vec!["rmi"],
            "the following required arguments were not provided: <IMAGE>...",
        ),
        missing(
            "ct-exec",
            vec!["kill"],
            "the following required arguments were not provided: <ID>",
        ),
        missing(
            "ct-exec",
            vec!["update"],
            "the following required arguments were not provided: <ID>",
        ),
        missing(
            "ct-exec",
            vec!["--log-format", "xml", "list"],
            "--log-format is text or json",
        ),
        missing(
            "ct-net",
            vec!["--bridge"],
            "a value is required for '--bridge <BRIDGE>' but none was supplied",
        ),
    ]);
    let mut wrong = Vec::new();
    for (tool, args, want) in rows {
        let o = std::process::Command::new(bin(tool))
            .args(&args)
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap();
        let err = stderr(&o);
        if o.status.code() != Some(2) || err != format!("{want}\n") || !o.stdout.is_empty() {
            wrong.push(format!(
                "{tool} {args:?}: exit {:?}, stderr {err:?} (want 2, {want:?})",
                o.status.code()
            ));
        }
    }
    for tool in tools {
        for flag in ["--help", "--version"] {
            let o = std::process::Command::new(bin(tool))
                .arg(flag)
                .output()
                .unwrap();
            let out = String::from_utf8_lossy(&o.stdout);
            if o.status.code() != Some(0) || !o.stderr.is_empty() || !out.contains(tool) {
                wrong.push(format!(
                    "{tool} {flag}: exit {:?}, stdout {out:.80?}, stderr {:?}",
                    o.status.code(),
                    stderr(&o)
                ));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "{} rows wrong:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
}
