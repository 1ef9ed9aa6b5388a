//! The batch compression codecs, each behind its cargo feature.
//!
//! Decompression is bounded: output is produced in a streaming fashion and
//! abandoned as soon as it would exceed the caller's limit, so a small
//! "bomb" cannot make us allocate gigabytes.

use bytes::BytesMut;

use super::Compression;
use crate::error::{DecodeError, DecodeErrorKind, EncodeError};

const WHAT: &str = "RecordBatch.Records";

/// Compresses `input` with `codec`, appending the result to `out`.
pub(crate) fn compress(
    codec: Compression,
    level: Option<i32>,
    input: &[u8],
    out: &mut BytesMut,
) -> Result<(), EncodeError> {
    // Silence unused warnings when every codec feature is off.
    let _ = (level, input, &out);
    match codec {
        Compression::None => {
            out.extend_from_slice(input);
            Ok(())
        }
        #[cfg(feature = "gzip")]
        Compression::Gzip => gzip::compress(level, input, out),
        #[cfg(feature = "snappy")]
        Compression::Snappy => snappy::compress(input, out),
        #[cfg(feature = "lz4")]
        Compression::Lz4 => lz4::compress(input, out),
        #[cfg(feature = "zstd")]
        Compression::Zstd => zstd::compress(level, input, out),
        #[allow(unreachable_patterns)]
        other => Err(EncodeError::UnsupportedCompression(other.name())),
    }
}

/// Decompresses `input`, failing with [`DecodeErrorKind::DecompressionLimit`]
/// once the output would exceed `limit` bytes.
pub(crate) fn decompress(
    codec: Compression,
    input: &[u8],
    limit: usize,
) -> Result<Vec<u8>, DecodeError> {
    let _ = (input, limit);
    match codec {
        Compression::None => {
            if input.len() > limit {
                return Err(limit_error(limit));
            }
            Ok(input.to_vec())
        }
        #[cfg(feature = "gzip")]
        Compression::Gzip => read_bounded(
            flate2::read::MultiGzDecoder::new(input),
            input.len(),
            limit,
            "gzip",
        ),
        #[cfg(feature = "snappy")]
        Compression::Snappy => snappy::decompress(input, limit),
        #[cfg(feature = "lz4")]
        Compression::Lz4 => match lz4::decompress_plain(input, limit) {
            Some(out) => out,
            None => read_bounded(
                lz4_flex::frame::FrameDecoder::new(input),
                input.len(),
                limit,
                "lz4",
            ),
        },
        #[cfg(feature = "zstd")]
        Compression::Zstd => {
            let decoder = ::zstd::stream::read::Decoder::with_buffer(input)
                .map_err(|e| codec_error("zstd", e))?;
            read_bounded(decoder, input.len(), limit, "zstd")
        }
        #[allow(unreachable_patterns)]
        other => Err(DecodeError::new(
            WHAT,
            DecodeErrorKind::UnsupportedCompression(other.id()),
        )),
    }
}

#[allow(dead_code)]
fn limit_error(limit: usize) -> DecodeError {
    DecodeError::new(WHAT, DecodeErrorKind::DecompressionLimit { limit })
}

#[allow(dead_code)]
fn codec_error(codec: &'static str, e: impl std::fmt::Display) -> DecodeError {
    DecodeError::new(
        WHAT,
        DecodeErrorKind::Compression {
            codec,
            detail: e.to_string(),
        },
    )
}

#[allow(dead_code)]
fn encode_error(codec: &'static str, e: impl std::fmt::Display) -> EncodeError {
    EncodeError::Compression {
        codec,
        detail: e.to_string(),
    }
}

/// Reads a decompressing stream to its end, stopping one byte past `limit`.
#[allow(dead_code)]
fn read_bounded<R: std::io::Read>(
    reader: R,
    compressed_len: usize,
    limit: usize,
    codec: &'static str,
) -> Result<Vec<u8>, DecodeError> {
    use std::io::Read;
    // Typical Kafka payloads compress 2-5x; start there and let the vector grow.
    let hint = compressed_len
        .saturating_mul(4)
        .clamp(256, 1 << 20)
        .min(limit);
    let mut out = Vec::with_capacity(hint);
    let cap = u64::try_from(limit).unwrap_or(u64::MAX).saturating_add(1);
    reader
        .take(cap)
        .read_to_end(&mut out)
        .map_err(|e| codec_error(codec, e))?;
    if out.len() > limit {
        return Err(limit_error(limit));
    }
    Ok(out)
}

#[cfg(feature = "gzip")]
mod gzip {
    use super::*;
    use bytes::BufMut;
    use std::io::Write;

    pub(super) fn compress(
        level: Option<i32>,
        input: &[u8],
        out: &mut BytesMut,
    ) -> Result<(), EncodeError> {
        let level = match level {
            Some(l) => flate2::Compression::new(l.clamp(0, 9) as u32),
            None => flate2::Compression::default(),
        };
        let mut enc = flate2::write::GzEncoder::new(out.writer(), level);
        enc.write_all(input).map_err(|e| encode_error("gzip", e))?;
        enc.finish().map_err(|e| encode_error("gzip", e))?;
        Ok(())
    }
}

#[cfg(feature = "snappy")]
mod snappy {
    use super::*;

    /// The xerial (snappy-java) stream header, as written by the Java client.
    const XERIAL_MAGIC: &[u8; 8] = b"\x82SNAPPY\x00";
    /// Magic plus the version and compatible-version words.
    const XERIAL_HEADER_LEN: usize = 16;

    pub(super) fn compress(input: &[u8], out: &mut BytesMut) -> Result<(), EncodeError> {
        let start = out.len();
        out.resize(start + snap::raw::max_compress_len(input.len()), 0);
        let tail = out.get_mut(start..).unwrap_or_default();
        let n = snap::raw::Encoder::new()
            .compress(input, tail)
            .map_err(|e| encode_error("snappy", e))?;
        out.truncate(start + n);
        Ok(())
    }

    pub(super) fn decompress(input: &[u8], limit: usize) -> Result<Vec<u8>, DecodeError> {
        if input.len() >= XERIAL_HEADER_LEN && input.starts_with(XERIAL_MAGIC) {
            return decompress_xerial(input.get(XERIAL_HEADER_LEN..).unwrap_or_default(), limit);
        }
        let mut out = Vec::new();
        decompress_block(input, &mut out, limit)?;
        Ok(out)
    }

    /// Decompresses one raw snappy block onto the end of `out`, checking the
    /// declared length against the limit before allocating.
    fn decompress_block(block: &[u8], out: &mut Vec<u8>, limit: usize) -> Result<(), DecodeError> {
        let len = snap::raw::decompress_len(block).map_err(|e| codec_error("snappy", e))?;
        let start = out.len();
        let end = start.checked_add(len).filter(|&end| end <= limit);
        let Some(end) = end else {
            return Err(limit_error(limit));
        };
        out.resize(end, 0);
        let n = snap::raw::Decoder::new()
            .decompress(block, out.get_mut(start..).unwrap_or_default())
            .map_err(|e| codec_error("snappy", e))?;
        out.truncate(start + n);
        Ok(())
    }

    /// Blocks of big-endian `int32` length followed by a raw snappy block.
    fn decompress_xerial(mut rest: &[u8], limit: usize) -> Result<Vec<u8>, DecodeError> {
        let mut out = Vec::new();
        while !rest.is_empty() {
            let Some((len, tail)) = rest.split_first_chunk::<4>() else {
                return Err(codec_error("snappy", "truncated xerial block length"));
            };
            let len = i32::from_be_bytes(*len);
            let block = usize::try_from(len)
                .ok()
                .and_then(|len| tail.get(..len).map(|b| (b, len)));
            let Some((block, len)) = block else {
                return Err(codec_error(
                    "snappy",
                    format!("bad xerial block length {len}"),
                ));
            };
            decompress_block(block, &mut out, limit)?;
            rest = tail.get(len..).unwrap_or_default();
        }
        Ok(out)
    }
}

#[cfg(feature = "lz4")]
mod lz4 {
    use super::*;
    use bytes::BufMut;
    use lz4_flex::frame::{BlockMode, BlockSize, FrameEncoder, FrameInfo};
    use std::io::Write;

    /// Block size of the frames we write.
    pub(super) const BLOCK: usize = 64 * 1024;

    /// Magic, FLG (version 1, independent blocks, no checksums, no content
    /// size), BD (64 KiB blocks) and the descriptor checksum (second byte
    /// of xxh32 of FLG and BD): the header lz4_flex and the Java client
    /// write for these settings.
    pub(super) const FRAME_HEADER: [u8; 7] = [0x04, 0x22, 0x4d, 0x18, 0x60, 0x40, 0x82];

    /// LZ4 frame with 64 KiB independent blocks, as the Java client and
    /// librdkafka write. lz4_flex has a single (fast) level.
    pub(super) fn compress(input: &[u8], out: &mut BytesMut) -> Result<(), EncodeError> {
        let info = FrameInfo::new()
            .block_size(BlockSize::Max64KB)
            .block_mode(BlockMode::Independent);
        let mut enc = FrameEncoder::with_frame_info(info, out.writer());
        enc.write_all(input).map_err(|e| encode_error("lz4", e))?;
        enc.finish().map_err(|e| encode_error("lz4", e))?;
        Ok(())
    }
    /// FLG bits that must be as in [`PLAIN_FLG`]: all but "content size
    /// present", which either way is fine.
    const FLG_MASK: u8 = 0b1111_0111;
    /// Version 01, independent blocks, no block or content checksum, no
    /// dictionary.
    const PLAIN_FLG: u8 = 0b0110_0000;

    /// Decodes a frame as Kafka clients write it (independent blocks, no
    /// checksums) block by block straight into one buffer, skipping the
    /// frame decoder's staging buffer and copy. `None` for any other kind
    /// of frame: the caller hands it to lz4_flex's frame decoder.
    ///
    /// The descriptor checksum is not checked: the batch's CRC covers
    /// these bytes already, and Kafka before 0.10 computed it wrongly
    /// (KAFKA-3160), so old compressed message sets still read.
    pub(super) fn decompress_plain(
        input: &[u8],
        limit: usize,
    ) -> Option<Result<Vec<u8>, DecodeError>> {
        let (&[m0, m1, m2, m3, flg, bd], rest) = input.split_first_chunk::<6>()?;
        let block_id = (bd >> 4) & 0b111;
        if [m0, m1, m2, m3] != FRAME_HEADER[..4]
            || flg & FLG_MASK != PLAIN_FLG
            || bd & 0b1000_1111 != 0
            || block_id < 4
        {
            return None;
        }
        // 64 KiB, 256 KiB, 1 MiB or 4 MiB.
        let block_max = 1usize << (8 + 2 * block_id);
        let (size, mut rest) = if flg & 0b1000 != 0 {
            let (size, rest) = rest.split_first_chunk::<8>()?;
            (Some(u64::from_le_bytes(*size)), rest)
        } else {
            (None, rest)
        };
        // The descriptor checksum byte.
        rest = rest.get(1..)?;
        let capacity = match size {
            Some(n) if n > limit as u64 => return Some(Err(limit_error(limit))),
            // Bounded by what the blocks present can inflate to.
            Some(n) => (n as usize).min(rest.len().saturating_mul(255)),
            None => input.len().saturating_mul(4).clamp(256, 1 << 20).min(limit),
        };
        let mut out = Vec::with_capacity(capacity);
        // Bytes written; `out.len()` stays at its high-water mark, so that
        // each byte of the buffer is zeroed once, not once per block.
        let mut pos = 0usize;
        loop {
            let Some((word, after)) = rest.split_first_chunk::<4>() else {
                return Some(Err(truncated()));
            };
            let word = u32::from_le_bytes(*word);
            if word == 0 {
                rest = after;
                break;
            }
            let stored = word & (1 << 31) != 0;
            let len = (word & !(1 << 31)) as usize;
            if len > block_max {
                return Some(Err(codec_error(
                    "lz4",
                    "block larger than the frame's block size",
                )));
            }
            let Some(block) = after.get(..len) else {
                return Some(Err(truncated()));
            };
            rest = &after[len..];
            if stored {
                if len > limit - pos {
                    return Some(Err(limit_error(limit)));
                }
                out.truncate(pos);
                out.extend_from_slice(block);
                pos += len;
                continue;
            }
            // One byte past the limit tells "over the limit" from "fits".
            let room = block_max.min((limit - pos).saturating_add(1));
            if out.len() < pos + room {
                out.resize(pos + room, 0);
            }
            match lz4_flex::block::decompress_into(block, &mut out[pos..pos + room]) {
                Ok(n) if n > limit - pos => return Some(Err(limit_error(limit))),
                Ok(n) => pos += n,
                Err(lz4_flex::block::DecompressError::OutputTooSmall { .. })
                    if room < block_max =>
                {
                    return Some(Err(limit_error(limit)))
                }
                Err(e) => return Some(Err(codec_error("lz4", e))),
            }
        }
        if !rest.is_empty() {
            // Another frame follows, or trailing bytes: the frame decoder
            // knows what to make of them.
            return None;
        }
        if size.is_some_and(|n| n != pos as u64) {
            return Some(Err(codec_error(
                "lz4",
                "content size does not match the frame",
            )));
        }
        out.truncate(pos);
        Some(Ok(out))
    }

    fn truncated() -> DecodeError {
        codec_error("lz4", "frame ends inside a block")
    }
}

/// Upper bound of [`lz4_frame`]'s output for `len` input bytes.
#[cfg(feature = "lz4")]
pub(crate) fn lz4_frame_bound(len: usize) -> usize {
    lz4::FRAME_HEADER.len()
        + 4
        + len
            .div_ceil(lz4::BLOCK)
            .max(1)
            .saturating_mul(4 + lz4_flex::block::get_maximum_output_size(lz4::BLOCK))
}

/// Appends `input` to `out` as an LZ4 frame of 64 KiB independent blocks
/// without checksums: what [`compress`] writes for lz4, but straight from
/// the input into `out` (no staging buffers, no allocation beyond `out`'s
/// growth and the block compressor's 8-16 KiB hash table).
#[cfg(feature = "lz4")]
pub(crate) fn lz4_frame(input: &[u8], out: &mut Vec<u8>) -> Result<(), EncodeError> {
    out.reserve(lz4_frame_bound(input.len()));
    out.extend_from_slice(&lz4::FRAME_HEADER);
    for block in input.chunks(lz4::BLOCK) {
        let at = out.len();
        out.resize(
            at + 4 + lz4_flex::block::get_maximum_output_size(block.len()),
            0,
        );
        let n = lz4_flex::block::compress_into(block, out.get_mut(at + 4..).unwrap_or_default())
            .map_err(|e| encode_error("lz4", e))?;
        if n < block.len() {
            out.truncate(at + 4 + n);
            out[at..at + 4].copy_from_slice(&(n as u32).to_le_bytes());
        } else {
            // Incompressible: stored as is, flagged by the size's high bit.
            out.truncate(at);
            out.extend_from_slice(&(block.len() as u32 | 1 << 31).to_le_bytes());
            out.extend_from_slice(block);
        }
    }
    // End mark.
    out.extend_from_slice(&[0; 4]);
    Ok(())
}

#[cfg(feature = "zstd")]
mod zstd {
    use super::*;
    use bytes::BufMut;
    use std::io::Write;

    /// Kafka's default zstd level.
    const DEFAULT_LEVEL: i32 = 3;

    pub(super) fn compress(
        level: Option<i32>,
        input: &[u8],
        out: &mut BytesMut,
    ) -> Result<(), EncodeError> {
        let err = |e| encode_error("zstd", e);
        let mut enc =
            ::zstd::stream::write::Encoder::new(out.writer(), level.unwrap_or(DEFAULT_LEVEL))
                .map_err(err)?;
        enc.include_contentsize(true).map_err(err)?;
        enc.set_pledged_src_size(Some(input.len() as u64))
            .map_err(err)?;
        enc.write_all(input).map_err(err)?;
        enc.finish().map_err(err)?;
        Ok(())
    }
}

#[cfg(all(test, feature = "lz4"))]
mod tests {
    use super::*;

    #[test]
    fn lz4_frame_matches_lz4_flex_frames() {
        let mut data = Vec::new();
        for i in 0..200_000u32 {
            data.push(if i % 7 == 0 {
                (i >> 3) as u8
            } else {
                b'a' + (i % 13) as u8
            });
        }
        let noise: Vec<u8> = (0..70_000u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect();
        for input in [&[][..], &b"x"[..], &data[..1000], &data[..], &noise[..]] {
            let mut ours = Vec::new();
            lz4_frame(input, &mut ours).unwrap();
            assert!(ours.len() <= lz4_frame_bound(input.len()));
            let mut reference = BytesMut::new();
            lz4::compress(input, &mut reference).unwrap();
            // Same header as lz4_flex's frame encoder with these settings.
            assert_eq!(ours[..7], reference[..7]);
            let back = decompress(Compression::Lz4, &ours, usize::MAX).unwrap();
            assert_eq!(back, input);
        }
    }

    fn sample() -> (Vec<u8>, Vec<u8>) {
        let text: Vec<u8> = (0..300_000u32)
            .map(|i| {
                if i % 7 == 0 {
                    (i >> 3) as u8
                } else {
                    b'a' + (i % 13) as u8
                }
            })
            .collect();
        let noise: Vec<u8> = (0..70_000u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect();
        (text, noise)
    }

    fn flex_frame(input: &[u8], info: lz4_flex::frame::FrameInfo) -> Vec<u8> {
        use std::io::Write;
        let mut enc = lz4_flex::frame::FrameEncoder::with_frame_info(info, Vec::new());
        enc.write_all(input).unwrap();
        enc.finish().unwrap()
    }

    #[test]
    fn lz4_frames_of_every_kind_decode_alike_fast_or_not() {
        use lz4_flex::frame::{BlockMode, BlockSize, FrameInfo};
        let (text, noise) = sample();
        let plain = || FrameInfo::new().block_mode(BlockMode::Independent);
        for input in [&[][..], &b"x"[..], &text[..5000], &text[..], &noise[..]] {
            let n = Some(input.len() as u64);
            let kinds = [
                (plain(), true),
                (plain().content_size(n), true),
                (plain().block_size(BlockSize::Max256KB), true),
                (plain().block_size(BlockSize::Max4MB).content_size(n), true),
                (plain().block_mode(BlockMode::Linked), false),
                (plain().block_checksums(true), false),
                (plain().content_checksum(true), false),
            ];
            for (info, fast) in kinds {
                let frame = flex_frame(input, info.clone());
                let direct = lz4::decompress_plain(&frame, usize::MAX);
                assert_eq!(direct.is_some(), fast, "{info:?}");
                let back = decompress(Compression::Lz4, &frame, usize::MAX).unwrap();
                assert_eq!(back, input, "{info:?}");
                // The limit holds on both paths, for compressed and stored
                // blocks, with and without a declared size.
                if !input.is_empty() {
                    assert_eq!(
                        decompress(Compression::Lz4, &frame, input.len()).unwrap(),
                        input
                    );
                    let err = decompress(Compression::Lz4, &frame, input.len() - 1).unwrap_err();
                    assert!(
                        matches!(err.kind(), DecodeErrorKind::DecompressionLimit { .. }),
                        "{info:?}: {err}"
                    );
                }
            }
        }
    }

    #[test]
    fn lz4_direct_decoding_refuses_damaged_frames() {
        let (text, noise) = sample();
        let mut both = text[..100_000].to_vec();
        both.extend_from_slice(&noise[..20_000]);
        let mut frame = Vec::new();
        lz4_frame(&both, &mut frame).unwrap();
        // Every truncation after the header is an error, never a panic or
        // a shorter result.
        for cut in (7..frame.len())
            .step_by(61)
            .chain(frame.len() - 8..frame.len())
        {
            let direct = lz4::decompress_plain(&frame[..cut], usize::MAX);
            assert!(matches!(direct, Some(Err(_))), "{cut}");
        }
        // A block claiming more than the frame's block size.
        let mut big = frame[..7].to_vec();
        big.extend_from_slice(&(70_000u32 | 1 << 31).to_le_bytes());
        big.extend_from_slice(&[0; 70_000]);
        big.extend_from_slice(&[0; 4]);
        assert!(lz4::decompress_plain(&big, usize::MAX).unwrap().is_err());
        // A declared size that the blocks do not fill.
        let mut sized = flex_frame(
            &both,
            lz4_flex::frame::FrameInfo::new().content_size(Some(both.len() as u64)),
        );
        sized[6..14].copy_from_slice(&(both.len() as u64 + 1).to_le_bytes());
        assert!(decompress(Compression::Lz4, &sized, usize::MAX).is_err());
        // A declared size over the limit fails before anything is inflated.
        sized[6..14].copy_from_slice(&u64::MAX.to_le_bytes());
        assert!(matches!(
            lz4::decompress_plain(&sized, 1 << 20)
                .unwrap()
                .unwrap_err()
                .kind(),
            DecodeErrorKind::DecompressionLimit { .. }
        ));
    }

    /// Kafka before 0.10 wrote a wrong descriptor checksum (KAFKA-3160);
    /// the batch's own CRC covers those bytes, so the frame still reads.
    #[test]
    fn lz4_frames_with_a_wrong_descriptor_checksum_still_read() {
        let mut frame = Vec::new();
        lz4_frame(b"old producers", &mut frame).unwrap();
        frame[6] ^= 0xff;
        assert_eq!(
            decompress(Compression::Lz4, &frame, usize::MAX).unwrap(),
            b"old producers"
        );
    }
}
