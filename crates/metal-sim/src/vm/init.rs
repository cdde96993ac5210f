//! The standard `/init` of the test initramfs and the files it reads.
//!
//! A busybox `sh` script: mounts proc, sysfs, devtmpfs, tmpfs on /tmp and /run; `insmod`s the
//! modules listed in `/etc/metal-vm/modules` (dependencies first); brings up `lo` and `eth0`
//! (if present) and configures `eth0` with `udhcpc` unless DHCP is off; prints [`MARK_READY`], runs
//! `/etc/metal-vm/run.sh` with its output on the console between [`MARK_CMD_START`] and
//! `VM-CMD-EXIT <code>`, and powers off. A kernel panic or `poweroff` ends qemu (`-no-reboot`).

/// Printed once the VM is up (modules loaded, network configured).
pub const MARK_READY: &str = "VM-READY";
/// Printed right before the command runs.
pub const MARK_CMD_START: &str = "VM-CMD-START";
/// Printed after the command with its exit code: `VM-CMD-EXIT 0`.
pub const MARK_CMD_EXIT: &str = "VM-CMD-EXIT";

/// Where the command script lives in the initramfs.
pub const RUN_SCRIPT: &str = "/etc/metal-vm/run.sh";
/// Module paths relative to `/lib/modules/<kver>`, one per line, in load order.
pub const MODULE_LIST: &str = "/etc/metal-vm/modules";
/// Present when the init must not run DHCP.
pub const NO_DHCP: &str = "/etc/metal-vm/no-dhcp";

pub const PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

pub fn init_script() -> String {
    format!(
        r#"#!/bin/sh
export PATH={PATH}
export HOME=/root
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
mkdir -p /dev/pts /dev/shm
mount -t tmpfs tmpfs /tmp
mount -t tmpfs tmpfs /run
mkdir -p /run/lvm /run/lock /var/lock /var/run
echo "VM-INIT-START $(cut -d' ' -f1 /proc/uptime)"
if [ -f {MODULE_LIST} ]; then
    kver=$(uname -r)
    while read -r m; do
        [ -n "$m" ] || continue
        out=$(insmod "/lib/modules/$kver/$m" 2>&1) || case "$out" in
            *"File exists"*) ;;
            *) echo "VM-INIT insmod $m failed: $out" ;;
        esac
    done < {MODULE_LIST}
fi
ip link set lo up
[ -e /sys/class/net/eth0 ] && ip link set eth0 up
if [ -e /sys/class/net/eth0 ] && [ ! -e {NO_DHCP} ]; then
    udhcpc -i eth0 -n -q -t 10 -T 1 -A 1 -s /usr/share/udhcpc/default.script \
        || echo "VM-INIT dhcp on eth0 failed"
fi
echo "{MARK_READY} $(cut -d' ' -f1 /proc/uptime)"
rc=0
if [ -f {RUN_SCRIPT} ]; then
    echo "{MARK_CMD_START}"
    sh {RUN_SCRIPT}
    rc=$?
fi
echo "{MARK_CMD_EXIT} $rc"
sync
poweroff -f
echo o > /proc/sysrq-trigger
"#
    )
}

/// The `udhcpc` event script: address, default route, resolv.conf.
pub const UDHCPC_SCRIPT: &str = r#"#!/bin/sh
case "$1" in
deconfig)
    ip -4 addr flush dev "$interface"
    ip link set "$interface" up
    ;;
bound|renew)
    ip -4 addr flush dev "$interface"
    ip addr add "$ip/${mask:-24}" dev "$interface"
    for r in $router; do
        ip route replace default via "$r" dev "$interface" && break
    done
    : > /etc/resolv.conf
    [ -n "$domain" ] && echo "search $domain" >> /etc/resolv.conf
    for d in $dns; do echo "nameserver $d" >> /etc/resolv.conf; done
    echo "VM-DHCP $interface $ip/${mask:-24} router=$router"
    ;;
esac
exit 0
"#;

/// LVM without udev (there is none in the initramfs).
pub const LVM_CONF: &str = "\
devices {
    obtain_device_list_from_udev = 0
}
activation {
    udev_sync = 0
    udev_rules = 0
    monitoring = 0
}
";

/// `wait-dev PATH...`: waits up to `WAIT_DEV_TIMEOUT` seconds (default 20) until each
/// path exists (devtmpfs creates nodes asynchronously, there is no udev to settle), e.g. the
/// partitions after `sgdisk` (whose `-q` silently writes nothing to a blank disk).
pub const WAIT_DEV_SCRIPT: &str = r#"#!/bin/sh
limit=$(( ${WAIT_DEV_TIMEOUT:-20} * 10 ))
for dev in "$@"; do
    n=0
    while [ ! -e "$dev" ]; do
        n=$((n + 1))
        if [ "$n" -gt "$limit" ]; then
            echo "wait-dev: $dev did not appear" >&2
            exit 1
        fi
        usleep 100000
    done
done
"#;

/// Wraps a shell command line into the run script.
pub fn run_script(command: &str) -> String {
    format!("#!/bin/sh\n{command}\n")
}
