//! Bad input to `metal-lab` is refused with a message naming the problem, before anything is
//! made: no lab directory, no namespace, and an existing lab's state is left as it was. Needs
//! no root (nothing is created).

use std::path::Path;
use std::process::{Command, Output};

fn metal_lab(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_metal-lab"))
        .arg("--dir")
        .arg(dir)
        .args(args)
        .output()
        .expect("running metal-lab")
}

fn refused(out: &Output, needle: &str) {
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "accepted: {err}");
    assert!(err.contains(needle), "{needle:?} not in: {err}");
}

fn lab_namespaces(prefix: &str) -> Vec<String> {
    let out = Command::new("ip").args(["netns", "list"]).output();
    out.map(|o| {
        String::from_utf8_lossy(&o.stdout)
            .lines()
            .filter(|l| l.starts_with(&format!("{prefix}-")))
            .map(String::from)
            .collect()
    })
    .unwrap_or_default()
}

#[test]
fn bad_names_and_sizes_are_refused_before_anything_is_made() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("lab");
    for (args, needle) in [
        (vec!["--name", "Bad-Name", "up"], "the lab name must be"),
        (
            vec!["--name", "averyverylongname", "up"],
            "the lab name must be",
        ),
        (
            vec!["--name", "clibad", "up", "--machines", "0"],
            "--machines must be between 1 and 32",
        ),
        (
            vec!["--name", "clibad", "up", "--machines", "33"],
            "--machines must be between 1 and 32",
        ),
        (vec!["--name", "Bad", "down"], "the lab name must be"),
        (
            vec!["--name", "clibad", "up", "--routed", "--machines", "9"],
            "between 1 and 8 in a routed lab",
        ),
    ] {
        let out = metal_lab(&dir, &args);
        refused(&out, needle);
        assert!(!dir.exists(), "{args:?} made {}", dir.display());
    }
    assert!(lab_namespaces("clibad").is_empty());
}

#[test]
fn a_lab_that_is_there_is_not_made_again() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("lab");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("lab.json"), "{\"left\": true}").unwrap();
    let out = metal_lab(&dir, &["--name", "clithere", "up"]);
    refused(&out, "metal-lab down first");
    assert_eq!(
        std::fs::read_to_string(dir.join("lab.json")).unwrap(),
        "{\"left\": true}"
    );
    assert!(!dir.join("run").exists() && !dir.join("log").exists());
    assert!(lab_namespaces("clithere").is_empty());
}

#[test]
fn env_and_status_without_a_lab_say_so() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("none");
    refused(&metal_lab(&dir, &["env"]), "no lab in");
    refused(&metal_lab(&dir, &["status"]), "no lab in");
    refused(
        &metal_lab(&dir, &["exec", "leaf01", "--", "true"]),
        "no lab in",
    );
    assert!(!dir.exists());
}

#[test]
fn exec_needs_a_routed_lab_a_node_of_its_fabric_and_a_command() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("lab");
    std::fs::create_dir_all(&dir).unwrap();
    let state = |routed: bool| {
        serde_json::json!({"name": "cliexec", "dir": dir, "machines": 1, "api_port": 1,
            "hmac_view": "v", "hmac_edit": "e", "hmac_admin": "a", "bmc_password": "p",
            "private_network": "", "started": "now", "routed": routed, "exec_token": "t"})
        .to_string()
    };
    std::fs::write(dir.join("lab.json"), state(false)).unwrap();
    let out = metal_lab(&dir, &["exec", "leaf01", "--", "true"]);
    refused(&out, "has no fabric");
    assert_eq!(out.status.code(), Some(255));
    std::fs::write(dir.join("lab.json"), state(true)).unwrap();
    // a machine: through ssh, with the lab's key
    refused(
        &metal_lab(&dir, &["exec", "machine-1", "--", "true"]),
        "the lab has no SSH key",
    );
    // neither a node nor a machine's name, and no metal-api to ask for hostnames
    refused(
        &metal_lab(&dir, &["exec", "nosuch", "--", "true"]),
        "\"nosuch\" is neither a node of the fabric (leaf01, leaf02, exit, external) nor a lab machine's name or UUID",
    );
    // a routed lab whose namespaces are gone
    refused(
        &metal_lab(&dir, &["exec", "exit", "--", "ip", "route"]),
        "network namespace cliexec-mgmt",
    );
    // clap: the command is required
    refused(&metal_lab(&dir, &["exec", "leaf01"]), "COMMAND");
}
