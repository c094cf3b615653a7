//! MQTT 3.1.1 control packets (OASIS Standard, 29 October 2014; "section" below means a section
//! of that standard).
//!
//! [`Packet`] is a view over the bytes of one control packet: [`Packet::new_checked`] makes sure
//! the buffer holds the whole packet its fixed header announces, and no accessor panics either
//! way. [`Repr`] is the meaning of the packets this client exchanges. [`Repr::parse`] accepts
//! only packets that keep the standard's rules and [`Repr::emit`] refuses values that would
//! break them, so emitting what was parsed gives back the same bytes. [`packet_len`] tells a
//! stream reader how long the packet at the front of its buffer is before all of it arrived.
//!
//! The client subscribes to one topic filter per SUBSCRIBE and uses QoS 0 and 1 only, so the
//! QoS 2 flow (PUBREC, PUBREL, PUBCOMP), UNSUBSCRIBE, multi-filter SUBSCRIBE and the Will are
//! recognised but parse as [`Error::Unsupported`].
#![forbid(unsafe_code)]

use core::fmt;

/// The largest value the Remaining Length field can encode (section 2.2.3).
pub const MAX_REMAINING_LENGTH: usize = 268_435_455;

/// Strings and binary fields carry a two-byte length prefix (sections 1.5.3, 3.1.3.5).
const MAX_FIELD_LEN: usize = u16::MAX as usize;

/// CONNECT's protocol name and level for version 3.1.1 (sections 3.1.2.1, 3.1.2.2).
const PROTOCOL_NAME: &str = "MQTT";
const PROTOCOL_LEVEL: u8 = 4;

/// PUBLISH fixed-header flags (section 3.3.1).
const PUBLISH_DUP: u8 = 0b1000;
const PUBLISH_RETAIN: u8 = 0b0001;
const PUBLISH_QOS_SHIFT: u8 = 1;

/// CONNECT flags (section 3.1.2.3).
const CONNECT_RESERVED: u8 = 0b0000_0001;
const CONNECT_CLEAN_SESSION: u8 = 0b0000_0010;
const CONNECT_WILL: u8 = 0b0000_0100;
const CONNECT_WILL_QOS_AND_RETAIN: u8 = 0b0011_1000;
const CONNECT_PASSWORD: u8 = 0b0100_0000;
const CONNECT_USERNAME: u8 = 0b1000_0000;

/// CONNACK acknowledge flags: bit 0 is Session Present, the rest are reserved (section 3.2.2.1).
const CONNACK_SESSION_PRESENT: u8 = 0b0000_0001;

/// SUBACK's failure return code (section 3.9.3).
const SUBACK_FAILURE: u8 = 0x80;

/// Why bytes are not a valid control packet, or a value cannot be emitted as one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Error {
    /// The buffer ends before the packet that its fixed header announces.
    Truncated,
    /// The Remaining Length has a fifth byte, or is not in its shortest form (section 2.2.3).
    BadRemainingLength,
    /// Packet type 0 or 15, which are reserved (section 2.2.1).
    ReservedPacketType,
    /// Fixed-header flags other than the ones section 2.2.2 prescribes, QoS 3 in a PUBLISH,
    /// DUP on a QoS 0 PUBLISH (section 3.3.1), or a reserved bit set in CONNECT flags, CONNACK
    /// flags or a requested QoS (sections 3.1.2.3, 3.2.2.1, 3.8.3.1).
    BadFlags,
    /// The fields do not fill the Remaining Length exactly.
    BadLength,
    /// A string is not well-formed UTF-8 or contains U+0000 (section 1.5.3).
    BadUtf8,
    /// An empty topic, a wildcard in a topic name, or a misplaced wildcard in a topic filter
    /// (sections 4.7.1, 4.7.3).
    BadTopic,
    /// A packet identifier of zero (section 2.3.1), or one present or missing against the QoS
    /// (section 2.3.1, table 2.5).
    BadPacketId,
    /// A CONNECT for a protocol other than "MQTT" level 4 (sections 3.1.2.1, 3.1.2.2).
    BadProtocol,
    /// A CONNACK or SUBACK return code the standard does not define (sections 3.2.2.3, 3.9.3).
    BadReturnCode,
    /// A valid packet outside what this codec represents (see the module documentation).
    Unsupported,
    /// A field longer than its length prefix allows, or a packet longer than
    /// [`MAX_REMAINING_LENGTH`].
    TooLong,
    /// The buffer given to `emit` is shorter than [`Repr::buffer_len`].
    BufferTooSmall,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Truncated => "packet truncated",
            Self::BadRemainingLength => "malformed Remaining Length",
            Self::ReservedPacketType => "reserved packet type",
            Self::BadFlags => "invalid flags",
            Self::BadLength => "fields do not match the Remaining Length",
            Self::BadUtf8 => "invalid UTF-8 string",
            Self::BadTopic => "invalid topic",
            Self::BadPacketId => "invalid packet identifier",
            Self::BadProtocol => "not MQTT 3.1.1",
            Self::BadReturnCode => "unknown return code",
            Self::Unsupported => "unsupported packet",
            Self::TooLong => "field or packet too long",
            Self::BufferTooSmall => "buffer too small",
        })
    }
}

/// The control packet types (section 2.2.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PacketType {
    Connect = 1,
    ConnAck = 2,
    Publish = 3,
    PubAck = 4,
    PubRec = 5,
    PubRel = 6,
    PubComp = 7,
    Subscribe = 8,
    SubAck = 9,
    Unsubscribe = 10,
    UnsubAck = 11,
    PingReq = 12,
    PingResp = 13,
    Disconnect = 14,
}

impl PacketType {
    fn from_code(code: u8) -> Option<Self> {
        Some(match code {
            1 => Self::Connect,
            2 => Self::ConnAck,
            3 => Self::Publish,
            4 => Self::PubAck,
            5 => Self::PubRec,
            6 => Self::PubRel,
            7 => Self::PubComp,
            8 => Self::Subscribe,
            9 => Self::SubAck,
            10 => Self::Unsubscribe,
            11 => Self::UnsubAck,
            12 => Self::PingReq,
            13 => Self::PingResp,
            14 => Self::Disconnect,
            _ => return None,
        })
    }

    /// The flags section 2.2.2 prescribes for this type, or `None` for PUBLISH, whose flags
    /// carry DUP, QoS and RETAIN.
    const fn fixed_flags(self) -> Option<u8> {
        match self {
            Self::Publish => None,
            Self::PubRel | Self::Subscribe | Self::Unsubscribe => Some(0b0010),
            _ => Some(0),
        }
    }
}

/// The packet's name as the standard writes it.
impl fmt::Display for PacketType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Connect => "CONNECT",
            Self::ConnAck => "CONNACK",
            Self::Publish => "PUBLISH",
            Self::PubAck => "PUBACK",
            Self::PubRec => "PUBREC",
            Self::PubRel => "PUBREL",
            Self::PubComp => "PUBCOMP",
            Self::Subscribe => "SUBSCRIBE",
            Self::SubAck => "SUBACK",
            Self::Unsubscribe => "UNSUBSCRIBE",
            Self::UnsubAck => "UNSUBACK",
            Self::PingReq => "PINGREQ",
            Self::PingResp => "PINGRESP",
            Self::Disconnect => "DISCONNECT",
        })
    }
}

/// Quality of service of a message delivery (section 4.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum QoS {
    AtMostOnce = 0,
    AtLeastOnce = 1,
    ExactlyOnce = 2,
}

impl QoS {
    fn from_bits(bits: u8) -> Option<Self> {
        match bits {
            0 => Some(Self::AtMostOnce),
            1 => Some(Self::AtLeastOnce),
            2 => Some(Self::ExactlyOnce),
            _ => None,
        }
    }
}

/// The CONNACK return codes (section 3.2.2.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConnectReturnCode {
    Accepted = 0,
    UnacceptableProtocolVersion = 1,
    IdentifierRejected = 2,
    ServerUnavailable = 3,
    BadUserNameOrPassword = 4,
    NotAuthorized = 5,
}

impl ConnectReturnCode {
    fn from_code(code: u8) -> Option<Self> {
        Some(match code {
            0 => Self::Accepted,
            1 => Self::UnacceptableProtocolVersion,
            2 => Self::IdentifierRejected,
            3 => Self::ServerUnavailable,
            4 => Self::BadUserNameOrPassword,
            5 => Self::NotAuthorized,
            _ => return None,
        })
    }
}

impl fmt::Display for ConnectReturnCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Accepted => "accepted",
            Self::UnacceptableProtocolVersion => "unacceptable protocol version",
            Self::IdentifierRejected => "client identifier rejected",
            Self::ServerUnavailable => "server unavailable",
            Self::BadUserNameOrPassword => "bad user name or password",
            Self::NotAuthorized => "not authorized",
        })
    }
}

/// A SUBACK return code (section 3.9.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SubscribeReturnCode {
    /// The subscription was accepted with this maximum QoS.
    Granted(QoS),
    /// The server refused the subscription (0x80).
    Failure,
}

/// Length of the packet at the front of `data`, fixed header included, as announced by its
/// fixed header.
///
/// Needs only the fixed header: `Err(Error::Truncated)` means more bytes must arrive before the
/// length is known.
pub fn packet_len(data: &[u8]) -> Result<usize, Error> {
    let (remaining, field_len) = decode_remaining_length(data.get(1..).unwrap_or_default())?;
    Ok(1 + field_len + remaining)
}

/// Decodes the Remaining Length at the start of `bytes` (section 2.2.3): seven bits per byte,
/// least significant group first, the top bit meaning "another byte follows", four bytes at
/// most. Returns the value and the number of bytes it took.
fn decode_remaining_length(bytes: &[u8]) -> Result<(usize, usize), Error> {
    let mut value = 0usize;
    for (index, shift) in [0u32, 7, 14, 21].into_iter().enumerate() {
        let byte = *bytes.get(index).ok_or(Error::Truncated)?;
        value |= usize::from(byte & 0x7F) << shift;
        if byte & 0x80 == 0 {
            // A zero final byte after a continuation means a longer encoding than needed,
            // which `emit` would not reproduce.
            if index > 0 && byte == 0 {
                return Err(Error::BadRemainingLength);
            }
            return Ok((value, index + 1));
        }
    }
    Err(Error::BadRemainingLength)
}

/// Bytes the Remaining Length field takes for `value` (section 2.2.3).
const fn remaining_length_len(value: usize) -> usize {
    match value {
        0..=127 => 1,
        128..=16_383 => 2,
        16_384..=2_097_151 => 3,
        _ => 4,
    }
}

/// A view over one control packet at the start of a buffer (which may hold more after it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Wraps a buffer without checking it; accessors then return zeros or empty slices for
    /// what is missing.
    pub const fn new_unchecked(buffer: T) -> Self {
        Self { buffer }
    }

    /// Wraps a buffer after [`check_len`](Self::check_len).
    pub fn new_checked(buffer: T) -> Result<Self, Error> {
        let packet = Self::new_unchecked(buffer);
        packet.check_len()?;
        Ok(packet)
    }

    /// Makes sure the fixed header decodes and the buffer holds the whole packet.
    pub fn check_len(&self) -> Result<(), Error> {
        let data = self.buffer.as_ref();
        if data.len() < packet_len(data)? {
            return Err(Error::Truncated);
        }
        Ok(())
    }

    /// The buffer, given back.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// The packet type, or `None` for the reserved codes 0 and 15.
    pub fn packet_type(&self) -> Option<PacketType> {
        PacketType::from_code(self.first_byte() >> 4)
    }

    /// The four flag bits of the fixed header (section 2.2.2).
    pub fn flags(&self) -> u8 {
        self.first_byte() & 0x0F
    }

    /// The Remaining Length: the bytes after the fixed header (0 if it does not decode).
    pub fn remaining_length(&self) -> usize {
        decode_remaining_length(self.buffer.as_ref().get(1..).unwrap_or_default())
            .map_or(0, |(value, _)| value)
    }

    /// The packet's length, fixed header included (0 if the fixed header does not decode).
    pub fn total_len(&self) -> usize {
        packet_len(self.buffer.as_ref()).unwrap_or(0)
    }

    /// The variable header and payload (empty if the buffer does not hold all of them).
    pub fn remainder(&self) -> &[u8] {
        remainder_of(self.buffer.as_ref())
    }

    fn first_byte(&self) -> u8 {
        self.buffer.as_ref().first().copied().unwrap_or(0)
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    /// Sets or clears a PUBLISH's DUP flag, as a sender does when it delivers the packet again
    /// (section 3.3.1.1).
    pub fn set_dup(&mut self, dup: bool) {
        if let Some(first) = self.buffer.as_mut().first_mut() {
            if dup {
                *first |= PUBLISH_DUP;
            } else {
                *first &= !PUBLISH_DUP;
            }
        }
    }
}

/// The bytes after the fixed header of the packet at the front of `data`, up to its end.
fn remainder_of(data: &[u8]) -> &[u8] {
    let Ok((remaining, field_len)) = decode_remaining_length(data.get(1..).unwrap_or_default())
    else {
        return &[];
    };
    let start = 1 + field_len;
    data.get(start..start + remaining).unwrap_or_default()
}

/// A CONNECT packet (section 3.1), without a Will.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConnectRepr<'a> {
    pub client_id: &'a str,
    /// Seconds the client may stay silent before the server may drop it; 0 turns it off.
    pub keep_alive_s: u16,
    pub clean_session: bool,
    pub username: Option<&'a str>,
    pub password: Option<&'a [u8]>,
}

/// A PUBLISH packet (section 3.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PublishRepr<'a> {
    /// This is a redelivery (QoS 1 and 2 only).
    pub dup: bool,
    pub qos: QoS,
    pub retain: bool,
    /// The topic name: no wildcards.
    pub topic: &'a str,
    /// Present exactly when `qos` is not [`QoS::AtMostOnce`].
    pub packet_id: Option<u16>,
    pub payload: &'a [u8],
}

/// A SUBSCRIBE packet with one topic filter (section 3.8).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SubscribeRepr<'a> {
    pub packet_id: u16,
    pub topic_filter: &'a str,
    /// The maximum QoS the client wants messages delivered at.
    pub qos: QoS,
}

/// The control packets this codec represents.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Repr<'a> {
    Connect(ConnectRepr<'a>),
    ConnAck {
        session_present: bool,
        return_code: ConnectReturnCode,
    },
    Publish(PublishRepr<'a>),
    PubAck {
        packet_id: u16,
    },
    Subscribe(SubscribeRepr<'a>),
    SubAck {
        packet_id: u16,
        return_code: SubscribeReturnCode,
    },
    PingReq,
    PingResp,
    Disconnect,
}

impl<'a> Repr<'a> {
    /// Parses a packet, accepting only what the standard allows.
    pub fn parse<T: AsRef<[u8]> + ?Sized>(packet: &Packet<&'a T>) -> Result<Self, Error> {
        packet.check_len()?;
        let packet_type = packet.packet_type().ok_or(Error::ReservedPacketType)?;
        let flags = packet.flags();
        if packet_type
            .fixed_flags()
            .is_some_and(|fixed| fixed != flags)
        {
            return Err(Error::BadFlags);
        }
        let data: &'a [u8] = packet.buffer.as_ref();
        let mut reader = Reader {
            rest: remainder_of(data),
        };
        let repr = match packet_type {
            PacketType::Connect => Self::Connect(parse_connect(&mut reader)?),
            PacketType::ConnAck => {
                let ack_flags = reader.u8()?;
                if ack_flags & !CONNACK_SESSION_PRESENT != 0 {
                    return Err(Error::BadFlags);
                }
                let return_code =
                    ConnectReturnCode::from_code(reader.u8()?).ok_or(Error::BadReturnCode)?;
                Self::ConnAck {
                    session_present: ack_flags & CONNACK_SESSION_PRESENT != 0,
                    return_code,
                }
            }
            PacketType::Publish => Self::Publish(parse_publish(flags, &mut reader)?),
            PacketType::PubAck => Self::PubAck {
                packet_id: reader.packet_id()?,
            },
            PacketType::Subscribe => {
                let packet_id = reader.packet_id()?;
                let topic_filter = reader.string()?;
                check_topic_filter(topic_filter)?;
                let qos = reader.requested_qos()?;
                if !reader.rest.is_empty() {
                    return Err(Error::Unsupported);
                }
                Self::Subscribe(SubscribeRepr {
                    packet_id,
                    topic_filter,
                    qos,
                })
            }
            PacketType::SubAck => {
                let packet_id = reader.packet_id()?;
                let return_code = match reader.u8()? {
                    SUBACK_FAILURE => SubscribeReturnCode::Failure,
                    code => SubscribeReturnCode::Granted(
                        QoS::from_bits(code).ok_or(Error::BadReturnCode)?,
                    ),
                };
                if !reader.rest.is_empty() {
                    return Err(Error::Unsupported);
                }
                Self::SubAck {
                    packet_id,
                    return_code,
                }
            }
            PacketType::PingReq => Self::PingReq,
            PacketType::PingResp => Self::PingResp,
            PacketType::Disconnect => Self::Disconnect,
            PacketType::PubRec
            | PacketType::PubRel
            | PacketType::PubComp
            | PacketType::Unsubscribe
            | PacketType::UnsubAck => return Err(Error::Unsupported),
        };
        reader.finish()?;
        Ok(repr)
    }

    /// The length of the emitted packet, fixed header included.
    pub fn buffer_len(&self) -> usize {
        let remaining = self.remaining_len();
        1 + remaining_length_len(remaining) + remaining
    }

    /// Writes the packet at the start of `buf` and returns its length.
    ///
    /// Fails without writing when a value breaks the standard's rules (the same ones `parse`
    /// enforces) or `buf` is shorter than [`buffer_len`](Self::buffer_len).
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize, Error> {
        self.check()?;
        let remaining = self.remaining_len();
        if remaining > MAX_REMAINING_LENGTH {
            return Err(Error::TooLong);
        }
        let len = self.buffer_len();
        let mut writer = Writer {
            buf: buf.get_mut(..len).ok_or(Error::BufferTooSmall)?,
            at: 0,
        };
        writer.u8(self.first_byte())?;
        writer.remaining_length(remaining)?;
        match self {
            Self::Connect(connect) => {
                writer.prefixed(PROTOCOL_NAME.as_bytes())?;
                writer.u8(PROTOCOL_LEVEL)?;
                writer.u8(connect_flags(connect))?;
                writer.u16(connect.keep_alive_s)?;
                writer.prefixed(connect.client_id.as_bytes())?;
                if let Some(username) = connect.username {
                    writer.prefixed(username.as_bytes())?;
                }
                if let Some(password) = connect.password {
                    writer.prefixed(password)?;
                }
            }
            Self::ConnAck {
                session_present,
                return_code,
            } => {
                writer.u8(if *session_present {
                    CONNACK_SESSION_PRESENT
                } else {
                    0
                })?;
                writer.u8(*return_code as u8)?;
            }
            Self::Publish(publish) => {
                writer.prefixed(publish.topic.as_bytes())?;
                if let Some(packet_id) = publish.packet_id {
                    writer.u16(packet_id)?;
                }
                writer.bytes(publish.payload)?;
            }
            Self::PubAck { packet_id } => writer.u16(*packet_id)?,
            Self::Subscribe(subscribe) => {
                writer.u16(subscribe.packet_id)?;
                writer.prefixed(subscribe.topic_filter.as_bytes())?;
                writer.u8(subscribe.qos as u8)?;
            }
            Self::SubAck {
                packet_id,
                return_code,
            } => {
                writer.u16(*packet_id)?;
                writer.u8(match return_code {
                    SubscribeReturnCode::Granted(qos) => *qos as u8,
                    SubscribeReturnCode::Failure => SUBACK_FAILURE,
                })?;
            }
            Self::PingReq | Self::PingResp | Self::Disconnect => {}
        }
        Ok(writer.at)
    }

    fn packet_type(&self) -> PacketType {
        match self {
            Self::Connect(_) => PacketType::Connect,
            Self::ConnAck { .. } => PacketType::ConnAck,
            Self::Publish(_) => PacketType::Publish,
            Self::PubAck { .. } => PacketType::PubAck,
            Self::Subscribe(_) => PacketType::Subscribe,
            Self::SubAck { .. } => PacketType::SubAck,
            Self::PingReq => PacketType::PingReq,
            Self::PingResp => PacketType::PingResp,
            Self::Disconnect => PacketType::Disconnect,
        }
    }

    fn first_byte(&self) -> u8 {
        let packet_type = self.packet_type();
        let flags = match self {
            Self::Publish(publish) => {
                let mut flags = (publish.qos as u8) << PUBLISH_QOS_SHIFT;
                if publish.dup {
                    flags |= PUBLISH_DUP;
                }
                if publish.retain {
                    flags |= PUBLISH_RETAIN;
                }
                flags
            }
            _ => packet_type.fixed_flags().unwrap_or(0),
        };
        ((packet_type as u8) << 4) | flags
    }

    /// The Remaining Length of the emitted packet (saturating, for values `check` refuses).
    fn remaining_len(&self) -> usize {
        let prefixed = |field: &[u8]| field.len().saturating_add(2);
        match self {
            Self::Connect(connect) => {
                let mut len = prefixed(PROTOCOL_NAME.as_bytes()) + 4;
                len = len.saturating_add(prefixed(connect.client_id.as_bytes()));
                if let Some(username) = connect.username {
                    len = len.saturating_add(prefixed(username.as_bytes()));
                }
                if let Some(password) = connect.password {
                    len = len.saturating_add(prefixed(password));
                }
                len
            }
            Self::ConnAck { .. } | Self::PubAck { .. } => 2,
            Self::Publish(publish) => prefixed(publish.topic.as_bytes())
                .saturating_add(if publish.packet_id.is_some() { 2 } else { 0 })
                .saturating_add(publish.payload.len()),
            Self::Subscribe(subscribe) => {
                prefixed(subscribe.topic_filter.as_bytes()).saturating_add(3)
            }
            Self::SubAck { .. } => 3,
            Self::PingReq | Self::PingResp | Self::Disconnect => 0,
        }
    }

    /// Applies to values the rules `parse` applies to bytes.
    fn check(&self) -> Result<(), Error> {
        match self {
            Self::Connect(connect) => {
                check_string(connect.client_id)?;
                if let Some(username) = connect.username {
                    check_string(username)?;
                }
                match connect.password {
                    Some(_) if connect.username.is_none() => Err(Error::BadFlags),
                    Some(password) if password.len() > MAX_FIELD_LEN => Err(Error::TooLong),
                    _ => Ok(()),
                }
            }
            Self::Publish(publish) => {
                check_topic_name(publish.topic)?;
                match (publish.qos, publish.packet_id) {
                    (QoS::AtMostOnce, None) if publish.dup => Err(Error::BadFlags),
                    (QoS::AtMostOnce, None) => Ok(()),
                    (QoS::AtLeastOnce | QoS::ExactlyOnce, Some(packet_id)) => {
                        check_packet_id(packet_id)
                    }
                    _ => Err(Error::BadPacketId),
                }
            }
            Self::Subscribe(subscribe) => {
                check_packet_id(subscribe.packet_id)?;
                check_topic_filter(subscribe.topic_filter)
            }
            Self::PubAck { packet_id } | Self::SubAck { packet_id, .. } => {
                check_packet_id(*packet_id)
            }
            Self::ConnAck { .. } | Self::PingReq | Self::PingResp | Self::Disconnect => Ok(()),
        }
    }
}

fn parse_connect<'a>(reader: &mut Reader<'a>) -> Result<ConnectRepr<'a>, Error> {
    if reader.string()? != PROTOCOL_NAME || reader.u8()? != PROTOCOL_LEVEL {
        return Err(Error::BadProtocol);
    }
    let flags = reader.u8()?;
    if flags & CONNECT_RESERVED != 0 {
        return Err(Error::BadFlags);
    }
    if flags & CONNECT_WILL != 0 {
        return Err(Error::Unsupported);
    }
    // Without a Will, its QoS and RETAIN must be 0 (sections 3.1.2.6, 3.1.2.7), and a password
    // needs a user name (section 3.1.2.9).
    if flags & CONNECT_WILL_QOS_AND_RETAIN != 0
        || (flags & CONNECT_PASSWORD != 0 && flags & CONNECT_USERNAME == 0)
    {
        return Err(Error::BadFlags);
    }
    let keep_alive_s = reader.u16()?;
    let client_id = reader.string()?;
    let username = match flags & CONNECT_USERNAME {
        0 => None,
        _ => Some(reader.string()?),
    };
    let password = match flags & CONNECT_PASSWORD {
        0 => None,
        _ => Some(reader.prefixed()?),
    };
    Ok(ConnectRepr {
        client_id,
        keep_alive_s,
        clean_session: flags & CONNECT_CLEAN_SESSION != 0,
        username,
        password,
    })
}

fn parse_publish<'a>(flags: u8, reader: &mut Reader<'a>) -> Result<PublishRepr<'a>, Error> {
    let qos = QoS::from_bits((flags >> PUBLISH_QOS_SHIFT) & 0b11).ok_or(Error::BadFlags)?;
    let dup = flags & PUBLISH_DUP != 0;
    if dup && qos == QoS::AtMostOnce {
        return Err(Error::BadFlags);
    }
    let topic = reader.string()?;
    check_topic_name(topic)?;
    let packet_id = match qos {
        QoS::AtMostOnce => None,
        QoS::AtLeastOnce | QoS::ExactlyOnce => Some(reader.packet_id()?),
    };
    Ok(PublishRepr {
        dup,
        qos,
        retain: flags & PUBLISH_RETAIN != 0,
        topic,
        packet_id,
        payload: reader.take_rest(),
    })
}

fn connect_flags(connect: &ConnectRepr<'_>) -> u8 {
    let mut flags = 0;
    if connect.clean_session {
        flags |= CONNECT_CLEAN_SESSION;
    }
    if connect.username.is_some() {
        flags |= CONNECT_USERNAME;
    }
    if connect.password.is_some() {
        flags |= CONNECT_PASSWORD;
    }
    flags
}

/// A UTF-8 string field's rules beyond well-formedness (section 1.5.3).
fn check_string(text: &str) -> Result<(), Error> {
    if text.len() > MAX_FIELD_LEN {
        return Err(Error::TooLong);
    }
    if text.contains('\0') {
        return Err(Error::BadUtf8);
    }
    Ok(())
}

/// A topic name: at least one character and no wildcards (sections 3.3.2.1, 4.7.3).
fn check_topic_name(topic: &str) -> Result<(), Error> {
    check_string(topic)?;
    if topic.is_empty() || topic.contains(['+', '#']) {
        return Err(Error::BadTopic);
    }
    Ok(())
}

/// A topic filter: at least one character; `+` only as a whole level; `#` only as the whole
/// last level (sections 4.7.1.2, 4.7.1.3, 4.7.3).
fn check_topic_filter(filter: &str) -> Result<(), Error> {
    check_string(filter)?;
    if filter.is_empty() {
        return Err(Error::BadTopic);
    }
    let mut levels = filter.split('/').peekable();
    while let Some(level) = levels.next() {
        let is_last = levels.peek().is_none();
        let valid = match level {
            "+" => true,
            "#" => is_last,
            _ => !level.contains(['+', '#']),
        };
        if !valid {
            return Err(Error::BadTopic);
        }
    }
    Ok(())
}

fn check_packet_id(packet_id: u16) -> Result<(), Error> {
    if packet_id == 0 {
        return Err(Error::BadPacketId);
    }
    Ok(())
}

/// Reads fields from the bytes after the fixed header. Running out of bytes there means the
/// Remaining Length disagrees with the fields, hence [`Error::BadLength`].
struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, len: usize) -> Result<&'a [u8], Error> {
        if len > self.rest.len() {
            return Err(Error::BadLength);
        }
        let (taken, rest) = self.rest.split_at(len);
        self.rest = rest;
        Ok(taken)
    }

    fn u8(&mut self) -> Result<u8, Error> {
        let [byte] = self.take(1)? else {
            return Err(Error::BadLength);
        };
        Ok(*byte)
    }

    fn u16(&mut self) -> Result<u16, Error> {
        let [high, low] = self.take(2)? else {
            return Err(Error::BadLength);
        };
        Ok(u16::from_be_bytes([*high, *low]))
    }

    fn packet_id(&mut self) -> Result<u16, Error> {
        let packet_id = self.u16()?;
        check_packet_id(packet_id)?;
        Ok(packet_id)
    }

    /// A field with a two-byte length prefix (section 1.5.3, 3.1.3.5).
    fn prefixed(&mut self) -> Result<&'a [u8], Error> {
        let len = self.u16()?;
        self.take(usize::from(len))
    }

    fn string(&mut self) -> Result<&'a str, Error> {
        let text = core::str::from_utf8(self.prefixed()?).map_err(|_| Error::BadUtf8)?;
        check_string(text)?;
        Ok(text)
    }

    /// A SUBSCRIBE's requested QoS byte, whose upper six bits are reserved (section 3.8.3.1).
    fn requested_qos(&mut self) -> Result<QoS, Error> {
        QoS::from_bits(self.u8()?).ok_or(Error::BadFlags)
    }

    fn take_rest(&mut self) -> &'a [u8] {
        core::mem::take(&mut self.rest)
    }

    fn finish(self) -> Result<(), Error> {
        if self.rest.is_empty() {
            Ok(())
        } else {
            Err(Error::BadLength)
        }
    }
}

/// Writes fields into a buffer that `emit` has already checked is long enough; every write is
/// still bounds-checked, so a mistake fails rather than panics.
struct Writer<'a> {
    buf: &'a mut [u8],
    at: usize,
}

impl Writer<'_> {
    fn bytes(&mut self, bytes: &[u8]) -> Result<(), Error> {
        let end = self.at.checked_add(bytes.len()).ok_or(Error::TooLong)?;
        self.buf
            .get_mut(self.at..end)
            .ok_or(Error::BufferTooSmall)?
            .copy_from_slice(bytes);
        self.at = end;
        Ok(())
    }

    fn u8(&mut self, value: u8) -> Result<(), Error> {
        self.bytes(&[value])
    }

    fn u16(&mut self, value: u16) -> Result<(), Error> {
        self.bytes(&value.to_be_bytes())
    }

    fn prefixed(&mut self, field: &[u8]) -> Result<(), Error> {
        self.u16(u16::try_from(field.len()).map_err(|_| Error::TooLong)?)?;
        self.bytes(field)
    }

    fn remaining_length(&mut self, mut value: usize) -> Result<(), Error> {
        loop {
            // The mask keeps seven bits, so the cast cannot truncate.
            let mut byte = (value & 0x7F) as u8;
            value >>= 7;
            if value > 0 {
                byte |= 0x80;
            }
            self.u8(byte)?;
            if value == 0 {
                return Ok(());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(bytes: &[u8]) -> Result<Repr<'_>, Error> {
        Repr::parse(&Packet::new_unchecked(bytes))
    }

    fn emit(repr: &Repr<'_>) -> Vec<u8> {
        let mut buf = vec![0; repr.buffer_len()];
        let len = repr.emit(&mut buf).expect("emit");
        assert_eq!(len, buf.len());
        buf
    }

    /// Emits `repr`, checks the bytes, parses them back and checks the result is `repr`.
    fn round_trip(repr: Repr<'_>, bytes: &[u8]) {
        assert_eq!(emit(&repr), bytes);
        assert_eq!(parse(bytes), Ok(repr));
    }

    const CONNECT: &[u8] = &[
        0x10, 0x13, // CONNECT, remaining length 19
        0x00, 0x04, b'M', b'Q', b'T', b'T', 0x04, // protocol name and level
        0x02, // clean session
        0x00, 0x3C, // keep alive 60 s
        0x00, 0x07, b'w', b'm', b'_', b'd', b'e', b'm', b'o',
    ];

    #[test]
    fn connect_round_trip() {
        let repr = Repr::Connect(ConnectRepr {
            client_id: "wm_demo",
            keep_alive_s: 60,
            clean_session: true,
            username: None,
            password: None,
        });
        round_trip(repr, CONNECT);
    }

    #[test]
    fn connect_with_credentials_round_trip() {
        let repr = Repr::Connect(ConnectRepr {
            client_id: "c",
            keep_alive_s: 0,
            clean_session: false,
            username: Some("u"),
            password: Some(&[0xFF, 0x00]),
        });
        let bytes = [
            0x10, 0x14, 0x00, 0x04, b'M', b'Q', b'T', b'T', 0x04, 0xC0, 0x00, 0x00, 0x00, 0x01,
            b'c', 0x00, 0x01, b'u', 0x00, 0x02, 0xFF, 0x00,
        ];
        round_trip(repr, &bytes);
    }

    #[test]
    fn connect_rejects_other_protocols_and_bad_flags() {
        let mut wrong_level = CONNECT.to_vec();
        wrong_level[8] = 3;
        assert_eq!(parse(&wrong_level), Err(Error::BadProtocol));
        let mut wrong_name = CONNECT.to_vec();
        wrong_name[4] = b'X';
        assert_eq!(parse(&wrong_name), Err(Error::BadProtocol));
        let mut reserved = CONNECT.to_vec();
        reserved[9] |= CONNECT_RESERVED;
        assert_eq!(parse(&reserved), Err(Error::BadFlags));
        let mut will = CONNECT.to_vec();
        will[9] |= CONNECT_WILL;
        assert_eq!(parse(&will), Err(Error::Unsupported));
        let mut will_qos_without_will = CONNECT.to_vec();
        will_qos_without_will[9] |= 0b0000_1000;
        assert_eq!(parse(&will_qos_without_will), Err(Error::BadFlags));
        let mut password_without_username = CONNECT.to_vec();
        password_without_username[9] |= CONNECT_PASSWORD;
        assert_eq!(parse(&password_without_username), Err(Error::BadFlags));
        let repr = Repr::Connect(ConnectRepr {
            client_id: "c",
            keep_alive_s: 0,
            clean_session: true,
            username: None,
            password: Some(b"p"),
        });
        assert_eq!(repr.emit(&mut [0; 64]), Err(Error::BadFlags));
    }

    #[test]
    fn connack_round_trip_and_return_codes() {
        round_trip(
            Repr::ConnAck {
                session_present: true,
                return_code: ConnectReturnCode::Accepted,
            },
            &[0x20, 0x02, 0x01, 0x00],
        );
        round_trip(
            Repr::ConnAck {
                session_present: false,
                return_code: ConnectReturnCode::NotAuthorized,
            },
            &[0x20, 0x02, 0x00, 0x05],
        );
        assert_eq!(parse(&[0x20, 0x02, 0x00, 0x06]), Err(Error::BadReturnCode));
        assert_eq!(parse(&[0x20, 0x02, 0x02, 0x00]), Err(Error::BadFlags));
        assert_eq!(
            parse(&[0x20, 0x03, 0x00, 0x00, 0x00]),
            Err(Error::BadLength)
        );
        assert_eq!(parse(&[0x20, 0x01, 0x00]), Err(Error::BadLength));
    }

    #[test]
    fn publish_qos0_round_trip() {
        let repr = Repr::Publish(PublishRepr {
            dup: false,
            qos: QoS::AtMostOnce,
            retain: true,
            topic: "a/b",
            packet_id: None,
            payload: b"hi",
        });
        round_trip(
            repr,
            &[0x31, 0x07, 0x00, 0x03, b'a', b'/', b'b', b'h', b'i'],
        );
    }

    #[test]
    fn publish_qos1_round_trip_with_dup_and_empty_payload() {
        let repr = Repr::Publish(PublishRepr {
            dup: true,
            qos: QoS::AtLeastOnce,
            retain: false,
            topic: "t",
            packet_id: Some(0x1234),
            payload: b"",
        });
        round_trip(repr, &[0x3A, 0x05, 0x00, 0x01, b't', 0x12, 0x34]);
    }

    #[test]
    fn publish_with_a_two_byte_remaining_length_round_trips() {
        let payload = [0xA5; 200];
        let repr = Repr::Publish(PublishRepr {
            dup: false,
            qos: QoS::AtMostOnce,
            retain: false,
            topic: "t",
            packet_id: None,
            payload: &payload,
        });
        let bytes = emit(&repr);
        // 203 = 0xCB: low seven bits 0x4B with the continuation bit, then 1.
        assert_eq!(bytes[..3], [0x30, 0xCB, 0x01]);
        assert_eq!(bytes.len(), 206);
        assert_eq!(parse(&bytes), Ok(repr));
    }

    #[test]
    fn publish_rejects_bad_flags_ids_and_topics() {
        // QoS 3.
        assert_eq!(
            parse(&[0x36, 0x05, 0x00, 0x01, b't', 0x00, 0x01]),
            Err(Error::BadFlags)
        );
        // DUP on QoS 0.
        assert_eq!(parse(&[0x38, 0x03, 0x00, 0x01, b't']), Err(Error::BadFlags));
        // Packet identifier 0.
        assert_eq!(
            parse(&[0x32, 0x05, 0x00, 0x01, b't', 0x00, 0x00]),
            Err(Error::BadPacketId)
        );
        // QoS 1 without room for the packet identifier.
        assert_eq!(
            parse(&[0x32, 0x03, 0x00, 0x01, b't']),
            Err(Error::BadLength)
        );
        // Wildcards and empty topics.
        assert_eq!(parse(&[0x30, 0x03, 0x00, 0x01, b'#']), Err(Error::BadTopic));
        assert_eq!(
            parse(&[0x30, 0x05, 0x00, 0x03, b'a', b'/', b'+']),
            Err(Error::BadTopic)
        );
        assert_eq!(parse(&[0x30, 0x02, 0x00, 0x00]), Err(Error::BadTopic));
        // Topic length beyond the remaining length.
        assert_eq!(
            parse(&[0x30, 0x03, 0x00, 0x05, b't']),
            Err(Error::BadLength)
        );

        let mut publish = PublishRepr {
            dup: false,
            qos: QoS::AtLeastOnce,
            retain: false,
            topic: "t",
            packet_id: None,
            payload: b"",
        };
        assert_eq!(
            Repr::Publish(publish).emit(&mut [0; 16]),
            Err(Error::BadPacketId)
        );
        publish.qos = QoS::AtMostOnce;
        publish.packet_id = Some(1);
        assert_eq!(
            Repr::Publish(publish).emit(&mut [0; 16]),
            Err(Error::BadPacketId)
        );
        publish.packet_id = None;
        publish.topic = "a/#";
        assert_eq!(
            Repr::Publish(publish).emit(&mut [0; 16]),
            Err(Error::BadTopic)
        );
    }

    #[test]
    fn strings_must_be_utf8_without_nul() {
        // 0xC3 0x28 is an invalid two-byte sequence.
        assert_eq!(
            parse(&[0x30, 0x04, 0x00, 0x02, 0xC3, 0x28]),
            Err(Error::BadUtf8)
        );
        // An encoded surrogate half (U+D800) is not well-formed UTF-8.
        assert_eq!(
            parse(&[0x30, 0x05, 0x00, 0x03, 0xED, 0xA0, 0x80]),
            Err(Error::BadUtf8)
        );
        assert_eq!(
            parse(&[0x30, 0x04, 0x00, 0x02, b'a', 0x00]),
            Err(Error::BadUtf8)
        );
        let publish = Repr::Publish(PublishRepr {
            dup: false,
            qos: QoS::AtMostOnce,
            retain: false,
            topic: "a\0",
            packet_id: None,
            payload: b"",
        });
        assert_eq!(publish.emit(&mut [0; 16]), Err(Error::BadUtf8));
    }

    #[test]
    fn puback_round_trip_and_length_checks() {
        round_trip(Repr::PubAck { packet_id: 7 }, &[0x40, 0x02, 0x00, 0x07]);
        assert_eq!(parse(&[0x40, 0x02, 0x00, 0x00]), Err(Error::BadPacketId));
        assert_eq!(
            parse(&[0x40, 0x03, 0x00, 0x07, 0x00]),
            Err(Error::BadLength)
        );
        assert_eq!(parse(&[0x40, 0x00]), Err(Error::BadLength));
    }

    #[test]
    fn subscribe_round_trip_and_checks() {
        let repr = Repr::Subscribe(SubscribeRepr {
            packet_id: 10,
            topic_filter: "$aws/things/+/jobs/#",
            qos: QoS::AtLeastOnce,
        });
        let mut bytes = vec![0x82, 25, 0x00, 0x0A, 0x00, 20];
        bytes.extend_from_slice(b"$aws/things/+/jobs/#");
        bytes.push(0x01);
        round_trip(repr, &bytes);

        let mut reserved_qos_bits = bytes.clone();
        *reserved_qos_bits.last_mut().unwrap() = 0x41;
        assert_eq!(parse(&reserved_qos_bits), Err(Error::BadFlags));

        let mut two_filters = bytes.clone();
        two_filters[1] += 4;
        two_filters.extend_from_slice(&[0x00, 0x01, b'x', 0x00]);
        assert_eq!(parse(&two_filters), Err(Error::Unsupported));

        // No topic filter at all.
        assert_eq!(parse(&[0x82, 0x02, 0x00, 0x01]), Err(Error::BadLength));

        for bad in ["", "a/#/b", "a#", "a/b+", "#/"] {
            let repr = Repr::Subscribe(SubscribeRepr {
                packet_id: 1,
                topic_filter: bad,
                qos: QoS::AtMostOnce,
            });
            assert_eq!(repr.emit(&mut [0; 32]), Err(Error::BadTopic), "{bad:?}");
        }
        for good in [
            "#",
            "+",
            "a/+/b",
            "+/+",
            "/",
            "a/#",
            "$aws/things/dev1/jobs/notify-next",
        ] {
            assert_eq!(check_topic_filter(good), Ok(()), "{good:?}");
        }
    }

    #[test]
    fn suback_round_trip_and_return_codes() {
        round_trip(
            Repr::SubAck {
                packet_id: 10,
                return_code: SubscribeReturnCode::Granted(QoS::AtLeastOnce),
            },
            &[0x90, 0x03, 0x00, 0x0A, 0x01],
        );
        round_trip(
            Repr::SubAck {
                packet_id: 10,
                return_code: SubscribeReturnCode::Failure,
            },
            &[0x90, 0x03, 0x00, 0x0A, 0x80],
        );
        assert_eq!(
            parse(&[0x90, 0x03, 0x00, 0x0A, 0x03]),
            Err(Error::BadReturnCode)
        );
        assert_eq!(
            parse(&[0x90, 0x04, 0x00, 0x0A, 0x01, 0x01]),
            Err(Error::Unsupported)
        );
        assert_eq!(parse(&[0x90, 0x02, 0x00, 0x0A]), Err(Error::BadLength));
    }

    #[test]
    fn empty_packets_round_trip_and_must_be_empty() {
        round_trip(Repr::PingReq, &[0xC0, 0x00]);
        round_trip(Repr::PingResp, &[0xD0, 0x00]);
        round_trip(Repr::Disconnect, &[0xE0, 0x00]);
        assert_eq!(parse(&[0xD0, 0x01, 0x00]), Err(Error::BadLength));
    }

    #[test]
    fn reserved_flags_and_types_are_rejected() {
        assert_eq!(parse(&[0xD1, 0x00]), Err(Error::BadFlags));
        assert_eq!(parse(&[0x80, 0x00]), Err(Error::BadFlags));
        assert_eq!(parse(&[0x42, 0x02, 0x00, 0x01]), Err(Error::BadFlags));
        assert_eq!(parse(&[0x00, 0x00]), Err(Error::ReservedPacketType));
        assert_eq!(parse(&[0xF0, 0x00]), Err(Error::ReservedPacketType));
    }

    #[test]
    fn qos2_flow_and_unsubscribe_are_unsupported() {
        assert_eq!(parse(&[0x50, 0x02, 0x00, 0x01]), Err(Error::Unsupported));
        assert_eq!(parse(&[0x62, 0x02, 0x00, 0x01]), Err(Error::Unsupported));
        assert_eq!(parse(&[0x70, 0x02, 0x00, 0x01]), Err(Error::Unsupported));
        assert_eq!(parse(&[0xB0, 0x02, 0x00, 0x01]), Err(Error::Unsupported));
    }

    #[test]
    fn remaining_length_encoding() {
        for (value, bytes) in [
            (0usize, &[0x00][..]),
            (127, &[0x7F]),
            (128, &[0x80, 0x01]),
            (16_383, &[0xFF, 0x7F]),
            (16_384, &[0x80, 0x80, 0x01]),
            (2_097_151, &[0xFF, 0xFF, 0x7F]),
            (2_097_152, &[0x80, 0x80, 0x80, 0x01]),
            (MAX_REMAINING_LENGTH, &[0xFF, 0xFF, 0xFF, 0x7F]),
        ] {
            assert_eq!(decode_remaining_length(bytes), Ok((value, bytes.len())));
            assert_eq!(remaining_length_len(value), bytes.len());
            let mut buf = [0; 4];
            let mut writer = Writer {
                buf: &mut buf,
                at: 0,
            };
            writer.remaining_length(value).unwrap();
            let written = writer.at;
            assert_eq!(&buf[..written], bytes);
        }
    }

    #[test]
    fn remaining_length_longer_than_four_bytes_is_rejected() {
        assert_eq!(
            packet_len(&[0x30, 0xFF, 0xFF, 0xFF, 0xFF, 0x01]),
            Err(Error::BadRemainingLength)
        );
        assert_eq!(
            Packet::new_checked(&[0x30u8, 0x80, 0x80, 0x80, 0x80, 0x00][..]),
            Err(Error::BadRemainingLength)
        );
        // A longer encoding than needed (0 in two bytes).
        assert_eq!(
            packet_len(&[0x30, 0x80, 0x00]),
            Err(Error::BadRemainingLength)
        );
    }

    #[test]
    fn truncated_input_is_reported_not_panicked_on() {
        assert_eq!(packet_len(&[]), Err(Error::Truncated));
        assert_eq!(packet_len(&[0x30]), Err(Error::Truncated));
        assert_eq!(packet_len(&[0x30, 0x80]), Err(Error::Truncated));
        assert_eq!(packet_len(&[0x30, 0xCB, 0x01]), Ok(206));
        for len in 0..CONNECT.len() {
            assert_eq!(parse(&CONNECT[..len]), Err(Error::Truncated), "{len}");
            let packet = Packet::new_unchecked(&CONNECT[..len]);
            assert_eq!(packet.remainder(), b"");
            let _ = (
                packet.packet_type(),
                packet.flags(),
                packet.remaining_length(),
            );
        }
    }

    #[test]
    fn packet_view_accessors() {
        let mut bytes = CONNECT.to_vec();
        bytes.extend_from_slice(&[0xC0, 0x00]); // a PINGREQ behind it
        let packet = Packet::new_checked(&bytes[..]).unwrap();
        assert_eq!(packet.packet_type(), Some(PacketType::Connect));
        assert_eq!(packet.flags(), 0);
        assert_eq!(packet.remaining_length(), 19);
        assert_eq!(packet.total_len(), 21);
        assert_eq!(packet.remainder(), &CONNECT[2..]);
        assert_eq!(parse(&bytes).map(|repr| repr.buffer_len()), Ok(21));

        let mut publish = [0x32, 0x05, 0x00, 0x01, b't', 0x00, 0x01];
        let mut packet = Packet::new_checked(&mut publish[..]).unwrap();
        packet.set_dup(true);
        assert_eq!(packet.flags(), 0b1010);
        packet.set_dup(false);
        assert_eq!(packet.into_inner()[0], 0x32);
    }

    #[test]
    fn emit_needs_room_and_never_writes_past_the_packet() {
        let repr = Repr::PubAck { packet_id: 1 };
        assert_eq!(repr.emit(&mut [0; 3]), Err(Error::BufferTooSmall));
        let mut buf = [0xEE; 6];
        assert_eq!(repr.emit(&mut buf), Ok(4));
        assert_eq!(buf, [0x40, 0x02, 0x00, 0x01, 0xEE, 0xEE]);
    }

    #[test]
    fn oversized_fields_are_refused() {
        let long = "a".repeat(MAX_FIELD_LEN + 1);
        let repr = Repr::Publish(PublishRepr {
            dup: false,
            qos: QoS::AtMostOnce,
            retain: false,
            topic: &long,
            packet_id: None,
            payload: b"",
        });
        assert_eq!(repr.emit(&mut vec![0; 70_000]), Err(Error::TooLong));
    }
}
