//! The README's first day: every file of `examples/` applies with metalctl, in the README's
//! order, without a warning, against a real metal-api on both backends, and what it creates is
//! usable (the layouts resolve, a tenant network is cut from the super network).

mod driver;

use driver::{rows_with, Ctl};
use metal_testkit::{Backend, TestApi};

/// (metalctl resource words, file of examples/), in the README's order.
const FILES: &[(&[&str], &str)] = &[
    (&["partition"], "partition.yaml"),
    (&["size"], "sizes.yaml"),
    (&["image"], "images.yaml"),
    (&["fsl"], "filesystemlayouts.yaml"),
    (&["size", "imageconstraint"], "sizeimageconstraints.yaml"),
    (&["network"], "networks.yaml"),
    (&["tenant"], "tenant.yaml"),
    (&["project"], "project.yaml"),
];

fn example(name: &str) -> String {
    format!("{}/../../examples/{name}", env!("CARGO_MANIFEST_DIR"))
}

fn first_day(ctl: &Ctl) {
    for (resource, file) in FILES {
        let mut args: Vec<&str> = resource.to_vec();
        let path = example(file);
        args.extend(["apply", "-f", &path]);
        let out = ctl.run(&args, None);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{args:?}: {stderr}");
        assert!(stderr.trim().is_empty(), "{args:?} warned: {stderr}");
    }
    let images = ctl.ok(&["image", "list"]);
    assert_eq!(
        rows_with(&images, "debian-12.0.20241207").len(),
        1,
        "{images}"
    );
    assert_eq!(
        rows_with(&images, "firewall-debian-3.0.20241207").len(),
        1,
        "{images}"
    );
    // the release notes' layouts resolve for their sizes, the firewall layout for firewalls
    for (size, image, layout) in [
        ("c1-xlarge-x86", "debian-12", "raid"),
        ("s3-large-x86", "debian-12", "lvm"),
        ("c1-xlarge-x86", "firewall-debian-3", "firewall"),
    ] {
        let l = ctl.json(&["fsl", "try", "--size", size, "--image", image]);
        assert_eq!(l["id"], layout, "{size} {image}: {l}");
    }
    let allowed = ctl.ok(&[
        "size",
        "ic",
        "try",
        "--size",
        "c1-xlarge-x86",
        "--image",
        "debian-12.0",
    ]);
    assert!(allowed.contains("is allowed"), "{allowed}");
    let net = ctl.json(&[
        "network",
        "allocate",
        "--name",
        "web",
        "--partition",
        "fra-equ01",
        "--project",
        "00000000-0000-0000-0000-000000000001",
    ]);
    assert_eq!(
        net["parentnetworkid"], "tenant-super-network-fra-equ01",
        "{net}"
    );
    let prefix = net["prefixes"][0].as_str().unwrap();
    assert!(
        prefix.starts_with("10.1") && prefix.ends_with("/22"),
        "{net}"
    );
}

async fn run(backend: Backend) {
    let api = TestApi::start(backend).await.unwrap();
    let ctl = std::sync::Arc::new(Ctl::admin(&api));
    let c = ctl.clone();
    tokio::task::spawn_blocking(move || first_day(&c))
        .await
        .unwrap();
    api.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn examples_apply_on_sqlite() {
    run(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn examples_apply_on_postgres() {
    run(Backend::Postgres).await;
}
