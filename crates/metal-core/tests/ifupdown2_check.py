"""`ifup -a --syntax-check -i FILE` of ifupdown2, run from its unpacked Debian package.

Usage: python3 ifupdown2_check.py ROOT INTERFACES

ROOT is where the package was unpacked (`apt-get download ifupdown2; dpkg -x
ifupdown2_*.deb ROOT`), so ROOT/usr/share/ifupdown2 holds the code. Nothing is installed, no
root is needed and nothing is configured: the syntax check parses the file, checks every
attribute against the addon modules (names, values, ranges) and runs the modules' own syntax
checks, then stops before any link is touched. ifupdown2 still reads the links of the
current network namespace over netlink (read only).

Differences to `ifup --syntax-check` on a switch, all to run unprivileged from the unpacked
tree: the addon attribute checks are on (`addon_syntax_check=1`, the package ships 0); lock
and state files go to a temporary directory; the root check of `ifup` is skipped; and the
mstpctl addon is loaded although /sbin/mstpctl (package mstpd, present on a leaf) is missing
here, so that `mstpctl-*` attributes are checked rather than refused.
"""

import os
import sys
import tempfile


def main():
    root, interfaces = sys.argv[1], sys.argv[2]
    share = os.path.join(root, "usr", "share")
    etc = os.path.join(root, "etc", "network", "ifupdown2")
    sys.path.insert(0, share)
    state = tempfile.mkdtemp(prefix="ifupdown2-check-")
    conf = os.path.join(state, "ifupdown2.conf")
    with open(os.path.join(etc, "ifupdown2.conf")) as f:
        lines = f.read().splitlines()
    with open(conf, "w") as f:
        for line in lines:
            if line.startswith("addon_syntax_check=") or line.startswith("state_dir="):
                continue
            f.write(line + "\n")
        f.write("addon_syntax_check=1\nstate_dir=%s\n" % state)

    import ifupdown2.ifupdown.config as config

    config.IFUPDOWN2_CONF_PATH = conf
    config.ADDONS_CONF_PATH = os.path.join(etc, "addons.conf")
    import ifupdown2.ifupdown.ifupdownmain as ifupdownmain
    import ifupdown2.ifupdown.main as main
    import ifupdown2.ifupdown.statemanager as statemanager
    from ifupdown2.lib.log import LogManager
    from ifupdown2.lib.nlcache import NetlinkListenerWithCache

    ifupdownmain.ifupdownMain.addon_modules_configfile = config.ADDONS_CONF_PATH
    main.IFUPDOWN2_CONF_PATH = conf
    main.lockfile = os.path.join(state, ".lock")
    statemanager.stateManager.state_rundir = state + "/"
    exists = os.path.exists
    os.path.exists = lambda p: True if p == "/sbin/mstpctl" else exists(p)

    ifup = main.Ifupdown2(daemon=False, uid=0)
    ifup.parse_argv(["ifup", "-a", "--syntax-check", "-i", interfaces])
    LogManager.get_instance().start_standalone_logging(ifup.args)
    status = ifup.main()
    if NetlinkListenerWithCache.is_init():
        NetlinkListenerWithCache.get_instance().cleanup()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)


main()
