//! Per-blob progress bars on stderr (indicatif), shown only when stderr is a terminal
//! (isatty(3)) and `-q` was not given: in a pipeline or a log file, a pull prints nothing but
//! its one line on stdout and, on failure, its one-line error.

use std::io::IsTerminal;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

/// All bars of one pull.
pub struct Progress {
    multi: Option<MultiProgress>,
}

/// One blob's bar (a no-op when progress is off).
pub struct Bar {
    bar: Option<ProgressBar>,
}

impl Progress {
    /// Bars on stderr if it is a terminal and not `quiet`.
    pub fn new(quiet: bool) -> Progress {
        let on = !quiet && std::io::stderr().is_terminal();
        Progress {
            multi: on.then(|| MultiProgress::with_draw_target(ProgressDrawTarget::stderr())),
        }
    }

    pub fn enabled(&self) -> bool {
        self.multi.is_some()
    }

    /// A bar named `label` (the blob's short digest).
    pub fn bar(&self, label: &str) -> Bar {
        let bar = self.multi.as_ref().map(|m| {
            let style = ProgressStyle::with_template(
                "{prefix:.bold} [{bar:30}] {bytes}/{total_bytes} {binary_bytes_per_sec} {msg}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> ");
            let b = m.add(ProgressBar::new(0).with_style(style));
            b.set_prefix(label.to_string());
            b
        });
        Bar { bar }
    }

    /// One line for humans, printed above the bars (only when bars are shown).
    pub fn note(&self, msg: &str) {
        if let Some(m) = &self.multi {
            let _ = m.println(msg);
        }
    }
}

impl Bar {
    pub fn hidden() -> Bar {
        Bar { bar: None }
    }

    /// A download of `total` bytes begins, `done` of them already on disk.
    pub fn start(&self, total: u64, done: u64) {
        if let Some(b) = &self.bar {
            b.set_length(total);
            b.set_position(done);
            b.reset_eta();
        }
    }

    pub fn inc(&self, n: u64) {
        if let Some(b) = &self.bar {
            b.inc(n);
        }
    }

    /// Mark done with a word (`done`, `exists`).
    pub fn finish(&self, msg: &'static str) {
        if let Some(b) = &self.bar {
            b.finish_with_message(msg);
        }
    }
}
