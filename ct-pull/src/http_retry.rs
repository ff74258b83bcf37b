//! Talking HTTP to a registry that may be slow, flaky or hostile: a request is retried on
//! connection failures, resets, timeouts, `429 Too Many Requests` and `5xx` a bounded number of
//! times, with exponential backoff (200 ms, 400 ms, … capped at 5 s); a body is read only up
//! to a cap, so an endless answer cannot fill memory.
//!
//! Both the registry API (`distribution.rs`) and the token endpoint (`token_auth.rs`) use it.

use std::io::Read;
use std::time::Duration;

use reqwest::blocking::{RequestBuilder, Response};

use crate::error::{HttpCause, PullError};

/// Pause before retry number `attempt` (0-based): 200 ms, 400 ms, 800 ms … capped at 5 s.
pub fn backoff(attempt: u32) -> Duration {
    Duration::from_millis((200u64 << attempt.min(5)).min(5000))
}

fn retryable(e: &reqwest::Error) -> bool {
    e.is_connect() || e.is_timeout() || e.is_request() || e.is_body()
}

/// Read at most `cap` bytes of a response body; more is an error, not a truncation.
pub fn read_capped(resp: Response, cap: u64, what: &str, url: &str) -> Result<Vec<u8>, PullError> {
    let too_large = || PullError::TooLarge {
        what: format!("{what} from {url}"),
        limit: cap,
    };
    if resp.content_length().is_some_and(|n| n > cap) {
        return Err(too_large());
    }
    let mut out = Vec::new();
    resp.take(cap + 1)
        .read_to_end(&mut out)
        .map_err(|source| PullError::Body {
            what: what.to_string(),
            url: url.to_string(),
            source,
        })?;
    if out.len() as u64 > cap {
        return Err(too_large());
    }
    Ok(out)
}

/// Send a request, retrying connection failures, resets, timeouts, 429 and 5xx up to
/// `retries` more times with [`backoff`]. Any other answer is returned as is.
pub(crate) fn send_retrying(
    url: &str,
    retries: u32,
    build: impl Fn() -> RequestBuilder,
) -> Result<Response, PullError> {
    let mut attempt = 0;
    loop {
        match build().send() {
            Ok(resp) => {
                let status = resp.status().as_u16();
                if status == 429 || (500..=599).contains(&status) {
                    if attempt < retries {
                        std::thread::sleep(backoff(attempt));
                        attempt += 1;
                        continue;
                    }
                    return Err(PullError::RetriesExhausted {
                        url: url.to_string(),
                        attempts: attempt + 1,
                        status,
                    });
                }
                return Ok(resp);
            }
            Err(e) if retryable(&e) && attempt < retries => {
                std::thread::sleep(backoff(attempt));
                attempt += 1;
            }
            Err(source) => {
                return Err(PullError::Connect {
                    url: url.to_string(),
                    source: HttpCause(source),
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_is_bounded() {
        assert_eq!(backoff(0), Duration::from_millis(200));
        assert_eq!(backoff(1), Duration::from_millis(400));
        assert_eq!(backoff(30), Duration::from_millis(5000));
    }
}
