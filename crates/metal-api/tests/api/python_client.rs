//! metal-python 0.45.0, metal-stack's generated Python client, against the server: a firewall
//! allocated with `None` (JSON null) for the optional fields, and the IPMI data of machines
//! whose BMC reported no power metric, by id and by search (its models refuse a required field
//! that is null), and a leaf registered with a port taken down (`admin_status`, whose values
//! its model checks against its enum). The script is `tests/python/metal_python_client.py`;
//! `.ci/run` installs the
//! client. Without it the test prints a loud skip, unless `CI` or `METAL_PRIVILEGED_TESTS=1`
//! is set, where it fails.

use std::process::Command;

use metal_testkit::{backend_test, set_machine_ipmi, tool_or_skip, TestApi};
use serde_json::json;

use crate::machine::world;

const INSTALL: &str =
    "install metal-python: python3 -m pip install 'metal-python==0.45.0' (as .ci/run does)";

fn metal_python_installed() -> bool {
    Command::new("python3")
        .args(["-c", "import metal_python.driver"])
        .output()
        .is_ok_and(|o| o.status.success())
}

backend_test!(metal_python_allocates_a_firewall_and_reads_ipmi, |api| {
    if tool_or_skip(
        "metal_python_allocates_a_firewall_and_reads_ipmi",
        metal_python_installed(),
        "metal-python",
        INSTALL,
    ) {
        allocate_and_read(api).await;
    }
});

async fn allocate_and_read(api: &TestApi) {
    let tenant = world(api, 3).await;
    // the leaf pair of rack r1 as metal-core registers it, m003 cabled to swp1 of both
    for id in ["leaf01", "leaf02"] {
        let ports = crate::switch::ports(id);
        let ports: Vec<(&str, &str)> = ports.iter().map(|(n, m)| (*n, m.as_str())).collect();
        let r = api
            .admin()
            .post("v1/switch/register", crate::switch::leaf(id, "r1", &ports))
            .await;
        assert_eq!(r.status, 201, "{:?}", r.body);
    }
    crate::switch::cable(api, "m003", "swp1").await;
    // m001 reported its BMC without a power metric, m002 never reported
    let now = chrono::Utc::now();
    set_machine_ipmi(
        api.store(),
        "m001",
        json!({"address": "10.1.1.1:623", "mac": "aa:bb:cc:00:00:01", "user": "root", "password": "secret",
            "interface": "lanplus", "powerstate": "ON", "last_updated": now}),
    )
    .await
    .unwrap();
    let args = json!({
        "url": api.url().trim_end_matches('/'),
        "hmac": api.keys.admin,
        "firewall": {"projectid": "p1", "partitionid": "fra", "sizeid": "n1-medium-x86",
            "imageid": "firewall-ubuntu-2.0.20210912", "networks": [tenant, "internet"]},
        "ipmi_machines": ["m001", "m002"],
        "switch": "leaf01",
    });
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/python/metal_python_client.py"
    );
    let out = tokio::task::spawn_blocking(move || {
        Command::new("python3")
            .arg(script)
            .arg(args.to_string())
            .output()
    })
    .await
    .unwrap()
    .expect("running python3");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.trim_end().ends_with("OK"),
        "metal-python failed ({}):\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}
