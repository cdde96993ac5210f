//! Firewall rules of a firewall allocation (§2.1): egress and ingress rules with protocol,
//! ports and CIDRs, validated before anything is allocated.

use serde::{Deserialize, Serialize};

use crate::error::{DomainError, DomainResult};
use crate::prefix::{self, AddressFamily};

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct FirewallEgressRule {
    /// tcp (default) or udp; case-insensitive on input, lower case when answered
    pub protocol: String,
    pub ports: Vec<u32>,
    pub to: Vec<String>,
    pub comment: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct FirewallIngressRule {
    pub protocol: String,
    pub ports: Vec<u32>,
    pub to: Vec<String>,
    pub from: Vec<String>,
    pub comment: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct FirewallRules {
    pub egress: Vec<FirewallEgressRule>,
    pub ingress: Vec<FirewallIngressRule>,
}

fn protocol(field: &str, p: &str) -> DomainResult<String> {
    match p.to_ascii_lowercase().as_str() {
        "" | "tcp" => Ok("tcp".into()),
        "udp" => Ok("udp".into()),
        other => Err(DomainError::invalid(format!(
            "{field}: protocol must be tcp or udp, got {other:?}"
        ))),
    }
}

fn comment(field: &str, c: &str) -> DomainResult<()> {
    if c.chars().count() > 100 {
        return Err(DomainError::invalid(format!(
            "{field}: comment is longer than 100 characters"
        )));
    }
    if let Some(bad) = c
        .chars()
        .find(|ch| !(ch.is_ascii_alphabetic() || matches!(ch, '_' | '-' | ' ')))
    {
        return Err(DomainError::invalid(format!(
            "{field}: comment may contain only letters, '_', '-' and spaces, not {bad:?}"
        )));
    }
    Ok(())
}

fn ports(field: &str, ps: &[u32]) -> DomainResult<()> {
    if let Some(p) = ps.iter().find(|p| **p > 65535) {
        return Err(DomainError::invalid(format!(
            "{field}: port {p} is out of range 0..65535"
        )));
    }
    Ok(())
}

/// The single address family of a rule's CIDRs.
fn one_family(field: &str, cidrs: &[&String]) -> DomainResult<()> {
    let mut fam: Option<AddressFamily> = None;
    for c in cidrs {
        let net = prefix::parse_cidr(field, c)?;
        let f = AddressFamily::of_net(&net);
        match fam {
            Some(x) if x != f => {
                return Err(DomainError::invalid(format!(
                    "{field}: a rule must not mix IPv4 and IPv6 ({c})"
                )))
            }
            _ => fam = Some(f),
        }
    }
    Ok(())
}

impl FirewallRules {
    /// Checks every rule and answers them normalized (protocols in lower case).
    pub fn validated(&self) -> DomainResult<FirewallRules> {
        let mut out = self.clone();
        for (i, r) in out.egress.iter_mut().enumerate() {
            let field = format!("firewall_rules.egress[{i}]");
            r.protocol = protocol(&field, &r.protocol)?;
            comment(&field, &r.comment)?;
            ports(&field, &r.ports)?;
            one_family(&field, &r.to.iter().collect::<Vec<_>>())?;
        }
        for (i, r) in out.ingress.iter_mut().enumerate() {
            let field = format!("firewall_rules.ingress[{i}]");
            r.protocol = protocol(&field, &r.protocol)?;
            comment(&field, &r.comment)?;
            ports(&field, &r.ports)?;
            one_family(&field, &r.from.iter().chain(&r.to).collect::<Vec<_>>())?;
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn egress(protocol: &str, to: &[&str], comment: &str) -> FirewallRules {
        FirewallRules {
            egress: vec![FirewallEgressRule {
                protocol: protocol.into(),
                ports: vec![443],
                to: to.iter().map(|s| s.to_string()).collect(),
                comment: comment.into(),
            }],
            ingress: vec![],
        }
    }

    #[test]
    fn rules() {
        let ok = egress("TCP", &["0.0.0.0/0"], "allow https")
            .validated()
            .unwrap();
        assert_eq!(ok.egress[0].protocol, "tcp");
        assert_eq!(
            egress("", &["::/0"], "").validated().unwrap().egress[0].protocol,
            "tcp"
        );
        let cases = [
            (egress("icmp", &["0.0.0.0/0"], ""), "protocol"),
            (egress("udp", &["0.0.0.0/0", "::/0"], ""), "mix"),
            (egress("udp", &["10.0.0.0/33"], ""), "not a valid CIDR"),
            (egress("udp", &["0.0.0.0/0"], "no; injection"), "comment"),
            (
                egress("udp", &["0.0.0.0/0"], &"a".repeat(101)),
                "longer than 100",
            ),
        ];
        for (r, want) in cases {
            let e = r.validated().unwrap_err().to_string();
            assert!(e.contains(want), "{e}");
        }
        let mixed_ingress = FirewallRules {
            egress: vec![],
            ingress: vec![FirewallIngressRule {
                from: vec!["10.0.0.0/8".into()],
                to: vec!["2001:db8::/64".into()],
                ports: vec![22],
                ..Default::default()
            }],
        };
        assert!(
            mixed_ingress.validated().is_err(),
            "ingress checks from and to together"
        );
        let bad_port = FirewallRules {
            egress: vec![FirewallEgressRule {
                ports: vec![70000],
                ..Default::default()
            }],
            ingress: vec![],
        };
        assert!(bad_port.validated().is_err());
    }
}
