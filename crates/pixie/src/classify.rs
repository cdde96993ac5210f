//! Which firmware a PXE client runs and what it should boot next: a pure decision from the
//! options of its DHCP request (93 architecture, 77 user class, 60 vendor class, 175 iPXE).

use std::net::Ipv4Addr;

use crate::dhcp::{opt, Mac, Packet};

/// Firmware kinds; the numbers are the ones used in TFTP file names (`<mac>/<n>`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Firmware {
    X86Pc = 0,
    Efi32 = 1,
    Efi64 = 2,
    EfiBc = 3,
    X86Ipxe = 4,
    PixiecoreIpxe = 5,
}

impl Firmware {
    pub fn from_number(n: u8) -> Option<Self> {
        Some(match n {
            0 => Self::X86Pc,
            1 => Self::Efi32,
            2 => Self::Efi64,
            3 => Self::EfiBc,
            4 => Self::X86Ipxe,
            5 => Self::PixiecoreIpxe,
            _ => return None,
        })
    }
}

/// What the client is and what it gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Client {
    /// A firmware PXE ROM: gets the iPXE binary for `Firmware` over TFTP.
    Pxe(Firmware),
    /// iPXE is already running (user class `iPXE`/`pixiecore` or option 175): gets the URL of
    /// the iPXE script; `x64` selects `arch=1`.
    Ipxe { x64: bool },
    /// UEFI HTTP boot (vendor class `HTTPClient`, architecture 16): gets the URL of the EFI
    /// iPXE binary.
    HttpBoot,
}

/// Classifies a request; `None` when it is no PXE request (no or unknown option 93).
pub fn classify(p: &Packet) -> Option<Client> {
    let arch = match p.get(opt::CLIENT_ARCH)? {
        [a, b, ..] => u16::from_be_bytes([*a, *b]),
        _ => return None,
    };
    let fw = match arch {
        0 => Firmware::X86Pc,
        6 => Firmware::Efi32,
        7 | 16 => Firmware::Efi64,
        9 => Firmware::EfiBc,
        _ => return None,
    };
    let user_class = p.get(opt::USER_CLASS).map(user_class_text);
    let is_ipxe = p.get(opt::IPXE_ENCAP).is_some()
        || matches!(user_class.as_deref(), Some("iPXE" | "pixiecore"));
    if is_ipxe {
        return Some(Client::Ipxe {
            x64: !matches!(fw, Firmware::X86Pc | Firmware::Efi32),
        });
    }
    let http = p
        .get(opt::VENDOR_CLASS)
        .is_some_and(|v| v.starts_with(b"HTTPClient"));
    if http && arch == 16 {
        return Some(Client::HttpBoot);
    }
    Some(Client::Pxe(fw))
}

/// Option 77 is either plain text (iPXE, udhcpc) or RFC 3004 length-prefixed; both read as text.
fn user_class_text(v: &[u8]) -> String {
    if let Some((&len, rest)) = v.split_first() {
        if len as usize == rest.len() && len > 0 && !v[0].is_ascii_graphic() {
            return String::from_utf8_lossy(rest).into_owned();
        }
    }
    String::from_utf8_lossy(v).into_owned()
}

/// The boot instructions put into an offer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BootFile {
    pub file: String,
    /// PXE vendor options (option 43): sub-option 6 = 8, skip boot server discovery.
    pub pxe_discovery_control: bool,
    /// Option 60 of the reply.
    pub vendor_class: &'static str,
}

/// The boot file of `client` for the machine `mac`, served by `ip` with HTTP on `http_port`.
pub fn boot_file(client: Client, mac: Mac, ip: Ipv4Addr, http_port: u16) -> BootFile {
    match client {
        Client::Pxe(fw) => BootFile {
            file: format!("{mac}/{}", fw as u8),
            pxe_discovery_control: fw == Firmware::X86Pc,
            vendor_class: "PXEClient",
        },
        Client::Ipxe { x64 } => BootFile {
            file: format!(
                "http://{ip}:{http_port}/_/ipxe?arch={}&mac={mac}",
                u8::from(x64)
            ),
            pxe_discovery_control: false,
            vendor_class: "PXEClient",
        },
        Client::HttpBoot => BootFile {
            file: format!(
                "http://{ip}:{http_port}/_/ipxe-bin/{}",
                crate::tftp::EFI64_BIN
            ),
            pxe_discovery_control: false,
            vendor_class: "HTTPClient",
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(opts: &[(u8, &[u8])]) -> Packet {
        let mut p = Packet::default();
        for (c, v) in opts {
            p.set(*c, v.to_vec());
        }
        p
    }

    #[test]
    fn classification_table() {
        use Client::*;
        use Firmware::*;
        type Case<'a> = (&'a [(u8, &'a [u8])], Option<Client>);
        let cases: &[Case] = &[
            (&[], None),
            (&[(93, &[0, 0])], Some(Pxe(X86Pc))),
            (&[(93, &[0, 6])], Some(Pxe(Efi32))),
            (&[(93, &[0, 7])], Some(Pxe(Efi64))),
            (&[(93, &[0, 9])], Some(Pxe(EfiBc))),
            (&[(93, &[0, 16])], Some(Pxe(Efi64))),
            (&[(93, &[0, 11])], None),
            (&[(93, &[0])], None),
            (&[(93, &[0, 0]), (77, b"iPXE")], Some(Ipxe { x64: false })),
            (&[(93, &[0, 7]), (77, b"iPXE")], Some(Ipxe { x64: true })),
            (
                &[(93, &[0, 9]), (175, &[1, 1, 1])],
                Some(Ipxe { x64: true }),
            ),
            (
                &[(93, &[0, 0]), (77, b"pixiecore")],
                Some(Ipxe { x64: false }),
            ),
            (
                &[(93, &[0, 0]), (77, b"\x04iPXE")],
                Some(Ipxe { x64: false }),
            ),
            (
                &[(93, &[0, 16]), (60, b"HTTPClient:Arch:00016")],
                Some(HttpBoot),
            ),
            (
                &[(93, &[0, 7]), (60, b"HTTPClient:Arch:00007")],
                Some(Pxe(Efi64)),
            ),
            (&[(93, &[0, 0]), (77, b"other")], Some(Pxe(X86Pc))),
        ];
        for (opts, want) in cases {
            assert_eq!(classify(&req(opts)), *want, "{opts:?}");
        }
    }

    #[test]
    fn boot_files() {
        let mac: Mac = "52:54:00:00:00:01".parse().unwrap();
        let ip = Ipv4Addr::new(10, 1, 0, 1);
        let f = |c| boot_file(c, mac, ip, 4242);
        let bios = f(Client::Pxe(Firmware::X86Pc));
        assert_eq!(bios.file, "52:54:00:00:00:01/0");
        assert!(bios.pxe_discovery_control);
        let efi = f(Client::Pxe(Firmware::Efi64));
        assert_eq!(efi.file, "52:54:00:00:00:01/2");
        assert!(!efi.pxe_discovery_control);
        assert_eq!(f(Client::Pxe(Firmware::EfiBc)).file, "52:54:00:00:00:01/3");
        assert_eq!(
            f(Client::Ipxe { x64: true }).file,
            "http://10.1.0.1:4242/_/ipxe?arch=1&mac=52:54:00:00:00:01"
        );
        assert_eq!(
            f(Client::Ipxe { x64: false }).file,
            "http://10.1.0.1:4242/_/ipxe?arch=0&mac=52:54:00:00:00:01"
        );
        let http = f(Client::HttpBoot);
        assert_eq!(http.file, "http://10.1.0.1:4242/_/ipxe-bin/ipxe.efi");
        assert_eq!(http.vendor_class, "HTTPClient");
    }
}
