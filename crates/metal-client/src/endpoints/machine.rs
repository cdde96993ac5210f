//! Machines (`/v1/machine`) and firewalls (`/v1/firewall`): listing and searching,
//! allocation, updates of allocated machines, the state (reserve, lock), free, removal from the
//! database, reinstall and the console password. Firewalls are machines allocated with the
//! role `firewall`; their endpoints answer the machine response.

use metal_domain::issues::{MachineIssue, MachineIssueResponse, MachineIssuesRequest};
use metal_domain::machine::{
    MachineAllocateRequest, MachineConsolePasswordRequest, MachineConsolePasswordResponse,
    MachineFindRequest, MachineIpmiResponse, MachineReinstallRequest, MachineResponse,
    MachineStateRequest, MachineUpdateRequest,
};

use super::id_path;
use crate::{Client, Method, Result};

const MACHINES: &str = "v1/machine";
const FIREWALLS: &str = "v1/firewall";

/// `v1/machine/{id}/<action>` with the id percent-encoded.
fn action_path(id: &str, action: &str) -> String {
    format!("{}/{action}", id_path("machine", id))
}

impl Client {
    /// `GET /v1/machine`
    pub async fn list_machines(&self) -> Result<Vec<MachineResponse>> {
        self.get(MACHINES).await
    }

    /// `GET /v1/machine/{id}`
    pub async fn get_machine(&self, id: &str) -> Result<MachineResponse> {
        self.get(&id_path("machine", id)).await
    }

    /// `POST /v1/machine/find`: the machines matching every given field.
    pub async fn find_machines(&self, req: &MachineFindRequest) -> Result<Vec<MachineResponse>> {
        self.post(&format!("{MACHINES}/find"), req).await
    }

    /// `POST /v1/machine/ipmi/find`: the machines matching every given field, with their BMC.
    pub async fn find_ipmi_machines(
        &self,
        req: &MachineFindRequest,
    ) -> Result<Vec<MachineIpmiResponse>> {
        self.post(&format!("{MACHINES}/ipmi/find"), req).await
    }

    /// `GET /v1/machine/{id}/ipmi`: one machine with its BMC.
    pub async fn get_ipmi_machine(&self, id: &str) -> Result<MachineIpmiResponse> {
        self.get(&action_path(id, "ipmi")).await
    }

    /// `GET /v1/machine/issues`: every issue type the server evaluates.
    pub async fn machine_issue_types(&self) -> Result<Vec<MachineIssue>> {
        self.get(&format!("{MACHINES}/issues")).await
    }

    /// `POST /v1/machine/issues/evaluate`: the machines of the query that have issues, with
    /// the ids of their issues.
    pub async fn evaluate_machine_issues(
        &self,
        req: &MachineIssuesRequest,
    ) -> Result<Vec<MachineIssueResponse>> {
        self.post(&format!("{MACHINES}/issues/evaluate"), req).await
    }

    /// `POST /v1/machine` (admin): description, tags and ssh keys of an allocated machine.
    pub async fn update_machine(&self, req: &MachineUpdateRequest) -> Result<MachineResponse> {
        self.post(MACHINES, req).await
    }

    /// `POST /v1/machine/allocate`: a waiting machine of the partition and size, or the one
    /// given by `uuid`.
    pub async fn allocate_machine(&self, req: &MachineAllocateRequest) -> Result<MachineResponse> {
        self.post(&format!("{MACHINES}/allocate"), req).await
    }

    /// `POST /v1/firewall/allocate`: like a machine, with the role `firewall`, the partition's
    /// underlay network and the firewall rules of the request.
    pub async fn allocate_firewall(&self, req: &MachineAllocateRequest) -> Result<MachineResponse> {
        self.post(&format!("{FIREWALLS}/allocate"), req).await
    }

    /// `POST /v1/machine/{id}/state`: `RESERVED` or `LOCKED` (both need a description), or
    /// `""` to make the machine available again.
    pub async fn set_machine_state(
        &self,
        id: &str,
        req: &MachineStateRequest,
    ) -> Result<MachineResponse> {
        self.post(&action_path(id, "state"), req).await
    }

    /// `DELETE /v1/machine/{id}/free`: releases the allocation and reboots the machine into
    /// PXE (also for unallocated machines; refused for locked ones).
    pub async fn free_machine(&self, id: &str) -> Result<MachineResponse> {
        self.delete(&action_path(id, "free")).await
    }

    /// `DELETE /v1/machine/{id}` (admin): removes an unallocated, dead machine from the
    /// database.
    pub async fn delete_machine(&self, id: &str) -> Result<MachineResponse> {
        self.delete(&id_path("machine", id)).await
    }

    /// `POST /v1/machine/{id}/reinstall`: installs another image on an allocated machine,
    /// keeping the disks its layout does not wipe on reinstall.
    pub async fn reinstall_machine(
        &self,
        id: &str,
        req: &MachineReinstallRequest,
    ) -> Result<MachineResponse> {
        self.post(&action_path(id, "reinstall"), req).await
    }

    /// `POST /v1/machine/{id}/power/{action}` with `action` one of `on`, `off`, `reset`,
    /// `cycle`, `bios`, `disk`, `pxe`: queued for the partition's metal-bmc. The body is an
    /// empty JSON array, as metalctl sends it (metal-stack answers a null body with 406).
    pub async fn machine_power(&self, id: &str, action: &str) -> Result<MachineResponse> {
        self.post(
            &action_path(id, &format!("power/{action}")),
            &Vec::<()>::new(),
        )
        .await
    }

    /// `POST /v1/machine/{id}/power/chassis-identify-led-on|off?description=…`.
    pub async fn machine_identify(
        &self,
        id: &str,
        on: bool,
        description: &str,
    ) -> Result<MachineResponse> {
        let state = if on { "on" } else { "off" };
        let path = format!(
            "{}?description={}",
            action_path(id, &format!("power/chassis-identify-led-{state}")),
            crate::client::encode_path_segment(description)
        );
        self.post(&path, &Vec::<()>::new()).await
    }

    /// `GET /v1/machine/consolepassword` with a JSON body (as metal-api defines it): the
    /// password of the machine's console user.
    pub async fn machine_console_password(
        &self,
        req: &MachineConsolePasswordRequest,
    ) -> Result<MachineConsolePasswordResponse> {
        self.request(
            Method::GET,
            &format!("{MACHINES}/consolepassword"),
            Some(req),
        )
        .await
    }

    /// `GET /v1/firewall`
    pub async fn list_firewalls(&self) -> Result<Vec<MachineResponse>> {
        self.get(FIREWALLS).await
    }

    /// `GET /v1/firewall/{id}` (404 if the machine is not a firewall)
    pub async fn get_firewall(&self, id: &str) -> Result<MachineResponse> {
        self.get(&id_path("firewall", id)).await
    }

    /// `POST /v1/firewall/find`: like the machine search, limited to firewalls.
    pub async fn find_firewalls(&self, req: &MachineFindRequest) -> Result<Vec<MachineResponse>> {
        self.post(&format!("{FIREWALLS}/find"), req).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_and_bodies() {
        assert_eq!(action_path("m 1", "state"), "v1/machine/m%201/state");
        assert_eq!(action_path("m1", "free"), "v1/machine/m1/free");
        let r = MachineReinstallRequest {
            id: "m1".into(),
            imageid: "ubuntu-22.04".into(),
            description: "new os".into(),
            ..Default::default()
        };
        assert_eq!(
            serde_json::to_value(&r).unwrap(),
            serde_json::json!({"id": "m1", "imageid": "ubuntu-22.04", "name": "", "description": "new os"})
        );
        let p: MachineConsolePasswordResponse = serde_json::from_str(
            r#"{"id": "m1", "name": "", "description": "", "console_password": "s3cret"}"#,
        )
        .unwrap();
        assert_eq!(p.console_password, "s3cret");
    }
}
