//! The machine's own BMC, seen from the ramdisk through ipmitool: the superuser gets the
//! password metal-api keeps for it, a `metal` user is created (or reused) with a fresh
//! password, and the BMC's data (address, MAC, firmware, FRU) goes into the registration.
//! Passwords are arguments of ipmitool only; no error message or log line names them.

use std::time::Duration;

use anyhow::Context;
use metal_proto::api::v1 as pb;

use crate::discover;

/// Sets the superuser password when metal-api has one, reads the BMC's data and configures
/// the `metal` user with `metal_password`. `None` when the BMC cannot be read; a user that
/// cannot be configured is only logged (the data is registered without credentials).
pub async fn configure(
    superuser_password: Option<&str>,
    metal_password: String,
) -> Option<pb::MachineIpmi> {
    if let Some(pw) = superuser_password {
        if let Err(e) = ipmitool(&["user", "set", "password", "2", pw]).await {
            tracing::warn!(error = %e, "BMC superuser password not set");
        }
    }
    let read = async {
        let lan = ipmitool(&["lan", "print", "1"]).await?;
        let info = ipmitool(&["bmc", "info"]).await?;
        let fru = ipmitool(&["fru"]).await.unwrap_or_default();
        discover::ipmi_from_ipmitool(&lan, &info, &fru)
    };
    let mut ipmi = match read.await {
        Ok(i) => i,
        Err(e) => {
            tracing::warn!(error = %e, "BMC not readable");
            return None;
        }
    };
    match metal_user(&metal_password).await {
        Ok(()) => {
            ipmi.user = "metal".into();
            ipmi.password = metal_password;
        }
        Err(e) => tracing::warn!(error = %e, "BMC user metal not configured"),
    }
    Some(ipmi)
}

async fn ipmitool(args: &[&str]) -> anyhow::Result<String> {
    let out = tokio::time::timeout(
        Duration::from_secs(30),
        tokio::process::Command::new("ipmitool").args(args).output(),
    )
    .await
    .context("ipmitool timed out")?
    .context("running ipmitool")?;
    // arguments may hold a password: name only the subcommand
    anyhow::ensure!(
        out.status.success(),
        "ipmitool {} {}: {}",
        args.first().unwrap_or(&""),
        args.get(1).unwrap_or(&""),
        String::from_utf8_lossy(&out.stderr).trim()
    );
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The user slot of `metal` in `ipmitool user list 1`, or the first free slot from 3 on.
pub fn metal_user_slot(user_list: &str) -> Option<u32> {
    let mut free = None;
    for l in user_list.lines().skip(1) {
        let mut w = l.split_whitespace();
        let Some(id) = w.next().and_then(|i| i.parse::<u32>().ok()) else {
            continue;
        };
        let name = w.next().unwrap_or("");
        if name == "metal" {
            return Some(id);
        }
        // a free slot has no name: the next column is already "true"/"false"
        if free.is_none() && id >= 3 && (name == "true" || name == "false") {
            free = Some(id);
        }
    }
    free
}

async fn metal_user(password: &str) -> anyhow::Result<()> {
    let list = ipmitool(&["user", "list", "1"]).await?;
    let id = metal_user_slot(&list).context("no free BMC user slot for metal")?;
    let id = id.to_string();
    ipmitool(&["user", "set", "name", &id, "metal"]).await?;
    ipmitool(&["user", "set", "password", &id, password]).await?;
    ipmitool(&[
        "channel",
        "setaccess",
        "1",
        &id,
        "link=on",
        "ipmi=on",
        "callin=on",
        "privilege=4",
    ])
    .await?;
    ipmitool(&["user", "enable", &id]).await?;
    if let Err(e) = ipmitool(&["sol", "payload", "enable", "1", &id]).await {
        tracing::warn!(error = %e, "SOL payload not enabled for metal");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_slots() {
        let list = "ID  Name\t     Callin  Link Auth\tIPMI Msg   Channel Priv Limit\n\
                    1                    true    false      false      NO ACCESS\n\
                    2   ADMIN            true    false      false      ADMINISTRATOR\n\
                    3                    true    false      false      NO ACCESS\n\
                    4   metal            true    true       true       ADMINISTRATOR\n";
        assert_eq!(metal_user_slot(list), Some(4));
        let list = list.replace("metal", "other");
        assert_eq!(metal_user_slot(&list), Some(3));
    }
}
