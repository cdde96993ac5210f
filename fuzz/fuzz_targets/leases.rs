//! metal-bmc's reader of ISC dhcpd lease files (written by the BMC network's DHCP server).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let _ = metal_bmc::leases::parse(&text);
});
