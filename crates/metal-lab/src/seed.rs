//! The lab's master data, created through metal-api's REST API as an operator would: partition
//! (whose boot configuration points pixie at the lab's kernel and metal-hammer ramdisk), size,
//! images, networks (private super network, internet, underlay), the filesystem layouts
//! `default`, `raid` (RAID1, `--metadata=1.0`) and `lvm` (striped), a tenant and project, and
//! the project's private network.

use metal_client::{Client, Method};
use serde_json::{json, Value};

use crate::plan::{IMAGES_PORT, MGMT_IP, PARTITION};

pub const SIZE: &str = "lab-vm";
pub const RACK: &str = "lab-rack-1";
pub const TENANT: &str = "lab";
pub const PROJECT: &str = "lab-project";
pub const MACHINE_IMAGE: &str = "debian-12.0.20261121";
pub const MACHINE_IMAGE_LVM: &str = "debian-13.0.20261121";
pub const FIREWALL_IMAGE: &str = "firewall-debian-3.0.20261121";
/// The Debian images of `up --debian-images` ([`crate::images`]).
pub const DEBIAN_MACHINE_IMAGE: &str = "debian-12.1.20261207";
pub const DEBIAN_FIREWALL_IMAGE: &str = "firewall-debian-3.1.20261207";
pub const SUPER_NETWORK: &str = "tenant-super-network-lab";
pub const INTERNET: &str = "internet-lab";
pub const UNDERLAY: &str = "underlay-lab";

const MIB: u64 = 1024 * 1024;
const GIB: u64 = 1024 * MIB;

/// The kernel command line metal-hammer boots with (pixie adds `PIXIE_API_URL`).
pub fn hammer_cmdline() -> String {
    "console=ttyS0 loglevel=4 panic=10 LLDP_NEIGHBORS=2 LLDP_TIMEOUT=60".into()
}

fn fs(path: &str, device: &str, format: &str, label: &str) -> Value {
    json!({"path": path, "device": device, "format": format, "label": label})
}

fn tmpfs() -> Value {
    json!({"path": "/tmp", "device": "tmpfs", "format": "tmpfs", "mountoptions": ["noexec", "size=64M"]})
}

fn part(number: u32, label: &str, size_mib: u64, gpttype: &str) -> Value {
    json!({"number": number, "label": label, "size": size_mib, "gpttype": gpttype})
}

/// The three layouts; their image constraints do not collide (metal-api refuses sets that do).
pub fn layouts() -> Vec<Value> {
    let raid_disk = |d: &str| {
        json!({"device": d, "wipeonreinstall": true,
            "partitions": [part(1, "efi", 64, "ef00"), part(2, "root", 0, "fd00")]})
    };
    let constraints = |images: Value| json!({"sizes": [SIZE], "images": images});
    vec![
        json!({"id": "default", "name": "default", "description": "EFI and ext4 root on the first disk",
            "constraints": constraints(json!({"debian": ">= 11.0", "firewall-debian": ">= 3.0"})),
            "disks": [{"device": "/dev/vda", "wipeonreinstall": true, "partitions": [
                part(1, "efi", 64, "ef00"), part(2, "root", 0, "8300")]}],
            "filesystems": [fs("/", "/dev/vda2", "ext4", "root"), fs("/boot/efi", "/dev/vda1", "vfat", "efi"), tmpfs()]}),
        json!({"id": "raid", "name": "raid", "description": "ext4 root on a RAID1 over both disks",
            "constraints": constraints(json!({"debian": ">= 12.0"})),
            "disks": [raid_disk("/dev/vda"), raid_disk("/dev/vdb")],
            "raid": [{"arrayname": "/dev/md0", "devices": ["/dev/vda2", "/dev/vdb2"], "level": "1",
                "createoptions": ["--metadata=1.0"]}],
            "filesystems": [fs("/", "/dev/md0", "ext4", "root"), fs("/boot/efi", "/dev/vda1", "vfat", "efi"), tmpfs()]}),
        json!({"id": "lvm", "name": "lvm", "description": "ext4 root on an LVM volume striped over both disks",
            "constraints": constraints(json!({"debian": ">= 13.0"})),
            "disks": [
                {"device": "/dev/vda", "wipeonreinstall": true, "partitions": [part(1, "efi", 64, "ef00"), part(2, "lvm", 0, "8e00")]},
                {"device": "/dev/vdb", "wipeonreinstall": true, "partitions": [part(1, "lvm", 0, "8e00")]}],
            "volumegroups": [{"name": "vg00", "devices": ["/dev/vda2", "/dev/vdb1"], "tags": []}],
            "logicalvolumes": [{"name": "root", "volumegroup": "vg00", "size": 0, "lvmtype": "striped"}],
            "filesystems": [fs("/", "/dev/vg00/root", "ext4", "root"), fs("/boot/efi", "/dev/vda1", "vfat", "efi"), tmpfs()]}),
    ]
}

async fn put(c: &Client, path: &str, body: Value) -> anyhow::Result<Value> {
    c.request::<Value, Value>(Method::PUT, path, Some(&body))
        .await
        .map_err(|e| anyhow::anyhow!("PUT {path} {}: {e}", body["id"]))
}

/// Creates the master data; returns the id of the project's private network.
/// Registers the Debian images built into the lab's files ([`crate::images`]).
pub async fn debian_images(c: &Client) -> anyhow::Result<()> {
    let files = format!("http://{MGMT_IP}:{IMAGES_PORT}");
    for (id, kind, feature) in [
        (
            DEBIAN_MACHINE_IMAGE,
            crate::images::Kind::Machine,
            "machine",
        ),
        (
            DEBIAN_FIREWALL_IMAGE,
            crate::images::Kind::Firewall,
            "firewall",
        ),
    ] {
        let url = format!("{files}/{}/img.tar.lz4", kind.dir_name());
        put(
            c,
            "v1/image",
            json!({"id": id, "name": id, "url": url, "features": [feature],
                "description": "Debian bookworm with os-installer (metal-lab)"}),
        )
        .await?;
    }
    Ok(())
}

pub async fn seed(c: &Client) -> anyhow::Result<String> {
    let files = format!("http://{MGMT_IP}:{IMAGES_PORT}");
    put(
        c,
        "v1/partition",
        json!({
        "id": PARTITION, "name": PARTITION, "description": "metal-lab partition",
        "mgmtserviceaddress": format!("{MGMT_IP}:8080"), "privatenetworkprefixlength": 22,
        "bootconfig": {
            "imageurl": format!("{files}/metal-hammer-initrd.img"),
            "kernelurl": format!("{files}/vmlinuz"),
            "commandline": hammer_cmdline()}}),
    )
    .await?;
    put(
        c,
        "v1/size",
        json!({"id": SIZE, "name": SIZE, "description": "a lab VM",
        "constraints": [
            {"type": "cores", "min": 1, "max": 4},
            {"type": "memory", "min": 256 * MIB, "max": 4 * GIB},
            {"type": "storage", "min": GIB, "max": 8 * GIB}]}),
    )
    .await?;
    let url = format!("{files}/img.tar.lz4");
    for (id, feature) in [
        (MACHINE_IMAGE, "machine"),
        (MACHINE_IMAGE_LVM, "machine"),
        (FIREWALL_IMAGE, "firewall"),
    ] {
        put(
            c,
            "v1/image",
            json!({"id": id, "name": id, "url": url, "features": [feature]}),
        )
        .await?;
    }
    put(
        c,
        "v1/network",
        json!({"id": SUPER_NETWORK, "name": SUPER_NETWORK, "partitionid": PARTITION,
        "prefixes": ["10.128.0.0/14"], "destinationprefixes": [], "privatesuper": true,
        "nat": false, "underlay": false}),
    )
    .await?;
    put(
        c,
        "v1/network",
        json!({"id": INTERNET, "name": INTERNET,
        "prefixes": [crate::fabric::INTERNET_PREFIX], "destinationprefixes": ["0.0.0.0/0"], "privatesuper": false,
        "nat": true, "underlay": false, "vrf": 104009}),
    )
    .await?;
    put(
        c,
        "v1/network",
        json!({"id": UNDERLAY, "name": UNDERLAY, "partitionid": PARTITION,
        "prefixes": ["10.99.0.0/24"], "destinationprefixes": [], "privatesuper": false,
        "nat": false, "underlay": true}),
    )
    .await?;
    for l in layouts() {
        put(c, "v1/filesystemlayout", l).await?;
    }
    put(
        c,
        "v1/tenant",
        json!({"meta": {"id": TENANT}, "name": TENANT, "description": "metal-lab tenant"}),
    )
    .await?;
    put(
        c,
        "v1/project",
        json!({"meta": {"id": PROJECT}, "name": PROJECT, "tenant_id": TENANT,
        "description": "metal-lab project"}),
    )
    .await?;
    let net: Value = c
        .request(
            Method::POST,
            "v1/network/allocate",
            Some(&json!({"partitionid": PARTITION, "projectid": PROJECT, "name": "lab-private"})),
        )
        .await
        .map_err(|e| anyhow::anyhow!("allocating the project's private network: {e}"))?;
    net["id"]
        .as_str()
        .map(String::from)
        .ok_or_else(|| anyhow::anyhow!("the private network has no id: {net}"))
}
