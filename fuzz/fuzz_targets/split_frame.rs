//! `frame::split_frame` fed a byte stream in chunks, as a socket reader would.
//!
//! Input layout: byte 0 is `max_size` (0-255, deliberately small); the rest
//! is a sequence of `[n, n bytes...]` chunks (the last one may be short).
//! After each chunk, frames are split off until `split_frame` asks for more
//! or fails.
//!
//! Checks, against a reference parse of everything fed so far: every frame
//! is exactly the bytes its size prefix announces and within `max_size`;
//! `Ok(None)` only when the next frame is incomplete, with the buffer left
//! as it was; an error only for a negative or too-large size; bytes of
//! frames + prefixes + what is left in the buffer always equal the bytes
//! fed; the buffer never reserves far beyond `max_size`.
#![no_main]

use bytes::BytesMut;
use kafka_proto::frame::split_frame;
use libfuzzer_sys::fuzz_target;

/// The size prefix at `at` in the reference stream, if 4 bytes are there.
fn prefix(stream: &[u8], at: usize) -> Option<i32> {
    let b = stream.get(at..at + 4)?;
    Some(i32::from_be_bytes(b.try_into().unwrap()))
}

fuzz_target!(|data: &[u8]| {
    let Some((&max, mut rest)) = data.split_first() else {
        return;
    };
    let max_size = usize::from(max);

    let mut buf = BytesMut::new();
    let mut fed: Vec<u8> = Vec::new(); // every byte appended to buf so far
    let mut consumed = 0usize; // bytes of `fed` split off (prefixes + frames)
    let mut frames = 0usize;

    'feed: while let Some((&n, tail)) = rest.split_first() {
        let n = usize::from(n).min(tail.len());
        let (chunk, tail) = tail.split_at(n);
        rest = tail;
        buf.extend_from_slice(chunk);
        fed.extend_from_slice(chunk);

        loop {
            let before = buf.clone();
            let next = prefix(&fed, consumed);
            match split_frame(&mut buf, max_size) {
                Ok(Some(frame)) => {
                    let size = next.expect("frame split without a whole size prefix");
                    let size = usize::try_from(size).expect("frame with a negative size");
                    assert!(size <= max_size, "frame of {size} > max {max_size}");
                    assert_eq!(frame.len(), size, "frame length != size prefix");
                    assert_eq!(
                        &frame[..],
                        &fed[consumed + 4..consumed + 4 + size],
                        "frame bytes differ from the stream"
                    );
                    consumed += 4 + size;
                    frames += 1;
                    assert!(frames <= fed.len() / 4, "more frames than prefixes");
                }
                Ok(None) => {
                    assert_eq!(&buf[..], &before[..], "Ok(None) changed the buffer");
                    if let Some(size) = next {
                        let size = usize::try_from(size)
                            .expect("Ok(None) for a negative size instead of an error");
                        assert!(size <= max_size, "Ok(None) for size {size} > max {max_size}");
                        assert!(
                            fed.len() - consumed - 4 < size,
                            "Ok(None) with a whole frame buffered"
                        );
                    }
                    // Reserving for an accepted frame is fine; for anything
                    // more, something ignored max_size.
                    let bound = 2 * (max_size + 4 + fed.len()) + 64;
                    assert!(
                        buf.capacity() <= bound,
                        "capacity {} > {bound} (max_size {max_size}, fed {})",
                        buf.capacity(),
                        fed.len()
                    );
                    break;
                }
                Err(e) => {
                    let size = next.expect("error without a whole size prefix");
                    assert!(
                        size < 0 || size as usize > max_size,
                        "error for acceptable size {size} (max {max_size}): {e}"
                    );
                    break 'feed;
                }
            }
            assert_eq!(consumed + buf.len(), fed.len(), "bytes lost or invented");
            assert_eq!(&buf[..], &fed[consumed..], "buffer differs from the stream");
        }
        assert_eq!(consumed + buf.len(), fed.len(), "bytes lost or invented");
    }
});
