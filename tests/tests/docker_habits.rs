//! What docker users expect of `ct`, one behaviour per test (issue 18), through the real `ct`
//! script and stages, with fixture images built here: stdin only with `-i`; docker's option
//! grammar; `stop` with the image's STOPSIGNAL and an exact `-t`; logs of every run; `exec`
//! without a command, `-d`, into a stopped container; `rm` of a running container; one error
//! per failure; images by id; imports of every archive format; named volumes and `--mount`.

use std::fs;
use std::io::Write;
use std::process::Stdio;

use ct_layout::image_layout::ImageLayout;
use ct_tests::image::{busybox_layer, Compression, Image};
use ct_tests::sandbox::{stderr, stdout, wait_for, Sandbox};
use serde_json::{json, Value};

/// A busybox image with `config` (Cmd, StopSignal, User, Volumes…) in the store as `name`.
fn image(ct: &Sandbox, name: &str, config: Value) -> String {
    let dir = ct
        .dir
        .path()
        .join(format!("layout-{}", name.replace(['/', ':'], "_")));
    let mut c = json!({"Env": ["PATH=/usr/sbin:/usr/bin:/sbin:/bin"], "Cmd": ["/bin/sh"]});
    for (k, v) in config.as_object().unwrap() {
        c[k] = v.clone();
    }
    Image::new()
        .layer(busybox_layer(), Compression::Gzip)
        .config(c)
        .write(&ImageLayout::at(&dir), "fixture");
    let src = format!("oci:{}:fixture", dir.display());
    ct.ok(&["pull", "--tag", name, &src]);
    name.to_string()
}

fn busybox(ct: &Sandbox) -> String {
    image(ct, "localhost/habits:1", json!({}))
}

/// `ct ARGS…` with `input` on its stdin (a pipe).
fn with_stdin(ct: &Sandbox, args: &[&str], input: &str) -> std::process::Output {
    let mut c = ct.cmd(args);
    c.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = c.spawn().unwrap();
    let mut w = child.stdin.take().unwrap();
    let _ = w.write_all(input.as_bytes());
    drop(w);
    child.wait_with_output().unwrap()
}

fn state(ct: &Sandbox, id: &str) -> Value {
    let o = ct.ok(&["inspect", id]);
    serde_json::from_str::<Value>(&o).unwrap()["State"].clone()
}

#[test]
fn stdin_reaches_the_container_only_with_dash_i() {
    let ct = Sandbox::new();
    let img = busybox(&ct);
    let o = with_stdin(
        &ct,
        &["run", "--rm", "--network", "none", &img, "cat"],
        "hi\n",
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(
        stdout(&o),
        "",
        "without -i the container's stdin is /dev/null"
    );
    let o = with_stdin(
        &ct,
        &["run", "--rm", "-i", "--network", "none", &img, "cat"],
        "hi\n",
    );
    assert_eq!(
        (o.status.code(), stdout(&o)),
        (Some(0), "hi\n".into()),
        "{}",
        stderr(&o)
    );
}

#[test]
fn options_parse_like_dockers() {
    let ct = Sandbox::new();
    let img = busybox(&ct);
    // --flag=value, --bool=true, a glued short value, and -- before the image.
    let o = ct.out(&[
        "run",
        "--rm=true",
        "--network=none",
        "-eGREETING=hi",
        "-w=/tmp",
        "--",
        &img,
        "sh",
        "-c",
        "echo $GREETING; pwd",
    ]);
    assert_eq!(
        (o.status.code(), stdout(&o)),
        (Some(0), "hi\n/tmp\n".into()),
        "{}",
        stderr(&o)
    );
    assert!(ct.containers().is_empty(), "--rm=true removed it");
    // --rm=false keeps it; combined short flags (-di: detached, with stdin).
    let o = ct.out(&[
        "run",
        "--rm=false",
        "--name",
        "kept",
        "--network",
        "none",
        &img,
        "true",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(ct.containers(), vec!["kept"]);
    let o = ct.out(&[
        "run",
        "-di",
        "--name",
        "bg",
        "--network",
        "none",
        &img,
        "sleep",
        "30",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(state(&ct, "bg")["status"], "running");
    // A boolean with another value is a usage error, named.
    let o = ct.out(&["run", "--rm=yes", &img, "true"]);
    assert_eq!(o.status.code(), Some(2));
    assert_eq!(
        stderr(&o),
        "ct: --rm takes true or false, not 'yes'; see ct help\n"
    );
}

#[test]
fn stop_sends_the_images_stopsignal_then_kills_after_the_timeout() {
    let ct = Sandbox::new();
    let trap = "trap 'echo got-usr1; exit 7' USR1; while :; do sleep 0.1; done";
    let img = image(
        &ct,
        "localhost/stopsig:1",
        json!({"StopSignal": "SIGUSR1", "Cmd": ["sh", "-c", trap]}),
    );
    ct.ok(&["run", "-d", "--name", "s", "--network", "none", &img]);
    assert_eq!(ct.ok(&["stop", "s"]), "s\n");
    let st = state(&ct, "s");
    assert_eq!(
        (st["status"].as_str(), st["exitCode"].as_i64()),
        (Some("stopped"), Some(7))
    );
    assert!(ct.ok(&["logs", "s"]).contains("got-usr1"));

    // --stop-signal at run wins over the image's; a container that ignores it is killed
    // once -t has passed.
    let ignore = "trap '' TERM USR1; echo up; while :; do sleep 0.1; done";
    let o = ct.out(&[
        "run",
        "-d",
        "--name",
        "k",
        "--stop-signal",
        "TERM",
        "--network",
        "none",
        &img,
        "sh",
        "-c",
        ignore,
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    wait_for(10, || ct.ok(&["logs", "k"]).contains("up").then_some(()));
    let o = ct.out(&["stop", "-t", "1", "k"]);
    assert_eq!(
        (o.status.code(), stdout(&o)),
        (Some(0), "k\n".into()),
        "{}",
        stderr(&o)
    );
    let st = state(&ct, "k");
    assert_eq!(
        (st["status"].as_str(), st["exitCode"].as_i64()),
        (Some("stopped"), Some(137))
    );
}

#[test]
fn every_run_appends_to_the_log() {
    let ct = Sandbox::new();
    let img = busybox(&ct);
    let o = ct.out(&[
        "run",
        "--name",
        "l",
        "--network",
        "none",
        &img,
        "sh",
        "-c",
        "echo out; echo err >&2",
    ]);
    assert_eq!(
        (o.status.code(), stdout(&o), stderr(&o)),
        (Some(0), "out\n".into(), "err\n".into())
    );
    ct.ok(&["start", "l"]);
    ct.ok(&["wait", "l"]);
    let o = ct.out(&["start", "-a", "l"]);
    assert_eq!(stdout(&o), "out\n", "{}", stderr(&o));
    // As docker logs: the container's stdout lines on stdout, its stderr lines on stderr.
    let o = ct.out(&["logs", "l"]);
    assert_eq!(
        (o.status.code(), stdout(&o), stderr(&o)),
        (Some(0), "out\n".repeat(3), "err\n".repeat(3))
    );
    let o = ct.out(&["logs", "--tail", "1", "l"]);
    assert_eq!(stdout(&o).lines().count() + stderr(&o).lines().count(), 1);
}

/// `date -u` with nanoseconds, as the log writes its times: such strings sort as the times do.
fn now_rfc3339() -> String {
    let o = std::process::Command::new("date")
        .args(["-u", "+%Y-%m-%dT%H:%M:%S.%NZ"])
        .output()
        .unwrap();
    stdout(&o).trim().to_string()
}

/// Each line of a log has the time it was written, from the stage tool that read it
/// (ct-exec), in podman's k8s-file format; `ct logs -t` shows it, as docker logs -t does.
#[test]
fn logs_carry_the_time_each_line_was_written() {
    let ct = Sandbox::new();
    let img = busybox(&ct);
    let before = now_rfc3339();
    let o = ct.out(&[
        "run",
        "--name",
        "t",
        "--network",
        "none",
        &img,
        "sh",
        "-c",
        "echo one; echo two >&2; printf part; sleep 0.2; echo ial",
    ]);
    let after = now_rfc3339();
    assert_eq!(
        (o.status.code(), stdout(&o), stderr(&o)),
        (Some(0), "one\npartial\n".into(), "two\n".into())
    );
    let raw = fs::read_to_string(ct.root.join("containers/t/container.log")).unwrap();
    let entries: Vec<Vec<&str>> = raw.lines().map(|l| l.splitn(4, ' ').collect()).collect();
    // (Which of the two pipes is read first is the scheduler's choice: each stream in order.)
    let stream = |name: &str| -> Vec<(&str, &str)> {
        entries
            .iter()
            .filter(|e| e[1] == name)
            .map(|e| (e[2], e[3]))
            .collect()
    };
    assert_eq!(
        stream("stdout"),
        vec![("F", "one"), ("P", "part"), ("F", "ial")],
        "{raw}"
    );
    assert_eq!(stream("stderr"), vec![("F", "two")], "{raw}");
    assert_eq!(entries.len(), 4, "{raw}");
    let time_of = |text: &str| entries.iter().find(|e| e[3] == text).unwrap()[0];
    for e in &entries {
        assert!(
            e[0].len() == 30 && before.as_str() <= e[0] && e[0] <= after.as_str(),
            "{} is not a time between {before} and {after}",
            e[0]
        );
    }
    // A line written in two parts is one line, with the time of its first part.
    let o = ct.out(&["logs", "-t", "t"]);
    assert_eq!(
        stdout(&o),
        format!("{} one\n{} partial\n", time_of("one"), time_of("part"))
    );
    assert_eq!(stderr(&o), format!("{} two\n", time_of("two")));
}

/// `ct logs --since` (a time, a date or a duration, as docker's) shows what was written from
/// then on: here the second run's line only.
#[test]
fn logs_since_shows_only_what_was_written_after() {
    let ct = Sandbox::new();
    let img = busybox(&ct);
    let count = "n=$(cat /n 2>/dev/null || echo 0); n=$((n+1)); echo $n >/n; echo run$n";
    ct.ok(&[
        "run",
        "--name",
        "s",
        "--network",
        "none",
        &img,
        "sh",
        "-c",
        count,
    ]);
    let between = now_rfc3339();
    assert_eq!(ct.ok(&["start", "-a", "s"]), "run2\n");
    assert_eq!(ct.ok(&["logs", "s"]), "run1\nrun2\n");
    assert_eq!(ct.ok(&["logs", "--since", &between, "s"]), "run2\n");
    assert_eq!(ct.ok(&["logs", "--since=1h", "s"]), "run1\nrun2\n");
    assert_eq!(ct.ok(&["logs", "--since", "2999-01-01", "s"]), "");
    let o = ct.out(&["logs", "--since", "yesterday", "s"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).starts_with("ct-exec: --since takes"),
        "{}",
        stderr(&o)
    );
}

/// `--log-opt max-size=… --log-opt max-file=N` bounds a container's log as docker's json-file
/// driver does: rotated into FILE.1 … so that at most N files of about max-size remain, and
/// `ct logs` shows the newest lines in order. The terminal still gets every line.
#[test]
fn a_log_opt_max_size_bounds_the_log_by_rotation() {
    let ct = Sandbox::new();
    let img = busybox(&ct);
    for detach in [false, true] {
        let name = if detach { "rd" } else { "rf" };
        let mut args = vec!["run", "--name", name, "--network", "none"];
        if detach {
            args.push("-d");
        }
        args.extend([
            "--log-opt",
            "max-size=2k",
            "--log-opt=max-file=3",
            &img,
            "seq",
            "1",
            "5000",
        ]);
        let out = ct.ok(&args);
        if detach {
            ct.ok(&["wait", name]);
        } else {
            assert_eq!(out.lines().count(), 5000);
        }
        let log = ct.root.join(format!("containers/{name}/container.log"));
        let size = |k: &str| fs::metadata(format!("{}{k}", log.display())).map(|m| m.len());
        for k in ["", ".1", ".2"] {
            let s = size(k).unwrap();
            assert!(s <= 2048, "{name}: container.log{k} has {s} bytes");
        }
        assert!(size(".3").is_err(), "{name}: a fourth file was kept");
        let shown = ct.ok(&["logs", name]);
        let nums: Vec<u32> = shown.lines().map(|l| l.parse().unwrap()).collect();
        assert_eq!(nums.last(), Some(&5000), "{name}");
        assert!(nums[0] > 4000, "{name}: the log kept line {}", nums[0]);
        assert!(nums.windows(2).all(|w| w[1] == w[0] + 1), "{name}: {shown}");
    }
    let o = ct.out(&["run", "--log-opt", "max-size=lots", &img, "true"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
}

#[test]
fn exec_needs_a_command_and_a_running_container() {
    let ct = Sandbox::new();
    let img = busybox(&ct);
    ct.ok(&[
        "run",
        "-d",
        "--name",
        "e",
        "--network",
        "none",
        &img,
        "sleep",
        "60",
    ]);
    let o = ct.out(&["exec", "e"]);
    assert_eq!(o.status.code(), Some(2));
    assert_eq!(
        stderr(&o),
        "ct: exec: no command given (ct exec ID CMD…); see ct help\n"
    );
    // -d: the command runs on in the background.
    let o = ct.out(&[
        "exec",
        "-d",
        "e",
        "sh",
        "-c",
        "sleep 0.2; echo done > /tmp/mark",
    ]);
    assert_eq!(
        (o.status.code(), stdout(&o)),
        (Some(0), "".into()),
        "{}",
        stderr(&o)
    );
    let seen = wait_for(10, || {
        let o = ct.out(&["exec", "e", "cat", "/tmp/mark"]);
        (stdout(&o) == "done\n").then_some(())
    });
    assert!(seen.is_some(), "exec -d ran its command");
    ct.ok(&["stop", "-t", "0", "e"]);
    let o = ct.out(&["exec", "e", "true"]);
    assert_eq!(o.status.code(), Some(125));
    assert_eq!(
        stderr(&o),
        "ct: container 'e' is not running (start it with: ct start e)\n"
    );
}

#[test]
fn rm_of_a_running_container_needs_force_and_start_says_only_its_id() {
    let ct = Sandbox::new();
    let img = busybox(&ct);
    ct.ok(&[
        "run",
        "-d",
        "--name",
        "r",
        "--network",
        "none",
        &img,
        "sleep",
        "60",
    ]);
    let o = ct.out(&["rm", "r"]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        stderr(&o),
        "ct: container 'r' is running; stop it first or use rm -f\n"
    );
    ct.ok(&["stop", "-t", "0", "r"]);
    let o = ct.out(&["start", "r"]);
    assert_eq!(
        (o.status.code(), stdout(&o), stderr(&o)),
        (Some(0), "r\n".into(), "".into())
    );
    assert_eq!(ct.ok(&["rm", "-f", "r"]), "r\n");
}

#[test]
fn a_failing_stage_is_the_only_message() {
    let ct = Sandbox::new();
    let img = busybox(&ct);
    for (flags, tool) in [
        (vec!["-u", "nosuchuser"], "ct-unpack: "),
        (vec!["-v", "relative"], "ct-mount: "),
    ] {
        let mut args = vec!["run", "--rm", "--network", "none"];
        args.extend(flags);
        args.extend([img.as_str(), "true"]);
        let o = ct.out(&args);
        assert_eq!(o.status.code(), Some(125));
        let e = stderr(&o);
        assert_eq!(e.lines().count(), 1, "{e}");
        assert!(e.starts_with(tool), "{e}");
    }
}

#[test]
fn images_are_found_by_id_prefix_without_a_registry() {
    let ct = Sandbox::new();
    let img = busybox(&ct);
    let layout = ImageLayout::at(ct.root.join("images"));
    let digest = layout.read_index().unwrap().manifests()[0]
        .digest()
        .to_string();
    let hex = digest.trim_start_matches("sha256:");
    let o = ct.out(&[
        "run",
        "--rm",
        "--network",
        "none",
        &hex[..8],
        "echo",
        "by-id",
    ]);
    assert_eq!(
        (o.status.code(), stdout(&o)),
        (Some(0), "by-id\n".into()),
        "{}",
        stderr(&o)
    );
    let v: Value = serde_json::from_str(&ct.ok(&["inspect", &hex[..8]])).unwrap();
    assert_eq!(v["Digest"], digest);
    ct.ok(&["rmi", &hex[..8]]);
    assert_eq!(ct.ok(&["images", "-q"]), "", "{img} removed by id");
}

#[test]
fn named_volumes_outlive_their_containers() {
    let ct = Sandbox::new();
    let img = busybox(&ct);
    let run = |args: &[&str]| {
        let mut a = vec!["run", "--rm", "--network", "none"];
        a.extend(args);
        ct.out(&a)
    };
    let o = run(&["-v", "data:/data", &img, "sh", "-c", "echo kept > /data/f"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let o = run(&[
        "--mount",
        "type=volume,source=data,target=/v,readonly",
        &img,
        "sh",
        "-c",
        "cat /v/f; touch /v/g",
    ]);
    assert_eq!(stdout(&o), "kept\n", "{}", stderr(&o));
    assert_ne!(o.status.code(), Some(0), "readonly: touch failed");
    assert_eq!(ct.ok(&["volume", "ls"]), "data\n");
    let v: Value = serde_json::from_str(&ct.ok(&["volume", "inspect", "data"])).unwrap();
    assert_eq!(
        v["Mountpoint"],
        ct.root.join("volumes/data/_data").to_str().unwrap()
    );

    // --mount tmpfs and bind.
    let host = ct.dir.path().join("hostdir");
    fs::create_dir_all(&host).unwrap();
    fs::write(host.join("h"), "from-host\n").unwrap();
    let bind = format!("type=bind,source={},target=/h", host.display());
    let o = run(&[
        "--mount",
        "type=tmpfs,target=/scratch",
        "--mount",
        &bind,
        &img,
        "sh",
        "-c",
        "grep ' /scratch ' /proc/mounts | cut -d' ' -f3; cat /h/h",
    ]);
    assert_eq!(stdout(&o), "tmpfs\nfrom-host\n", "{}", stderr(&o));

    // In use: rm refuses; once the container is gone, rm and prune work.
    ct.ok(&[
        "create",
        "--name",
        "user",
        "--network",
        "none",
        "-v",
        "data:/data",
        &img,
    ]);
    let o = ct.out(&["volume", "rm", "data"]);
    assert_eq!(
        (o.status.code(), stderr(&o)),
        (Some(1), "ct: volume 'data' is in use by user\n".into())
    );
    assert_eq!(
        ct.ok(&["volume", "prune"]),
        "",
        "prune keeps a volume in use"
    );
    ct.ok(&["rm", "user"]);
    ct.ok(&["volume", "create", "spare"]);
    assert_eq!(ct.ok(&["volume", "rm", "data"]), "data\n");
    assert_eq!(ct.ok(&["volume", "prune"]), "spare\n");
    assert_eq!(ct.ok(&["volume", "ls"]), "");
}

#[test]
fn import_reads_every_archive_format_and_a_file_is_never_a_reference() {
    let ct = Sandbox::new();
    let d = ct.dir.path();
    let tar = busybox_layer();
    fs::write(d.join("r.tar"), &tar).unwrap();
    let sh = |cmd: &str| {
        let o = std::process::Command::new("sh")
            .arg("-c")
            .arg(cmd)
            .current_dir(d)
            .output()
            .unwrap();
        assert!(o.status.success(), "{cmd}: {}", stderr(&o));
    };
    sh("xz -k r.tar && bzip2 -k r.tar && gzip -k r.tar && mkdir root && tar -C root -xf r.tar && cd root && zip -qry ../r.zip .");
    for f in ["r.tar.xz", "r.tar.bz2", "r.zip"] {
        let tag = format!("localhost/{}:1", f.replace('.', "-"));
        let o = ct.out(&["import", d.join(f).to_str().unwrap(), &tag]);
        assert_eq!(o.status.code(), Some(0), "{f}: {}", stderr(&o));
        assert!(
            stdout(&o).starts_with(&format!("{tag}@sha256:")),
            "{}",
            stdout(&o)
        );
        let o = ct.out(&["run", "--rm", "--network", "none", &tag, "echo", f]);
        assert_eq!(stdout(&o), format!("{f}\n"), "{}", stderr(&o));
    }
    // stdin, untagged: named after its id.
    let o = with_stdin_bytes(
        &ct,
        &["import", "-"],
        &fs::read(d.join("r.tar.gz")).unwrap(),
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(
        stdout(&o).starts_with("localhost/import:"),
        "{}",
        stdout(&o)
    );
    // A file's path is never sent to a registry, even in a format ct-pull cannot read.
    let o = ct.out(&["import", "missing.tar.xz", "x:1"]);
    assert_eq!(
        (o.status.code(), stderr(&o)),
        (Some(1), "ct: import: no file 'missing.tar.xz'\n".into())
    );
    let o = ct
        .program(ct_tests::bins::bin("ct-pull").to_str().unwrap(), 60)
        .args(["--tag", "x:1", d.join("r.tar.xz").to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("a xz file: ct-pull imports tar"),
        "{}",
        stderr(&o)
    );
}

fn with_stdin_bytes(ct: &Sandbox, args: &[&str], input: &[u8]) -> std::process::Output {
    let mut c = ct.cmd(args);
    c.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = c.spawn().unwrap();
    let mut w = child.stdin.take().unwrap();
    let _ = w.write_all(input);
    drop(w);
    child.wait_with_output().unwrap()
}

/// A tmux server of its own (socket in the test's dir), killed when dropped: a real terminal
/// for `ct -t`, with keys typed into it and its screen read back.
struct Tmux {
    sock: std::path::PathBuf,
}

impl Tmux {
    /// Start `ct ARGS…` (with this world's environment) in a new 100x30 window; when it ends,
    /// the window shows `EXIT=<status>` and stays open.
    fn start(ct: &Sandbox, args: &[&str]) -> Tmux {
        let sock = ct.dir.path().join(format!("tmux-{}", args.len()));
        let c = ct.cmd(&[]);
        let q = |s: &str| format!("'{}'", s.replace('\'', "'\\''"));
        let mut line = String::from("env");
        for (k, v) in c.get_envs() {
            if let Some(v) = v {
                line += &format!(
                    " {}",
                    q(&format!("{}={}", k.to_string_lossy(), v.to_string_lossy()))
                );
            }
        }
        line += &format!(" {}", ct_tests::sandbox::script().display());
        for a in args {
            line += &format!(" {}", q(a));
        }
        line += "; echo EXIT=$?; sleep 60";
        let o = std::process::Command::new("tmux")
            .args([
                "-S",
                sock.to_str().unwrap(),
                "new-session",
                "-d",
                "-x",
                "100",
                "-y",
                "30",
            ])
            .arg(line)
            .output()
            .unwrap();
        assert!(o.status.success(), "tmux: {}", stderr(&o));
        Tmux { sock }
    }

    fn tmux(&self, args: &[&str]) -> String {
        let o = std::process::Command::new("tmux")
            .args(["-S", self.sock.to_str().unwrap()])
            .args(args)
            .output()
            .unwrap();
        stdout(&o)
    }

    fn screen(&self) -> String {
        self.tmux(&["capture-pane", "-p"])
    }

    /// The screen once it shows `what` (bounded: 30 s).
    fn wait_for(&self, what: &str) -> String {
        wait_for(30, || {
            let s = self.screen();
            s.contains(what).then_some(s)
        })
        .unwrap_or_else(|| panic!("no {what:?} on the screen:\n{}", self.screen()))
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.tmux(&["kill-server"]);
    }
}

#[test]
fn a_tty_is_the_containers_own_pts_with_a_term() {
    let ct = Sandbox::new();
    let img = busybox(&ct);
    let t = Tmux::start(
        &ct,
        &[
            "run",
            "-t",
            "--rm",
            "--network",
            "none",
            &img,
            "sh",
            "-c",
            "tty; echo TERM=$TERM; echo ctty=$(cut -d' ' -f7 /proc/self/stat)",
        ],
    );
    let s = t.wait_for("EXIT=");
    assert!(s.contains("/dev/pts/0\nTERM=xterm\n"), "{s}");
    // The controlling terminal (stat's tty_nr, as ps reads it) is pts 0: major 136, minor 0.
    assert!(s.contains("ctty=34816\n"), "{s}");
    assert!(s.contains("EXIT=0"), "{s}");
    drop(t);

    // A full-screen program with -it: top draws, takes a key, and exits 0.
    let t = Tmux::start(
        &ct,
        &["run", "-it", "--rm", "--network", "none", &img, "top"],
    );
    t.wait_for("Mem:");
    t.tmux(&["send-keys", "q"]);
    let s = t.wait_for("EXIT=");
    assert!(s.contains("EXIT=0"), "{s}");
    drop(t);

    // exec -it: a terminal of the container's devpts too.
    ct.ok(&[
        "run",
        "-d",
        "--name",
        "x",
        "--network",
        "none",
        &img,
        "sleep",
        "60",
    ]);
    let t = Tmux::start(&ct, &["exec", "-it", "x", "sh"]);
    t.tmux(&["send-keys", "tty; echo T=$TERM; exit 4", "Enter"]);
    let s = t.wait_for("EXIT=");
    assert!(
        s.contains("\n/dev/pts/0\r\n") || s.contains("\n/dev/pts/0\n"),
        "{s}"
    );
    assert!(s.contains("T=xterm") && s.contains("EXIT=4"), "{s}");
}

#[test]
fn run_flags_for_the_config_reach_the_container() {
    let ct = Sandbox::new();
    let img = busybox(&ct);
    let run = |flags: &[&str], script: &str| {
        let mut a = vec!["run", "--rm", "--network", "none"];
        a.extend(flags);
        a.extend([img.as_str(), "sh", "-c", script]);
        let o = ct.out(&a);
        assert_eq!(o.status.code(), Some(0), "{flags:?}: {}", stderr(&o));
        stdout(&o)
    };
    let o = ct.out(&[
        "run",
        "--rm",
        "--network",
        "none",
        "--entrypoint",
        "echo",
        &img,
        "from",
        "entrypoint",
    ]);
    assert_eq!(stdout(&o), "from entrypoint\n", "{}", stderr(&o));
    assert_eq!(
        run(
            &["--cap-drop", "ALL", "--cap-add", "net_raw"],
            "grep CapEff /proc/self/status"
        ),
        "CapEff:\t0000000000002000\n"
    );
    // --privileged: every capability ct has itself, no seccomp filter.
    let status = fs::read_to_string("/proc/self/status").unwrap();
    let bnd = status.lines().find(|l| l.starts_with("CapBnd:")).unwrap();
    let full = run(
        &["--privileged"],
        "grep -E 'CapEff|Seccomp:' /proc/self/status",
    );
    assert_eq!(
        full,
        format!("CapEff:{}\nSeccomp:\t0\n", &bnd["CapBnd:".len()..])
    );
    assert_eq!(
        run(
            &["--security-opt", "seccomp=unconfined"],
            "grep Seccomp: /proc/self/status"
        ),
        "Seccomp:\t0\n"
    );
    assert_eq!(
        run(&["--read-only"], "touch /x 2>/dev/null || echo ro"),
        "ro\n"
    );
    assert_eq!(
        run(&["--ulimit", "nofile=100:200"], "ulimit -n; ulimit -Hn"),
        "100\n200\n"
    );
    assert_eq!(
        run(
            &["--sysctl", "net.ipv4.ip_forward=1"],
            "cat /proc/sys/net/ipv4/ip_forward"
        ),
        "1\n"
    );
    assert_eq!(run(&["--group-add", "1234"], "id -G"), "0 1234\n");
    assert!(run(&["--shm-size", "1m"], "grep ' /dev/shm ' /proc/mounts").contains("size=1024k"));
    assert_eq!(
        run(&["--pid", "host"], "cat /proc/1/comm"),
        fs::read_to_string("/proc/1/comm").unwrap()
    );
    let etc = run(
        &["--add-host", "db.local:10.1.2.3", "--dns", "10.9.9.9"],
        "grep db.local /etc/hosts; cat /etc/resolv.conf",
    );
    assert_eq!(etc, "10.1.2.3\tdb.local\nnameserver 10.9.9.9\n");
    assert_eq!(
        run(
            &["--device", "/dev/null:/dev/mynull"],
            "echo x > /dev/mynull && echo wrote"
        ),
        "wrote\n"
    );
    let env = ct.dir.path().join("env");
    fs::write(&env, "# comment\nA=1\n\nB=two words\n").unwrap();
    assert_eq!(
        run(&["--env-file", env.to_str().unwrap()], "echo $A $B"),
        "1 two words\n"
    );
    // Labels are annotations; --pull never does not pull.
    ct.ok(&[
        "create",
        "--name",
        "lab",
        "-l",
        "tier=web",
        "--network",
        "none",
        &img,
    ]);
    let v: Value = serde_json::from_str(&ct.ok(&["inspect", "lab"])).unwrap();
    assert_eq!(v["Config"]["annotations"]["tier"], "web");
    let o = ct.out(&[
        "run",
        "--rm",
        "--pull",
        "never",
        "localhost/absent:1",
        "true",
    ]);
    assert_eq!(
        (o.status.code(), stderr(&o)),
        (
            Some(125),
            "ct: no image 'localhost/absent:1' (and --pull never)\n".into()
        )
    );
}

#[test]
fn an_image_volume_belongs_to_the_images_user() {
    let ct = Sandbox::new();
    let img = image(
        &ct,
        "localhost/vol:1",
        json!({"User": "nobody", "Volumes": {"/data": {}}}),
    );
    let o = ct.out(&[
        "run",
        "--rm",
        "--network",
        "none",
        &img,
        "sh",
        "-c",
        "touch /data/f && stat -c %u:%g /data",
    ]);
    assert_eq!(
        (o.status.code(), stdout(&o)),
        (Some(0), "65534:65534\n".into()),
        "{}",
        stderr(&o)
    );
}

#[test]
fn the_other_commands_users_reach_for() {
    let ct = Sandbox::new();
    let img = busybox(&ct);
    ct.ok(&[
        "run",
        "-d",
        "--name",
        "w",
        "--network",
        "none",
        &img,
        "sh",
        "-c",
        "rm /etc/group; echo hi > /etc/passwd; touch /new; exec sleep 60",
    ]);
    wait_for(10, || {
        ct.ok(&["diff", "w"]).contains("A /new").then_some(())
    });
    let diff = ct.ok(&["diff", "w"]);
    for want in ["A /new", "C /etc/passwd", "D /etc/group"] {
        assert!(diff.lines().any(|l| l == want), "{want} in:\n{diff}");
    }
    let top = ct.ok(&["top", "w"]);
    assert!(
        top.lines().count() == 2 && top.contains("sleep 60"),
        "{top}"
    );
    // pause freezes the container's cgroup, unpause thaws it.
    assert_eq!(ct.ok(&["pause", "w"]), "w\n");
    let fz = ct.cgroup_file("freezer", "w", "freezer.state");
    assert_eq!(
        wait_for(10, || (fs::read_to_string(&fz).ok()? == "FROZEN\n")
            .then_some(())),
        Some(())
    );
    assert_eq!(ct.ok(&["unpause", "w"]), "w\n");
    assert_eq!(fs::read_to_string(&fz).unwrap(), "THAWED\n");
    let stats = ct.ok(&["stats", "--no-stream", "w"]);
    assert!(
        stats.starts_with("== w\n") && stats.to_lowercase().contains("memory"),
        "{stats}"
    );
    // export: the container's filesystem, its changes included.
    let tar = ct.dir.path().join("w.tar");
    ct.ok(&["export", "-o", tar.to_str().unwrap(), "w"]);
    let list = std::process::Command::new("tar")
        .arg("-tf")
        .arg(&tar)
        .output()
        .unwrap();
    assert!(
        stdout(&list).lines().any(|l| l == "./new"),
        "{}",
        stdout(&list)
    );
    // tag and save: podman/docker-readable archives, checked by skopeo reading them back.
    ct.ok(&["tag", &img, "localhost/other:2"]);
    assert_eq!(
        ct.ok(&["images", "-q"]),
        format!("{img}\nlocalhost/other:2\n")
    );
    for fmt in ["docker-archive", "oci-archive"] {
        let out = ct.dir.path().join(format!("saved-{fmt}.tar"));
        ct.ok(&[
            "save",
            "--format",
            fmt,
            "-o",
            out.to_str().unwrap(),
            "localhost/other:2",
        ]);
        let o = std::process::Command::new("skopeo")
            .args(["inspect", &format!("{fmt}:{}", out.display())])
            .output()
            .unwrap();
        assert!(o.status.success(), "{fmt}: {}", stderr(&o));
    }
    assert!(ct.ok(&["version"]).contains("ct-exec "));
    assert!(ct.ok(&["info"]).contains("Containers: 1 (running: 1)"));
    assert!(ct.ok(&["system", "df"]).starts_with("TYPE"));
    assert!(ct.ok(&["wait", "--help"]).starts_with("usage: ct"));
}

#[test]
fn restart_policies_are_supervised_after_ct_exits() {
    let ct = Sandbox::new();
    let img = busybox(&ct);
    // on-failure:2: the first run and two restarts, then it stays stopped with its status.
    ct.ok(&[
        "run",
        "-d",
        "--restart",
        "on-failure:2",
        "--name",
        "f",
        "--network",
        "none",
        &img,
        "sh",
        "-c",
        "echo ran; exit 3",
    ]);
    let three = wait_for(30, || {
        (ct.ok(&["logs", "f"]).matches("ran").count() == 3).then_some(())
    });
    assert!(three.is_some(), "logs: {}", ct.ok(&["logs", "f"]));
    std::thread::sleep(std::time::Duration::from_secs(2));
    assert_eq!(
        ct.ok(&["logs", "f"]).matches("ran").count(),
        3,
        "no fourth run"
    );
    let st = state(&ct, "f");
    assert_eq!(
        (st["status"].as_str(), st["exitCode"].as_i64()),
        (Some("stopped"), Some(3))
    );
    // always: a container that exits 0 comes back; ct stop ends that.
    ct.ok(&[
        "run",
        "-d",
        "--restart",
        "always",
        "--name",
        "a",
        "--network",
        "none",
        &img,
        "sh",
        "-c",
        "echo up; sleep 0.3",
    ]);
    assert!(
        wait_for(30, || (ct.ok(&["logs", "a"]).matches("up").count() >= 3)
            .then_some(()))
        .is_some()
    );
    ct.ok(&["stop", "a"]);
    let n = ct.ok(&["logs", "a"]).matches("up").count();
    std::thread::sleep(std::time::Duration::from_secs(2));
    assert_eq!(
        ct.ok(&["logs", "a"]).matches("up").count(),
        n,
        "stopped stays stopped"
    );
    // Bad policies are usage errors.
    let o = ct.out(&["run", "-d", "--restart", "sometimes", &img]);
    assert_eq!(o.status.code(), Some(2));
}

/// Deletes a bridge when dropped (a named network's, should the test fail before rm).
struct BridgeGuard(String);

impl Drop for BridgeGuard {
    fn drop(&mut self) {
        let _ = std::process::Command::new("ip")
            .args(["link", "del", &self.0])
            .output();
    }
}

#[test]
fn named_networks_are_bridges_of_their_own() {
    let ct = Sandbox::new();
    let img = busybox(&ct);
    let pid = std::process::id();
    let subnet = format!("10.{}.{}.0/24", 180 + pid % 10, pid / 10 % 250);
    assert_eq!(
        ct.ok(&["network", "create", "--subnet", &subnet, "backend"]),
        "backend\n"
    );
    let v: Value = serde_json::from_str(&ct.ok(&["network", "inspect", "backend"])).unwrap();
    let _guard = BridgeGuard(v["Bridge"].as_str().unwrap().to_string());
    ct.ok(&[
        "run",
        "-d",
        "--name",
        "db",
        "--network",
        "backend",
        &img,
        "sleep",
        "60",
    ]);
    let o = ct.out(&["exec", "db", "ip", "-4", "-o", "addr", "show", "eth0"]);
    let prefix = subnet.trim_end_matches("0/24");
    assert!(
        stdout(&o).contains(&format!("inet {prefix}")),
        "{}{}",
        stdout(&o),
        stderr(&o)
    );
    let v: Value = serde_json::from_str(&ct.ok(&["network", "inspect", "backend"])).unwrap();
    assert_eq!(v["Containers"], json!(["db"]));
    assert!(ct.ok(&["network", "ls"]).starts_with("backend\t"));
    let o = ct.out(&["network", "rm", "backend"]);
    assert_eq!(
        (o.status.code(), stderr(&o)),
        (Some(1), "ct: network 'backend' is in use by db\n".into())
    );
    ct.ok(&["rm", "-f", "db"]);
    assert_eq!(ct.ok(&["network", "rm", "backend"]), "backend\n");
    assert_eq!(ct.ok(&["network", "ls"]), "");
    let o = ct.out(&["run", "--rm", "--network", "backend", &img, "true"]);
    assert_eq!(
        (o.status.code(), stderr(&o)),
        (
            Some(125),
            "ct: no network 'backend' (ct network create backend)\n".into()
        )
    );
}

#[test]
fn cp_copies_both_ways_with_modes_and_never_through_the_containers_symlinks() {
    use std::os::unix::fs::PermissionsExt;
    let ct = Sandbox::new();
    let img = busybox(&ct);
    // The container plants symlinks to host paths: /escape -> the host's dir, and /etc/shadowed
    // -> /etc/hostname-of-host... resolved inside the container they point at its own files.
    let host = ct.dir.path().join("host");
    fs::create_dir_all(&host).unwrap();
    fs::write(host.join("secret"), "host secret\n").unwrap();
    let plant = format!(
        "mkdir -p /data && echo inside > /data/f && chmod 0640 /data/f && ln -s {} /escape && ln -s {}/secret /data/link && exec sleep 60",
        host.display(),
        host.display()
    );
    ct.ok(&[
        "run",
        "-d",
        "--name",
        "c",
        "--network",
        "none",
        &img,
        "sh",
        "-c",
        &plant,
    ]);
    wait_for(10, || {
        ct.out(&["exec", "c", "test", "-L", "/data/link"])
            .status
            .success()
            .then_some(())
    });

    // Out: a directory, its modes kept, the symlink copied as a symlink.
    let out = ct.dir.path().join("out");
    fs::create_dir_all(&out).unwrap();
    ct.ok(&["cp", "c:/data", out.to_str().unwrap()]);
    assert_eq!(fs::read_to_string(out.join("data/f")).unwrap(), "inside\n");
    assert_eq!(
        fs::metadata(out.join("data/f"))
            .unwrap()
            .permissions()
            .mode()
            & 0o777,
        0o640
    );
    assert!(fs::symlink_metadata(out.join("data/link"))
        .unwrap()
        .file_type()
        .is_symlink());
    // A path through the container's symlink to the host resolves inside the container: the
    // host's secret is never read.
    let loot = ct.dir.path().join("loot");
    fs::create_dir_all(&loot).unwrap();
    let o = ct.out(&["cp", "c:/escape/secret", loot.to_str().unwrap()]);
    assert_eq!(
        o.status.code(),
        Some(1),
        "copied a host file out through /escape"
    );
    assert!(
        stderr(&o).starts_with("ct-exec: cannot copy '/escape/secret': "),
        "{}",
        stderr(&o)
    );
    assert_eq!(
        fs::read_dir(&loot).unwrap().count(),
        0,
        "nothing of the host's came out"
    );

    // In: a file under a new name, its mode kept; writing through the container's symlinks
    // never touches the host.
    let f = ct.dir.path().join("tool.sh");
    fs::write(&f, "#!/bin/sh\necho tool\n").unwrap();
    fs::set_permissions(&f, fs::Permissions::from_mode(0o751)).unwrap();
    ct.ok(&["cp", f.to_str().unwrap(), "c:/usr/local/bin/tool"]);
    let o = ct.out(&[
        "exec",
        "c",
        "sh",
        "-c",
        "stat -c %a /usr/local/bin/tool; /usr/local/bin/tool",
    ]);
    assert_eq!(stdout(&o), "751\ntool\n", "{}", stderr(&o));
    let evil = ct.dir.path().join("secret");
    fs::write(&evil, "overwritten\n").unwrap();
    ct.ok(&["cp", evil.to_str().unwrap(), "c:/escape/"]);
    ct.ok(&["cp", evil.to_str().unwrap(), "c:/data/link"]);
    assert_eq!(
        fs::read_to_string(host.join("secret")).unwrap(),
        "host secret\n",
        "host file untouched"
    );
    let o = ct.out(&["exec", "c", "cat", "/data/link"]);
    assert_eq!(
        stdout(&o),
        "overwritten\n",
        "the symlink itself was replaced"
    );
    // And with the container stopped (its rootfs mounted again for the copy).
    ct.ok(&["stop", "-t", "0", "c"]);
    ct.ok(&[
        "cp",
        "c:/usr/local/bin/tool",
        out.join("tool-back").to_str().unwrap(),
    ]);
    assert_eq!(
        fs::read_to_string(out.join("tool-back")).unwrap(),
        "#!/bin/sh\necho tool\n"
    );
}

#[test]
fn a_health_command_makes_a_container_healthy_or_unhealthy_in_ps() {
    let ct = Sandbox::new();
    let img = busybox(&ct);
    ct.ok(&[
        "run",
        "-d",
        "--name",
        "h",
        "--network",
        "none",
        "--health-cmd",
        "test -f /tmp/ok",
        "--health-interval",
        "200ms",
        "--health-retries",
        "2",
        &img,
        "sleep",
        "60",
    ]);
    let health = || state(&ct, "h")["Health"].as_str().unwrap_or("").to_string();
    assert!(
        wait_for(20, || (health() == "unhealthy").then_some(())).is_some(),
        "{}",
        health()
    );
    let ps = ct.ok(&["ps"]);
    assert!(
        ps.lines()
            .any(|l| l.starts_with("h ") && l.contains("running (unhealthy)")),
        "{ps}"
    );
    ct.ok(&["exec", "h", "touch", "/tmp/ok"]);
    assert!(
        wait_for(20, || (health() == "healthy").then_some(())).is_some(),
        "{}",
        health()
    );
    assert!(ct.ok(&["ps"]).contains("running (healthy)"));
}

/// Issue 15: a stopped container holds no address and no published port — at `ct stop`, when
/// a kept foreground container exits, and when a detached one ends on its own — and `ct start` leases them again (the same
/// address while it is free), as docker and podman do.
#[test]
fn a_stopped_container_gives_back_its_address_and_ports_until_it_starts_again() {
    let ct = Sandbox::new();
    let img = busybox(&ct);
    let leased = |id: &str| -> Option<String> {
        let text = std::fs::read_to_string(ct.leases_file()).unwrap_or_default();
        let v: Value = serde_json::from_str(&text).unwrap_or(json!({}));
        v.as_object()?
            .iter()
            .find(|(_, l)| l["owner"].as_str() == Some(id))
            .map(|(ip, _)| ip.clone())
    };
    let port = 20000 + (std::process::id() % 20000) as u16;
    let p = format!("127.0.0.1:{port}:80");
    ct.ok(&["run", "-d", "--name", "web", "-p", &p, &img, "sleep", "60"]);
    let ip = leased("web").expect("a running container has a lease");
    ct.ok(&["stop", "-t", "1", "web"]);
    assert_eq!(leased("web"), None, "a stopped container keeps its lease");
    assert!(
        !ct.netns().contains(&"web".to_string()),
        "its namespace stays"
    );
    // The port is free for the host again: a host process can take it.
    let l = std::net::TcpListener::bind(("127.0.0.1", port));
    assert!(l.is_ok(), "the stopped container still holds port {port}");
    drop(l);
    assert_eq!(ct.ok(&["start", "web"]), "web\n");
    assert_eq!(
        leased("web"),
        Some(ip),
        "start leases the same address again"
    );
    ct.ok(&["rm", "-f", "web"]);

    // A kept foreground run gives its lease back when its command exits.
    ct.ok(&["run", "--name", "fg", &img, "true"]);
    assert_eq!(
        leased("fg"),
        None,
        "an exited foreground container keeps its lease"
    );

    // So does a detached one that ends on its own; a start leases again.
    ct.ok(&["run", "-d", "--name", "brief", &img, "sleep", "1"]);
    assert!(leased("brief").is_some());
    let gone = (0..150).any(|_| {
        std::thread::sleep(std::time::Duration::from_millis(100));
        leased("brief").is_none()
    });
    assert!(gone, "a detached container that exited keeps its lease");
    ct.ok(&["start", "brief"]);
    assert!(leased("brief").is_some(), "start leases again");
    ct.ok(&["rm", "-f", "brief"]);
}

/// A container run by the stages themselves (`ct-unpack | ct-mount | ct-net | ct-exec`) shows
/// its true status in `ct ps -a` — exited, with its code, not `created` forever — runs again
/// on the same bundle, and `ct prune` removes it like any stopped container.
#[test]
fn a_pipeline_container_shows_its_exit_and_prune_removes_it() {
    let ct = Sandbox::new();
    let img = busybox(&ct);
    let pipeline = format!(
        "ct-unpack --name p {img} -- sh -c 'echo ran; exit 3' | ct-mount | ct-net --network none | ct-exec"
    );
    let o = ct
        .program("sh", 60)
        .args(["-c", &pipeline])
        .output()
        .unwrap();
    assert_eq!(
        (o.status.code(), stdout(&o)),
        (Some(3), "ran\n".into()),
        "{}",
        stderr(&o)
    );
    let row = |ps: &str| ps.lines().find(|l| l.starts_with("p ")).map(str::to_string);
    let ps = ct.ok(&["ps", "-a"]);
    assert!(row(&ps).is_some_and(|r| r.contains("exited (3)")), "{ps}");
    assert_eq!(state(&ct, "p")["exitCode"], 3);
    // Running the bundle again needs no `delete` first.
    let o = ct.program("ct-exec", 60).arg("p").output().unwrap();
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    assert_eq!(ct.ok(&["prune"]).lines().next(), Some("p"));
    assert_eq!(row(&ct.ok(&["ps", "-a"])), None);
    assert!(!ct.root.join("containers/p").exists());
    assert!(!ct.run.join("containers/p").exists());
}

/// `ct attach ID` follows a detached container's output from now on (stdout to stdout, stderr
/// to stderr) until it ends, and exits with its status, as `docker attach --no-stdin` does.
#[test]
fn attach_follows_a_detached_containers_output_until_it_exits() {
    use std::io::{BufRead, BufReader};
    let ct = Sandbox::new();
    let img = busybox(&ct);
    let script = "echo before; while [ ! -e /stop ]; do echo tick; sleep 0.1; done; echo bye; echo oops >&2; exit 4";
    ct.ok(&[
        "run",
        "-d",
        "--name",
        "a",
        "--network",
        "none",
        &img,
        "sh",
        "-c",
        script,
    ]);
    wait_for(20, || ct.ok(&["logs", "a"]).contains("tick").then_some(()));
    let mut child = ct
        .cmd(&["attach", "a"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    out.read_line(&mut first).unwrap();
    assert_eq!(first, "tick\n", "attach shows what is printed from now on");
    ct.ok(&["exec", "a", "touch", "/stop"]);
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut out, &mut rest).unwrap();
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(4), "{}", stderr(&o));
    assert!(rest.ends_with("bye\n"), "{rest}");
    assert!(rest.lines().all(|l| l == "tick" || l == "bye"), "{rest}");
    assert_eq!(stderr(&o), "oops\n");
    let o = ct.out(&["attach", "a"]);
    assert_eq!(
        (o.status.code(), stderr(&o)),
        (Some(1), "ct: container 'a' is not running\n".into())
    );
}

/// A container run with `-d -i` keeps its stdin open (docker's `run -di`): `ct attach` feeds
/// it what comes on attach's own stdin; the container's stdin stays open after one attach
/// left, for the next; without `-i` its stdin is /dev/null.
#[test]
fn attach_feeds_the_stdin_of_a_container_run_with_d_i() {
    let ct = Sandbox::new();
    let img = busybox(&ct);
    let script = "read a; echo got:$a; read b; echo got:$b; exit 5";
    ct.ok(&[
        "run",
        "-d",
        "-i",
        "--name",
        "i",
        "--network",
        "none",
        &img,
        "sh",
        "-c",
        script,
    ]);
    // The first attach gives one line and leaves (its stdin ends; the container's does not).
    let mut c = ct.cmd(&["attach", "i"]);
    c.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = c.spawn().unwrap();
    let mut w = child.stdin.take().unwrap();
    w.write_all(b"one\n").unwrap();
    drop(w);
    let got = wait_for(20, || {
        let log = ct.ok(&["logs", "i"]);
        log.contains("got:one").then_some(log)
    });
    assert!(got.is_some(), "the container read what attach sent");
    let _ = child.kill();
    let _ = child.wait();
    // A second attach: the container still waits on its open stdin; this line ends it.
    let o = with_stdin(&ct, &["attach", "i"], "two\n");
    assert_eq!(o.status.code(), Some(5), "{}", stderr(&o));
    assert_eq!(stdout(&o), "got:two\n");

    // Without -i: stdin is /dev/null (read fails at once).
    let o = ct.out(&[
        "run",
        "--name",
        "n",
        "--network",
        "none",
        &img,
        "sh",
        "-c",
        "read x || echo eof",
    ]);
    assert_eq!(stdout(&o), "eof\n");
}

/// `ct events` lists the containers' lifecycle (create, start, die with the exit code, stop,
/// kill, destroy) from the store's event log, as docker events prints them or as podman's
/// JSON (`--format json`); `--since` keeps the later ones.
#[test]
fn events_tell_each_containers_lifecycle() {
    let ct = Sandbox::new();
    let img = busybox(&ct);
    let events = |args: &[&str]| -> Vec<Value> {
        let mut a = vec!["events", "--no-stream", "--format", "json"];
        a.extend(args);
        ct.ok(&a)
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    };
    let of = |evs: &[Value], id: &str| -> Vec<String> {
        evs.iter()
            .filter(|e| e["ID"] == id)
            .map(|e| e["Status"].as_str().unwrap().to_string())
            .collect()
    };
    let o = ct.out(&[
        "run",
        "--name",
        "e1",
        "--network",
        "none",
        &img,
        "sh",
        "-c",
        "exit 3",
    ]);
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    let between = now_rfc3339();
    ct.ok(&[
        "run",
        "-d",
        "--name",
        "e2",
        "--network",
        "none",
        &img,
        "sleep",
        "60",
    ]);
    ct.ok(&["stop", "-t", "0", "e2"]);
    ct.ok(&["rm", "e1"]);
    let all = events(&[]);
    assert_eq!(
        of(&all, "e1"),
        ["create", "start", "die", "destroy"],
        "{all:?}"
    );
    let die = all
        .iter()
        .find(|e| e["ID"] == "e1" && e["Status"] == "die")
        .unwrap();
    assert_eq!(die["ContainerExitCode"], 3);
    assert_eq!(die["Image"], img.as_str());
    let e2 = of(&all, "e2");
    assert_eq!(&e2[..2], ["create", "start"], "{all:?}");
    assert!(e2.contains(&"stop".to_string()), "{all:?}");
    // --since: only what happened after.
    let later = events(&["--since", &between]);
    assert!(of(&later, "e1") == ["destroy"], "{later:?}");
    assert_eq!(&of(&later, "e2")[..2], ["create", "start"]);
    // docker's text: TIME container STATUS ID (image=…, name=…).
    let text = ct.ok(&["events", "--no-stream"]);
    let first = text.lines().next().unwrap();
    assert!(
        first.ends_with(&format!(" container create e1 (image={img}, name=e1)")),
        "{text}"
    );
}

/// The image's own HEALTHCHECK (docker-format config `Healthcheck`) is used when no
/// `--health-cmd` is given, as docker and podman do; `--no-healthcheck` turns it off.
#[test]
fn the_images_healthcheck_is_used_unless_no_healthcheck() {
    let ct = Sandbox::new();
    let img = image(
        &ct,
        "localhost/healthy:1",
        json!({"Healthcheck": {"Test": ["CMD-SHELL", "test -f /tmp/ok"],
                               "Interval": 200_000_000u64, "Retries": 2}}),
    );
    ct.ok(&[
        "run",
        "-d",
        "--name",
        "hc",
        "--network",
        "none",
        &img,
        "sleep",
        "60",
    ]);
    let health = |id: &str| state(&ct, id)["Health"].as_str().unwrap_or("").to_string();
    assert!(
        wait_for(20, || (health("hc") == "unhealthy").then_some(())).is_some(),
        "{}",
        health("hc")
    );
    ct.ok(&["exec", "hc", "touch", "/tmp/ok"]);
    assert!(
        wait_for(20, || (health("hc") == "healthy").then_some(())).is_some(),
        "{}",
        health("hc")
    );
    // The CMD form: its words, not a shell line.
    let img2 = image(
        &ct,
        "localhost/healthy:2",
        json!({"Healthcheck": {"Test": ["CMD", "test", "-e", "/tmp/a b"],
                               "Interval": 200_000_000u64, "Retries": 1}}),
    );
    ct.ok(&[
        "run",
        "-d",
        "--name",
        "hc2",
        "--network",
        "none",
        &img2,
        "sleep",
        "60",
    ]);
    ct.ok(&["exec", "hc2", "touch", "/tmp/a b"]);
    assert!(
        wait_for(20, || (health("hc2") == "healthy").then_some(())).is_some(),
        "{}",
        health("hc2")
    );
    ct.ok(&[
        "run",
        "-d",
        "--name",
        "off",
        "--no-healthcheck",
        "--network",
        "none",
        &img,
        "sleep",
        "60",
    ]);
    let cfg: Value = serde_json::from_str(
        &fs::read_to_string(ct.root.join("containers/off/config.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(cfg["annotations"]["io.ct.health.cmd"], Value::Null);
    assert_eq!(health("off"), "");
    let o = ct.out(&[
        "run",
        "--no-healthcheck",
        "--health-cmd",
        "true",
        &img,
        "true",
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert_eq!(ct.containers().len(), 3, "a usage error made a container");
}

/// `ct pull -` (`ct-pull -`) reads an image archive from stdin — `docker save`'s
/// docker-archive or an oci-archive, told apart by their files — as `docker load` does.
#[test]
fn pull_dash_reads_an_image_archive_from_stdin() {
    let ct = Sandbox::new();
    busybox(&ct);
    let layout = ct.dir.path().join("layout-localhost_habits_1");
    // As made, and compressed as `docker load` takes them (`docker save | gzip`, zstd).
    for (transport, name, pack) in [
        ("docker-archive", "localhost/fromstdin:docker", ""),
        ("oci-archive", "localhost/fromstdin:oci", ""),
        ("docker-archive", "localhost/fromstdin:gz", "gzip"),
        ("oci-archive", "localhost/fromstdin:zst", "zstd"),
    ] {
        let file = ct.dir.path().join(format!("{transport}-{pack}.tar"));
        let o = std::process::Command::new("skopeo")
            .args([
                "copy",
                "-q",
                &format!("oci:{}:fixture", layout.display()),
                &format!("{transport}:{}:{name}", file.display()),
            ])
            .output()
            .unwrap();
        assert!(o.status.success(), "skopeo: {}", stderr(&o));
        let plain = fs::read(&file).unwrap();
        let bytes = match pack {
            "zstd" => zstd::encode_all(&plain[..], 3).unwrap(),
            "gzip" => {
                let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
                e.write_all(&plain).unwrap();
                e.finish().unwrap()
            }
            _ => plain,
        };
        fs::write(&file, bytes).unwrap();
        let o = ct
            .cmd(&["pull", "-"])
            .stdin(fs::File::open(&file).unwrap())
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(0), "{name}: {}", stderr(&o));
        assert!(
            stdout(&o).starts_with(&format!("{name}@sha256:")),
            "{name}: {}",
            stdout(&o)
        );
        let out = ct.ok(&["run", "--rm", "--network", "none", name, "echo", "hi"]);
        assert_eq!(out, "hi\n", "{name}");
    }
    // Not an archive at all: one line, exit 1, nothing left in the store's temp dir.
    let o = with_stdin(&ct, &["pull", "-"], "not a tar");
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert_eq!(
        stderr(&o),
        "ct-pull: '-': not a docker-archive or an oci-archive (a root filesystem tarball needs --tag NAME)\n"
    );
    let left = fs::read_dir(ct.root.join("tmp"))
        .map(|d| {
            d.flatten()
                .filter(|e| e.file_name().to_string_lossy().starts_with("stdin-"))
                .count()
        })
        .unwrap_or(0);
    assert_eq!(left, 0);
}

/// `ct run -d --name NAME --network none REST…`.
fn run_detached(ct: &Sandbox, name: &str, rest: &[&str]) -> String {
    let mut args = vec!["run", "-d", "--name", name, "--network", "none"];
    args.extend_from_slice(rest);
    ct.ok(&args)
}

/// kill(2) of the monitor of a container this test started.
fn signal(pid: i32, sig: i32) {
    // SAFETY: kill(2) takes no pointers.
    unsafe { libc::kill(pid, sig) };
}

/// `ct wait` returns once the container's end is recorded, not merely once its process is
/// gone: after reaping it, the detached monitor still drains the output pipes into the log and
/// then writes the exit code (seen in CI as a log file missing mid-rotation, and as `ct wait`
/// printing 0 for a container that exited 3). The test catches the monitor in that window,
/// stops it there with SIGSTOP, and expects `ct wait` to keep waiting until it goes on.
#[test]
fn wait_returns_after_the_exit_and_the_log_are_recorded() {
    let ct = Sandbox::new();
    let img = busybox(&ct);
    let mut caught = 0;
    for i in 0..10 {
        let name = format!("w{i}");
        let logs = ["--log-opt", "max-size=1k", "--log-opt", "max-file=2"];
        let cmd = [img.as_str(), "sh", "-c", "seq 1 20000; exit 3"];
        run_detached(&ct, &name, &[&logs[..], &cmd[..]].concat());
        let st = state(&ct, &name);
        let pid = st["pid"].as_i64().unwrap();
        let status = fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
        let Some(monitor) = status
            .lines()
            .find_map(|l| l.strip_prefix("PPid:"))
            .and_then(|p| p.trim().parse::<i32>().ok())
        else {
            ct.ok(&["wait", &name]);
            continue;
        };
        // Reaped (a zombie still has /proc/PID) while the state still says running.
        let gone = wait_for(10, || {
            (!std::path::Path::new(&format!("/proc/{pid}")).exists()).then_some(())
        });
        assert!(gone.is_some(), "{name}: the container did not exit");
        signal(monitor, libc::SIGSTOP);
        if state(&ct, &name)["status"] != "running" {
            signal(monitor, libc::SIGCONT);
            ct.ok(&["wait", &name]);
            continue;
        }
        caught += 1;
        let mut wait = ct
            .cmd(&["wait", &name])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(500));
        let early = wait.try_wait().unwrap();
        signal(monitor, libc::SIGCONT);
        let out = wait.wait_with_output().unwrap();
        assert!(
            early.is_none(),
            "{name}: ct wait returned while the monitor had not recorded the exit: {}",
            stdout(&out)
        );
        assert_eq!(stdout(&out).trim(), "3", "{name}");
        let log = ct.root.join(format!("containers/{name}/container.log"));
        assert!(log.exists(), "{name}: container.log is missing after wait");
        assert_eq!(ct.ok(&["logs", "--tail", "1", &name]), "20000\n", "{name}");
        if caught == 3 {
            break;
        }
    }
    assert!(
        caught > 0,
        "the monitor was never caught between reaping and recording"
    );
}

/// A process the init's exit does not end (with `--pid host` the container has no PID
/// namespace of its own to take it down) may go on writing to the container's stdout: the
/// monitor still records the exit, drains only what was in the pipe, and the cgroup's kill
/// ends the writer, as runc ends a host-PID container's leftovers. Before, the drain read for
/// as long as `yes` wrote: `ct wait` never returned and the log grew without bound.
#[test]
fn a_process_left_writing_does_not_keep_the_exit_from_being_recorded() {
    let ct = Sandbox::new();
    let img = busybox(&ct);
    let script = "yes & sleep 0.2; exit 3";
    let bounded = |args: &[&str], out: Stdio| {
        let mut c = ct
            .cmd(args)
            .stdout(out)
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let done = wait_for(30, || c.try_wait().unwrap());
        if done.is_none() {
            let _ = c.kill();
        }
        let o = c.wait_with_output().unwrap();
        assert!(done.is_some(), "ct {args:?} did not return: {}", stderr(&o));
        o
    };
    run_detached(&ct, "y", &["--pid", "host", &img, "sh", "-c", script]);
    let o = bounded(&["wait", "y"], Stdio::piped());
    assert_eq!(stdout(&o).trim(), "3");
    assert_eq!(state(&ct, "y")["exitCode"], 3);
    let mut args = vec!["run", "--rm", "--pid", "host", "--network", "none"];
    args.extend([img.as_str(), "sh", "-c", script]);
    let o = bounded(&args, Stdio::null());
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    ct.ok(&["rm", "y"]);
    assert_eq!(ct.cgroups_left(), Vec::<std::path::PathBuf>::new());
}

/// `ct diff` lists names the container chose: a newline in one must not make a line of its
/// own (here one that reads as "D passwd"), and an escape sequence must not reach the
/// terminal. Each file is one line, control characters shown escaped as bash's `$'…'`.
#[test]
fn diff_shows_the_containers_file_names_one_per_line_and_escaped() {
    let ct = Sandbox::new();
    let img = busybox(&ct);
    let script = concat!(
        "touch \"$(printf 'x\\ncharacter special file|0:0|passwd')\" ",
        "\"$(printf 't\\033]0;owned\\007')\" /plain; exec sleep 60"
    );
    run_detached(&ct, "n", &[&img, "sh", "-c", script]);
    let diff = wait_for(10, || {
        let d = ct.ok(&["diff", "n"]);
        d.contains("A /plain").then_some(d)
    })
    .expect("the files were made");
    ct.ok(&["rm", "-f", "n"]);
    assert!(
        !diff.chars().any(|c| c.is_control() && c != '\n'),
        "a control character reached the terminal: {diff:?}"
    );
    let lines: Vec<&str> = diff.lines().collect();
    assert!(
        lines
            .iter()
            .all(|l| l.starts_with("A /") || l.starts_with("A $'/") || l == &"C /etc"),
        "{diff}"
    );
    assert!(
        lines.contains(&"A $'/x\\ncharacter special file|0:0|passwd'"),
        "{diff}"
    );
    assert!(lines.contains(&"A $'/t\\E]0;owned\\a'"), "{diff}");
}

/// `ct`'s own errors are one line each, whatever the argument they quote holds: a newline
/// cannot add a line of its own, an escape sequence does not reach the terminal.
#[test]
fn an_error_quoting_an_argument_is_one_line_without_control_characters() {
    let ct = Sandbox::new();
    for (args, code) in [
        (vec!["run", "--bad\u{1b}[2J\nct: fake"], 2),
        (vec!["volume", "create", "a\nb\u{1b}]0;x\u{7}"], 2),
        (vec!["logs", "no\u{1b}[31mpe"], 1),
    ] {
        let o = ct.out(&args);
        assert_eq!(o.status.code(), Some(code), "{args:?}: {}", stderr(&o));
        let e = stderr(&o);
        assert_eq!(e.lines().count(), 1, "{args:?}: {e:?}");
        assert!(
            !e.trim_end().chars().any(char::is_control),
            "{args:?}: {e:?}"
        );
    }
}
