//! BOOTP/DHCPv4 packet codec (RFC 2131/2132): parsing and building packets with their options.
//!
//! Options keep their order; an option that occurs more than once is concatenated (RFC 3396)
//! when parsed and split into 255-byte pieces when built. Parsing never panics on packet data.

use std::fmt;
use std::net::Ipv4Addr;
use std::str::FromStr;

/// The magic cookie that starts the options field.
pub const MAGIC: [u8; 4] = [99, 130, 83, 99];
/// Size of the fixed BOOTP header before the magic cookie.
pub const HEADER_LEN: usize = 236;
/// BOOTP replies are padded to at least this size (some PXE ROMs drop shorter packets).
pub const MIN_LEN: usize = 300;

pub mod opt {
    pub const PAD: u8 = 0;
    pub const SUBNET_MASK: u8 = 1;
    pub const ROUTER: u8 = 3;
    pub const DNS: u8 = 6;
    pub const HOSTNAME: u8 = 12;
    pub const VENDOR_SPECIFIC: u8 = 43;
    pub const REQUESTED_IP: u8 = 50;
    pub const LEASE_TIME: u8 = 51;
    pub const MESSAGE_TYPE: u8 = 53;
    pub const SERVER_ID: u8 = 54;
    pub const PARAMETER_LIST: u8 = 55;
    pub const MESSAGE: u8 = 56;
    pub const RENEWAL_TIME: u8 = 58;
    pub const REBINDING_TIME: u8 = 59;
    pub const VENDOR_CLASS: u8 = 60;
    pub const CLIENT_ID: u8 = 61;
    pub const USER_CLASS: u8 = 77;
    pub const RELAY_AGENT_INFO: u8 = 82;
    pub const CLIENT_ARCH: u8 = 93;
    pub const CLIENT_NDI: u8 = 94;
    pub const CLIENT_GUID: u8 = 97;
    pub const IPXE_ENCAP: u8 = 175;
    pub const END: u8 = 255;
}

/// BOOTP op codes.
pub const BOOTREQUEST: u8 = 1;
pub const BOOTREPLY: u8 = 2;
/// The broadcast bit of the flags field.
pub const FLAG_BROADCAST: u16 = 0x8000;

/// DHCP message types (option 53).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageType {
    Discover = 1,
    Offer = 2,
    Request = 3,
    Decline = 4,
    Ack = 5,
    Nak = 6,
    Release = 7,
    Inform = 8,
}

impl MessageType {
    pub fn from_u8(v: u8) -> Option<Self> {
        Some(match v {
            1 => Self::Discover,
            2 => Self::Offer,
            3 => Self::Request,
            4 => Self::Decline,
            5 => Self::Ack,
            6 => Self::Nak,
            7 => Self::Release,
            8 => Self::Inform,
            _ => return None,
        })
    }
}

/// Why a datagram is not a DHCP packet.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ParseError {
    #[error("packet of {0} bytes is shorter than a BOOTP header")]
    TooShort(usize),
    #[error("magic cookie missing")]
    NoMagic,
    #[error("option {code} runs past the end of the packet")]
    Truncated { code: u8 },
}

/// An Ethernet MAC address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Mac(pub [u8; 6]);

impl fmt::Display for Mac {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = self.0;
        write!(
            f,
            "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
            b[0], b[1], b[2], b[3], b[4], b[5]
        )
    }
}

impl FromStr for Mac {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let parts: Vec<&str> = s.split([':', '-']).collect();
        if parts.len() != 6 {
            return Err(format!("{s:?} is not a MAC address (six hex bytes)"));
        }
        let mut m = [0u8; 6];
        for (i, p) in parts.iter().enumerate() {
            if p.len() != 2 {
                return Err(format!("{s:?} is not a MAC address (six hex bytes)"));
            }
            m[i] = u8::from_str_radix(p, 16)
                .map_err(|_| format!("{s:?} is not a MAC address (six hex bytes)"))?;
        }
        Ok(Mac(m))
    }
}

impl serde::Serialize for Mac {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Mac {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// A BOOTP/DHCP packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Packet {
    pub op: u8,
    pub htype: u8,
    pub hlen: u8,
    pub hops: u8,
    pub xid: u32,
    pub secs: u16,
    pub flags: u16,
    pub ciaddr: Ipv4Addr,
    pub yiaddr: Ipv4Addr,
    pub siaddr: Ipv4Addr,
    pub giaddr: Ipv4Addr,
    pub chaddr: [u8; 16],
    pub sname: String,
    pub file: String,
    /// Options in packet order, without PAD and END.
    pub options: Vec<(u8, Vec<u8>)>,
}

impl Default for Packet {
    fn default() -> Self {
        Self {
            op: BOOTREQUEST,
            htype: 1,
            hlen: 6,
            hops: 0,
            xid: 0,
            secs: 0,
            flags: 0,
            ciaddr: Ipv4Addr::UNSPECIFIED,
            yiaddr: Ipv4Addr::UNSPECIFIED,
            siaddr: Ipv4Addr::UNSPECIFIED,
            giaddr: Ipv4Addr::UNSPECIFIED,
            chaddr: [0; 16],
            sname: String::new(),
            file: String::new(),
            options: Vec::new(),
        }
    }
}

fn ip_at(b: &[u8], at: usize) -> Ipv4Addr {
    Ipv4Addr::new(b[at], b[at + 1], b[at + 2], b[at + 3])
}

fn cstr(b: &[u8]) -> String {
    let end = b.iter().position(|&c| c == 0).unwrap_or(b.len());
    String::from_utf8_lossy(&b[..end]).into_owned()
}

impl Packet {
    /// Parses a UDP payload.
    pub fn parse(b: &[u8]) -> Result<Self, ParseError> {
        if b.len() < HEADER_LEN {
            return Err(ParseError::TooShort(b.len()));
        }
        if b.len() < HEADER_LEN + 4 || b[HEADER_LEN..HEADER_LEN + 4] != MAGIC {
            return Err(ParseError::NoMagic);
        }
        let mut chaddr = [0u8; 16];
        chaddr.copy_from_slice(&b[28..44]);
        let mut p = Packet {
            op: b[0],
            htype: b[1],
            hlen: b[2],
            hops: b[3],
            xid: u32::from_be_bytes([b[4], b[5], b[6], b[7]]),
            secs: u16::from_be_bytes([b[8], b[9]]),
            flags: u16::from_be_bytes([b[10], b[11]]),
            ciaddr: ip_at(b, 12),
            yiaddr: ip_at(b, 16),
            siaddr: ip_at(b, 20),
            giaddr: ip_at(b, 24),
            chaddr,
            sname: cstr(&b[44..108]),
            file: cstr(&b[108..236]),
            options: Vec::new(),
        };
        let mut i = HEADER_LEN + 4;
        while i < b.len() {
            let code = b[i];
            match code {
                opt::PAD => i += 1,
                opt::END => break,
                _ => {
                    let len = *b.get(i + 1).ok_or(ParseError::Truncated { code })? as usize;
                    let data = b
                        .get(i + 2..i + 2 + len)
                        .ok_or(ParseError::Truncated { code })?;
                    match p.options.iter_mut().find(|(c, _)| *c == code) {
                        Some((_, v)) => v.extend_from_slice(data),
                        None => p.options.push((code, data.to_vec())),
                    }
                    i += 2 + len;
                }
            }
        }
        Ok(p)
    }

    /// Serialises the packet, padded to [`MIN_LEN`].
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut b = Vec::with_capacity(MIN_LEN + 64);
        b.extend_from_slice(&[self.op, self.htype, self.hlen, self.hops]);
        b.extend_from_slice(&self.xid.to_be_bytes());
        b.extend_from_slice(&self.secs.to_be_bytes());
        b.extend_from_slice(&self.flags.to_be_bytes());
        for ip in [self.ciaddr, self.yiaddr, self.siaddr, self.giaddr] {
            b.extend_from_slice(&ip.octets());
        }
        b.extend_from_slice(&self.chaddr);
        put_fixed(&mut b, self.sname.as_bytes(), 64);
        put_fixed(&mut b, self.file.as_bytes(), 128);
        b.extend_from_slice(&MAGIC);
        for (code, data) in &self.options {
            if data.is_empty() {
                b.extend_from_slice(&[*code, 0]);
            }
            for chunk in data.chunks(255) {
                b.push(*code);
                b.push(chunk.len() as u8);
                b.extend_from_slice(chunk);
            }
        }
        b.push(opt::END);
        if b.len() < MIN_LEN {
            b.resize(MIN_LEN, 0);
        }
        b
    }

    /// The value of an option.
    pub fn get(&self, code: u8) -> Option<&[u8]> {
        self.options
            .iter()
            .find(|(c, _)| *c == code)
            .map(|(_, v)| v.as_slice())
    }

    /// Sets (replaces or appends) an option.
    pub fn set(&mut self, code: u8, data: impl Into<Vec<u8>>) {
        let data = data.into();
        match self.options.iter_mut().find(|(c, _)| *c == code) {
            Some((_, v)) => *v = data,
            None => self.options.push((code, data)),
        }
    }

    /// Removes an option.
    pub fn remove(&mut self, code: u8) {
        self.options.retain(|(c, _)| *c != code);
    }

    /// The DHCP message type (option 53); `None` for plain BOOTP or unknown types.
    pub fn message_type(&self) -> Option<MessageType> {
        match self.get(opt::MESSAGE_TYPE) {
            Some([t]) => MessageType::from_u8(*t),
            _ => None,
        }
    }

    /// The client hardware address when it is an Ethernet MAC.
    pub fn mac(&self) -> Option<Mac> {
        if self.htype != 1 || self.hlen != 6 {
            return None;
        }
        let mut m = [0u8; 6];
        m.copy_from_slice(&self.chaddr[..6]);
        Some(Mac(m))
    }

    /// An option holding one IPv4 address.
    pub fn get_ip(&self, code: u8) -> Option<Ipv4Addr> {
        match self.get(code) {
            Some([a, b, c, d]) => Some(Ipv4Addr::new(*a, *b, *c, *d)),
            _ => None,
        }
    }

    /// A reply skeleton: same xid, flags, chaddr, giaddr and hops; `BOOTREPLY`.
    pub fn reply(&self, kind: MessageType) -> Packet {
        let mut r = Packet {
            op: BOOTREPLY,
            htype: self.htype,
            hlen: self.hlen,
            hops: 0,
            xid: self.xid,
            flags: self.flags,
            giaddr: self.giaddr,
            chaddr: self.chaddr,
            ..Packet::default()
        };
        r.set(opt::MESSAGE_TYPE, [kind as u8]);
        r
    }
}

fn put_fixed(b: &mut Vec<u8>, s: &[u8], len: usize) {
    // One byte stays NUL so that C clients find the end of the string.
    let n = s.len().min(len - 1);
    b.extend_from_slice(&s[..n]);
    b.resize(b.len() + (len - n), 0);
}

/// The machine UUID from option 97 (client GUID): type byte 0 followed by 16 bytes in EFI GUID
/// order (PXE firmware and iPXE send the first three fields little-endian, RFC 4578). The
/// fields are swapped back, so the result is the SMBIOS product UUID that Linux shows in
/// `/sys/class/dmi/id/product_uuid` and metal-hammer registers. metal-stack's pixiecore
/// formats the wire bytes as they are, so its "PXE Booting" event lands on a machine id that
/// does not exist.
pub fn guid_uuid(opt97: &[u8]) -> Option<String> {
    if opt97.len() != 17 || opt97[0] != 0 {
        return None;
    }
    let mut b = [0u8; 16];
    b.copy_from_slice(&opt97[1..]);
    b[0..4].reverse();
    b[4..6].reverse();
    b[6..8].reverse();
    let h = hex::encode(b);
    Some(format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A DISCOVER as a PXE ROM sends it, built by hand byte by byte.
    fn discover_fixture() -> Vec<u8> {
        let mut b = vec![1, 1, 6, 0, 0xde, 0xad, 0xbe, 0xef, 0, 4, 0x80, 0];
        b.extend_from_slice(&[0; 16]); // ciaddr yiaddr siaddr giaddr
        b.extend_from_slice(&[0x52, 0x54, 0, 0x12, 0x34, 0x56]);
        b.extend_from_slice(&[0; 10]);
        b.extend_from_slice(&[0; 64 + 128]);
        b.extend_from_slice(&MAGIC);
        b.extend_from_slice(&[53, 1, 1]);
        b.extend_from_slice(&[93, 2, 0, 7]);
        b.extend_from_slice(&[60, 9]);
        b.extend_from_slice(b"PXEClient");
        b.extend_from_slice(&[97, 17, 0]);
        b.extend_from_slice(&[0x11; 16]);
        b.extend_from_slice(&[0, 0]); // pads
        b.push(255);
        b
    }

    #[test]
    fn parses_a_pxe_discover() {
        let p = Packet::parse(&discover_fixture()).unwrap();
        assert_eq!(p.op, BOOTREQUEST);
        assert_eq!(p.xid, 0xdeadbeef);
        assert_eq!(p.secs, 4);
        assert_eq!(p.flags, FLAG_BROADCAST);
        assert_eq!(p.mac().unwrap().to_string(), "52:54:00:12:34:56");
        assert_eq!(p.message_type(), Some(MessageType::Discover));
        assert_eq!(p.get(opt::CLIENT_ARCH), Some(&[0u8, 7][..]));
        assert_eq!(p.get(opt::VENDOR_CLASS), Some(&b"PXEClient"[..]));
        assert_eq!(p.get(opt::CLIENT_GUID).unwrap().len(), 17);
        assert_eq!(p.options.len(), 4);
    }

    #[test]
    fn round_trips_byte_exact_with_padding() {
        let fixture = discover_fixture();
        let p = Packet::parse(&fixture).unwrap();
        let out = p.to_bytes();
        // Same bytes up to the options (the fixture's PAD bytes are not kept), then END and
        // zero padding to the BOOTP minimum.
        let opts_end = fixture.len() - 3;
        assert_eq!(out[..opts_end], fixture[..opts_end]);
        assert_eq!(out[opts_end], 255);
        assert_eq!(out.len(), MIN_LEN);
        assert!(out[opts_end + 1..].iter().all(|&b| b == 0));
        assert_eq!(Packet::parse(&out).unwrap(), p);
    }

    #[test]
    fn builds_an_offer_byte_exact() {
        let mut p = Packet {
            op: BOOTREPLY,
            xid: 1,
            siaddr: Ipv4Addr::new(10, 0, 0, 1),
            sname: "10.0.0.1".into(),
            file: "52:54:00:12:34:56/0".into(),
            ..Packet::default()
        };
        p.set(opt::MESSAGE_TYPE, [2]);
        p.set(opt::VENDOR_SPECIFIC, [6, 1, 8, 255]);
        let b = p.to_bytes();
        assert_eq!(&b[..4], &[2, 1, 6, 0]);
        assert_eq!(&b[4..8], &[0, 0, 0, 1]);
        assert_eq!(&b[20..24], &[10, 0, 0, 1]);
        assert_eq!(&b[44..52], b"10.0.0.1");
        assert_eq!(b[52], 0);
        assert_eq!(&b[108..127], b"52:54:00:12:34:56/0");
        assert_eq!(&b[236..240], &MAGIC);
        assert_eq!(&b[240..253], &[53, 1, 2, 43, 4, 6, 1, 8, 255, 255, 0, 0, 0]);
    }

    #[test]
    fn long_options_are_split_and_joined() {
        let mut p = Packet::default();
        p.set(opt::RELAY_AGENT_INFO, vec![7u8; 300]);
        let b = p.to_bytes();
        assert_eq!(&b[240..242], &[82, 255]);
        assert_eq!(&b[497..499], &[82, 45]);
        assert_eq!(Packet::parse(&b).unwrap().get(82).unwrap().len(), 300);
    }

    #[test]
    fn rejects_broken_packets_without_panicking() {
        assert_eq!(Packet::parse(&[1; 10]), Err(ParseError::TooShort(10)));
        let mut b = discover_fixture();
        b[236] = 0;
        assert_eq!(Packet::parse(&b), Err(ParseError::NoMagic));
        let mut b = discover_fixture()[..240].to_vec();
        b.extend_from_slice(&[93, 5, 0]);
        assert_eq!(Packet::parse(&b), Err(ParseError::Truncated { code: 93 }));
        for n in 0..b.len() {
            let _ = Packet::parse(&b[..n]);
        }
    }

    #[test]
    fn guid_is_the_smbios_uuid() {
        let mut g = vec![0u8];
        g.extend_from_slice(&[
            0x4c, 0x4c, 0x45, 0x44, 0x00, 0x42, 0x4e, 0x10, 0x80, 0x37, 0xb3, 0xc0, 0x4f, 0x4a,
            0x31, 0x32,
        ]);
        assert_eq!(
            guid_uuid(&g).unwrap(),
            "44454c4c-4200-104e-8037-b3c04f4a3132"
        );
        assert_eq!(guid_uuid(&g[1..]), None);
        g[0] = 1;
        assert_eq!(guid_uuid(&g), None);
    }

    #[test]
    fn mac_parses_and_prints() {
        let m: Mac = "AA-bb-cc-00-11-22".parse().unwrap();
        assert_eq!(m.to_string(), "aa:bb:cc:00:11:22");
        assert!("aa:bb".parse::<Mac>().is_err());
        assert!("aa:bb:cc:00:11:zz".parse::<Mac>().is_err());
        assert!("aaa:bb:cc:00:11:22".parse::<Mac>().is_err());
    }
}
