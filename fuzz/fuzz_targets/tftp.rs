//! pixie's TFTP request parser (the first packet of a transfer, from any client).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = pixie::tftp::parse_request(data);
});
