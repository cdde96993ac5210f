//! The REST API: the route table of every v1 operation (paths, verbs and roles as in
//! metal-stack's reference), request extraction and the handlers.

pub mod catalog;
pub mod extract;
pub mod ipam;
pub mod issues;
pub mod machine;
pub mod reservation;
pub mod switch;
pub mod system;
pub mod table;

use axum::routing::{delete, get, post, put};
use metal_domain::audit::{AuditEntry, AuditFindRequest};
use metal_domain::fsl::*;
use metal_domain::image::*;
use metal_domain::ip::*;
use metal_domain::issues::{MachineIssue, MachineIssueResponse, MachineIssuesRequest};
use metal_domain::machine::{
    MachineAllocateRequest, MachineConsolePasswordRequest, MachineConsolePasswordResponse,
    MachineFindRequest, MachineIpmiReportResponse, MachineIpmiReports, MachineIpmiResponse,
    MachineReinstallRequest, MachineResponse, MachineStateRequest, MachineUpdateRequest,
    PartitionCapacity, PartitionCapacityRequest,
};
use metal_domain::misc::{EmptyBody, HealthResponse, User, VersionResponse};
use metal_domain::network::*;
use metal_domain::partition::*;
use metal_domain::project::*;
use metal_domain::sic::*;
use metal_domain::size::*;
use metal_domain::switch::{
    SwitchFindRequest, SwitchNotifyRequest, SwitchNotifyResponse, SwitchPortToggleRequest,
    SwitchRegisterRequest, SwitchResponse, SwitchUpdateRequest,
};

use self::catalog as c;
use self::ipam as n;
use self::issues as i;
use self::machine as m;
use self::reservation as r;
use self::switch as w;
use self::system as s;
use self::table::{Op, RouteTable};
use crate::auth::{Access, Role};

const PUBLIC: Access = Access::Public;
const AUTH: Access = Access::Authenticated;
const VIEW: Access = Access::Role(Role::View);
const EDIT: Access = Access::Role(Role::Edit);
const ADMIN: Access = Access::Role(Role::Admin);

/// Every v1 route of this server.
pub fn routes() -> RouteTable {
    let mut t = RouteTable::default();
    images(&mut t);
    sizes(&mut t);
    reservations(&mut t);
    partitions(&mut t);
    layouts(&mut t);
    projects(&mut t);
    networks(&mut t);
    ips(&mut t);
    machines(&mut t);
    issues(&mut t);
    switches(&mut t);
    system(&mut t);
    t
}

fn images(t: &mut RouteTable) {
    const USAGE: (&str, &str, &str) =
        ("show-usage", "boolean", "include image usage into response");
    t.add(
        Op::get("/v1/image", "listImages", AUTH)
            .summary("get all images")
            .query(USAGE.0, USAGE.1, USAGE.2)
            .returns_list::<Image>(200),
        get(c::image_list),
    );
    t.add(
        Op::get("/v1/image/{id}", "findImage", AUTH)
            .summary("get image by id")
            .returns::<Image>(200),
        get(c::image_get),
    );
    t.add(
        Op::get("/v1/image/{id}/latest", "findLatestImage", AUTH)
            .summary("the newest image matching an id such as ubuntu-20.04")
            .returns::<Image>(200),
        get(c::image_latest),
    );
    t.add(
        Op::get("/v1/image/{id}/query", "queryImages by id", AUTH)
            .summary("all images matching an id")
            .returns_list::<Image>(200),
        get(c::image_query),
    );
    t.add(
        Op::post("/v1/image/find", "findImages", VIEW)
            .summary("find images by search query")
            .query(USAGE.0, USAGE.1, USAGE.2)
            .body::<ImageFindRequest>()
            .returns_list::<Image>(200),
        post(c::image_find),
    );
    t.add(
        Op::put("/v1/image", "createImage", ADMIN)
            .summary("create an image")
            .body::<ImageCreateRequest>()
            .returns::<Image>(201)
            .error(409),
        put(c::image_create),
    );
    t.add(
        Op::post("/v1/image", "updateImage", ADMIN)
            .summary("update an image")
            .body::<ImageUpdateRequest>()
            .returns::<Image>(200)
            .error(409),
        post(c::image_update),
    );
    t.add(
        Op::delete("/v1/image/{id}", "deleteImage", ADMIN)
            .summary("delete an image unless machines use it")
            .returns::<Image>(200),
        delete(c::image_delete),
    );
}

fn sizes(t: &mut RouteTable) {
    t.add(
        Op::get("/v1/size", "listSizes", AUTH)
            .summary("get all sizes")
            .returns_list::<Size>(200),
        get(c::size_list),
    );
    t.add(
        Op::get("/v1/size/{id}", "findSize", AUTH)
            .summary("get size by id")
            .returns::<Size>(200),
        get(c::size_get),
    );
    t.add(
        Op::put("/v1/size", "createSize", ADMIN)
            .summary("create a size")
            .body::<SizeCreateRequest>()
            .returns::<Size>(201)
            .error(409),
        put(c::size_create),
    );
    t.add(
        Op::post("/v1/size", "updateSize", ADMIN)
            .summary("update a size")
            .body::<SizeUpdateRequest>()
            .returns::<Size>(200)
            .error(409),
        post(c::size_update),
    );
    t.add(
        Op::delete("/v1/size/{id}", "deleteSize", ADMIN)
            .summary("delete a size unless machines have it")
            .returns::<Size>(200),
        delete(c::size_delete),
    );
    t.add(
        Op::post("/v1/size/suggest", "suggest", AUTH)
            .summary("size constraints matching a machine's hardware exactly")
            .body::<SizeSuggestRequest>()
            .returns_list::<SizeConstraint>(200),
        post(c::size_suggest),
    );
    t.add(
        Op::get(
            "/v1/size-image-constraint",
            "listSizeImageConstraints",
            AUTH,
        )
        .summary("get all size image constraints")
        .returns_list::<SizeImageConstraint>(200),
        get(c::sic_list),
    );
    t.add(
        Op::get(
            "/v1/size-image-constraint/{id}",
            "findSizeImageConstraint",
            AUTH,
        )
        .summary("get the size image constraint of a size")
        .returns::<SizeImageConstraint>(200),
        get(c::sic_get),
    );
    t.add(
        Op::put(
            "/v1/size-image-constraint",
            "createSizeImageConstraint",
            ADMIN,
        )
        .summary("create a size image constraint")
        .body::<SizeImageConstraintCreateRequest>()
        .returns::<SizeImageConstraint>(201)
        .error(409),
        put(c::sic_create),
    );
    t.add(
        Op::post(
            "/v1/size-image-constraint",
            "updateSizeImageConstraint",
            ADMIN,
        )
        .summary("update a size image constraint")
        .body::<SizeImageConstraintUpdateRequest>()
        .returns::<SizeImageConstraint>(200)
        .error(409),
        post(c::sic_update),
    );
    t.add(
        Op::delete(
            "/v1/size-image-constraint/{id}",
            "deleteSizeImageConstraint",
            ADMIN,
        )
        .summary("delete a size image constraint")
        .returns::<SizeImageConstraint>(200),
        delete(c::sic_delete),
    );
    t.add(
        Op::post(
            "/v1/size-image-constraint/try",
            "trySizeImageConstraint",
            ADMIN,
        )
        .summary("whether a size may be installed with an image")
        .body::<SizeImageConstraintTryRequest>()
        .returns::<EmptyBody>(200),
        post(c::sic_try),
    );
}

fn reservations(t: &mut RouteTable) {
    use metal_domain::reservation::*;
    t.add(
        Op::get("/v1/size/reservations", "listSizeReservations", AUTH)
            .summary("get all size reservations")
            .returns_list::<SizeReservation>(200),
        get(r::reservation_list),
    );
    t.add(
        Op::get("/v1/size/reservations/{id}", "getSizeReservation", AUTH)
            .summary("get size reservation by id")
            .returns::<SizeReservation>(200),
        get(r::reservation_get),
    );
    t.add(
        Op::post("/v1/size/reservations/find", "findSizeReservations", AUTH)
            .summary("find size reservations by size, project, partition or id")
            .body::<SizeReservationListRequest>()
            .returns_list::<SizeReservation>(200),
        post(r::reservation_find),
    );
    t.add(
        Op::put("/v1/size/reservations", "createSizeReservation", ADMIN)
            .summary("create a size reservation; size, project and partitions must exist")
            .body::<SizeReservationCreateRequest>()
            .returns::<SizeReservation>(201)
            .error(409),
        put(r::reservation_create),
    );
    t.add(
        Op::post("/v1/size/reservations", "updateSizeReservation", ADMIN)
            .summary("update a size reservation")
            .body::<SizeReservationUpdateRequest>()
            .returns::<SizeReservation>(200)
            .error(409),
        post(r::reservation_update),
    );
    t.add(
        Op::delete("/v1/size/reservations/{id}", "deleteSizeReservation", ADMIN)
            .summary("delete a size reservation and return it")
            .returns::<SizeReservation>(200),
        delete(r::reservation_delete),
    );
    t.add(
        Op::post("/v1/size/reservations/usage", "sizeReservationsUsage", AUTH)
            .summary("per reservation and partition: the amount and what its project uses")
            .body::<SizeReservationListRequest>()
            .returns_list::<SizeReservationUsage>(200),
        post(r::reservation_usage),
    );
}

fn partitions(t: &mut RouteTable) {
    t.add(
        Op::get("/v1/partition", "listPartitions", AUTH)
            .summary("get all partitions")
            .returns_list::<Partition>(200),
        get(c::partition_list),
    );
    t.add(
        Op::get("/v1/partition/{id}", "findPartition", AUTH)
            .summary("get partition by id")
            .returns::<Partition>(200),
        get(c::partition_get),
    );
    t.add(
        Op::put("/v1/partition", "createPartition", ADMIN)
            .summary("create a partition")
            .body::<PartitionCreateRequest>()
            .returns::<Partition>(201)
            .error(409),
        put(c::partition_create),
    );
    t.add(
        Op::post("/v1/partition", "updatePartition", ADMIN)
            .summary("update a partition")
            .body::<PartitionUpdateRequest>()
            .returns::<Partition>(200)
            .error(409),
        post(c::partition_update),
    );
    t.add(
        Op::delete("/v1/partition/{id}", "deletePartition", ADMIN)
            .summary("delete a partition without machines")
            .returns::<Partition>(200),
        delete(c::partition_delete),
    );
}

fn layouts(t: &mut RouteTable) {
    t.add(
        Op::get("/v1/filesystemlayout", "listFilesystemLayouts", VIEW)
            .summary("get all filesystem layouts")
            .returns_list::<FilesystemLayout>(200),
        get(c::fsl_list),
    );
    t.add(
        Op::get("/v1/filesystemlayout/{id}", "getFilesystemLayout", VIEW)
            .summary("get filesystem layout by id")
            .returns::<FilesystemLayout>(200),
        get(c::fsl_get),
    );
    t.add(
        Op::put("/v1/filesystemlayout", "createFilesystemLayout", ADMIN)
            .summary("create a filesystem layout")
            .body::<FilesystemLayoutCreateRequest>()
            .returns::<FilesystemLayout>(201)
            .error(409),
        put(c::fsl_create),
    );
    t.add(
        Op::post("/v1/filesystemlayout", "updateFilesystemLayout", ADMIN)
            .summary("update a filesystem layout")
            .body::<FilesystemLayoutUpdateRequest>()
            .returns::<FilesystemLayout>(200)
            .error(409),
        post(c::fsl_update),
    );
    t.add(
        Op::delete("/v1/filesystemlayout/{id}", "deleteFilesystemLayout", ADMIN)
            .summary("delete a filesystem layout")
            .returns::<FilesystemLayout>(200),
        delete(c::fsl_delete),
    );
    t.add(
        Op::post("/v1/filesystemlayout/try", "tryFilesystemLayout", ADMIN)
            .summary("the filesystem layout a size and image get")
            .body::<FilesystemLayoutTryRequest>()
            .returns::<FilesystemLayout>(200),
        post(c::fsl_try),
    );
    t.add(
        Op::post(
            "/v1/filesystemlayout/matches",
            "matchFilesystemLayout",
            ADMIN,
        )
        .summary("whether a machine's disks fit a filesystem layout")
        .body::<FilesystemLayoutMatchRequest>()
        .returns::<FilesystemLayout>(200),
        post(c::fsl_matches),
    );
}

fn projects(t: &mut RouteTable) {
    t.add(
        Op::get("/v1/project", "listProjects", VIEW)
            .summary("get all projects")
            .returns_list::<Project>(200),
        get(s::project_list),
    );
    t.add(
        Op::get("/v1/project/{id}", "findProject", VIEW)
            .summary("get project by id")
            .returns::<Project>(200),
        get(s::project_get),
    );
    t.add(
        Op::post("/v1/project/find", "findProjects", VIEW)
            .summary("find projects")
            .body::<ProjectFindRequest>()
            .returns_list::<Project>(200),
        post(s::project_find),
    );
    t.add(
        Op::put("/v1/project", "createProject", ADMIN)
            .summary("create a project")
            .body::<Project>()
            .returns::<Project>(201)
            .error(409),
        put(s::project_create),
    );
    t.add(
        Op::post("/v1/project", "updateProject", ADMIN)
            .summary("update a project (meta.version must be the one read)")
            .body::<Project>()
            .returns::<Project>(200)
            .error(409),
        post(s::project_update),
    );
    t.add(
        Op::delete("/v1/project/{id}", "deleteProject", ADMIN)
            .summary("delete a project without machines")
            .returns::<Project>(200),
        delete(s::project_delete),
    );
    t.add(
        Op::get("/v1/tenant", "listTenants", VIEW)
            .summary("get all tenants")
            .returns_list::<Tenant>(200),
        get(s::tenant_list),
    );
    t.add(
        Op::get("/v1/tenant/{id}", "getTenant", VIEW)
            .summary("get tenant by id")
            .returns::<Tenant>(200),
        get(s::tenant_get),
    );
    t.add(
        Op::post("/v1/tenant/find", "findTenants", VIEW)
            .summary("find tenants")
            .body::<TenantFindRequest>()
            .returns_list::<Tenant>(200),
        post(s::tenant_find),
    );
    t.add(
        Op::put("/v1/tenant", "createTenant", ADMIN)
            .summary("create a tenant")
            .body::<Tenant>()
            .returns::<Tenant>(201)
            .error(409),
        put(s::tenant_create),
    );
    t.add(
        Op::post("/v1/tenant", "updateTenant", ADMIN)
            .summary("update a tenant (meta.version must be the one read)")
            .body::<Tenant>()
            .returns::<Tenant>(200)
            .error(409),
        post(s::tenant_update),
    );
    t.add(
        Op::delete("/v1/tenant/{id}", "deleteTenant", ADMIN)
            .summary("delete a tenant without projects")
            .returns::<Tenant>(200),
        delete(s::tenant_delete),
    );
}

fn system(t: &mut RouteTable) {
    t.add(
        Op::post("/v1/audit/find", "findAuditTraces", VIEW)
            .summary("find audit trail entries, newest first")
            .body::<AuditFindRequest>()
            .returns_list::<AuditEntry>(200),
        post(s::audit_find),
    );
    t.add(
        Op::get("/v1/health", "health", PUBLIC)
            .summary("perform a healthcheck")
            .query(
                "service",
                "string",
                "return health for this specific service only",
            )
            .returns::<HealthResponse>(200)
            .returns::<HealthResponse>(500),
        get(s::health),
    );
    t.add(
        Op::get("/v1/version", "info", PUBLIC)
            .summary("returns the current version information of this module")
            .returns::<VersionResponse>(200),
        get(s::version),
    );
    t.add(
        Op::get("/v1/user/me", "getMe", VIEW)
            .summary("the calling user")
            .returns::<User>(200),
        get(s::user_me),
    );
}

fn networks(t: &mut RouteTable) {
    t.add(
        Op::get("/v1/network", "listNetworks", VIEW)
            .summary("get all networks with their usage")
            .returns_list::<Network>(200),
        get(n::network_list),
    );
    t.add(
        Op::get("/v1/network/{id}", "findNetwork", VIEW)
            .summary("get network by id")
            .returns::<Network>(200),
        get(n::network_get),
    );
    t.add(
        Op::post("/v1/network/find", "findNetworks", VIEW)
            .summary("find networks")
            .body::<NetworkFindRequest>()
            .returns_list::<Network>(200),
        post(n::network_find),
    );
    t.add(
        Op::put("/v1/network", "createNetwork", ADMIN)
            .summary("create a network")
            .body::<NetworkCreateRequest>()
            .returns::<Network>(201)
            .error(409),
        put(n::network_create),
    );
    t.add(
        Op::post("/v1/network", "updateNetwork", ADMIN)
            .summary("update a network")
            .query(
                "force",
                "boolean",
                "accepted for compatibility; prefix removals are checked either way",
            )
            .body::<NetworkUpdateRequest>()
            .returns::<Network>(200)
            .error(409),
        post(n::network_update),
    );
    t.add(
        Op::delete("/v1/network/{id}", "deleteNetwork", ADMIN)
            .summary("delete a network without child networks and ips")
            .returns::<Network>(200),
        delete(n::network_delete),
    );
    t.add(
        Op::post("/v1/network/allocate", "allocateNetwork", EDIT)
            .summary("allocate a tenant network from the partition's private super network")
            .body::<NetworkAllocateRequest>()
            .returns::<Network>(201)
            .error(409),
        post(n::network_allocate),
    );
    t.add(
        Op::delete("/v1/network/free/{id}", "freeNetwork", EDIT)
            .summary("free a tenant network")
            .returns::<Network>(200)
            .error(409),
        delete(n::network_free),
    );
    t.add(
        Op::post("/v1/network/free/{id}", "freeNetworkDeprecated", EDIT)
            .summary("free a tenant network (deprecated: use DELETE)")
            .returns::<Network>(200)
            .error(409),
        post(n::network_free),
    );
}

fn ips(t: &mut RouteTable) {
    t.add(
        Op::get("/v1/ip", "listIPs", VIEW)
            .summary("get all ips")
            .returns_list::<Ip>(200),
        get(n::ip_list),
    );
    t.add(
        Op::get("/v1/ip/{id}", "findIP", VIEW)
            .summary("get ip by address")
            .returns::<Ip>(200),
        get(n::ip_get),
    );
    t.add(
        Op::post("/v1/ip/find", "findIPs", VIEW)
            .summary("find ips")
            .body::<IpFindRequest>()
            .returns_list::<Ip>(200),
        post(n::ip_find),
    );
    t.add(
        Op::post("/v1/ip", "updateIP", EDIT)
            .summary("update an ip")
            .body::<IpUpdateRequest>()
            .returns::<Ip>(200)
            .error(409),
        post(n::ip_update),
    );
    t.add(
        Op::post("/v1/ip/allocate", "allocateIP", EDIT)
            .summary("allocate the next free ip of a network")
            .body::<IpAllocateRequest>()
            .returns::<Ip>(201)
            .error(409),
        post(n::ip_allocate),
    );
    t.add(
        Op::post("/v1/ip/allocate/{ip}", "allocateSpecificIP", EDIT)
            .summary("allocate a given ip of a network")
            .body::<IpAllocateRequest>()
            .returns::<Ip>(201)
            .error(409),
        post(n::ip_allocate_specific),
    );
    t.add(
        Op::delete("/v1/ip/free/{id}", "freeIP", EDIT)
            .summary("free an ip no machine uses")
            .returns::<Ip>(200),
        delete(n::ip_free),
    );
}

fn issues(t: &mut RouteTable) {
    t.add(
        Op::get("/v1/machine/issues", "listIssues", VIEW)
            .summary("returns the list of issues that exist in the API")
            .returns_list::<MachineIssue>(200),
        get(i::issue_list),
    );
    t.add(
        Op::post("/v1/machine/issues/evaluate", "issues", VIEW)
            .summary("returns machine issues")
            .body::<MachineIssuesRequest>()
            .returns_list::<MachineIssueResponse>(200),
        post(i::issue_evaluate),
    );
}

fn machines(t: &mut RouteTable) {
    t.add(
        Op::get("/v1/machine", "listMachines", VIEW)
            .summary("get all machines")
            .returns_list::<MachineResponse>(200),
        get(m::machine_list),
    );
    t.add(
        Op::get("/v1/machine/{id}", "findMachine", VIEW)
            .summary("get machine by id")
            .returns::<MachineResponse>(200),
        get(m::machine_get),
    );
    t.add(
        Op::post("/v1/machine/find", "findMachines", VIEW)
            .summary("find machines by every field of the search query")
            .body::<MachineFindRequest>()
            .returns_list::<MachineResponse>(200),
        post(m::machine_find),
    );
    t.add(
        Op::get("/v1/machine/{id}/ipmi", "findIPMIMachine", VIEW)
            .summary("get machine including the ipmi connection data")
            .returns::<MachineIpmiResponse>(200),
        get(m::machine_ipmi_get),
    );
    t.add(
        Op::post("/v1/machine/ipmi", "ipmiReport", EDIT)
            .summary("reports IPMI ip addresses leased by a management server for machines")
            .body::<MachineIpmiReports>()
            .returns::<MachineIpmiReportResponse>(200),
        post(m::machine_ipmi_report),
    );
    t.add(
        Op::post("/v1/machine/ipmi/find", "findIPMIMachines", VIEW)
            .summary("find machines including the ipmi connection data")
            .body::<MachineFindRequest>()
            .returns_list::<MachineIpmiResponse>(200),
        post(m::machine_ipmi_find),
    );
    t.add(
        Op::post("/v1/machine", "updateMachine", ADMIN)
            .summary("update description, tags and ssh keys of an allocated machine")
            .body::<MachineUpdateRequest>()
            .returns::<MachineResponse>(200)
            .error(409),
        post(m::machine_update),
    );
    t.add(
        Op::post("/v1/machine/allocate", "allocateMachine", EDIT)
            .summary("allocate a waiting machine to a project, with networks, ips and an asn, in one transaction")
            .body::<MachineAllocateRequest>().returns::<MachineResponse>(200),
        post(m::machine_allocate),
    );
    t.add(
        Op::post("/v1/machine/{id}/state", "setMachineState", EDIT)
            .summary("set the state: \"\", RESERVED or LOCKED")
            .body::<MachineStateRequest>()
            .returns::<MachineResponse>(200),
        post(m::machine_state),
    );
    t.add(
        Op::delete("/v1/machine/{id}/free", "freeMachine", EDIT)
            .summary("free a machine: release its ips and asn and clear the allocation")
            .returns::<MachineResponse>(200),
        delete(m::machine_free),
    );
    t.add(
        Op::delete("/v1/machine/{id}", "deleteMachine", ADMIN)
            .summary("remove an unallocated dead machine from the database")
            .returns::<MachineResponse>(200),
        delete(m::machine_delete),
    );
    t.add(
        Op::get("/v1/firewall", "listFirewalls", VIEW)
            .summary("get all firewalls")
            .returns_list::<MachineResponse>(200),
        get(m::firewall_list),
    );
    t.add(
        Op::get("/v1/firewall/{id}", "findFirewall", VIEW)
            .summary("get firewall by id")
            .returns::<MachineResponse>(200),
        get(m::firewall_get),
    );
    t.add(
        Op::post("/v1/firewall/find", "findFirewalls", VIEW)
            .summary("find firewalls")
            .body::<MachineFindRequest>()
            .returns_list::<MachineResponse>(200),
        post(m::firewall_find),
    );
    t.add(
        Op::post("/v1/firewall/allocate", "allocateFirewall", EDIT)
            .summary(
                "allocate a firewall: a machine with the firewall image, rules and the underlay",
            )
            .body::<MachineAllocateRequest>()
            .returns::<MachineResponse>(200),
        post(m::firewall_allocate),
    );
    // power, boot device and identify LED: queued for the partition's metal-bmc (§4.15)
    for (path, id, summary, command) in [
        (
            "/v1/machine/{id}/power/on",
            "machineOn",
            "sends a power-on to the machine",
            "ON",
        ),
        (
            "/v1/machine/{id}/power/off",
            "machineOff",
            "sends a power-off to the machine",
            "OFF",
        ),
        (
            "/v1/machine/{id}/power/reset",
            "machineReset",
            "sends a reset to the machine",
            "RESET",
        ),
        (
            "/v1/machine/{id}/power/cycle",
            "machineCycle",
            "sends a power cycle to the machine",
            "CYCLE",
        ),
        (
            "/v1/machine/{id}/power/bios",
            "machineBios",
            "boots machine into BIOS",
            "BIOS",
        ),
        (
            "/v1/machine/{id}/power/disk",
            "machineDisk",
            "sets the machine's boot device to disk",
            "DISK",
        ),
        (
            "/v1/machine/{id}/power/pxe",
            "machinePxe",
            "sets the machine's boot device to PXE",
            "PXE",
        ),
    ] {
        t.add(
            Op::post(path, id, EDIT)
                .summary(summary)
                .returns::<MachineResponse>(200)
                .error(422),
            post(move |st, path, ext| m::machine_power(st, path, ext, command, None)),
        );
    }
    for (path, id, summary, command) in [
        (
            "/v1/machine/{id}/power/chassis-identify-led-on",
            "chassisIdentifyLEDOn",
            "sends a power-on to the chassis identify LED",
            "LED-ON",
        ),
        (
            "/v1/machine/{id}/power/chassis-identify-led-off",
            "chassisIdentifyLEDOff",
            "sends a power-off to the chassis identify LED",
            "LED-OFF",
        ),
    ] {
        t.add(
            Op::post(path, id, EDIT)
                .summary(summary)
                .query("description", "string", "reason why the LED is switched")
                .returns::<MachineResponse>(200)
                .error(422),
            post(move |st, path, ext, q| m::machine_power(st, path, ext, command, Some(q))),
        );
    }
    t.add(
        Op::post("/v1/machine/{id}/reinstall", "reinstallMachine", EDIT)
            .summary("reinstall an allocated machine with another image, keeping disks not wiped on reinstall")
            .body::<MachineReinstallRequest>()
            .returns::<MachineResponse>(200)
            .error(400),
        post(m::machine_reinstall),
    );
    t.add(
        Op::get("/v1/machine/consolepassword", "getMachineConsolePassword", EDIT)
            .summary("the console password of an allocated machine (a GET with a JSON body, as in the reference)")
            .body::<MachineConsolePasswordRequest>()
            .returns::<MachineConsolePasswordResponse>(200),
        get(m::console_password),
    );
    t.add(
        Op::post("/v1/partition/capacity", "partitionCapacity", AUTH)
            .summary("machines per partition and size: allocated, allocatable, faulty, other")
            .body::<PartitionCapacityRequest>()
            .returns_list::<PartitionCapacity>(200),
        post(m::partition_capacity),
    );
}

fn switches(t: &mut RouteTable) {
    t.add(
        Op::get("/v1/switch", "listSwitches", AUTH)
            .summary("get all switches")
            .returns_list::<SwitchResponse>(200),
        get(w::switch_list),
    );
    t.add(
        Op::get("/v1/switch/{id}", "findSwitch", AUTH)
            .summary("get switch by id")
            .returns::<SwitchResponse>(200),
        get(w::switch_get),
    );
    t.add(
        Op::post("/v1/switch/find", "findSwitches", VIEW)
            .summary("get all switches that match given properties")
            .body::<SwitchFindRequest>()
            .returns_list::<SwitchResponse>(200),
        post(w::switch_find),
    );
    t.add(
        Op::post("/v1/switch/register", "registerSwitch", EDIT)
            .summary("register a switch (metal-core at its start)")
            .body::<SwitchRegisterRequest>()
            .returns::<SwitchResponse>(200)
            .returns::<SwitchResponse>(201),
        post(w::switch_register),
    );
    t.add(
        Op::post("/v1/switch", "updateSwitch", ADMIN)
            .summary("update description, console command and mode of a switch")
            .body::<SwitchUpdateRequest>()
            .returns::<SwitchResponse>(200)
            .error(409),
        post(w::switch_update),
    );
    t.add(
        Op::delete("/v1/switch/{id}", "deleteSwitch", EDIT)
            .summary("delete a switch without machine connections")
            .query(
                "force",
                "boolean",
                "delete the switch even while machines are connected to it",
            )
            .returns::<SwitchResponse>(200),
        delete(w::switch_delete),
    );
    t.add(
        Op::post("/v1/switch/{id}/notify", "notifySwitch", EDIT)
            .summary("notify the metal-api about a configuration change of a switch")
            .body::<SwitchNotifyRequest>()
            .returns::<SwitchNotifyResponse>(200),
        post(w::switch_notify),
    );
    t.add(
        Op::post("/v1/switch/{id}/port", "toggleSwitchPort", ADMIN)
            .summary("set the desired state of a switch port with a machine connected")
            .body::<SwitchPortToggleRequest>()
            .returns::<SwitchResponse>(200)
            .error(400)
            .error(409),
        post(w::switch_port),
    );
}
