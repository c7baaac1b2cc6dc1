//! The legacy SSE response body with a bound on one event's size. The SSE parser buffers an
//! event until its blank line; without a bound a server that never ends an event would grow
//! our memory until the process dies.
//!
//! Lines end at CR, LF or CRLF, exactly as the parser (`sse_stream`, and the SSE spec) reads
//! them: counting CR as an ordinary byte once made a valid CR-only stream look like one endless
//! event and cut it after 16 MiB of perfectly small events.

use futures::{Stream, StreamExt};

/// rmcp's (crate-private) bound for streamable HTTP, so both HTTP transports accept the same
/// events.
pub const MAX_EVENT_BYTES: usize = 16 * 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    #[error("{0}")]
    Read(#[from] reqwest::Error),
    #[error("an SSE event grew past {} MiB without ending", MAX_EVENT_BYTES >> 20)]
    Oversized,
}

/// What the parser holds for the event being read: its complete field lines, plus the line
/// not yet ended. Comment lines (`:`) are dropped by the parser once ended, so only the
/// unfinished one counts.
#[derive(Debug)]
struct EventSize {
    cap: usize,
    retained: usize,
    line: usize,
    comment: bool,
    /// The last byte was CR: an LF right after it belongs to the same line ending.
    after_cr: bool,
}

impl EventSize {
    fn new(cap: usize) -> Self {
        Self {
            cap,
            retained: 0,
            line: 0,
            comment: false,
            after_cr: false,
        }
    }

    /// Bytes the parser may be buffering right now.
    fn buffered(&self) -> usize {
        self.retained.saturating_add(self.line)
    }

    fn feed(&mut self, chunk: &[u8]) -> Result<(), BodyError> {
        for &b in chunk {
            if std::mem::take(&mut self.after_cr) && b == b'\n' {
                continue;
            }
            match b {
                b'\r' | b'\n' => {
                    if self.line == 0 {
                        // A blank line: the event is dispatched and forgotten.
                        self.retained = 0;
                    } else if !self.comment {
                        // The parser joins data lines with a newline.
                        self.retained = self.retained.saturating_add(self.line + 1);
                    }
                    self.line = 0;
                    self.comment = false;
                    self.after_cr = b == b'\r';
                }
                _ => {
                    if self.line == 0 {
                        self.comment = b == b':';
                    }
                    self.line = self.line.saturating_add(1);
                }
            }
            if self.buffered() > self.cap {
                return Err(BodyError::Oversized);
            }
        }
        Ok(())
    }
}

/// `body` with every event bounded to [`MAX_EVENT_BYTES`].
pub fn bounded<S, D>(body: S) -> impl Stream<Item = Result<D, BodyError>> + Send + 'static
where
    S: Stream<Item = Result<D, reqwest::Error>> + Send + 'static,
    D: AsRef<[u8]> + Send + 'static,
{
    bounded_to(body, MAX_EVENT_BYTES)
}

fn bounded_to<S, D>(
    body: S,
    cap: usize,
) -> impl Stream<Item = Result<D, BodyError>> + Send + 'static
where
    S: Stream<Item = Result<D, reqwest::Error>> + Send + 'static,
    D: AsRef<[u8]> + Send + 'static,
{
    let mut size = EventSize::new(cap);
    body.map(move |chunk| {
        let chunk = chunk?;
        size.feed(chunk.as_ref())?;
        Ok(chunk)
    })
}

#[cfg(test)]
#[path = "sse_body_tests.rs"]
mod tests;
