//! Filesystem layouts as users write them (YAML for metalctl, JSON for the API): read, turned
//! into a layout and validated, which must answer an error, never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use metal_domain::fsl::{FilesystemLayout, FilesystemLayoutCreateRequest};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let yaml = serde_yaml::from_str::<FilesystemLayoutCreateRequest>(text).ok();
    let json = serde_json::from_str::<FilesystemLayoutCreateRequest>(text).ok();
    for req in yaml.into_iter().chain(json) {
        if let Ok(layout) = FilesystemLayout::from_create(&req) {
            let _ = layout.validate();
            let _ = layout.matches(&[("/dev/sda".to_string(), 1 << 40)]);
        }
    }
});
