//! VM harness tests. The ones that boot qemu or download the Debian kernel run only with
//! `METAL_PRIVILEGED_TESTS=1` (then a missing tool fails them); the cpio test runs always.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use metal_sim::tool_or_skip;
use metal_sim::vm::initramfs::find_program;
use metal_sim::vm::{
    BootOrder, DebianKernel, Disk, Firmware, Initramfs, Nic, ScriptRunner, Vm, DISK_MODULES,
};

const TOOLS: &[(&str, &str)] = &[
    ("qemu-system-x86_64", "qemu-system-x86 (bookworm-backports)"),
    ("qemu-img", "qemu-utils"),
    ("busybox", "busybox-static"),
    ("mdadm", "mdadm"),
    ("lvm", "lvm2"),
    ("sgdisk", "gdisk"),
    ("mkfs.fat", "dosfstools"),
    ("mke2fs", "e2fsprogs"),
    ("kexec", "kexec-tools"),
    ("findmnt", "util-linux"),
    ("apt-get", "apt"),
    ("dpkg-deb", "dpkg"),
    ("depmod", "kmod"),
    ("modprobe", "kmod"),
];

/// Whether a privileged test runs; with `METAL_PRIVILEGED_TESTS=1` missing tools fail it.
fn privileged(test: &str) -> bool {
    metal_sim::privileged(test, TOOLS)
}

/// A tiny HTTP/1.0 server on 127.0.0.1:0 serving `files`; returns the port.
fn http_server(files: BTreeMap<String, Vec<u8>>) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let files = Arc::new(files);
    std::thread::spawn(move || {
        for conn in listener.incoming().flatten() {
            let files = files.clone();
            std::thread::spawn(move || {
                let mut reader = BufReader::new(conn.try_clone().unwrap());
                let mut request = String::new();
                if reader.read_line(&mut request).is_err() {
                    return;
                }
                loop {
                    let mut h = String::new();
                    if reader.read_line(&mut h).unwrap_or(0) == 0 || h.trim().is_empty() {
                        break;
                    }
                }
                let path = request.split_whitespace().nth(1).unwrap_or("/").to_string();
                let mut conn = conn;
                match files.get(&path) {
                    Some(body) => {
                        let head = format!(
                            "HTTP/1.0 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                            body.len()
                        );
                        let _ = conn.write_all(head.as_bytes());
                        let _ = conn.write_all(body);
                    }
                    None => {
                        let _ =
                            conn.write_all(b"HTTP/1.0 404 Not Found\r\nContent-Length: 0\r\n\r\n");
                    }
                }
            });
        }
    });
    port
}

#[test]
fn cpio_archive_extracts_with_system_cpio() {
    let test = "cpio_archive_extracts_with_system_cpio";
    if !tool_or_skip(
        test,
        find_program("cpio").is_ok(),
        "cpio",
        "apt-get install cpio",
    ) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let host = dir.path().join("host.txt");
    std::fs::write(&host, b"from the host\n").unwrap();
    let big: Vec<u8> = (0..100_003u32).map(|i| (i % 251) as u8).collect();
    let archive = Initramfs::empty()
        .dir("/empty/dir", 0o700)
        .file("/etc/hello", 0o644, "hello\n")
        .file("/bin/tool", 0o755, big.clone())
        .host_file("/usr/share/h.txt", 0o600, &host)
        .symlink("/bin/link", "tool")
        .build(&dir.path().join("a.cpio.gz"))
        .unwrap();
    assert!(archive.size > 0 && archive.uncompressed > 100_000);

    let mut raw = Vec::new();
    flate2::read::GzDecoder::new(std::fs::File::open(&archive.path).unwrap())
        .read_to_end(&mut raw)
        .unwrap();
    let out = dir.path().join("out");
    std::fs::create_dir(&out).unwrap();
    let mut cpio = Command::new("cpio")
        .args(["-idm", "--quiet", "--no-absolute-filenames"])
        .current_dir(&out)
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    cpio.stdin.take().unwrap().write_all(&raw).unwrap();
    assert!(cpio.wait().unwrap().success());

    use std::os::unix::fs::PermissionsExt;
    let mode = |p: &str| std::fs::metadata(out.join(p)).unwrap().permissions().mode() & 0o7777;
    assert_eq!(
        std::fs::read_to_string(out.join("etc/hello")).unwrap(),
        "hello\n"
    );
    assert_eq!(std::fs::read(out.join("bin/tool")).unwrap(), big);
    assert_eq!(
        std::fs::read(out.join("usr/share/h.txt")).unwrap(),
        b"from the host\n"
    );
    assert_eq!(
        std::fs::read_link(out.join("bin/link")).unwrap(),
        Path::new("tool")
    );
    assert_eq!(mode("bin/tool"), 0o755);
    assert_eq!(mode("usr/share/h.txt"), 0o600);
    assert_eq!(mode("empty/dir"), 0o700);
    assert!(out.join("usr/share").is_dir(), "parents are created");

    // Device nodes are listed (not extracted: that would need mknod on the host).
    let listing = Command::new("cpio")
        .args(["-itv", "--quiet"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut gz = Vec::new();
    let nodes = Initramfs::new()
        .build(&dir.path().join("b.cpio.gz"))
        .unwrap();
    flate2::read::GzDecoder::new(std::fs::File::open(&nodes.path).unwrap())
        .read_to_end(&mut gz)
        .unwrap();
    listing.stdin.as_ref().unwrap().write_all(&gz).unwrap();
    let mut listing = listing;
    drop(listing.stdin.take());
    let text = String::from_utf8(listing.wait_with_output().unwrap().stdout).unwrap();
    assert!(
        text.lines()
            .any(|l| l.starts_with("crw-------") && l.contains("5,") && l.ends_with("dev/console")),
        "{text}"
    );
}

#[test]
fn module_dependencies_match_modprobe() {
    let test = "module_dependencies_match_modprobe";
    if !privileged(test) {
        return;
    }
    let started = Instant::now();
    let kernel = DebianKernel::get().unwrap();
    eprintln!(
        "kernel {} ready after {:?}",
        kernel.version,
        started.elapsed()
    );
    let db = kernel.module_db().unwrap();
    let root = kernel.modules_dir.ancestors().nth(3).unwrap();
    for name in DISK_MODULES {
        let ours = db.resolve(&[name]).unwrap();
        let out = Command::new("modprobe")
            .arg("-C")
            .arg("/nonexistent")
            .arg("-d")
            .arg(root)
            .args(["-S", &kernel.version, "--show-depends", name])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "modprobe {name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let theirs: Vec<String> = String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| l.strip_prefix("insmod "))
            .map(|l| l.split_whitespace().next().unwrap().to_string())
            .collect();
        let ours_abs: Vec<String> = ours
            .iter()
            .map(|p| kernel.modules_dir.join(p).display().to_string())
            .collect();
        for t in &theirs {
            assert!(
                ours_abs.contains(t),
                "{name}: modprobe loads {t}, we do not: {ours_abs:?}"
            );
        }
        // modprobe's order is a valid load order; ours must keep the module itself last.
        if let Some(last) = theirs.last() {
            assert_eq!(ours_abs.last(), Some(last), "{name}");
        }
    }
    let all = db.resolve(DISK_MODULES).unwrap();
    let pos = |s: &str| all.iter().position(|p| p.ends_with(s)).unwrap();
    assert!(pos("/md-mod.ko") < pos("/raid1.ko"));
    assert!(pos("/virtio.ko") < pos("/virtio_blk.ko"));
    assert!(pos("/jbd2.ko") < pos("/ext4.ko"));
    assert!(pos("/crc32c_generic.ko") < pos("/ext4.ko"));
}

#[test]
fn vm_partitions_raid_lvm_and_fetches_http() {
    let test = "vm_partitions_raid_lvm_and_fetches_http";
    if !privileged(test) {
        return;
    }
    let started = Instant::now();
    let payload = format!("payload-{}\n", std::process::id());
    let port = http_server(BTreeMap::from([(
        "/payload.txt".to_string(),
        payload.clone().into_bytes(),
    )]));

    let runner = ScriptRunner::standard().unwrap();
    let base = runner.base();
    eprintln!(
        "initramfs {}: {} bytes gzip ({} bytes cpio), {}; kernel+initramfs ready after {:?}",
        base.path.display(),
        base.size,
        base.uncompressed,
        if base.build_time.is_zero() {
            "reused".to_string()
        } else {
            format!("built in {:?}", base.build_time)
        },
        started.elapsed()
    );
    let disks = [
        Disk::qcow2(64 << 20).unwrap(),
        Disk::qcow2(64 << 20).unwrap(),
    ];
    let script = format!(
        r#"set -e
for d in vda vdb; do
    # Not -q: sgdisk 1.0.9 with -q silently writes nothing to a blank disk.
    sgdisk -n 1:0:+24M -t 1:fd00 -n 2:0:0 -t 2:8e00 /dev/$d >/dev/null
done
wait-dev /dev/vda1 /dev/vda2 /dev/vdb1 /dev/vdb2
mdadm --create /dev/md0 --level=1 --raid-devices=2 --metadata=1.0 --assume-clean --run /dev/vda1 /dev/vdb1
mdadm --detail /dev/md0
lvm pvcreate -q /dev/vda2 /dev/vdb2
lvm vgcreate -q vg0 /dev/vda2 /dev/vdb2
lvm lvcreate -q -y --type striped --stripes 2 -l 100%FREE -n data vg0
lvm lvs --noheadings -o lv_name,vg_name,segtype,stripes vg0
mkfs.ext4 -q -L root /dev/md0
mkfs.ext4 -q /dev/vg0/data
mkfs.vfat -n EFI /dev/vg0/data >/dev/null && echo "vfat ok" && mkfs.ext4 -q -F /dev/vg0/data
mkdir -p /mnt/root /mnt/data
mount /dev/md0 /mnt/root
mount /dev/vg0/data /mnt/data
findmnt -n -o TARGET,SOURCE,FSTYPE /mnt/root
findmnt -n -o TARGET,SOURCE,FSTYPE /mnt/data
echo persisted > /mnt/root/marker
echo "fetched: $(wget -q -O - http://10.0.2.2:{port}/payload.txt)"
umount /mnt/root /mnt/data
lvm vgchange -q -an vg0
mdadm --stop /dev/md0
echo "all done"
"#
    );
    let out = runner.run(&disks, &script).unwrap();
    eprintln!("{}", out.text());
    out.success().unwrap();
    let text = out.text();
    assert!(text.contains("Raid Level : raid1"), "{text}");
    assert!(text.contains("Active Devices : 2"), "{text}");
    assert!(
        out.lines.iter().any(|l| {
            let w: Vec<&str> = l.split_whitespace().collect();
            w == ["data", "vg0", "striped", "2"]
        }),
        "{text}"
    );
    assert!(out.contains("/mnt/root /dev/md0 ext4"), "{text}");
    assert!(
        out.contains("/mnt/data /dev/vg0/data ext4")
            || out.contains("/mnt/data /dev/mapper/vg0-data ext4"),
        "{text}"
    );
    assert!(out.contains("vfat ok"), "{text}");
    assert!(
        out.contains(&format!("fetched: {}", payload.trim())),
        "{text}"
    );
    assert!(out.contains("all done"), "{text}");
    eprintln!(
        "first VM: ready after {:?}, total {:?}",
        out.ready_after, out.total
    );

    // The disks outlive the VM: qemu-img sees data, and a second VM finds the array.
    let info = disks[0].info().unwrap();
    assert_eq!(info["virtual-size"], 64 << 20);
    assert!(info["actual-size"].as_u64().unwrap() > 1 << 20, "{info}");
    let again = runner
        .run(
            &disks,
            "set -e\nmdadm --assemble /dev/md0 /dev/vda1 /dev/vdb1\nmount /dev/md0 /mnt\ncat /mnt/marker\nlvm vgchange -ay vg0 >/dev/null\nlvm lvs --noheadings -o lv_name,segtype vg0\n",
        )
        .unwrap();
    again.success().unwrap();
    assert!(again.contains("persisted"), "{}", again.text());
    assert!(
        again
            .lines
            .iter()
            .any(|l| l.split_whitespace().eq(["data", "striped"])),
        "{}",
        again.text()
    );
    eprintln!(
        "second VM: ready after {:?}, total {:?}; whole test {:?}",
        again.ready_after,
        again.total,
        started.elapsed()
    );
}

#[test]
fn vm_failure_reports_console_tail() {
    let test = "vm_failure_reports_console_tail";
    if !privileged(test) {
        return;
    }
    let kernel = DebianKernel::get().unwrap();
    // No initrd: the kernel panics (no root) and qemu exits; the error says so.
    let mut vm = Vm::builder()
        .name("panic")
        .memory_mib(256)
        .kernel(&kernel.vmlinuz, None, "console=ttyS0 panic=-1")
        .start()
        .unwrap();
    let err = vm
        .wait_for("never printed", Duration::from_secs(300))
        .unwrap_err()
        .to_string();
    assert!(err.contains("console closed"), "{err}");
    assert!(err.contains("qemu exited: exit status: 0"), "{err}");
    assert!(err.contains("Kernel panic"), "{err}");
}

#[test]
fn vm_firmware_pxe_boot_over_slirp() {
    let test = "vm_firmware_pxe_boot_over_slirp";
    if !privileged(test) {
        return;
    }
    let kernel = DebianKernel::get().unwrap();
    let runner = ScriptRunner::standard().unwrap();
    let initrd = runner
        .initrd_with(
            &Initramfs::empty().command("echo pxe-booted $(cat /sys/class/dmi/id/product_uuid)"),
        )
        .unwrap();
    for (fw, name) in [(Firmware::SeaBios, "bios"), (Firmware::Ovmf, "uefi")] {
        let started = Instant::now();
        let script = "#!ipxe\nkernel /vmlinuz initrd=initrd.gz console=ttyS0 panic=-1 loglevel=4\ninitrd --name initrd.gz /initrd.gz\nboot\n";
        let port = http_server(BTreeMap::from([
            ("/boot.ipxe".to_string(), script.as_bytes().to_vec()),
            (
                "/vmlinuz".to_string(),
                std::fs::read(&kernel.vmlinuz).unwrap(),
            ),
            (
                "/initrd.gz".to_string(),
                std::fs::read(&initrd.path).unwrap(),
            ),
        ]));
        let uuid = "7e5a1f2c-0000-4000-8000-00000000000a";
        let mut vm = Vm::builder()
            .name(name)
            .firmware(fw, BootOrder::NetworkFirst)
            .nic(
                Nic::user("52:54:00:00:00:0a")
                    .user_option(&format!("bootfile=http://10.0.2.2:{port}/boot.ipxe")),
            )
            .uuid(uuid)
            .start()
            .unwrap();
        let line = vm.wait_for("pxe-booted", Duration::from_secs(400)).unwrap();
        assert!(line.text.contains(uuid), "{line}");
        vm.wait_exit(Duration::from_secs(60)).unwrap();
        eprintln!(
            "{name}: PXE to command at {:?}, total {:?}",
            line.at,
            started.elapsed()
        );
    }
}

/// A network namespace with a tap device, deleted on drop.
struct NetnsTap {
    ns: String,
}

impl NetnsTap {
    fn new(ns: &str, tap: &str, host_cidr: &str) -> Self {
        let ip = |args: &[&str]| {
            let out = Command::new("ip").args(args).output().unwrap();
            assert!(
                out.status.success(),
                "ip {args:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        };
        let _ = Command::new("ip").args(["netns", "del", ns]).output();
        ip(&["netns", "add", ns]);
        let me = Self { ns: ns.to_string() };
        ip(&["-n", ns, "link", "set", "lo", "up"]);
        ip(&["-n", ns, "tuntap", "add", "dev", tap, "mode", "tap"]);
        ip(&["-n", ns, "addr", "add", host_cidr, "dev", tap]);
        ip(&["-n", ns, "link", "set", tap, "up"]);
        me
    }
}

impl Drop for NetnsTap {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.ns]).output();
    }
}

#[test]
fn vm_tap_nic_inside_netns() {
    let test = "vm_tap_nic_inside_netns";
    if !privileged(test)
        || !tool_or_skip(
            test,
            find_program("ip").is_ok(),
            "ip",
            "apt-get install iproute2",
        )
    {
        return;
    }
    let ns = format!("metal-vm-{}", std::process::id());
    let _net = NetnsTap::new(&ns, "tap0", "10.213.0.1/24");
    let runner = ScriptRunner::standard().unwrap();
    let vm = Vm::builder()
        .name("tap")
        .netns(&ns)
        .nic(Nic::tap("tap0", "52:54:00:00:00:21").romfile(""));
    let out = runner
        .run_with(
            vm,
            &Initramfs::empty().dhcp(false),
            "set -e\ncat /sys/class/net/eth0/address\nip addr add 10.213.0.2/24 dev eth0\nping -c 1 -W 20 10.213.0.1 >/dev/null && echo reached host\n",
        )
        .unwrap();
    out.success().unwrap();
    assert!(out.contains("52:54:00:00:00:21"), "{}", out.text());
    assert!(out.contains("reached host"), "{}", out.text());
}

#[test]
fn binaries_bring_their_libraries_and_init_can_be_a_program() {
    let test = "binaries_bring_their_libraries_and_init_can_be_a_program";
    let have = find_program("ldd").is_ok() && find_program("mkfs.vfat").is_ok();
    if !tool_or_skip(
        test,
        have,
        "ldd and mkfs.vfat",
        "apt-get install libc-bin dosfstools",
    ) {
        return;
    }
    let fs = Initramfs::new()
        .standard_init()
        .unwrap()
        .binary("mkfs.vfat")
        .unwrap()
        .init_binary("/bin/true")
        .unwrap();
    let paths: Vec<&str> = fs.paths().collect();
    assert!(paths.contains(&"/usr/sbin/mkfs.vfat"), "{paths:?}");
    assert!(paths.contains(&"/lib64/ld-linux-x86-64.so.2"), "{paths:?}");
    assert!(paths.iter().any(|p| p.ends_with("/libc.so.6")), "{paths:?}");
    assert!(
        paths.contains(&"/dev/console") && paths.contains(&"/init"),
        "{paths:?}"
    );
    // /init is now /bin/true's content, not the script.
    let dir = tempfile::tempdir().unwrap();
    let built = fs.build(&dir.path().join("i.cpio.gz")).unwrap();
    let mut raw = Vec::new();
    flate2::read::GzDecoder::new(std::fs::File::open(&built.path).unwrap())
        .read_to_end(&mut raw)
        .unwrap();
    let at = raw.windows(6).position(|w| w == b"init\0\0").unwrap();
    assert_eq!(&raw[at + 6..at + 10], b"\x7fELF");
}

#[test]
fn vm_qmp_status_and_quit() {
    let test = "vm_qmp_status_and_quit";
    if !privileged(test) {
        return;
    }
    let runner = ScriptRunner::standard().unwrap();
    let initrd = runner
        .initrd_with(&Initramfs::empty().dhcp(false).command("sleep 600"))
        .unwrap();
    let mut vm = Vm::builder()
        .name("qmp")
        .kernel(
            &runner.kernel().vmlinuz,
            Some(&initrd.path),
            metal_sim::vm::script::DEFAULT_APPEND,
        )
        .start()
        .unwrap();
    vm.wait_for("VM-CMD-START", Duration::from_secs(300))
        .unwrap();
    let status = vm.qmp("query-status", None).unwrap();
    assert_eq!(status["status"], "running", "{status}");
    vm.qmp("quit", None).unwrap();
    assert!(vm.wait_exit(Duration::from_secs(60)).unwrap().success());
}
