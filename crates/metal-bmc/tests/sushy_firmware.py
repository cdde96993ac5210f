"""sushy-tools' Redfish emulator with firmware versions on its fake systems driver.

The fake driver keeps no firmware versions (only libvirt's driver does, and it needs libvirt),
so the emulator's own `UpdateService.SimpleUpdate` action answers 500 with it. This keeps the
versions in the fake system's record, where the driver keeps power state and boot device: the
emulator's unchanged SimpleUpdate action and system resource then read and raise the BIOS
version as they do with libvirt. Run like `sushy-emulator`, with the same arguments.
"""
import sys

from sushy_tools.emulator import main
from sushy_tools.emulator.resources.systems import fakedriver

INITIAL = {"BiosVersion": "1.0.0"}


def get_versions(self, identity):
    return dict(self._get(identity).get("firmware_versions") or INITIAL)


def set_versions(self, identity, firmware_versions):
    system = self._get(identity)
    versions = dict(system.get("firmware_versions") or INITIAL)
    versions.update(firmware_versions)
    self._update(system, firmware_versions=versions)


fakedriver.FakeDriver.get_versions = get_versions
fakedriver.FakeDriver.set_versions = set_versions

if __name__ == "__main__":
    sys.exit(main.main())
