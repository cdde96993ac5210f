//! pixie's DHCP packet parser (a UDP payload from the PXE network): it never panics, and what
//! it parses encodes again (as pixie does when it answers) into a packet that parses. The input
//! is tried as a whole packet and, to reach the options quickly, as the options behind a fixed
//! BOOTP header with the magic cookie.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pixie::dhcp::{Packet, HEADER_LEN, MAGIC};

fn check(b: &[u8]) {
    if let Ok(p) = Packet::parse(b) {
        let _ = p.get(53);
        Packet::parse(&p.to_bytes()).expect("an encoded packet parses");
    }
}

fuzz_target!(|data: &[u8]| {
    check(data);
    let mut framed = vec![0u8; HEADER_LEN];
    framed[0] = 1; // BOOTREQUEST
    framed[1] = 1; // Ethernet
    framed[2] = 6;
    framed.extend_from_slice(&MAGIC);
    framed.extend_from_slice(data);
    check(&framed);
});
