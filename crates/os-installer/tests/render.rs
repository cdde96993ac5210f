//! The installer's output for the cases of `tests/golden/<case>/install.yaml`, rendered by the
//! binary (`os-installer render`) and compared with the golden files next to them
//! (`OS_INSTALLER_UPDATE_GOLDEN=1 cargo test -p os-installer --test render` rewrites them
//! after a deliberate change). Every rendered `frr.conf` must pass FRR's `vtysh -C -f` (what
//! `vtysh --dryrun --inputfile` does), every nftables file `nft --check` (root: it asks the
//! kernel). Where the tests must run (`METAL_PRIVILEGED_TESTS=1` or `CI`) a missing tool fails.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

const CASES: &[&str] = &[
    "machine-private",
    "machine-public-ip",
    "machine-dualstack",
    "firewall",
];

fn golden() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden")
}

fn files_in(dir: &Path) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.insert(p.strip_prefix(dir).unwrap().display().to_string());
            }
        }
    }
    out
}

fn render(case: &str, out: &Path) -> BTreeSet<String> {
    let o = Command::new(env!("CARGO_BIN_EXE_os-installer"))
        .arg("render")
        .arg("--config")
        .arg(golden().join(case).join("install.yaml"))
        .arg("--out")
        .arg(out)
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "{case}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let printed: BTreeSet<String> = String::from_utf8(o.stdout)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect();
    assert_eq!(printed, files_in(out), "{case}: printed paths");
    printed
}

#[test]
fn rendered_files_match_the_golden_files() {
    let update = std::env::var_os("OS_INSTALLER_UPDATE_GOLDEN").is_some();
    for case in CASES {
        let tmp = tempfile::tempdir().unwrap();
        let got = render(case, tmp.path());
        let want_dir = golden().join(case).join("root");
        if update {
            let _ = std::fs::remove_dir_all(&want_dir);
            for f in &got {
                let dst = want_dir.join(f);
                std::fs::create_dir_all(dst.parent().unwrap()).unwrap();
                std::fs::copy(tmp.path().join(f), dst).unwrap();
            }
            continue;
        }
        assert_eq!(got, files_in(&want_dir), "{case}: the set of files");
        for f in &got {
            let g = std::fs::read_to_string(tmp.path().join(f)).unwrap();
            let w = std::fs::read_to_string(want_dir.join(f)).unwrap();
            assert!(
                g == w,
                "{case}/{f} differs from the golden file:\n--- golden\n{w}\n--- rendered\n{g}"
            );
            // the console password never lands in a rendered file
            assert!(!g.contains("not-in-any-golden-file"), "{case}/{f}");
        }
    }
}

#[test]
fn frr_configs_pass_vtysh() {
    let found = Command::new("vtysh").arg("-h").output().is_ok();
    if !metal_sim::gate::tool_or_skip(
        "frr_configs_pass_vtysh",
        found,
        "vtysh",
        "apt-get install frr",
    ) {
        return;
    }
    for case in CASES {
        let tmp = tempfile::tempdir().unwrap();
        render(case, tmp.path());
        os_installer::tasks::check("vtysh", &["-C", "-f"], &tmp.path().join("etc/frr/frr.conf"))
            .unwrap_or_else(|e| panic!("{case}: {e:#}"));
    }
    // the check does reject: a broken file fails with FRR's message
    let tmp = tempfile::tempdir().unwrap();
    let bad = tmp.path().join("frr.conf");
    std::fs::write(
        &bad,
        "router bgp 4200003073\n neighbor TOR remote-as sideways\n",
    )
    .unwrap();
    let err = os_installer::tasks::check("vtysh", &["-C", "-f"], &bad).unwrap_err();
    assert!(
        err.to_string().contains("was rejected by `vtysh -C -f`"),
        "{err}"
    );
}

#[test]
fn nftables_rules_pass_nft_check() {
    if !metal_sim::gate::privileged("nftables_rules_pass_nft_check", &[("nft", "nftables")]) {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    render("firewall", tmp.path());
    let rules = tmp.path().join("etc/nftables/rules");
    os_installer::tasks::check("nft", &["--check", "--file"], &rules).unwrap();
    // and the whole of /etc/nftables.conf, with its include, as nftables.service loads it
    let conf = std::fs::read_to_string(tmp.path().join("etc/nftables.conf"))
        .unwrap()
        .replace(
            "/etc/nftables/*",
            &format!("{}/etc/nftables/*", tmp.path().display()),
        );
    let conf_path = tmp.path().join("nftables.conf");
    std::fs::write(&conf_path, conf).unwrap();
    os_installer::tasks::check("nft", &["--check", "--file"], &conf_path).unwrap();
    let bad = tmp.path().join("bad.rules");
    std::fs::write(
        &bad,
        "table inet metal {\n chain forward {\n  ip daddr 300.0.0.0/8 accept\n }\n}\n",
    )
    .unwrap();
    assert!(os_installer::tasks::check("nft", &["--check", "--file"], &bad).is_err());
}
