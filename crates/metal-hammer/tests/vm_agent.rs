//! The whole metal-hammer run as PID 1 of a ramdisk in a qemu VM against a real metal-api:
//! configuration fetched once with its token, wipe, Preparing/Registering/Waiting events,
//! registration with the VM's hardware and SMBIOS uuid, the Wait stream ended by an allocation
//! with metal-stack's RAID1 layout, installation, Report, `Booting New Kernel` and kexec into the
//! kernel and initrd of the installed image, whose init prints its command line.
//!
//! The guest reaches the host's loopback (metal-api REST and gRPC, the image and
//! configuration server) through slirp at 10.0.2.2; no pixie here (pixie has its own tests with
//! real DHCP/TFTP/iPXE clients). Runs only with `METAL_PRIVILEGED_TESTS=1`.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use metal_sim::fileserver::FileServer;
use metal_sim::osimage::OsImageBuilder;
use metal_sim::vm::{mac_for, DebianKernel, Disk, Initramfs, Nic, Vm};
use metal_testkit::{try_until, Backend, TestApi};
use serde_json::json;

const UUID: &str = "6f1a2b3c-4d5e-4f60-8a7b-9c0d1e2f3a4b";
const MIB: u64 = 1024 * 1024;

fn privileged(test: &str) -> bool {
    metal_testkit::privileged(
        test,
        &[
            ("qemu-system-x86_64", "qemu-system-x86"),
            ("busybox", "busybox-static"),
            ("mdadm", "mdadm"),
            ("kexec", "kexec-tools"),
            ("mkfs.ext3", "e2fsprogs"),
        ],
    )
}

fn guest(url: &str) -> String {
    url.replace("127.0.0.1", "10.0.2.2")
}

/// The installed OS's init: shows that the kexec reached it and with which command line.
const INSTALLED_INIT: &str = "#!/bin/sh
/bin/busybox mount -t proc proc /proc
echo \"INSTALLED-OS-UP $(/bin/busybox cat /proc/cmdline)\"
/bin/busybox poweroff -f
";

async fn seed(api: &TestApi, image_url: &str) -> String {
    let c = api.admin();
    assert_eq!(
        c.put("v1/tenant", json!({"meta": {"id": "acme"}, "name": "acme"}))
            .await
            .status,
        201
    );
    assert_eq!(
        c.put(
            "v1/project",
            json!({"meta": {"id": "p1"}, "name": "p1", "tenant_id": "acme"})
        )
        .await
        .status,
        201
    );
    let part = json!({"id": "vm", "name": "vm", "description": "VM partition", "privatenetworkprefixlength": 24,
        "bootconfig": {"imageurl": "http://pixie.test/hammer.img", "kernelurl": "http://pixie.test/vmlinuz", "commandline": "console=ttyS0"}});
    assert_eq!(c.put("v1/partition", part).await.status, 201);
    let r = c
        .put(
            "v1/network",
            json!({"id": "super", "partitionid": "vm", "prefixes": ["10.64.0.0/16"],
        "destinationprefixes": [], "privatesuper": true, "nat": false, "underlay": false}),
        )
        .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    let r = c
        .put(
            "v1/size",
            json!({"id": "vm-small", "constraints": [{"type": "cores", "min": 1, "max": 64}]}),
        )
        .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    let r = c
        .put(
            "v1/image",
            json!({"id": "debian-12.0.20260101", "url": image_url, "features": ["machine"]}),
        )
        .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    let disk = |d: &str| {
        json!({"device": d, "wipeonreinstall": true, "partitions": [
        {"number": 1, "label": "efi", "size": 64, "gpttype": "ef00"},
        {"number": 2, "label": "root", "size": 0, "gpttype": "fd00"}]})
    };
    let r = c.put("v1/filesystemlayout", json!({"id": "raid",
        "constraints": {"sizes": ["vm-small"], "images": {"debian": "*"}},
        "disks": [disk("/dev/vda"), disk("/dev/vdb")],
        "raid": [{"arrayname": "/dev/md0", "devices": ["/dev/vda2", "/dev/vdb2"], "level": "1", "createoptions": ["--metadata=1.0"]}],
        "filesystems": [
            {"path": "/", "device": "/dev/md0", "format": "ext4", "label": "root"},
            {"path": "/boot/efi", "device": "/dev/vda1", "format": "vfat", "label": "efi"},
            {"path": "/tmp", "device": "tmpfs", "format": "tmpfs", "mountoptions": ["noexec", "size=64M"]}]})).await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    let r = c
        .post(
            "v1/network/allocate",
            json!({"partitionid": "vm", "projectid": "p1"}),
        )
        .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    r.body["id"].as_str().unwrap().to_string()
}

fn events(m: &serde_json::Value) -> Vec<String> {
    let mut e: Vec<String> = m["events"]["log"]
        .as_array()
        .map(|l| {
            l.iter()
                .map(|e| e["event"].as_str().unwrap_or("").to_string())
                .collect()
        })
        .unwrap_or_default();
    e.reverse(); // the log is newest first
    e
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hammer_as_pid1_registers_waits_installs_reports_and_kexecs() {
    let test = "hammer_as_pid1_registers_waits_installs_reports_and_kexecs";
    if !privileged(test) {
        return;
    }
    let kernel = tokio::task::spawn_blocking(DebianKernel::get)
        .await
        .unwrap()
        .expect("Debian kernel");
    let dir = tempfile::tempdir().unwrap();

    // the installed OS: the Debian kernel and a tiny initrd in the busybox image
    let os_initrd = dir.path().join("os-initrd.gz");
    Initramfs::new()
        .busybox()
        .unwrap()
        .file("/init", 0o755, INSTALLED_INIT)
        .dir("/proc", 0o755)
        .build(&os_initrd)
        .unwrap();
    let image_dir = dir.path().join("images");
    std::fs::create_dir(&image_dir).unwrap();
    OsImageBuilder::new()
        .file(
            "/boot/vmlinuz",
            std::fs::read(&kernel.vmlinuz).unwrap(),
            0o644,
        )
        .file(
            "/boot/initrd.img",
            std::fs::read(&os_initrd).unwrap(),
            0o644,
        )
        .build(&image_dir)
        .unwrap();
    let files = FileServer::start_on(&image_dir, SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .unwrap();

    let api = TestApi::start(Backend::Sqlite).await.unwrap();
    let network = seed(&api, &guest(&files.url("img.tar.lz4"))).await;

    // what pixie would hand out once for the token on the kernel command line
    let token = "vm-test-token-0123456789";
    std::fs::create_dir(image_dir.join("certs")).unwrap();
    let config = json!({
        "address": format!("10.0.2.2:{}", api.server.grpc_addr.port()),
        "metal_api_url": guest(&api.url()),
        "hmac": api.keys.view,
        "partition": "vm",
        "debug": true,
    });
    std::fs::write(image_dir.join("certs").join(token), config.to_string()).unwrap();
    let cmdline = format!(
        "console=ttyS0 panic=-1 loglevel=4 PIXIE_API_URL={} LLDP_NEIGHBORS=0",
        guest(&files.url(&format!("certs/{token}")))
    );

    // the ramdisk: the harness's base (busybox, disk tools and modules) with metal-hammer as /init
    let base = Initramfs::standard(&kernel)
        .unwrap()
        .binary("mkfs.ext3")
        .unwrap()
        .binary_as(env!("CARGO_BIN_EXE_metal-hammer"), "/init")
        .unwrap();
    let ramdisk = dir.path().join("hammer.gz");
    base.build(&ramdisk).unwrap();

    let disks: Vec<Disk> = (0..2).map(|_| Disk::qcow2(320 * MIB).unwrap()).collect();
    let mut vm = Vm::builder()
        .name("hammer")
        .memory_mib(640)
        .uuid(UUID)
        .disks(&disks)
        .nic(Nic::user(&mac_for(7)))
        .kernel(&kernel.vmlinuz, Some(&ramdisk), &cmdline)
        .start()
        .unwrap();
    let console = vm.console();
    let started = Instant::now();

    // registered and waiting
    let c = api.admin();
    let waiting = try_until(
        "the machine to wait",
        Duration::from_secs(300),
        Duration::from_millis(500),
        async || {
            let m = c.get(&format!("v1/machine/{UUID}")).await;
            if m.status == 200 && events(&m.body).last().map(String::as_str) == Some("Waiting") {
                return Ok(());
            }
            assert!(
                !console.is_closed(),
                "machine not waiting: {:?}\n{}",
                m.body,
                console.tail(80)
            );
            Err(format!("{:?}", m.body))
        },
    )
    .await;
    if let Err(e) = waiting {
        panic!("{e}\n{}", console.tail(80));
    }
    let waiting_after = started.elapsed();
    let m = c.get(&format!("v1/machine/{UUID}")).await.body;
    assert_eq!(m["size"]["id"], "vm-small", "{m}");
    assert_eq!(m["partition"]["id"], "vm");
    assert_eq!(m["hardware"]["disks"].as_array().unwrap().len(), 2, "{m}");
    assert!(
        m["hardware"]["nics"]
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n["mac"] == mac_for(7)),
        "{m}"
    );
    assert!(!m["bios"]["version"].as_str().unwrap_or("").is_empty());
    // the token was used once: asking again is what an attacker would do; the file server
    // here is no pixie, pixie's own tests check the refusal

    let r = c
        .post(
            "v1/machine/allocate",
            json!({"uuid": UUID, "projectid": "p1", "partitionid": "vm", "sizeid": "vm-small",
                   "imageid": "debian-12.0", "filesystemlayoutid": "raid", "name": "vm-1", "hostname": "vm-1",
                   "networks": [{"networkid": network}]}),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let allocated = Instant::now();

    let up = tokio::task::block_in_place(|| {
        console.wait_for("INSTALLED-OS-UP", Duration::from_secs(300))
    });
    let up = up.unwrap_or_else(|e| panic!("installed OS not reached: {e}"));
    let installed_after = allocated.elapsed();
    eprintln!(
        "waiting after {waiting_after:?}, installed OS up {installed_after:?} after the allocation"
    );
    assert!(up.text.contains("root=UUID="), "{}", up.text);
    assert!(!console
        .lines()
        .iter()
        .any(|l| l.text.contains("METAL_HAMMER_FAILED")));

    let m = c.get(&format!("v1/machine/{UUID}")).await.body;
    // the report stored the boot info (`succeeded` is legacy: nothing sets it, as in v0.30)
    let boot = &m["allocation"]["boot_info"];
    assert_eq!(boot["kernel"], "/boot/vmlinuz", "{m}");
    assert_eq!(boot["os_partition"], "/dev/md0");
    assert!(
        up.text.contains(boot["cmdline"].as_str().unwrap()),
        "kexec'd with the reported cmdline"
    );
    let ev = events(&m);
    let expected = [
        "Preparing",
        "Registering",
        "Waiting",
        "Installing",
        "Booting New Kernel",
    ];
    let mut it = ev.iter();
    for e in expected {
        assert!(it.any(|x| x == e), "{e} missing or out of order in {ev:?}");
    }
    assert!(!ev.iter().any(|e| e == "Crashed"), "{ev:?}");
    vm.wait_exit(Duration::from_secs(60)).unwrap();
    drop(files);
    api.stop().await;
}
