//! `POST /v1/machine/ipmi` (§4.13): metal-bmc's report of the BMCs of a partition, applied in
//! one transaction. The merge rules are `metal_domain::machine::apply_report`.

use metal_domain::machine::{
    apply_report, machine_from_report, Machine, MachineIpmiReportResponse, MachineIpmiReports,
};
use metal_domain::partition::Partition;
use metal_store::docs;

use super::store_err;
use crate::error::ApiResult;
use crate::state::AppState;

/// Creates the machines the report names for the first time, merges the BMC data of the known
/// machines of the partition, and leaves machines of other partitions alone. A report for an
/// unknown partition is 404; nothing is written unless all of it is.
pub async fn report(
    app: &AppState,
    req: &MachineIpmiReports,
) -> ApiResult<MachineIpmiReportResponse> {
    req.validate()?;
    let now = metal_store::time::now();
    let mut tx = app.store.begin().await?;
    docs::must_get::<Partition>(&mut tx, &req.partitionid).await?;
    let mut answer = MachineIpmiReportResponse::default();
    for (id, r) in &req.reports {
        // lock first so a concurrent writer of this machine waits instead of conflicting
        docs::lock::<Machine>(&mut tx, id).await?;
        match docs::get::<Machine>(&mut tx, id).await? {
            Some(stored) => {
                let mut m = stored.value;
                if apply_report(&mut m, &req.partitionid, r, now) {
                    docs::update(&mut tx, &mut m, stored.revision).await?;
                    answer.updated.push(id.clone());
                }
            }
            None => {
                let mut m = machine_from_report(id, &req.partitionid, r, now);
                docs::insert(&mut tx, &mut m).await?;
                answer.created.push(id.clone());
            }
        }
    }
    tx.commit().await.map_err(store_err)?;
    Ok(answer)
}
