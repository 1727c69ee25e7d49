//! The compact binary encoding shared by transactions and blocks:
//! little-endian fixed-width integers, raw byte arrays, and Bitcoin's
//! CompactSize for element counts.

/// Why bytes could not be decoded into a transaction or block.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("data ends early: {needed} more bytes needed at offset {offset}")]
    UnexpectedEnd { offset: usize, needed: usize },
    #[error(
        "{what} count {count} at offset {offset} is more than the remaining {remaining} bytes can hold"
    )]
    CountTooLarge {
        what: &'static str,
        count: u64,
        offset: usize,
        remaining: usize,
    },
    #[error("non-canonical CompactSize count at offset {0} (a shorter encoding exists)")]
    NonCanonicalCount(usize),
    #[error("{0} unexpected trailing bytes after the end of the encoded data")]
    TrailingBytes(usize),
    #[error("{what} is {len} bytes, over the {max}-byte limit")]
    TooLarge {
        what: &'static str,
        len: usize,
        max: usize,
    },
}

/// Appends the CompactSize encoding of `n`.
pub(crate) fn write_count(out: &mut Vec<u8>, n: usize) {
    let n = n as u64;
    match n {
        0..=0xfc => out.push(n as u8),
        0xfd..=0xffff => {
            out.push(0xfd);
            out.extend_from_slice(&(n as u16).to_le_bytes());
        }
        0x1_0000..=0xffff_ffff => {
            out.push(0xfe);
            out.extend_from_slice(&(n as u32).to_le_bytes());
        }
        _ => {
            out.push(0xff);
            out.extend_from_slice(&n.to_le_bytes());
        }
    }
}

/// Bytes taken by the CompactSize encoding of `n`.
pub(crate) fn count_size(n: usize) -> usize {
    match n as u64 {
        0..=0xfc => 1,
        0xfd..=0xffff => 3,
        0x1_0000..=0xffff_ffff => 5,
        _ => 9,
    }
}

/// A cursor over bytes being decoded; every read is bounds-checked.
pub(crate) struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(data: &'a [u8]) -> Self {
        Reader { data, pos: 0 }
    }

    fn remaining(&self) -> usize {
        self.data.len() - self.pos
    }

    pub(crate) fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        if self.remaining() < n {
            return Err(DecodeError::UnexpectedEnd {
                offset: self.pos,
                needed: n - self.remaining(),
            });
        }
        let bytes = &self.data[self.pos..self.pos + n];
        self.pos += n;
        Ok(bytes)
    }

    pub(crate) fn array<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    pub(crate) fn u32(&mut self) -> Result<u32, DecodeError> {
        Ok(u32::from_le_bytes(self.array()?))
    }

    pub(crate) fn u64(&mut self) -> Result<u64, DecodeError> {
        Ok(u64::from_le_bytes(self.array()?))
    }

    /// Reads a count of elements that each take at least `min_element_size`
    /// bytes, refusing counts the remaining data cannot hold so that a
    /// hostile count never causes a huge allocation.
    pub(crate) fn count(
        &mut self,
        what: &'static str,
        min_element_size: usize,
    ) -> Result<usize, DecodeError> {
        let offset = self.pos;
        let first = self.array::<1>()?[0];
        let (count, minimum) = match first {
            0xfd => (u64::from(u16::from_le_bytes(self.array()?)), 0xfd),
            0xfe => (u64::from(u32::from_le_bytes(self.array()?)), 0x1_0000),
            0xff => (self.u64()?, 0x1_0000_0000),
            n => (u64::from(n), 0),
        };
        if count < minimum {
            return Err(DecodeError::NonCanonicalCount(offset));
        }
        let remaining = self.remaining();
        if count > (remaining / min_element_size) as u64 {
            return Err(DecodeError::CountTooLarge {
                what,
                count,
                offset,
                remaining,
            });
        }
        Ok(count as usize)
    }

    /// Succeeds only if every byte was consumed.
    pub(crate) fn finish(self) -> Result<(), DecodeError> {
        match self.remaining() {
            0 => Ok(()),
            n => Err(DecodeError::TrailingBytes(n)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_round_trip_at_every_width() {
        for n in [0usize, 0xfc, 0xfd, 0xffff, 0x1_0000, 0x12_3456] {
            let mut out = Vec::new();
            write_count(&mut out, n);
            assert_eq!(out.len(), count_size(n));
            out.resize(out.len() + n, 0);
            let mut reader = Reader::new(&out);
            assert_eq!(reader.count("item", 1).unwrap(), n);
        }
    }

    #[test]
    fn non_canonical_and_oversized_counts_are_rejected() {
        let mut reader = Reader::new(&[0xfd, 0x10, 0x00]);
        assert_eq!(
            reader.count("item", 1),
            Err(DecodeError::NonCanonicalCount(0))
        );
        let mut reader = Reader::new(&[0x05, 0, 0]);
        assert!(matches!(
            reader.count("item", 1),
            Err(DecodeError::CountTooLarge { count: 5, .. })
        ));
    }
}
