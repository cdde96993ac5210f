//! metalctl's reader of the files users give with `-f` (YAML or JSON, several documents, lists):
//! its lenient scalar-to-text reading and its unknown-key warnings answer documents or an
//! error, never a panic, for any input and for the types with the deepest nesting.
#![no_main]

use libfuzzer_sys::fuzz_target;
use metal_domain::fsl::FilesystemLayoutCreateRequest;
use metal_domain::machine::MachineAllocateRequest;
use metal_domain::sic::SizeImageConstraintCreateRequest;
use metalctl::input::parse;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = parse::<FilesystemLayoutCreateRequest>(text, "fuzz.yaml");
    let _ = parse::<SizeImageConstraintCreateRequest>(text, "fuzz.yaml");
    let _ = parse::<MachineAllocateRequest>(text, "fuzz.yaml");
});
