//! The LLDP frame parser of metal-hammer and metal-core (any frame on a switch port). The
//! input is tried as a whole frame and as the TLVs behind an LLDP Ethernet header.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = metal_lldp::parse_frame(data);
    let mut frame = vec![0x01, 0x80, 0xc2, 0x00, 0x00, 0x0e, 2, 0, 0, 0, 0, 1, 0x88, 0xcc];
    frame.extend_from_slice(data);
    let _ = metal_lldp::parse_frame(&frame);
    if let Ok(s) = std::str::from_utf8(data) {
        let _ = metal_lldp::parse_mac(s);
    }
});
