//! The one duration grammar of the command lines (metal-bmc, pixie, metalctl).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(s) = std::str::from_utf8(data) {
        let _ = metal_util::duration::parse_duration(s);
    }
});
