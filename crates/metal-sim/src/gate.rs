//! Whether a test that needs something from the host runs: root, namespaces, loop devices and
//! qemu (`METAL_PRIVILEGED_TESTS=1`), or an external tool such as `ipmi_sim`. Where the tests
//! must run (CI) a missing tool fails the test instead of skipping it, so nothing is skipped
//! silently.

use crate::vm::initramfs::find_program;

/// Whether a test whose external tool may be missing runs: `true` when the tool is there.
/// Where the tests must run (`METAL_PRIVILEGED_TESTS=1` or `CI` set) a missing tool fails the
/// test with `install`; elsewhere the test prints a loud SKIPPED line and returns.
pub fn tool_or_skip(test: &str, present: bool, what: &str, install: &str) -> bool {
    if present {
        return true;
    }
    let required = std::env::var("METAL_PRIVILEGED_TESTS").as_deref() == Ok("1")
        || std::env::var_os("CI").is_some();
    assert!(!required, "{test}: {what} is required; {install}");
    eprintln!("\n!!!! SKIPPED {test}: {what} not installed ({install}) !!!!\n");
    false
}

/// The gate of tests that need root, namespaces, loop devices or qemu: they run only with
/// `METAL_PRIVILEGED_TESTS=1` (elsewhere a SKIPPED line is printed), and then every tool
/// `(program or path, Debian package)` must be installed: a missing one fails the test.
pub fn privileged(test: &str, tools: &[(&str, &str)]) -> bool {
    if std::env::var("METAL_PRIVILEGED_TESTS").as_deref() != Ok("1") {
        eprintln!("SKIPPED {test}: needs root and METAL_PRIVILEGED_TESTS=1");
        return false;
    }
    tools.iter().all(|(tool, pkg)| {
        tool_or_skip(
            test,
            find_program(tool).is_ok(),
            tool,
            &format!("apt-get install {pkg}"),
        )
    })
}
