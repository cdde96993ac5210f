//! The store against both real backends: migrations, conflicts, optimistic concurrency, and
//! transactions that roll back.

use metal_domain::audit::{AuditEntry, AuditFindRequest};
use metal_domain::partition::Partition;
use metal_domain::project::{Project, Tenant};
use metal_store::docs::ProjectFilter;
use metal_store::{docs, Store, StoreError, StoreOptions};

mod common;

use common::Db;

fn partition(id: &str) -> Partition {
    Partition {
        id: id.into(),
        name: format!("name-{id}"),
        ..Default::default()
    }
}

async fn documents(postgres: bool) {
    let d = Db::new(postgres).await;
    let store = d.open().await;
    // migrations apply once; opening again is a no-op
    store.close().await;
    let store = d.open().await;
    store.ping().await.unwrap();

    let mut tx = store.begin().await.unwrap();
    let mut p = partition("p1");
    docs::insert(&mut tx, &mut p).await.unwrap();
    assert!(p.created.is_some() && p.created == p.changed);
    tx.commit().await.unwrap();
    // a taken id is a conflict (PostgreSQL aborts the transaction: it is dropped, not reused)
    let mut tx = store.begin().await.unwrap();
    let err = docs::insert(&mut tx, &mut partition("p1"))
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::Conflict(ref m) if m.contains("already exists")),
        "{err:?}"
    );
    drop(tx);

    // a transaction dropped without commit leaves nothing
    {
        let mut tx = store.begin().await.unwrap();
        docs::insert(&mut tx, &mut partition("p2")).await.unwrap();
    }
    let mut conn = store.reader().acquire().await.unwrap();
    assert!(docs::get::<Partition>(&mut conn, "p2")
        .await
        .unwrap()
        .is_none());

    // optimistic concurrency: the second writer of the same revision loses
    let read = docs::must_get::<Partition>(&mut conn, "p1").await.unwrap();
    drop(conn);
    let mut a = read.value.clone();
    a.description = "a".into();
    let mut b = read.value.clone();
    b.description = "b".into();
    let mut tx = store.begin().await.unwrap();
    assert_eq!(
        docs::update(&mut tx, &mut a, read.revision).await.unwrap(),
        read.revision + 1
    );
    let err = docs::update(&mut tx, &mut b, read.revision)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
    let mut ghost = partition("ghost");
    let err = docs::update(&mut tx, &mut ghost, 1).await.unwrap_err();
    assert!(matches!(err, StoreError::NotFound(_)), "{err:?}");
    tx.commit().await.unwrap();
    let mut conn = store.reader().acquire().await.unwrap();
    let now = docs::must_get::<Partition>(&mut conn, "p1").await.unwrap();
    assert_eq!(now.value.description, "a");
    assert_eq!(now.value.created, p.created, "created survives updates");
    assert!(now.value.changed > p.changed);

    // find by indexed columns
    let mut tx = store.begin().await.unwrap();
    let mut t = Tenant::default();
    t.meta.id = "t1".into();
    docs::insert(&mut tx, &mut t).await.unwrap();
    for (id, tenant) in [("a", "t1"), ("b", "t1"), ("c", "t2")] {
        let mut pr = Project {
            tenant_id: tenant.into(),
            name: format!("n{id}"),
            ..Default::default()
        };
        pr.meta.id = id.into();
        docs::insert(&mut tx, &mut pr).await.unwrap();
    }
    tx.commit().await.unwrap();
    let found = docs::find::<Project>(&mut conn, &[ProjectFilter::Tenant("t1")])
        .await
        .unwrap();
    assert_eq!(
        found.iter().map(|p| p.meta.id.as_str()).collect::<Vec<_>>(),
        ["a", "b"]
    );
    let found = docs::find::<Project>(
        &mut conn,
        &[ProjectFilter::Tenant("t1"), ProjectFilter::Name("nb")],
    )
    .await
    .unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(
        docs::count::<Project>(&mut conn, &[ProjectFilter::Tenant("t2")])
            .await
            .unwrap(),
        1
    );
    drop(conn);

    let mut tx = store.begin().await.unwrap();
    assert!(docs::delete::<Project>(&mut tx, "c").await.unwrap());
    assert!(!docs::delete::<Project>(&mut tx, "c").await.unwrap());
    tx.commit().await.unwrap();
    store.close().await;
    d.drop_db().await;
}

async fn audit(postgres: bool) {
    let d = Db::new(postgres).await;
    let store = d.open().await;
    let mut tx = store.begin().await.unwrap();
    for (i, code) in [201, 409, 400].into_iter().enumerate() {
        let e = AuditEntry {
            rqid: format!("rq{i}"),
            user: "u@x".into(),
            path: "/v1/size".into(),
            body: format!("{{\"n\":{i}}}"),
            status_code: code,
            ..Default::default()
        };
        metal_store::audit::insert(&mut tx, &e).await.unwrap();
    }
    tx.commit().await.unwrap();
    let mut conn = store.reader().acquire().await.unwrap();
    let all = metal_store::audit::find(&mut conn, &AuditFindRequest::default())
        .await
        .unwrap();
    assert_eq!(
        all.iter().map(|e| e.rqid.as_str()).collect::<Vec<_>>(),
        ["rq2", "rq1", "rq0"],
        "newest first"
    );
    let q = AuditFindRequest {
        status_code: Some(409),
        ..Default::default()
    };
    assert_eq!(
        metal_store::audit::find(&mut conn, &q).await.unwrap()[0].rqid,
        "rq1"
    );
    let q = AuditFindRequest {
        body: Some("\"n\":2".into()),
        path: Some("size".into()),
        ..Default::default()
    };
    assert_eq!(
        metal_store::audit::find(&mut conn, &q).await.unwrap().len(),
        1
    );
    let q = AuditFindRequest {
        body: Some("%".into()),
        ..Default::default()
    };
    assert!(
        metal_store::audit::find(&mut conn, &q).await.unwrap().len() == 3,
        "a lone % matches as empty filter"
    );
    drop(conn);
    store.close().await;
    d.drop_db().await;
}

#[tokio::test]
async fn documents_sqlite() {
    documents(false).await
}
#[tokio::test]
async fn documents_postgres() {
    documents(true).await
}
#[tokio::test]
async fn audit_sqlite() {
    audit(false).await
}
#[tokio::test]
async fn audit_postgres() {
    audit(true).await
}

#[tokio::test]
async fn bad_urls_are_refused_without_leaking_passwords() {
    let err = Store::open(&StoreOptions::new("mysql://h/db"))
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("sqlite://FILE or postgres://"),
        "{err}"
    );
    let err = Store::open(&StoreOptions::new(
        "postgres://metal:s3cret@127.0.0.1:1/metal",
    ))
    .await
    .unwrap_err();
    let text = format!("{err:#}");
    assert!(!text.contains("s3cret"), "{text}");
}

async fn pools(postgres: bool) {
    use metal_store::ipam;
    let d = Db::new(postgres).await;
    let store = d.open().await;
    // exact values: taken once, refused twice, free again after release
    let mut tx = store.begin().await.unwrap();
    assert!(ipam::acquire_int_exact(&mut tx, "vrf", 42).await.unwrap());
    assert!(!ipam::acquire_int_exact(&mut tx, "vrf", 42).await.unwrap());
    assert!(
        ipam::acquire_int_exact(&mut tx, "asn", 42).await.unwrap(),
        "pools are separate"
    );
    assert!(ipam::release_int(&mut tx, "vrf", 42).await.unwrap());
    assert!(!ipam::release_int(&mut tx, "vrf", 42).await.unwrap());
    // random start: the preferred value if free, else the next one, wrapping around
    assert_eq!(
        ipam::acquire_int(&mut tx, "small", 1, 4, 3).await.unwrap(),
        Some(3)
    );
    assert_eq!(
        ipam::acquire_int(&mut tx, "small", 1, 4, 3).await.unwrap(),
        Some(4)
    );
    assert_eq!(
        ipam::acquire_int(&mut tx, "small", 1, 4, 3).await.unwrap(),
        Some(1)
    );
    assert_eq!(
        ipam::acquire_int(&mut tx, "small", 1, 4, 4).await.unwrap(),
        Some(2)
    );
    assert_eq!(
        ipam::acquire_int(&mut tx, "small", 1, 4, 1).await.unwrap(),
        None,
        "exhausted"
    );
    assert_eq!(ipam::int_pool_used(&mut tx, "small").await.unwrap(), 4);
    tx.commit().await.unwrap();

    // many concurrent transactions on a pool of 40 values: 40 distinct winners, the rest see
    // an exhausted pool, and nothing is taken twice
    let tasks = (0..48u64).map(|i| {
        let store = store.clone();
        tokio::spawn(async move {
            let mut tx = store.begin().await.unwrap();
            let got = ipam::acquire_int(&mut tx, "race", 1, 40, 1 + i % 40)
                .await
                .unwrap();
            tx.commit().await.unwrap();
            got
        })
    });
    let got: Vec<Option<u64>> = futures_join(tasks).await;
    let values: std::collections::HashSet<u64> = got.iter().flatten().copied().collect();
    assert_eq!(got.iter().flatten().count(), 40);
    assert_eq!(values.len(), 40);
    assert_eq!(got.iter().filter(|g| g.is_none()).count(), 8);
    store.close().await;
    d.drop_db().await;
}

async fn futures_join<T: Send + 'static>(
    tasks: impl Iterator<Item = tokio::task::JoinHandle<T>>,
) -> Vec<T> {
    let mut out = Vec::new();
    for t in tasks.collect::<Vec<_>>() {
        out.push(t.await.unwrap());
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pools_sqlite() {
    pools(false).await
}
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pools_postgres() {
    pools(true).await
}

async fn leases(postgres: bool) {
    use metal_store::jobs::try_lease;
    let d = Db::new(postgres).await;
    let store = d.open().await;
    let now = chrono::Utc::now();
    let min = chrono::Duration::minutes(1);
    let mut tx = store.begin().await.unwrap();
    assert!(try_lease(&mut tx, "liveliness", "a", now, now + min)
        .await
        .unwrap());
    assert!(
        !try_lease(&mut tx, "liveliness", "b", now, now + min)
            .await
            .unwrap(),
        "a holds it"
    );
    assert!(
        try_lease(&mut tx, "liveliness", "a", now, now + min)
            .await
            .unwrap(),
        "a renews"
    );
    assert!(
        try_lease(&mut tx, "resurrection", "b", now, now + min)
            .await
            .unwrap(),
        "another job"
    );
    let later = now + min + min;
    assert!(
        try_lease(&mut tx, "liveliness", "b", later, later + min)
            .await
            .unwrap(),
        "expired: b takes it"
    );
    tx.commit().await.unwrap();
    store.close().await;
    d.drop_db().await;
}

#[tokio::test]
async fn leases_sqlite() {
    leases(false).await
}
#[tokio::test]
async fn leases_postgres() {
    leases(true).await
}
