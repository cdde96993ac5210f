//! Partition capacity (§4.14): machines per partition and size counted by what they are doing
//! (allocated, free, faulty, other, ...), with size reservations keeping free machines back for
//! their projects. Also the source of the fleet metrics.

use std::collections::{BTreeMap, HashMap};

use crate::event::{EventContainer, EventType, Liveliness};
use crate::machine::{Machine, MachineStateValue, PartitionCapacity, ServerCapacity};
use crate::partition::Partition;
use crate::reservation::SizeReservation;

/// The capacity of loaded machines per partition and size (`POST /v1/partition/capacity`); `asker` is the
/// project whose view of `free` is wanted. Also the source of the fleet metrics.
pub fn capacity_of(
    partitions: &[Partition],
    machines: &[Machine],
    events: &HashMap<String, EventContainer>,
    reservations: &[SizeReservation],
    asker: Option<&str>,
) -> Vec<PartitionCapacity> {
    let mut by: BTreeMap<(String, String), ServerCapacity> = BTreeMap::new();
    for m in machines.iter().filter(|m| !m.partitionid.is_empty()) {
        let cap = by
            .entry((m.partitionid.clone(), m.sizeid.clone()))
            .or_insert_with(|| ServerCapacity {
                size: m.sizeid.clone(),
                ..Default::default()
            });
        cap.total += 1;
        let e = events.get(&m.id);
        let newest = e.and_then(|c| c.newest()).map(|ev| ev.event);
        if newest == Some(EventType::Waiting) && m.waiting {
            cap.waiting += 1;
        }
        if newest == Some(EventType::PhonedHome) {
            cap.phoned_home += 1;
        }
        if m.allocation.is_some() {
            cap.allocated += 1;
            continue;
        }
        let faulty = match e {
            None => true,
            Some(c) => {
                c.liveliness != Liveliness::Alive || c.crash_loop || c.failed_machine_reclaim
            }
        };
        if faulty {
            cap.faulty += 1;
            cap.faultymachines.push(m.id.clone());
        } else if m.state.value == MachineStateValue::Available
            && m.waiting
            && newest == Some(EventType::Waiting)
        {
            cap.free += 1;
            cap.allocatable += 1;
        } else {
            if m.state.value != MachineStateValue::Available {
                cap.unavailable += 1;
            }
            cap.other += 1;
            cap.othermachines.push(m.id.clone());
        }
    }
    let mut held = crate::reservation::Allocations::default();
    for m in machines {
        if let Some(a) = &m.allocation {
            held.add(&a.project, &m.partitionid, &m.sizeid, 1);
        }
    }
    for ((partition, size), cap) in by.iter_mut() {
        let r = crate::reservation::reserved_capacity(reservations, partition, size, &held, asker);
        cap.reservations = r.reservations;
        cap.usedreservations = r.used;
        cap.remainingreservations = r.remaining;
        cap.free = cap.free.saturating_sub(r.kept_back);
    }
    let mut out: Vec<PartitionCapacity> = Vec::new();
    for ((partition, _), cap) in by {
        let p = partitions.iter().find(|p| p.id == partition);
        match out.iter_mut().find(|c| c.id == partition) {
            Some(c) => c.servers.push(cap),
            None => out.push(PartitionCapacity {
                id: partition.clone(),
                name: p.map(|p| p.name.clone()).unwrap_or_default(),
                description: p.map(|p| p.description.clone()).unwrap_or_default(),
                servers: vec![cap],
            }),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::ProvisioningEvent;
    use crate::machine::Allocation;

    /// A machine of size `s1` in partition `p`.
    fn machine(id: &str) -> Machine {
        Machine {
            id: id.into(),
            partitionid: "p".into(),
            sizeid: "s1".into(),
            ..Default::default()
        }
    }

    fn allocated(id: &str, project: &str) -> Machine {
        let mut m = machine(id);
        m.allocation = Some(Allocation {
            project: project.into(),
            ..Default::default()
        });
        m
    }

    fn waiting(id: &str) -> Machine {
        let mut m = machine(id);
        m.waiting = true;
        m
    }

    fn events(id: &str, newest: Option<EventType>, liveliness: Liveliness) -> EventContainer {
        let mut c = EventContainer::new(id);
        c.liveliness = liveliness;
        c.events = newest
            .map(|event| ProvisioningEvent {
                time: chrono::DateTime::UNIX_EPOCH,
                event,
                message: String::new(),
            })
            .into_iter()
            .collect();
        c
    }

    fn reservation(project: &str, amount: i32) -> SizeReservation {
        SizeReservation {
            id: format!("r-{project}"),
            sizeid: "s1".into(),
            projectid: project.into(),
            partitionids: vec!["p".into()],
            amount,
            ..Default::default()
        }
    }

    /// (total, allocated, allocatable, free, faulty, other, waiting, phoned_home, unavailable)
    fn counts(c: &ServerCapacity) -> [u64; 9] {
        [
            c.total,
            c.allocated,
            c.allocatable,
            c.free,
            c.faulty,
            c.other,
            c.waiting,
            c.phoned_home,
            c.unavailable,
        ]
    }

    #[test]
    fn machines_are_counted_by_what_they_do() {
        use EventType::{Installing, PhonedHome, Waiting};
        use Liveliness::{Alive, Dead};
        let mut locked = waiting("locked");
        locked.state.value = MachineStateValue::Locked;
        type Case = (
            &'static str,
            Machine,
            Option<(Option<EventType>, Liveliness)>,
            [u64; 9],
        );
        let cases: Vec<Case> = vec![
            (
                "waiting and alive: free",
                waiting("m"),
                Some((Some(Waiting), Alive)),
                [1, 0, 1, 1, 0, 0, 1, 0, 0],
            ),
            (
                "no event log: faulty",
                waiting("m"),
                None,
                [1, 0, 0, 0, 1, 0, 0, 0, 0],
            ),
            (
                "dead: faulty",
                waiting("m"),
                Some((Some(Waiting), Dead)),
                [1, 0, 0, 0, 1, 0, 1, 0, 0],
            ),
            (
                "allocated and phoned home",
                allocated("m", "x"),
                Some((Some(PhonedHome), Alive)),
                [1, 1, 0, 0, 0, 0, 0, 1, 0],
            ),
            (
                "locked: other and unavailable",
                locked,
                Some((Some(Waiting), Alive)),
                [1, 0, 0, 0, 0, 1, 1, 0, 1],
            ),
            (
                "installing: other",
                machine("m"),
                Some((Some(Installing), Alive)),
                [1, 0, 0, 0, 0, 1, 0, 0, 0],
            ),
        ];
        for (what, m, e, want) in cases {
            let events: HashMap<String, EventContainer> = e
                .map(|(ev, l)| (m.id.clone(), events(&m.id, ev, l)))
                .into_iter()
                .collect();
            let got = capacity_of(&[], &[m], &events, &[], None);
            assert_eq!(got.len(), 1, "{what}");
            assert_eq!(counts(&got[0].servers[0]), want, "{what}");
        }
    }

    #[test]
    fn faulty_and_other_machines_are_named() {
        let machines = [waiting("dead"), machine("busy")];
        let events: HashMap<String, EventContainer> = [
            events("dead", Some(EventType::Waiting), Liveliness::Dead),
            events("busy", Some(EventType::Installing), Liveliness::Alive),
        ]
        .into_iter()
        .map(|c| (c.id.clone(), c))
        .collect();
        let got = capacity_of(&[], &machines, &events, &[], None);
        assert_eq!(got[0].servers[0].faultymachines, ["dead"]);
        assert_eq!(got[0].servers[0].othermachines, ["busy"]);
    }

    #[test]
    fn partitions_and_sizes_group_in_order_with_the_partition_names() {
        let mut other_size = waiting("b");
        other_size.sizeid = "s0".into();
        let mut other_partition = waiting("c");
        other_partition.partitionid = "a".into();
        let mut unplaced = waiting("d");
        unplaced.partitionid.clear();
        let partitions = [Partition {
            id: "p".into(),
            name: "Frankfurt".into(),
            description: "main".into(),
            ..Default::default()
        }];
        let got = capacity_of(
            &partitions,
            &[waiting("a"), other_size, other_partition, unplaced],
            &HashMap::new(),
            &[],
            None,
        );
        let shape: Vec<(&str, &str, Vec<&str>)> = got
            .iter()
            .map(|c| {
                (
                    c.id.as_str(),
                    c.name.as_str(),
                    c.servers.iter().map(|s| s.size.as_str()).collect(),
                )
            })
            .collect();
        assert_eq!(
            shape,
            [("a", "", vec!["s1"]), ("p", "Frankfurt", vec!["s0", "s1"])]
        );
        assert_eq!(got[1].description, "main");
    }

    #[test]
    fn reservations_keep_free_machines_back_from_other_projects() {
        let machines = [
            waiting("a"),
            waiting("b"),
            waiting("c"),
            allocated("d", "r"),
        ];
        let events: HashMap<String, EventContainer> = ["a", "b", "c", "d"]
            .into_iter()
            .map(|id| {
                (
                    id.to_string(),
                    events(id, Some(EventType::Waiting), Liveliness::Alive),
                )
            })
            .collect();
        let reservations = [reservation("r", 3)];
        // (asker, free, reservations, used, remaining)
        for (asker, free) in [(None, 1), (Some("other"), 1), (Some("r"), 3)] {
            let got = capacity_of(&[], &machines, &events, &reservations, asker);
            let s = &got[0].servers[0];
            assert_eq!(s.free, free, "free as seen by {asker:?}");
            assert_eq!(s.allocatable, 3, "allocatable ignores reservations");
            assert_eq!(
                (s.reservations, s.usedreservations, s.remainingreservations),
                (3, 1, 2),
                "{asker:?}"
            );
        }
    }
}
