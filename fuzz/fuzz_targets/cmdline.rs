//! metal-hammer's kernel command line parser (`/proc/cmdline`, set by pixie's iPXE script).
#![no_main]

use libfuzzer_sys::fuzz_target;
use metal_hammer::cmdline::Cmdline;

fuzz_target!(|data: &[u8]| {
    let line = String::from_utf8_lossy(data);
    let c = Cmdline::parse(&line);
    // every word is a key: parsing what was parsed gives the same keys
    for word in line.split_whitespace() {
        let key = word.split_once('=').map_or(word, |(k, _)| k);
        assert!(c.get(key).is_some(), "{key:?} of {line:?}");
    }
});
