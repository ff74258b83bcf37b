//! `--log FILE --log-format json`: runc's log, which its callers read to show the real cause
//! of a failure (containerd's shim reads the last `msg` of the file; conmon and podman pass
//! `--log` too). One line per message, appended: `text` as `ct-exec: error: MSG`, `json` as
//! one object `{"level":"error","msg":"…","time":"RFC 3339"}` per line (the format of runc's
//! logrus JSON formatter).

use std::io::Write;
use std::path::PathBuf;

pub struct Log {
    pub path: PathBuf,
    pub json: bool,
}

impl Log {
    /// Append `err` (its whole cause chain, one line). A log that cannot be written is not
    /// a second error: the message still goes to stderr.
    pub fn error(&self, err: &dyn std::error::Error) {
        self.write("error", &ct_layout::pipe::chain(err));
    }

    pub fn write(&self, level: &str, msg: &str) {
        let line = if self.json {
            let v = serde_json::json!({
                "level": level,
                "msg": msg,
                "time": ct_layout::rfc3339::now(),
            });
            format!("{v}\n")
        } else {
            format!("ct-exec: {level}: {}\n", ct_layout::pipe::one_line(msg))
        };
        let f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path);
        if let Ok(mut f) = f {
            let _ = f.write_all(line.as_bytes());
        }
    }
}
