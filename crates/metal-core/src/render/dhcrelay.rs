//! The DHCP relay of the PXE VLAN on a Cumulus-style leaf: `/etc/default/isc-dhcp-relay`, the
//! file Debian's and Cumulus' `isc-dhcp-relay` service reads (Cumulus' `net add dhcp relay`
//! writes the same file). Machines waiting in the PXE VLAN broadcast DHCP; `dhcrelay` listens
//! on the PXE SVI (`-id vlan<PXE>`, downstream) and forwards to every server through the
//! upstream interfaces (`-iu`, the spine uplinks unless set), with the SVI's address as
//! `giaddr`, where pixie answers.
//!
//! Independent of FRR and ifupdown2: the relay restarts on its own file, and a switch without
//! relay servers gets no file (the relay is then not metal-core's business).

use super::{line, Text};
use crate::model::SwitchConfig;

/// The relay's defaults file, or `None` when no relay servers are set.
pub fn render(c: &SwitchConfig) -> Option<String> {
    let s = &c.settings;
    if s.dhcp_relay.servers.is_empty() {
        return None;
    }
    let servers: Vec<String> = s.dhcp_relay.servers.iter().map(|a| a.to_string()).collect();
    let mut options = vec![format!("-id vlan{}", s.pxe_vlan)];
    options.extend(s.dhcp_relay_upstream().iter().map(|i| format!("-iu {i}")));
    let mut out = Text::default();
    line!(
        out,
        "# /etc/default/isc-dhcp-relay of {}, rendered by metal-core: edits are overwritten.",
        c.name
    );
    line!(
        out,
        "# Relays DHCP of the PXE VLAN {} to the management servers (pixie).",
        s.pxe_vlan
    );
    line!(out, "SERVERS=\"{}\"", servers.join(" "));
    line!(out, "INTERFACES=\"\"");
    line!(out, "OPTIONS=\"{}\"", options.join(" "));
    Some(out.into_string())
}
