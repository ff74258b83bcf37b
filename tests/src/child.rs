//! A child process under test: killed and reaped when dropped, so a failing assertion leaves
//! no process behind, and waited for only within a bound (`try_wait` polled every 20 ms).

use std::process::{Child, Output};
use std::time::{Duration, Instant};

/// Kills the child if the test ends before it was waited for.
pub struct Reap(pub Option<Child>);

impl Drop for Reap {
    fn drop(&mut self) {
        if let Some(c) = self.0.as_mut() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Reap {
    /// Poll until the child exits or `d` has passed.
    fn exited_within(&mut self, d: Duration) -> bool {
        let end = Instant::now() + d;
        while Instant::now() < end {
            let Some(c) = self.0.as_mut() else {
                return true;
            };
            if c.try_wait().expect("try_wait").is_some() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }

    /// Still running after `d`?
    pub fn still_running_after(&mut self, d: Duration) -> bool {
        !self.exited_within(d)
    }

    /// Wait at most `d` for the exit; true if it exited successfully.
    pub fn finishes_within(&mut self, d: Duration) -> bool {
        self.output_within(d).is_some_and(|o| o.status.success())
    }

    /// The child's output if it exits within `d`.
    pub fn output_within(&mut self, d: Duration) -> Option<Output> {
        if !self.exited_within(d) {
            return None;
        }
        self.0
            .take()
            .map(|c| c.wait_with_output().expect("wait_with_output"))
    }
}

/// `wait_with_output`, bounded: stdout and stderr are read while the child runs (so a chatty
/// child never blocks on a full pipe), and after `limit` it is killed; its output so far and
/// its status are returned either way.
pub fn output_killed_after(mut child: Child, limit: Duration) -> Output {
    let start = Instant::now();
    let drain = |pipe: Option<Box<dyn std::io::Read + Send>>| {
        std::thread::spawn(move || {
            let mut v = Vec::new();
            if let Some(mut p) = pipe {
                let _ = p.read_to_end(&mut v);
            }
            v
        })
    };
    let o = drain(child.stdout.take().map(|p| Box::new(p) as _));
    let e = drain(child.stderr.take().map(|p| Box::new(p) as _));
    let status = loop {
        if let Some(s) = child.try_wait().expect("try_wait") {
            break s;
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            break child.wait().expect("wait");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Output {
        status,
        stdout: o.join().unwrap_or_default(),
        stderr: e.join().unwrap_or_default(),
    }
}
