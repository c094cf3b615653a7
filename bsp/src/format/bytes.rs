//! Panic-free little-endian field access for the format views.
//!
//! A view made with `new_unchecked` may wrap a buffer that is too short. Rather than panic,
//! reads of a field that lies (partly) outside the buffer return zeros and writes to it are
//! dropped; `new_checked` is how callers make sure that never happens.

/// The `N` bytes at `at`, or zeros if they are not all inside `data`.
pub(crate) fn get_array<const N: usize>(data: &[u8], at: usize) -> [u8; N] {
    at.checked_add(N)
        .and_then(|end| data.get(at..end))
        .and_then(|bytes| <[u8; N]>::try_from(bytes).ok())
        .unwrap_or([0; N])
}

pub(crate) fn get_u16(data: &[u8], at: usize) -> u16 {
    u16::from_le_bytes(get_array(data, at))
}

pub(crate) fn get_u32(data: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(get_array(data, at))
}

/// Copies `bytes` to `at`, or does nothing if they would not all fit inside `data`.
pub(crate) fn put_bytes(data: &mut [u8], at: usize, bytes: &[u8]) {
    if let Some(target) = at
        .checked_add(bytes.len())
        .and_then(|end| data.get_mut(at..end))
    {
        // Same length by construction of the range, so this cannot fail.
        target.copy_from_slice(bytes);
    }
}

pub(crate) fn put_u16(data: &mut [u8], at: usize, value: u16) {
    put_bytes(data, at, &value.to_le_bytes());
}

pub(crate) fn put_u32(data: &mut [u8], at: usize, value: u32) {
    put_bytes(data, at, &value.to_le_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_outside_the_buffer_are_zero() {
        let data = [1u8, 2, 3, 4, 5];
        assert_eq!(get_u32(&data, 0), 0x0403_0201);
        assert_eq!(get_u32(&data, 2), 0);
        assert_eq!(get_u16(&data, 3), 0x0504);
        assert_eq!(get_u16(&data, usize::MAX), 0);
    }

    #[test]
    fn writes_outside_the_buffer_are_dropped() {
        let mut data = [0u8; 5];
        put_u32(&mut data, 2, 0xFFFF_FFFF);
        assert_eq!(data, [0; 5]);
        put_u32(&mut data, usize::MAX - 1, 0xFFFF_FFFF);
        assert_eq!(data, [0; 5]);
        put_u16(&mut data, 3, 0xBBAA);
        assert_eq!(data, [0, 0, 0, 0xAA, 0xBB]);
    }
}
