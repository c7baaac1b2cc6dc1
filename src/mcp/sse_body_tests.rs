use axum::body::Bytes;
use futures::StreamExt;
use proptest::prelude::*;
use sse_stream::SseStream;

use super::*;

#[test]
fn events_are_bounded_but_a_long_stream_of_small_events_is_not() {
    for ending in ["\n", "\r", "\r\n"] {
        let mut size = EventSize::new(MAX_EVENT_BYTES);
        let event = format!("event: message{ending}data: {{}}{ending}{ending}");
        let small = event.repeat(1000).into_bytes();
        for _ in 0..(MAX_EVENT_BYTES / small.len() + 10) {
            assert!(size.feed(&small).is_ok(), "{ending:?}");
        }
    }
    let mut size = EventSize::new(MAX_EVENT_BYTES);
    let chunk = vec![b'x'; 64 * 1024];
    let fed = (0..(MAX_EVENT_BYTES / chunk.len() + 2)).map(|_| size.feed(&chunk));
    assert!(
        fed.into_iter()
            .any(|r| matches!(r, Err(BodyError::Oversized)))
    );
    // Data lines split by single line endings (any of the three) are still one event.
    for ending in [&b"\n"[..], b"\r", b"\r\n"] {
        let mut size = EventSize::new(MAX_EVENT_BYTES);
        let line = [b"data: ".as_slice(), &vec![b'y'; 1024], ending].concat();
        let fed = (0..(MAX_EVENT_BYTES / 1000)).map(|_| size.feed(&line));
        assert!(fed.into_iter().any(|r| r.is_err()), "{ending:?}");
    }
    // Keep-alive comments between events never add up.
    let mut size = EventSize::new(1024);
    for _ in 0..10_000 {
        assert!(size.feed(b": keep-alive\r").is_ok());
    }
}

/// Feeds `chunks` through the limiter and the real SSE parser: the events parsed, and how the
/// stream ended (`None`: cleanly).
fn parse(chunks: Vec<Vec<u8>>, cap: usize) -> (Vec<sse_stream::Sse>, Option<String>) {
    let body = futures::stream::iter(
        chunks
            .into_iter()
            .map(|c| Ok::<_, reqwest::Error>(Bytes::from(c))),
    );
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    runtime.block_on(async move {
        let mut events = SseStream::from_bytes_stream(bounded_to(body, cap)).boxed();
        let mut got = Vec::new();
        while let Some(item) = events.next().await {
            match item {
                Ok(e) => got.push(e),
                Err(e) => return (got, Some(e.to_string())),
            }
        }
        (got, None)
    })
}

/// `bytes` cut at the given (sorted, deduplicated) offsets.
fn split(bytes: &[u8], cuts: &[usize]) -> Vec<Vec<u8>> {
    let mut cuts: Vec<usize> = cuts.iter().map(|c| c % (bytes.len() + 1)).collect();
    cuts.sort_unstable();
    cuts.dedup();
    let mut out = Vec::new();
    let mut from = 0;
    for c in cuts.into_iter().chain([bytes.len()]) {
        if c > from {
            out.push(bytes[from..c].to_vec());
            from = c;
        }
    }
    out
}

fn sse_bytes() -> impl Strategy<Value = Vec<u8>> {
    // Mostly SSE-shaped text with every line ending, plus arbitrary bytes.
    let piece = prop_oneof![
        Just(b"data: ".to_vec()),
        Just(b"event: message".to_vec()),
        Just(b": ping".to_vec()),
        Just(b"\r".to_vec()),
        Just(b"\n".to_vec()),
        Just(b"\r\n".to_vec()),
        proptest::collection::vec(any::<u8>(), 0..40),
    ];
    proptest::collection::vec(piece, 0..60).prop_map(|p| p.concat())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Whatever the bytes and however they are chunked: no panic, the limiter's verdict is the
    /// same, and no event the parser hands out is larger than the cap.
    #[test]
    fn arbitrary_bytes_in_arbitrary_chunks_stay_bounded(
        bytes in sse_bytes(),
        cuts in proptest::collection::vec(any::<usize>(), 0..12),
        cap in 8usize..200,
    ) {
        let whole = {
            let mut size = EventSize::new(cap);
            size.feed(&bytes).is_ok()
        };
        let mut size = EventSize::new(cap);
        let chunked = split(&bytes, &cuts).iter().all(|c| size.feed(c).is_ok());
        prop_assert_eq!(whole, chunked);
        let (events, end) = parse(split(&bytes, &cuts), cap);
        for e in &events {
            let held = e.data.as_deref().map_or(0, str::len)
                + e.event.as_deref().map_or(0, str::len)
                + e.id.as_deref().map_or(0, str::len);
            prop_assert!(held <= cap, "an event of {held} bytes passed a cap of {cap}");
        }
        // Refused bytes end the stream with an error (the limiter's, or the parser's if it
        // gave up first on a malformed line), never cleanly and never by panicking.
        if !whole {
            prop_assert!(end.is_some());
        }
    }

    /// Small, complete events are never refused, however many and whatever the line ending.
    #[test]
    fn small_events_pass_in_any_number(
        ending in prop_oneof![Just("\n"), Just("\r"), Just("\r\n")],
        data in proptest::collection::vec("[a-z{}\":, ]{0,20}", 1..200),
        cuts in proptest::collection::vec(any::<usize>(), 0..12),
    ) {
        let text: String = data
            .iter()
            .map(|d| format!(": c{ending}event: message{ending}data: {d}{ending}{ending}"))
            .collect();
        let (events, end) = parse(split(text.as_bytes(), &cuts), 64);
        prop_assert_eq!(end, None);
        prop_assert_eq!(events.len(), data.len());
    }
}
