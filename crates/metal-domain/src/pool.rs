//! Integer pools: VRF ids of tenant networks and ASNs of machines and firewalls. A pool hands
//! out each value of its range at most once; the store keeps the values in use.

use crate::error::{DomainError, DomainResult};

/// A named range of integers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IntegerPool {
    pub name: &'static str,
    pub min: u64,
    pub max: u64,
}

/// VRF ids (also VNI and VXLAN id), as metal-stack's default range.
pub const VRF: IntegerPool = IntegerPool {
    name: "vrf",
    min: 1,
    max: 131_072,
};

/// ASNs are `ASN_BASE + value` of this pool (metal-stack's `ASNBase`).
pub const ASN: IntegerPool = IntegerPool {
    name: "asn",
    min: 1,
    max: 131_072,
};
pub const ASN_BASE: u64 = 4_210_000_000;

impl IntegerPool {
    /// A value must lie in the pool's range (400 otherwise).
    pub fn check(&self, value: u64) -> DomainResult<()> {
        if (self.min..=self.max).contains(&value) {
            Ok(())
        } else {
            Err(DomainError::invalid(format!(
                "{} {value} is outside the pool range {}..={}",
                self.name, self.min, self.max
            )))
        }
    }

    /// The error of a pool with no value left.
    pub fn exhausted(&self) -> DomainError {
        DomainError::unprocessable(format!(
            "no {} left: the pool {}..={} is exhausted",
            self.name, self.min, self.max
        ))
    }

    /// The error of a value someone else holds.
    pub fn taken(&self, value: u64) -> DomainError {
        DomainError::conflict(format!("{} {value} is already acquired", self.name))
    }
}

/// The ASN of an ASN pool value.
pub fn asn_of(value: u64) -> u64 {
    ASN_BASE + value
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        assert!(VRF.check(1).is_ok());
        assert!(VRF.check(131_072).is_ok());
        assert!(VRF.check(0).is_err());
        assert!(VRF.check(131_073).is_err());
        assert_eq!(asn_of(1), 4_210_000_001);
        assert!(
            asn_of(ASN.max) <= 4_294_967_294,
            "the largest ASN stays below the 32-bit maximum"
        );
        assert!(matches!(VRF.taken(5), DomainError::Conflict(_)));
        assert!(matches!(VRF.exhausted(), DomainError::Unprocessable(_)));
    }
}
