//! ICMP echo (RFC 792) for `ping`: building the request and recognising its reply.

/// The ICMP echo header length.
pub const ECHO_HEADER_LEN: usize = 8;
/// The payload every request carries (the same size as a default `ping`).
pub const PAYLOAD_LEN: usize = 32;

const ECHO_REQUEST: u8 = 8;
const ECHO_REPLY: u8 = 0;

/// The Internet checksum (RFC 1071) over `data`.
pub fn checksum(data: &[u8]) -> u16 {
    let mut sum: u32 = 0;
    let mut words = data.chunks_exact(2);
    for word in &mut words {
        sum += u32::from(u16::from_be_bytes([word[0], word[1]]));
    }
    if let [last] = words.remainder() {
        sum += u32::from(*last) << 8;
    }
    while sum > 0xFFFF {
        sum = (sum & 0xFFFF) + (sum >> 16);
    }
    !(sum as u16)
}

/// An echo request with `identifier` and `sequence`, into `out`.
pub fn echo_request(identifier: u16, sequence: u16) -> [u8; ECHO_HEADER_LEN + PAYLOAD_LEN] {
    let mut packet = [0u8; ECHO_HEADER_LEN + PAYLOAD_LEN];
    packet[0] = ECHO_REQUEST;
    packet[4..6].copy_from_slice(&identifier.to_be_bytes());
    packet[6..8].copy_from_slice(&sequence.to_be_bytes());
    for (i, b) in packet[ECHO_HEADER_LEN..].iter_mut().enumerate() {
        *b = b'a' + (i % 23) as u8;
    }
    let sum = checksum(&packet);
    packet[2..4].copy_from_slice(&sum.to_be_bytes());
    packet
}

/// Whether `datagram` (an IPv4 packet, as a raw socket delivers it) is the reply to the
/// request with `identifier` and `sequence`. Anything malformed is simply not a reply.
pub fn is_echo_reply(datagram: &[u8], identifier: u16, sequence: u16) -> bool {
    let Some(&version_ihl) = datagram.first() else {
        return false;
    };
    let header_len = usize::from(version_ihl & 0x0F) * 4;
    if version_ihl >> 4 != 4 || header_len < 20 {
        return false;
    }
    let Some(icmp) = datagram.get(header_len..) else {
        return false;
    };
    icmp.len() >= ECHO_HEADER_LEN
        && icmp[0] == ECHO_REPLY
        && checksum(icmp) == 0
        && icmp[4..6] == identifier.to_be_bytes()
        && icmp[6..8] == sequence.to_be_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checksum_matches_rfc1071_example() {
        // RFC 1071 section 3: the words 0001 f203 f4f5 f6f7 sum to ddf2, checksum 220d.
        assert_eq!(
            checksum(&[0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7]),
            0x220d
        );
        assert_eq!(checksum(&[0xff]), !0xff00);
    }

    #[test]
    fn a_request_verifies_and_its_reply_is_recognised() {
        let request = echo_request(0x1234, 7);
        assert_eq!(checksum(&request), 0);
        // The reply: same body, type 0, checksum adjusted, behind a 20-byte IPv4 header.
        let mut reply = request;
        reply[0] = ECHO_REPLY;
        reply[2..4].fill(0);
        let sum = checksum(&reply);
        reply[2..4].copy_from_slice(&sum.to_be_bytes());
        let mut datagram = vec![0x45u8];
        datagram.extend_from_slice(&[0; 19]);
        datagram.extend_from_slice(&reply);
        assert!(is_echo_reply(&datagram, 0x1234, 7));
        assert!(!is_echo_reply(&datagram, 0x1234, 8), "other sequence");
        assert!(!is_echo_reply(&datagram, 0x4321, 7), "other identifier");
        let mut corrupt = datagram.clone();
        corrupt[30] ^= 1;
        assert!(!is_echo_reply(&corrupt, 0x1234, 7), "bad checksum");
        assert!(!is_echo_reply(&datagram[..25], 0x1234, 7), "truncated");
        assert!(!is_echo_reply(&[], 0x1234, 7));
        assert!(!is_echo_reply(&[0x41; 40], 0x1234, 7), "bad header length");
    }
}
