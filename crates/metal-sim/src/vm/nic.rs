//! A VM's network interfaces: virtio-net with a fixed MAC, on slirp (user-mode: the guest
//! gets 10.0.2.15 by DHCP and reaches the host's loopback at 10.0.2.2) or on a tap device the
//! caller created in the namespace qemu runs in.

#[derive(Debug, Clone)]
pub(crate) enum NicKind {
    User { options: Vec<String> },
    Tap { ifname: String },
}

/// A virtio-net NIC with a fixed MAC.
#[derive(Debug, Clone)]
pub struct Nic {
    pub(crate) kind: NicKind,
    pub(crate) mac: String,
    pub(crate) romfile: Option<String>,
}

impl Nic {
    /// User-mode networking (slirp): DHCP gives 10.0.2.15, the host's 127.0.0.1 is 10.0.2.2.
    pub fn user(mac: &str) -> Self {
        Self {
            kind: NicKind::User {
                options: Vec::new(),
            },
            mac: mac.to_string(),
            romfile: None,
        }
    }

    /// A tap device that exists (in the namespace qemu runs in).
    pub fn tap(ifname: &str, mac: &str) -> Self {
        Self {
            kind: NicKind::Tap {
                ifname: ifname.to_string(),
            },
            mac: mac.to_string(),
            romfile: None,
        }
    }

    /// A raw `-netdev user` option, e.g. `hostfwd=tcp:127.0.0.1:0-:22`,
    /// `tftp=/dir`, `bootfile=http://10.0.2.2:8080/boot.ipxe`. Ignored for taps.
    pub fn user_option(mut self, option: &str) -> Self {
        if let NicKind::User { options } = &mut self.kind {
            options.push(option.to_string());
        }
        self
    }

    /// The option ROM (default: qemu's `efi-virtio.rom` from ipxe-qemu; `""` for none).
    pub fn romfile(mut self, rom: &str) -> Self {
        self.romfile = Some(rom.to_string());
        self
    }

    pub fn mac(&self) -> &str {
        &self.mac
    }
}

/// `52:54:00:00:<a>:<b>`: a locally administered MAC from a small number.
pub fn mac_for(n: u16) -> String {
    format!("52:54:00:00:{:02x}:{:02x}", n >> 8, n & 0xff)
}
