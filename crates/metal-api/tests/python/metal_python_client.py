#!/usr/bin/env python3
"""metal-python (metal-stack's generated v1 client) against our metal-api, as scripts use it.

Driven by crates/metal-api/tests/api/python_client.rs, which starts the server and seeds it;
the arguments arrive as one JSON object in argv[1]:
  url, hmac (admin key), firewall (the allocation body's ids and networks),
  ipmi_machines (ids of machines whose BMC reported no power metric or nothing at all),
  switch (a registered leaf with a machine cabled to swp1).

It also takes the leaf's port down as `metalctl switch port down`
does and reads the switch back: the port's admin state (`admin_status`, a field of
metal-python's model) and link state as metal-core renders them.

It allocates a firewall with `None` for every optional field it does not set (metal-python
sends those as JSON null; metal-api reads null as absent), and reads the IPMI data of the
machines by id and by search. metal-python's models refuse a required field that is missing
or null, so every answer that deserializes conforms. Prints OK on success; any failure is an
exception and a non-zero exit.
"""

import json
import sys

from metal_python.api import FirewallApi, MachineApi, SwitchApi
from metal_python.driver import Driver


def main():
    args = json.loads(sys.argv[1])
    driver = Driver(url=args["url"], bearer=None, hmac_key=args["hmac"])

    fw = args["firewall"]
    body = {
        "projectid": fw["projectid"],
        "partitionid": fw["partitionid"],
        "sizeid": fw["sizeid"],
        "imageid": fw["imageid"],
        "name": "fw-python",
        "networks": [{"networkid": n, "autoacquire": None} for n in fw["networks"]],
        # "no particular layout", and the rest: not given
        "filesystemlayoutid": None,
        "description": None,
        "hostname": None,
        "uuid": None,
        "ips": None,
        "ssh_pub_keys": None,
        "tags": None,
        "user_data": None,
        "dns_servers": None,
        "ntp_servers": None,
        "placement_tags": None,
        "firewall_rules": None,
    }
    firewall = FirewallApi(api_client=driver.client).allocate_firewall(body)
    assert firewall.allocation.role == "firewall", firewall.allocation.role
    assert firewall.allocation.name == "fw-python", firewall.allocation.name
    assert firewall.allocation.filesystemlayout is not None
    # the firewall is readable again through the client's models
    FirewallApi(api_client=driver.client).find_firewall(firewall.id)

    machines = MachineApi(api_client=driver.client)
    # the streamed lists, read through the client's models (nulls as the client sends them)
    listed = {m.id for m in machines.list_machines()}
    assert firewall.id in listed, listed
    for machine_id in args["ipmi_machines"]:
        assert machine_id in listed, (machine_id, listed)
    found = machines.find_machines(
        {"partition_id": fw["partitionid"], "allocation_role": "firewall", "id": None, "tags": None}
    )
    assert [m.id for m in found] == [firewall.id], [m.id for m in found]
    firewalls = FirewallApi(api_client=driver.client)
    assert [f.id for f in firewalls.list_firewalls()] == [firewall.id]
    assert [f.id for f in firewalls.find_firewalls({"allocation_project": fw["projectid"], "name": None})] == [firewall.id]
    for machine_id in args["ipmi_machines"]:
        m = machines.find_ipmi_machine(machine_id)
        assert m.id == machine_id, m.id
        pm = m.ipmi.powermetric
        assert pm.averageconsumedwatts == 0, pm
        assert pm.maxconsumedwatts == 0, pm
    found = machines.find_ipmi_machines(
        {"partition_id": fw["partitionid"], "id": None, "name": None, "rackid": None, "tags": None}
    )
    ids = {m.id for m in found}
    for machine_id in args["ipmi_machines"]:
        assert machine_id in ids, (machine_id, ids)

    switches = SwitchApi(api_client=driver.client)
    leaf = args["switch"]
    toggled = switches.toggle_switch_port(leaf, {"nic": "swp1", "status": "DOWN"})
    nic = next(n for n in toggled.nics if n.name == "swp1")
    assert (nic.actual, nic.admin_status) == ("DOWN", "DOWN"), nic
    again = switches.find_switch(leaf)
    nic = next(n for n in again.nics if n.name == "swp1")
    assert nic.admin_status == "DOWN", nic
    assert leaf in {s.id for s in switches.list_switches()}
    print("OK")


if __name__ == "__main__":
    main()
