//! Full DHCP mode on a namespace pair: udhcpc gets an address and the boot file of its
//! architecture, a GUID makes metal-api record "PXE Booting", leases are persisted; tftp-hpa and
//! busybox tftp (blksize) fetch byte-identical iPXE binaries; the iPXE script, the proxied
//! kernel/initrd and the one-time MetalConfig over HTTP.

use std::net::Ipv4Addr;

use crate::lab::{self, veth, Netns};
use crate::{initrd, mac_of, start_pixie, udhcpc, var, World, KERNEL};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn full_mode_dhcp_tftp_and_http() {
    let test = "full_mode_dhcp_tftp_and_http";
    if !metal_testkit::privileged(
        test,
        &[
            ("/usr/bin/busybox", "busybox-static"),
            ("/usr/bin/tftp", "tftp-hpa"),
            ("/usr/lib/ipxe/undionly.kpxe", "ipxe"),
        ],
    ) {
        return;
    }
    let t = lab::tag();
    let srv = Netns::new(format!("pxs{t}"));
    let cli = Netns::new(format!("pxc{t}"));
    let (ours, theirs) = lab::uplink(&srv, &t);
    let (lan_s, lan_c) = (format!("pl{t}a"), format!("pl{t}b"));
    veth(Some(&srv), &lan_s, Some("10.55.0.1/24"), &cli, &lan_c, None);
    let world = World::start(ours).await;
    let dir = tempfile::tempdir().unwrap();
    let leases = dir.path().join("leases.json");
    let _pixie = start_pixie(
        &srv,
        &world,
        dir.path(),
        theirs,
        &[
            "--interface",
            &lan_s,
            "--dhcp-mode",
            "full",
            "--dhcp-range",
            "10.55.0.100-10.55.0.150/24,router=10.55.0.1,dns=10.55.0.1",
            "--lease-file",
            &leases.display().to_string(),
        ],
    )
    .await;
    let mac = mac_of(&cli, &lan_c);

    // DHCP: address, options and the boot file per architecture.
    for (arch, fw) in [
        ("0000", "0"),
        ("0007", "2"),
        ("0009", "3"),
        ("0006", "1"),
        ("0010", "2"),
    ] {
        let env = udhcpc(
            &cli,
            &lan_c,
            dir.path(),
            &["-V", "PXEClient", "-x", &format!("0x5d:{arch}")],
        )
        .unwrap_or_else(|| panic!("no lease for arch {arch}"));
        assert_eq!(var(&env, "ip"), "10.55.0.100", "sticky address");
        assert_eq!(var(&env, "subnet"), "255.255.255.0");
        assert_eq!(var(&env, "router"), "10.55.0.1");
        assert_eq!(var(&env, "dns"), "10.55.0.1");
        assert_eq!(var(&env, "serverid"), "10.55.0.1");
        assert_eq!(var(&env, "siaddr"), "10.55.0.1");
        assert_eq!(var(&env, "boot_file"), format!("{mac}/{fw}"), "arch {arch}");
    }
    // A client without option 93 gets an address and no boot file.
    let env = udhcpc(&cli, &lan_c, dir.path(), &[]).expect("plain DHCP lease");
    assert_eq!(var(&env, "ip"), "10.55.0.100");
    assert_eq!(var(&env, "boot_file"), "");
    // Clients that run iPXE get the script URL.
    let env = udhcpc(
        &cli,
        &lan_c,
        dir.path(),
        &["-x", "0x5d:0007", "-x", "0x4d:69505845"],
    )
    .unwrap();
    assert_eq!(
        var(&env, "boot_file"),
        format!("http://10.55.0.1:4242/_/ipxe?arch=1&mac={mac}")
    );

    // A GUID makes metal-api record "PXE Booting" for that machine.
    let uuid = "4c4c4544-0042-4e10-8037-b3c04f4a3132";
    // firmware sends the GUID with the first three fields little-endian (EFI order)
    let guid = "0x61:0044454c4c4200104e8037b3c04f4a3132";
    assert!(world.events(uuid).await.is_empty());
    udhcpc(&cli, &lan_c, dir.path(), &["-x", "0x5d:0007", "-x", guid]).expect("lease with GUID");
    assert_eq!(world.events(uuid).await, ["PXE Booting"]);

    // The lease is persisted.
    let saved: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&leases).unwrap()).unwrap();
    assert_eq!(saved[0]["ip"], "10.55.0.100");
    assert_eq!(saved[0]["mac"], mac.as_str());

    // TFTP from the client namespace (a static address outside the range).
    cli.run(&["ip", "addr", "add", "10.55.0.200/24", "dev", &lan_c]);
    let out = dir.path().join("undionly.kpxe");
    cli.run(&[
        // tftp-hpa reads `a:b` as host:file, so the host goes in front of the MAC.
        "tftp",
        "-m",
        "octet",
        "10.55.0.1",
        "-c",
        "get",
        &format!("10.55.0.1:{mac}/0"),
        &out.display().to_string(),
    ]);
    assert_eq!(
        std::fs::read(&out).unwrap(),
        std::fs::read("/usr/lib/ipxe/undionly.kpxe").unwrap(),
        "tftp-hpa: {mac}/0 is undionly.kpxe"
    );
    let out = dir.path().join("ipxe.efi");
    cli.run(&[
        "busybox",
        "tftp",
        "-g",
        "-b",
        "1468",
        "-r",
        &format!("{mac}/2"),
        "-l",
        &out.display().to_string(),
        "10.55.0.1",
    ]);
    assert_eq!(
        std::fs::read(&out).unwrap(),
        std::fs::read("/usr/lib/ipxe/ipxe.efi").unwrap(),
        "busybox tftp with blksize 1468: {mac}/2 is ipxe.efi"
    );
    let missing = cli
        .command("tftp")
        .args([
            "-m",
            "octet",
            "10.55.0.1",
            "-c",
            "get",
            "../etc/passwd",
            "/dev/null",
        ])
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&missing.stdout).contains("not found")
            || String::from_utf8_lossy(&missing.stderr).contains("not found"),
        "path outside the iPXE dir is refused"
    );

    http_checks(theirs, &mac, &world).await;
}

/// The iPXE script, the boot files it names, and the one-time MetalConfig.
async fn http_checks(pixie: Ipv4Addr, mac: &str, world: &World) {
    let http = reqwest::Client::new();
    let base = format!("http://{pixie}:4242");
    let get = |path: String| http.get(format!("{base}{path}")).send();

    assert_eq!(
        get("/_/ipxe?arch=1&mac=nomac".into())
            .await
            .unwrap()
            .status(),
        400
    );
    assert_eq!(
        get(format!("/_/ipxe?arch=7&mac={mac}"))
            .await
            .unwrap()
            .status(),
        400
    );
    let r = get(format!("/_/ipxe?arch=1&mac={mac}")).await.unwrap();
    assert_eq!(r.status(), 200);
    let script = r.text().await.unwrap();
    assert!(script.starts_with("#!ipxe\n"), "{script}");
    let url_after = |prefix: &str| -> String {
        let line = script
            .lines()
            .find(|l| l.starts_with(prefix))
            .unwrap_or_else(|| panic!("no {prefix} line in {script}"));
        line.split_whitespace().nth(3).unwrap().to_string()
    };
    let kernel = url_after("kernel --name kernel ");
    let initrd_url = url_after("initrd --name initrd0 ");
    assert!(
        kernel.starts_with(&format!("{base}/_/file?name=")),
        "{kernel}"
    );
    let boot = script.lines().find(|l| l.starts_with("boot ")).unwrap();
    assert!(boot.starts_with("boot kernel initrd=initrd0 console=${console},115200n8 console=ttyS0 ip=dhcp PIXIE_API_URL="), "{boot}");
    assert!(boot.ends_with(" DEBUG=1"), "{boot}");

    for (url, want) in [(kernel.clone(), KERNEL.to_vec()), (initrd_url, initrd())] {
        let r = http.get(&url).send().await.unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(r.content_length(), Some(want.len() as u64));
        assert_eq!(r.bytes().await.unwrap().to_vec(), want);
    }
    // Cached: fetching again does not hit the origin.
    let hits = world.file_hits.load(std::sync::atomic::Ordering::SeqCst);
    assert_eq!(
        http.get(&kernel)
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap(),
        KERNEL
    );
    assert_eq!(
        world.file_hits.load(std::sync::atomic::Ordering::SeqCst),
        hits
    );
    // A forged id is refused.
    let forged = kernel.replace("name=", "name=x");
    assert_eq!(http.get(&forged).send().await.unwrap().status(), 403);

    // MetalConfig: refused without token, served once with it.
    let r = get("/certs".into()).await.unwrap();
    assert_eq!(r.status(), 403);
    let body = r.text().await.unwrap();
    assert!(
        !body.contains("view-hmac-for-tests") && body.contains("token"),
        "{body}"
    );
    let certs_url = boot
        .split_whitespace()
        .find_map(|w| w.strip_prefix("PIXIE_API_URL="))
        .unwrap();
    assert!(
        certs_url.starts_with(&format!("{base}/certs/")),
        "{certs_url}"
    );
    let r = http.get(certs_url).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let cfg: serde_json::Value = r.json().await.unwrap();
    assert_eq!(cfg["address"], world.grpc.to_string());
    assert_eq!(cfg["partition"], "fra");
    assert_eq!(cfg["hmac"], "view-hmac-for-tests");
    assert_eq!(cfg["metal_api_url"], "http://metal-api.test:8080");
    assert_eq!(cfg["pixie_api_url"], format!("{base}/certs"));
    assert_eq!(cfg["debug"], true);
    let again = http.get(certs_url).send().await.unwrap();
    assert_eq!(again.status(), 403);
    assert!(!again.text().await.unwrap().contains("view-hmac"));
    assert_eq!(get("/_/booting?mac=zz".into()).await.unwrap().status(), 400);
    assert_eq!(
        get(format!("/_/booting?mac={mac}"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
        "# Booting"
    );
}
