//! The IPAM against a brute-force model, on both backends: random sequences of child prefix
//! allocations (mixed lengths) and frees, and of IP allocations (next free and given) and
//! frees, must hand out exactly what first-fit over the free space says, never overlapping.

use std::collections::BTreeSet;

use ipnet::IpNet;
use metal_domain::ip::Ip;
use metal_domain::prefix;
use metal_store::ipam;
use rand::{Rng, SeedableRng};

mod common;

use common::Db;

/// First fit in the model: the lowest aligned block of `len` in `parent` free of `taken`.
fn model_first_fit(parent: &IpNet, taken: &BTreeSet<(u128, u128)>, len: u8) -> Option<u128> {
    let (first, last) = prefix::range(parent);
    let block = 1u128 << (32 - u32::from(len));
    let mut cand = first;
    while cand + block - 1 <= last {
        let end = cand + block - 1;
        match taken.iter().find(|(f, l)| *f <= end && *l >= cand) {
            Some((_, l)) => cand = (l + 1).div_ceil(block) * block,
            None => return Some(cand),
        }
    }
    None
}

async fn children_model(postgres: bool, steps: usize) {
    let db = Db::new(postgres).await;
    let store = db.open().await;
    let parent: IpNet = "10.0.0.0/20".parse().unwrap();
    let mut tx = store.begin().await.unwrap();
    ipam::insert_prefix(&mut tx, &parent, "super", None)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let mut taken: BTreeSet<(u128, u128)> = BTreeSet::new();
    let mut nets: Vec<IpNet> = Vec::new();
    for step in 0..steps {
        let mut tx = store.begin().await.unwrap();
        if !nets.is_empty() && rng.gen_bool(0.3) {
            let c = nets.swap_remove(rng.gen_range(0..nets.len()));
            let state = ipam::prefixes_of(&mut tx, &format!("n-{c}"))
                .await
                .unwrap()
                .remove(0);
            ipam::delete_prefix(&mut tx, &state).await.unwrap();
            taken.remove(&prefix::range(&c));
        } else {
            let len = rng.gen_range(22..=27u8);
            let k = rng.gen_range(1..=3usize);
            let locked = ipam::lock_prefix(&mut tx, &parent).await.unwrap().unwrap();
            let got = ipam::acquire_children(&mut tx, &locked, len, k)
                .await
                .unwrap();
            let mut model = taken.clone();
            for g in &got {
                let want = model_first_fit(&parent, &model, len);
                assert_eq!(
                    Some(prefix::range(g).0),
                    want,
                    "step {step}: /{len} got {g}"
                );
                model.insert(prefix::range(g));
            }
            if got.len() < k {
                assert_eq!(
                    model_first_fit(&parent, &model, len),
                    None,
                    "step {step}: gave up early"
                );
            }
            for g in got {
                ipam::insert_prefix(&mut tx, &g, &format!("n-{g}"), Some(&parent))
                    .await
                    .unwrap();
                taken.insert(prefix::range(&g));
                nets.push(g);
            }
        }
        tx.commit().await.unwrap();
    }
    let mut conn = store.reader().acquire().await.unwrap();
    let state = ipam::prefixes_of(&mut conn, "super")
        .await
        .unwrap()
        .remove(0);
    assert_eq!(state.child_count as usize, nets.len());
    assert_eq!(
        state.child_addresses,
        taken.iter().map(|(f, l)| l - f + 1).sum::<u128>()
    );
    drop(conn);
    store.close().await;
    db.drop_db().await;
}

async fn ips_model(postgres: bool, steps: usize) {
    let db = Db::new(postgres).await;
    let store = db.open().await;
    let net: IpNet = "192.168.0.0/26".parse().unwrap();
    let mut tx = store.begin().await.unwrap();
    ipam::insert_prefix(&mut tx, &net, "n", None).await.unwrap();
    tx.commit().await.unwrap();
    let (first, last) = prefix::range(&net);
    let mut used: BTreeSet<u128> = BTreeSet::new();
    let mut rng = rand::rngs::StdRng::seed_from_u64(11);
    let ip = || Ip {
        networkid: "n".into(),
        projectid: "p".into(),
        allocationuuid: uuid::Uuid::new_v4().to_string(),
        ..Default::default()
    };
    for step in 0..steps {
        let mut tx = store.begin().await.unwrap();
        let roll: f64 = rng.gen();
        if roll < 0.3 && !used.is_empty() {
            let a = *used.iter().nth(rng.gen_range(0..used.len())).unwrap();
            let addr = prefix::from_u128(prefix::AddressFamily::IPv4, a).to_string();
            assert!(ipam::release_ip(&mut tx, &addr).await.unwrap());
            used.remove(&a);
        } else if roll < 0.45 {
            let a = rng.gen_range(first..=last);
            let mut i = ip();
            i.ipaddress = prefix::from_u128(prefix::AddressFamily::IPv4, a).to_string();
            let r = ipam::claim_ip(&mut tx, &net, &mut i).await.unwrap();
            let want = if a == first || a == last {
                Err(ipam::ClaimError::Reserved)
            } else if used.contains(&a) {
                Err(ipam::ClaimError::Taken)
            } else {
                Ok(())
            };
            assert_eq!(r, want, "step {step}: claim {a}");
            if r.is_ok() {
                used.insert(a);
            } else {
                drop(tx);
                continue;
            }
        } else {
            let k = rng.gen_range(1..=4usize);
            let mut ips: Vec<Ip> = (0..k).map(|_| ip()).collect();
            let n = if k == 1 {
                usize::from(
                    ipam::allocate_next_ip(&mut tx, "n", None, &mut ips[0])
                        .await
                        .unwrap()
                        .is_some(),
                )
            } else {
                ipam::allocate_next_ips(&mut tx, "n", None, &mut ips)
                    .await
                    .unwrap()
            };
            for i in ips.iter().take(n) {
                let a = prefix::to_u128(&i.ipaddress.parse().unwrap());
                let want = (first + 1..last).find(|x| !used.contains(x));
                assert_eq!(Some(a), want, "step {step}: next free");
                used.insert(a);
            }
            if n < k {
                assert_eq!(
                    used.len() as u128,
                    last - first - 1,
                    "step {step}: gave up with room left"
                );
            }
        }
        tx.commit().await.unwrap();
    }
    let mut conn = store.reader().acquire().await.unwrap();
    let state = ipam::prefixes_of(&mut conn, "n").await.unwrap().remove(0);
    assert_eq!(state.used_ips as usize, used.len() + 2);
    drop(conn);
    store.close().await;
    db.drop_db().await;
}

#[tokio::test]
async fn children_follow_first_fit_sqlite() {
    children_model(false, 400).await
}
#[tokio::test]
async fn children_follow_first_fit_postgres() {
    children_model(true, 150).await
}
#[tokio::test]
async fn ips_follow_first_free_sqlite() {
    ips_model(false, 400).await
}
#[tokio::test]
async fn ips_follow_first_free_postgres() {
    ips_model(true, 150).await
}
