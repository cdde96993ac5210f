#!/usr/bin/env python3
"""metal-python (metal-stack's generated v1 client) against our metal-api, as scripts use it.

Driven by crates/metal-api/tests/api/python_client.rs, which starts the server and seeds it;
the arguments arrive as one JSON object in argv[1]:
  url, hmac (admin key), firewall (the allocation body's ids and networks),
  ipmi_machines (ids of machines whose BMC reported no power metric or nothing at all).

It allocates a firewall with `None` for every optional field it does not set (metal-python
sends those as JSON null; metal-api reads null as absent), and reads the IPMI data of the
machines by id and by search. metal-python's models refuse a required field that is missing
or null, so every answer that deserializes conforms. Prints OK on success; any failure is an
exception and a non-zero exit.
"""

import json
import sys

from metal_python.api import FirewallApi, MachineApi
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
    print("OK")


if __name__ == "__main__":
    main()
