//! `metal-core render` end to end: each case of `tests/golden/<case>/` (a switch document as
//! metal-api answers `GET /v1/switch/{id}`, and the flags in `args`) is rendered by the binary
//! for both flavours and compared with the files in `<case>/<flavor>/`.
//! `METAL_CORE_UPDATE_GOLDEN=1 cargo test -p metal-core --test render` rewrites them.
//!
//! Every rendered `frr.conf` must pass FRR's `vtysh -C -f`, every Cumulus interfaces file
//! ifupdown2's syntax check (run from its unpacked package, see `ifupdown2_check.py`). Where
//! the tests must run (`METAL_PRIVILEGED_TESTS=1` or `CI`) a missing tool is a failure.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use metal_core::model::{Flavor, SwitchConfig};

const CASES: &[&str] = &["notenants", "tenants", "firewall", "down", "dualstack"];
const FLAVORS: &[&str] = &["cumulus", "sonic"];

fn golden() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden")
}

/// `metal-core render` with the case's flags, the environment's `METAL_CORE_*` removed.
fn metal_core(args: &[String]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_metal-core"));
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("METAL_CORE_") {
            cmd.env_remove(key);
        }
    }
    cmd.args(args).output().expect("running metal-core")
}

fn case_args(case: &str, flavor: &str, out: &Path) -> Vec<String> {
    let dir = golden().join(case);
    let mut args = vec![
        "render".to_string(),
        format!("--flavor={flavor}"),
        format!("--switch-file={}", dir.join("switch.json").display()),
        format!("--out={}", out.display()),
    ];
    let text = std::fs::read_to_string(dir.join("args")).expect("args of the case");
    args.extend(
        text.lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .map(str::to_string),
    );
    args
}

/// Renders a case into `out`; the names of the files written.
fn render(case: &str, flavor: &str, out: &Path) -> BTreeSet<String> {
    let o = metal_core(&case_args(case, flavor, out));
    assert!(
        o.status.success(),
        "render {case} {flavor}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    files_in(out)
}

fn files_in(dir: &Path) -> BTreeSet<String> {
    match std::fs::read_dir(dir) {
        Ok(entries) => entries
            .map(|e| {
                e.expect("dir entry")
                    .file_name()
                    .to_string_lossy()
                    .into_owned()
            })
            .collect(),
        Err(_) => BTreeSet::new(),
    }
}

/// Where two texts first differ, for the failure message.
fn first_difference(want: &str, got: &str) -> String {
    let (w, g): (Vec<&str>, Vec<&str>) = (want.lines().collect(), got.lines().collect());
    for i in 0..w.len().max(g.len()) {
        if w.get(i) != g.get(i) {
            return format!(
                "line {}: golden {:?}, rendered {:?}",
                i + 1,
                w.get(i).unwrap_or(&"<end>"),
                g.get(i).unwrap_or(&"<end>")
            );
        }
    }
    "equal".into()
}

#[test]
fn rendered_files_match_the_golden_files() {
    let update = std::env::var("METAL_CORE_UPDATE_GOLDEN").as_deref() == Ok("1");
    let mut failures = Vec::new();
    for case in CASES {
        for flavor in FLAVORS {
            let tmp = tempfile::tempdir().unwrap();
            let got = render(case, flavor, tmp.path());
            let dir = golden().join(case).join(flavor);
            if update {
                let _ = std::fs::remove_dir_all(&dir);
                std::fs::create_dir_all(&dir).unwrap();
                for name in &got {
                    std::fs::copy(tmp.path().join(name), dir.join(name)).unwrap();
                }
                continue;
            }
            let want = files_in(&dir);
            if want != got {
                failures.push(format!("{case}/{flavor}: files {want:?}, rendered {got:?}"));
                continue;
            }
            for name in &got {
                let w = std::fs::read_to_string(dir.join(name)).unwrap();
                let g = std::fs::read_to_string(tmp.path().join(name)).unwrap();
                if w != g {
                    let at = first_difference(&w, &g);
                    failures.push(format!("{case}/{flavor}/{name}: {at}"));
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "rendered files differ from tests/golden (METAL_CORE_UPDATE_GOLDEN=1 rewrites them \
         after a deliberate change):\n{}",
        failures.join("\n")
    );
}

#[test]
fn the_same_inputs_render_the_same_bytes_and_bad_inputs_say_why() {
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    for flavor in FLAVORS {
        for name in render("tenants", flavor, a.path()) {
            let read = |d: &Path| std::fs::read(d.join(&name)).unwrap();
            render("tenants", flavor, b.path());
            assert_eq!(read(a.path()), read(b.path()), "{flavor}/{name}");
        }
    }
    for (extra, message) in [
        ("--pxe-vlan-id=1500", "PXE VLAN id 1500 is within 1001-2000"),
        (
            "--additional-bridge-vids=5000",
            "additional bridge VLAN \"5000\"",
        ),
        ("--dhcp-relay-servers=fd00::1", "is not an IPv4 address"),
    ] {
        let mut args = case_args("tenants", "cumulus", a.path());
        args.push(extra.into());
        let o = metal_core(&args);
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert!(
            !o.status.success() && stderr.contains(message),
            "{extra}: {stderr}"
        );
    }
    let o = metal_core(&[
        "render".into(),
        "--flavor=sonic".into(),
        "--switch-file=-".into(),
    ]);
    assert!(!o.status.success(), "--out is required");
    let mut args = case_args("tenants", "cumulus", a.path());
    args.retain(|a| !a.starts_with("--cidr"));
    let o = metal_core(&args);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(stderr.contains("--cidr (METAL_CORE_CIDR)"), "{stderr}");
}

fn vtysh() -> Option<PathBuf> {
    let found = metal_core::validate::vtysh();
    metal_testkit::tool_or_skip(
        "frr_configs_pass_vtysh",
        found.is_some(),
        "vtysh",
        "apt-get install frr",
    )
    .then_some(found)
    .flatten()
}

#[test]
fn frr_configs_pass_vtysh() {
    let Some(vtysh) = vtysh() else { return };
    for case in CASES {
        for flavor in FLAVORS {
            let tmp = tempfile::tempdir().unwrap();
            render(case, flavor, tmp.path());
            metal_core::validate::frr(&vtysh, &tmp.path().join("frr.conf"))
                .unwrap_or_else(|e| panic!("{case}/{flavor}: {e}"));
        }
    }
    // the benchmark's leaf: 64 ports, 50 VRFs
    let (doc, settings) = metal_core::bench::synthetic(64, 50);
    let kernel = Default::default();
    for flavor in [Flavor::Cumulus, Flavor::Sonic] {
        let config = SwitchConfig::build(&doc, &settings, &kernel, flavor).unwrap();
        let files = metal_core::render::render(&config);
        let tmp = tempfile::tempdir().unwrap();
        metal_core::render::write_all(tmp.path(), &files).unwrap();
        metal_core::validate::frr(&vtysh, &tmp.path().join("frr.conf"))
            .unwrap_or_else(|e| panic!("synthetic/{flavor}: {e}"));
    }
    // and the check checks
    let tmp = tempfile::tempdir().unwrap();
    let bad = tmp.path().join("frr.conf");
    std::fs::write(&bad, "router bgp 65000\n neighbor FABRIC peer-grup\n").unwrap();
    assert!(metal_core::validate::frr(&vtysh, &bad).is_err());
}

/// The unpacked ifupdown2 package: `METAL_CORE_IFUPDOWN2_ROOT`, else `target/ifupdown2` of
/// the workspace (where `.ci/run` unpacks it).
fn ifupdown2_root() -> Option<PathBuf> {
    let root = std::env::var_os("METAL_CORE_IFUPDOWN2_ROOT")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/ifupdown2"));
    let present = root.join("usr/share/ifupdown2/ifupdown/main.py").is_file()
        && Command::new("python3").arg("--version").output().is_ok();
    metal_testkit::tool_or_skip(
        "interfaces_pass_the_ifupdown2_syntax_check",
        present,
        "ifupdown2's unpacked package (and python3)",
        "apt-get download ifupdown2 && dpkg -x ifupdown2_*.deb target/ifupdown2, as .ci/run \
         does (or set METAL_CORE_IFUPDOWN2_ROOT)",
    )
    .then_some(root)
}

fn ifupdown2_check(root: &Path, file: &Path) -> Output {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/ifupdown2_check.py");
    Command::new("python3")
        .arg(script)
        .arg(root)
        .arg(file)
        .output()
        .expect("running python3")
}

#[test]
fn interfaces_pass_the_ifupdown2_syntax_check() {
    let Some(root) = ifupdown2_root() else { return };
    for case in CASES {
        let tmp = tempfile::tempdir().unwrap();
        render(case, "cumulus", tmp.path());
        let o = ifupdown2_check(&root, &tmp.path().join("interfaces"));
        assert!(
            o.status.success(),
            "{case}: {}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
    }
    // and the check checks: a VLAN id out of range
    let tmp = tempfile::tempdir().unwrap();
    render("tenants", "cumulus", tmp.path());
    let file = tmp.path().join("interfaces");
    let text = std::fs::read_to_string(&file).unwrap();
    std::fs::write(&file, text.replace("vlan-id 1001", "vlan-id 5000")).unwrap();
    let o = ifupdown2_check(&root, &file);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success() && stderr.contains("5000"), "{stderr}");
}
