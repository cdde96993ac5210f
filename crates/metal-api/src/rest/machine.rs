//! `/v1/machine`: machines, their BMC data and commands, reinstall and the console password.
//! The routes and their handlers.

use axum::extract::{Path, State};
use axum::http::Extensions;
use axum::response::Response;
use axum::routing::{delete, get, post};
use axum::Json;
use metal_domain::firmware::MachineUpdateFirmwareRequest;
use metal_domain::machine::*;

use super::extract::{caller, JsonBody};
use super::table::{Op, RouteTable};
use super::{ADMIN, EDIT, VIEW};
use crate::app;
use crate::error::ApiResult;
use crate::state::App;

/// The machine routes: search, BMC data, update, allocation, state, free and deletion.
pub(super) fn routes(t: &mut RouteTable) {
    t.add(
        Op::get("/v1/machine", "listMachines", VIEW)
            .summary("get all machines")
            .returns_list::<MachineResponse>(200),
        get(machine_list),
    );
    t.add(
        Op::get("/v1/machine/{id}", "findMachine", VIEW)
            .summary("get machine by id")
            .returns::<MachineResponse>(200),
        get(machine_get),
    );
    t.add(
        Op::post("/v1/machine/find", "findMachines", VIEW)
            .summary("find machines by every field of the search query")
            .body::<MachineFindRequest>()
            .returns_list::<MachineResponse>(200),
        post(machine_find),
    );
    t.add(
        Op::get("/v1/machine/{id}/ipmi", "findIPMIMachine", VIEW)
            .summary("get machine including the ipmi connection data")
            .returns::<MachineIpmiResponse>(200),
        get(machine_ipmi_get),
    );
    t.add(
        Op::post("/v1/machine/ipmi", "ipmiReport", EDIT)
            .summary("reports IPMI ip addresses leased by a management server for machines")
            .body::<MachineIpmiReports>()
            .returns::<MachineIpmiReportResponse>(200),
        post(machine_ipmi_report),
    );
    t.add(
        Op::post("/v1/machine/ipmi/find", "findIPMIMachines", VIEW)
            .summary("find machines including the ipmi connection data")
            .body::<MachineFindRequest>()
            .returns_list::<MachineIpmiResponse>(200),
        post(machine_ipmi_find),
    );
    t.add(
        Op::post("/v1/machine", "updateMachine", ADMIN)
            .summary("update description, tags and ssh keys of an allocated machine")
            .body::<MachineUpdateRequest>()
            .returns::<MachineResponse>(200)
            .error(409),
        post(machine_update),
    );
    t.add(
        Op::post("/v1/machine/allocate", "allocateMachine", EDIT)
            .summary("allocate a waiting machine to a project, with networks, ips and an asn, in one transaction")
            .body::<MachineAllocateRequest>().returns::<MachineResponse>(200),
        post(machine_allocate),
    );
    t.add(
        Op::post("/v1/machine/{id}/state", "setMachineState", EDIT)
            .summary("set the state: \"\", RESERVED or LOCKED")
            .body::<MachineStateRequest>()
            .returns::<MachineResponse>(200),
        post(machine_state),
    );
    t.add(
        Op::delete("/v1/machine/{id}/free", "freeMachine", EDIT)
            .summary("free a machine: release its ips and asn and clear the allocation")
            .returns::<MachineResponse>(200),
        delete(machine_free),
    );
    t.add(
        Op::delete("/v1/machine/{id}", "deleteMachine", ADMIN)
            .summary("remove an unallocated dead machine from the database")
            .returns::<MachineResponse>(200),
        delete(machine_delete),
    );
}

/// Power, boot device, identify LED, reinstall and the console password.
pub(super) fn action_routes(t: &mut RouteTable) {
    // power, boot device and identify LED: queued for the partition's metal-bmc (§4.15)
    for (path, id, summary, command) in [
        (
            "/v1/machine/{id}/power/on",
            "machineOn",
            "sends a power-on to the machine",
            BmcCommand::PowerOn,
        ),
        (
            "/v1/machine/{id}/power/off",
            "machineOff",
            "sends a power-off to the machine",
            BmcCommand::PowerOff,
        ),
        (
            "/v1/machine/{id}/power/reset",
            "machineReset",
            "sends a reset to the machine",
            BmcCommand::PowerReset,
        ),
        (
            "/v1/machine/{id}/power/cycle",
            "machineCycle",
            "sends a power cycle to the machine",
            BmcCommand::PowerCycle,
        ),
        (
            "/v1/machine/{id}/power/bios",
            "machineBios",
            "boots machine into BIOS",
            BmcCommand::BootBios,
        ),
        (
            "/v1/machine/{id}/power/disk",
            "machineDisk",
            "sets the machine's boot device to disk",
            BmcCommand::BootDisk,
        ),
        (
            "/v1/machine/{id}/power/pxe",
            "machinePxe",
            "sets the machine's boot device to PXE",
            BmcCommand::BootPxe,
        ),
    ] {
        t.add(
            Op::post(path, id, EDIT)
                .summary(summary)
                .returns::<MachineResponse>(200)
                .error(422),
            post(move |st, path, ext| machine_power(st, path, ext, command, None)),
        );
    }
    for (path, id, summary, command) in [
        (
            "/v1/machine/{id}/power/chassis-identify-led-on",
            "chassisIdentifyLEDOn",
            "sends a power-on to the chassis identify LED",
            BmcCommand::LedOn,
        ),
        (
            "/v1/machine/{id}/power/chassis-identify-led-off",
            "chassisIdentifyLEDOff",
            "sends a power-off to the chassis identify LED",
            BmcCommand::LedOff,
        ),
    ] {
        t.add(
            Op::post(path, id, EDIT)
                .summary(summary)
                .query("description", "string", "reason why the LED is switched")
                .returns::<MachineResponse>(200)
                .error(422),
            post(move |st, path, ext, q| machine_power(st, path, ext, command, Some(q))),
        );
    }
    t.add(
        Op::post("/v1/machine/{id}/reinstall", "reinstallMachine", EDIT)
            .summary("reinstall an allocated machine with another image, keeping disks not wiped on reinstall")
            .body::<MachineReinstallRequest>()
            .returns::<MachineResponse>(200)
            .error(400),
        post(machine_reinstall),
    );
    t.add(
        Op::post("/v1/machine/update-firmware/{id}", "updateFirmware", ADMIN)
            .summary("sends a firmware command to the machine")
            .body::<MachineUpdateFirmwareRequest>()
            .returns::<MachineResponse>(200)
            .error(400)
            .error(422),
        post(machine_update_firmware),
    );
    t.add(
        Op::get("/v1/machine/consolepassword", "getMachineConsolePassword", EDIT)
            .summary("the console password of an allocated machine (a GET with a JSON body, as in the reference)")
            .body::<MachineConsolePasswordRequest>()
            .returns::<MachineConsolePasswordResponse>(200),
        get(console_password),
    );
}

pub async fn machine_list(State(a): State<App>) -> ApiResult<Response> {
    app::machine_list::respond(&a, MachineFindRequest::default(), None).await
}
pub async fn machine_get(
    State(a): State<App>,
    Path(id): Path<String>,
) -> ApiResult<Json<MachineResponse>> {
    Ok(Json(app::machine::get(&a, &id, None).await?))
}
pub async fn machine_find(
    State(a): State<App>,
    JsonBody(q): JsonBody<MachineFindRequest>,
) -> ApiResult<Response> {
    app::machine_list::respond(&a, q, None).await
}
pub async fn machine_ipmi_get(
    State(a): State<App>,
    Path(id): Path<String>,
) -> ApiResult<Json<MachineIpmiResponse>> {
    Ok(Json(app::machine::get_ipmi(&a, &id).await?))
}
pub async fn machine_ipmi_find(
    State(a): State<App>,
    JsonBody(q): JsonBody<MachineFindRequest>,
) -> ApiResult<Json<Vec<MachineIpmiResponse>>> {
    Ok(Json(app::machine::find_ipmi(&a, &q).await?))
}
pub async fn machine_ipmi_report(
    State(a): State<App>,
    JsonBody(req): JsonBody<MachineIpmiReports>,
) -> ApiResult<Json<MachineIpmiReportResponse>> {
    Ok(Json(app::ipmi::report(&a, &req).await?))
}
pub async fn machine_update(
    State(a): State<App>,
    JsonBody(r): JsonBody<MachineUpdateRequest>,
) -> ApiResult<Json<MachineResponse>> {
    Ok(Json(app::machine::update(&a, r).await?))
}
pub async fn machine_allocate(
    State(a): State<App>,
    ext: Extensions,
    JsonBody(r): JsonBody<MachineAllocateRequest>,
) -> ApiResult<Json<MachineResponse>> {
    let m = app::allocate::allocate(&a, r, Role::Machine, &caller(&ext)).await?;
    Ok(Json(app::machine_view::view(&a, m).await?))
}
pub async fn machine_free(
    State(a): State<App>,
    Path(id): Path<String>,
) -> ApiResult<Json<MachineResponse>> {
    let m = app::allocate::free(&a, &id).await?;
    Ok(Json(app::machine_view::view(&a, m).await?))
}
pub async fn machine_state(
    State(a): State<App>,
    Path(id): Path<String>,
    ext: Extensions,
    JsonBody(r): JsonBody<MachineStateRequest>,
) -> ApiResult<Json<MachineResponse>> {
    Ok(Json(
        app::machine::set_state(&a, &id, &r, &caller(&ext)).await?,
    ))
}
/// The `description` of the identify LED endpoints.
#[derive(Debug, Default, serde::Deserialize)]
pub struct LedQuery {
    #[serde(default)]
    pub description: Option<String>,
}

/// The power, boot and LED endpoints; the request body (metalctl sends `[]`) is ignored.
pub async fn machine_power(
    State(a): State<App>,
    Path(id): Path<String>,
    ext: Extensions,
    command: BmcCommand,
    led: Option<axum::extract::Query<LedQuery>>,
) -> ApiResult<Json<MachineResponse>> {
    let description = led.as_ref().and_then(|q| q.description.as_deref());
    Ok(Json(
        app::commands::power(&a, &id, command, description, &caller(&ext)).await?,
    ))
}

pub async fn machine_delete(
    State(a): State<App>,
    Path(id): Path<String>,
) -> ApiResult<Json<MachineResponse>> {
    Ok(Json(app::machine::delete(&a, &id).await?))
}
pub async fn machine_reinstall(
    State(a): State<App>,
    Path(id): Path<String>,
    JsonBody(r): JsonBody<MachineReinstallRequest>,
) -> ApiResult<Json<MachineResponse>> {
    let m = app::reinstall::reinstall(&a, &id, &r).await?;
    Ok(Json(app::machine_view::view(&a, m).await?))
}
pub async fn machine_update_firmware(
    State(a): State<App>,
    Path(id): Path<String>,
    ext: Extensions,
    JsonBody(r): JsonBody<MachineUpdateFirmwareRequest>,
) -> ApiResult<Json<MachineResponse>> {
    Ok(Json(
        app::commands::update_firmware(&a, &id, &r, &caller(&ext)).await?,
    ))
}
pub async fn console_password(
    State(a): State<App>,
    ext: Extensions,
    JsonBody(r): JsonBody<MachineConsolePasswordRequest>,
) -> ApiResult<Json<MachineConsolePasswordResponse>> {
    Ok(Json(
        app::console_password::console_password(&a, &r, &caller(&ext)).await?,
    ))
}
