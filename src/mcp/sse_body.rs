//! The legacy SSE response body with a bound on one event's size. The SSE parser buffers an
//! event until its blank line; without a bound a server that never ends an event would grow
//! our memory until the process dies.

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

/// Counts bytes since the last event boundary (a blank line; `\r` is ignored).
#[derive(Default)]
struct EventSize {
    since_boundary: usize,
    after_newline: bool,
}

impl EventSize {
    fn feed(&mut self, chunk: &[u8]) -> Result<(), BodyError> {
        for &b in chunk {
            match b {
                b'\n' if self.after_newline => self.since_boundary = 0,
                b'\n' => {
                    self.after_newline = true;
                    self.since_boundary += 1;
                }
                b'\r' => self.since_boundary += 1,
                _ => {
                    self.after_newline = false;
                    self.since_boundary += 1;
                }
            }
        }
        if self.since_boundary > MAX_EVENT_BYTES {
            return Err(BodyError::Oversized);
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
    let mut size = EventSize::default();
    body.map(move |chunk| {
        let chunk = chunk?;
        size.feed(chunk.as_ref())?;
        Ok(chunk)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_are_bounded_but_a_long_stream_of_small_events_is_not() {
        let mut size = EventSize::default();
        let small = b"event: message\r\ndata: {}\r\n\r\n".repeat(1000);
        for _ in 0..(MAX_EVENT_BYTES / small.len() + 10) {
            assert!(size.feed(&small).is_ok());
        }
        let mut size = EventSize::default();
        let chunk = vec![b'x'; 64 * 1024];
        let fed = (0..(MAX_EVENT_BYTES / chunk.len() + 2)).map(|_| size.feed(&chunk));
        assert!(
            fed.into_iter()
                .any(|r| matches!(r, Err(BodyError::Oversized)))
        );
        // Data lines split by single newlines are still one event.
        let mut size = EventSize::default();
        let line = [b"data: ".as_slice(), &vec![b'y'; 1024], b"\n"].concat();
        let fed = (0..(MAX_EVENT_BYTES / line.len() + 2)).map(|_| size.feed(&line));
        assert!(fed.into_iter().any(|r| r.is_err()));
    }
}
