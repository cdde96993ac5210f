//! Switch-local VLAN ids of the tenant VRFs. A VRF's VXLAN (`vni<N>`) sits in the VLAN-aware
//! bridge with an access VLAN that is local to this leaf. A VNI keeps the VLAN it already has
//! in the kernel (so a reload does not move a running tenant); a new VNI gets the lowest id in
//! 1001-2000 that no bridge port uses yet and no other VRF got in this run.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::RangeInclusive;

use super::ConfigError;

/// The VLAN ids new VRFs are given.
pub const VRF_VLANS: RangeInclusive<u16> = 1001..=2000;

/// What the kernel already has: each VXLAN device's VNI with its (first) bridge VLAN, and
/// every VLAN id in use on any bridge port. Read by [`crate::kernel`], an input here so
/// that the model stays a pure function.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KernelVlans {
    pub by_vni: BTreeMap<u32, u16>,
    pub used: BTreeSet<u16>,
}

impl KernelVlans {
    /// Only a VNI to VLAN mapping (each mapped VLAN counts as used).
    pub fn from_mapping(by_vni: BTreeMap<u32, u16>) -> Self {
        let used = by_vni.values().copied().collect();
        Self { by_vni, used }
    }
}

/// The VLAN of each VNI in `vnis` (handled in ascending order). `reserved` are ids this
/// configuration uses for other things (the additional bridge VLANs): never given to a VRF.
pub fn allocate(
    vnis: &BTreeSet<u32>,
    kernel: &KernelVlans,
    reserved: impl Fn(u16) -> bool,
) -> Result<BTreeMap<u32, u16>, ConfigError> {
    let mut taken: BTreeSet<u16> = BTreeSet::new();
    let mut out = BTreeMap::new();
    // First every VNI that keeps its VLAN, so that a new VNI never takes a kept one.
    for vni in vnis {
        if let Some(&vlan) = kernel.by_vni.get(vni) {
            if taken.insert(vlan) {
                out.insert(*vni, vlan);
            }
        }
    }
    for vni in vnis {
        if out.contains_key(vni) {
            continue;
        }
        let vlan = VRF_VLANS
            .clone()
            .find(|v| !taken.contains(v) && !kernel.used.contains(v) && !reserved(*v))
            .ok_or(ConfigError::NoFreeVlan { vni: *vni })?;
        taken.insert(vlan);
        out.insert(*vni, vlan);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(v: &[u32]) -> BTreeSet<u32> {
        v.iter().copied().collect()
    }

    #[test]
    fn new_vrfs_get_the_lowest_free_ids_in_order_of_vni() {
        let got = allocate(&set(&[104009, 30, 104001]), &KernelVlans::default(), |_| {
            false
        });
        let want: BTreeMap<u32, u16> = [(30, 1001), (104001, 1002), (104009, 1003)].into();
        assert_eq!(got.unwrap(), want);
    }

    #[test]
    fn kernel_mappings_are_kept_and_used_ids_skipped() {
        let kernel = KernelVlans {
            by_vni: [(104001, 1001), (104000, 4000), (7, 1500)].into(),
            used: [1001, 1002, 1004, 4000, 1500].into(),
        };
        let got = allocate(&set(&[104001, 104002, 104003]), &kernel, |_| false).unwrap();
        let want: BTreeMap<u32, u16> = [(104001, 1001), (104002, 1003), (104003, 1005)].into();
        assert_eq!(got, want);
    }

    #[test]
    fn a_kept_id_is_not_given_twice_and_reserved_ids_are_skipped() {
        // two VNIs on the same VLAN in the kernel (a broken state): the lower VNI keeps it
        let kernel = KernelVlans::from_mapping([(5, 1001), (6, 1001)].into());
        let got = allocate(&set(&[5, 6]), &kernel, |v| v == 1002).unwrap();
        let want: BTreeMap<u32, u16> = [(5, 1001), (6, 1003)].into();
        assert_eq!(got, want);
    }

    #[test]
    fn running_out_of_ids_is_an_error_naming_the_vni() {
        let kernel = KernelVlans {
            used: VRF_VLANS.clone().filter(|v| *v != 2000).collect(),
            ..Default::default()
        };
        assert_eq!(
            allocate(&set(&[1]), &kernel, |_| false).unwrap(),
            [(1, 2000)].into()
        );
        assert_eq!(
            allocate(&set(&[1, 2]), &kernel, |_| false),
            Err(ConfigError::NoFreeVlan { vni: 2 })
        );
    }
}
