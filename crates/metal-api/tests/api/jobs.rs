//! The background jobs: liveliness after 5 minutes without events, resurrection of machines
//! dead for an hour, and their leases across replicas.

use chrono::Duration;
use metal_testkit::{backend_test, seed_waiting_machine};
use serde_json::json;

backend_test!(liveliness_and_resurrection, |api| {
    let c = api.admin();
    crate::network::setup(&c).await;
    c.put(
        "v1/size",
        json!({"id": "s", "constraints": [{"type": "cores", "min": 4, "max": 4}]}),
    )
    .await;
    for id in ["a", "b", "locked"] {
        seed_waiting_machine(api.store(), id, "fra", "s", "r1", 4, 100)
            .await
            .unwrap();
    }
    assert_eq!(
        c.post(
            "v1/machine/locked/state",
            json!({"value": "LOCKED", "description": "keep"})
        )
        .await
        .status,
        200
    );
    let app = &api.server.app;
    let now = metal_store::time::now();
    let counts = metal_api::runtime::jobs::liveliness(app, now)
        .await
        .unwrap();
    assert_eq!((counts.alive, counts.changed), (3, 0));
    // 10 minutes without events: dead
    let counts = metal_api::runtime::jobs::liveliness(app, now + Duration::minutes(10))
        .await
        .unwrap();
    assert_eq!((counts.dead, counts.changed), (3, 3));
    assert_eq!(c.get("v1/machine/a").await.body["liveliness"], "Dead");
    // not yet an hour: nothing is resurrected
    assert!(
        metal_api::runtime::jobs::resurrect(app, now + Duration::minutes(30))
            .await
            .unwrap()
            .is_empty()
    );
    // after an hour the unlocked ones are freed (Machine Reclaim), the locked one stays
    let mut freed = metal_api::runtime::jobs::resurrect(app, now + Duration::minutes(70))
        .await
        .unwrap();
    freed.sort();
    assert_eq!(freed, vec!["a", "b"]);
    let m = c.get("v1/machine/a").await.body;
    assert_eq!(m["events"]["log"][0]["event"], "Machine Reclaim");
    assert_eq!(m["liveliness"], "Alive", "the reclaim is an event");
    // the job's lease: one holder at a time
    assert!(
        metal_api::runtime::jobs::lease(app, "liveliness", "r1", now, Duration::minutes(1))
            .await
            .unwrap()
    );
    assert!(
        !metal_api::runtime::jobs::lease(app, "liveliness", "r2", now, Duration::minutes(1))
            .await
            .unwrap()
    );
});
