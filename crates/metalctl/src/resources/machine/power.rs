//! `metalctl machine power|identify|console` (agents.md §1.5): the BMC commands, queued by
//! metal-api for the partition's metal-bmc, and the serial console over IPMI (ipmitool SOL).

use anyhow::{bail, Context, Result as AnyResult};
use clap::{Args, Subcommand};

use crate::app::App;

/// `metalctl machine power <action> <id>`
#[derive(Subcommand, Debug, Clone)]
pub enum PowerCmd {
    /// Power the machine on.
    On(IdArg),
    /// Power the machine off (recorded as a planned reboot).
    Off(IdArg),
    /// Reset the machine (recorded as a planned reboot).
    Reset(IdArg),
    /// Power-cycle the machine (recorded as a planned reboot).
    Cycle(IdArg),
    /// Boot into the BIOS setup next time (does not reboot).
    Bios(IdArg),
    /// Boot from disk from now on (does not reboot).
    Disk(IdArg),
    /// Boot from the network (PXE) from now on (does not reboot).
    Pxe(IdArg),
}

#[derive(Args, Debug, Clone)]
pub struct IdArg {
    /// id of the machine
    pub id: String,
}

impl PowerCmd {
    /// The path segment of the endpoint and the machine id.
    pub fn action(&self) -> (&'static str, &str) {
        match self {
            PowerCmd::On(a) => ("on", &a.id),
            PowerCmd::Off(a) => ("off", &a.id),
            PowerCmd::Reset(a) => ("reset", &a.id),
            PowerCmd::Cycle(a) => ("cycle", &a.id),
            PowerCmd::Bios(a) => ("bios", &a.id),
            PowerCmd::Disk(a) => ("disk", &a.id),
            PowerCmd::Pxe(a) => ("pxe", &a.id),
        }
    }
}

/// `metalctl machine identify on|off <id> [-d description]`
#[derive(Subcommand, Debug, Clone)]
pub enum IdentifyCmd {
    /// Switch the chassis identify LED on.
    On(IdentifyArgs),
    /// Switch the chassis identify LED off.
    Off(IdentifyArgs),
}

#[derive(Args, Debug, Clone)]
pub struct IdentifyArgs {
    /// id of the machine
    pub id: String,
    /// why the LED is switched (shown with the machine)
    #[arg(short = 'd', long, default_value = "Triggered by metalctl")]
    pub description: String,
}

/// `metalctl machine console <id> --ipmi`
#[derive(Args, Debug, Clone)]
pub struct ConsoleArgs {
    /// id of the machine
    pub id: String,
    /// connect to the serial console directly over IPMI (needs ipmitool)
    #[arg(long)]
    pub ipmi: bool,
    /// BMC user instead of the one metal-api knows
    #[arg(long)]
    pub ipmiuser: Option<String>,
    /// BMC password instead of the one metal-api knows
    #[arg(long)]
    pub ipmipassword: Option<String>,
}

/// The ipmitool invocation of the console: arguments (never the password) and the password
/// for `IPMITOOL_PASSWORD`.
pub fn sol_command(
    ipmi: &metal_domain::machine::MachineIpmi,
    user: Option<&str>,
    password: Option<&str>,
) -> AnyResult<(Vec<String>, String)> {
    if ipmi.address.is_empty() {
        bail!("the machine has no BMC address yet");
    }
    let (host, port) = match ipmi.address.rsplit_once(':') {
        Some((h, p)) if p.parse::<u16>().is_ok() && !h.ends_with(':') => {
            (h.trim_matches(['[', ']']).to_string(), p.to_string())
        }
        _ => (
            ipmi.address.trim_matches(['[', ']']).to_string(),
            "623".to_string(),
        ),
    };
    let interface = if ipmi.interface.is_empty() {
        "lanplus"
    } else {
        &ipmi.interface
    };
    let user = user.unwrap_or(&ipmi.user).to_string();
    let args = vec![
        "-I".into(),
        interface.to_string(),
        "-H".into(),
        host,
        "-p".into(),
        port,
        "-U".into(),
        user,
        "-E".into(),
        "sol".into(),
        "activate".into(),
    ];
    Ok((args, password.unwrap_or(&ipmi.password).to_string()))
}

pub async fn console(app: &mut App, c: ConsoleArgs) -> AnyResult<()> {
    if !c.ipmi {
        bail!(
            "the console through metal-console (ssh to port 5222) is not served by this control plane; use --ipmi to connect over the BMC"
        );
    }
    let m = app.client()?.get_ipmi_machine(&c.id).await?;
    let (args, password) = sol_command(&m.ipmi, c.ipmiuser.as_deref(), c.ipmipassword.as_deref())?;
    eprintln!("Exit with ~.");
    let status = tokio::process::Command::new("ipmitool")
        .args(&args)
        .env("IPMITOOL_PASSWORD", password)
        .status()
        .await
        .context("running ipmitool (is it installed?)")?;
    if !status.success() {
        bail!("ipmitool sol activate ended with {status}");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sol_without_the_password_on_the_command_line() {
        let ipmi = metal_domain::machine::MachineIpmi {
            address: "10.1.0.5:623".into(),
            user: "metal".into(),
            password: "s3cret".into(),
            ..Default::default()
        };
        let (args, pw) = sol_command(&ipmi, None, None).unwrap();
        assert_eq!(
            args.join(" "),
            "-I lanplus -H 10.1.0.5 -p 623 -U metal -E sol activate"
        );
        assert_eq!(pw, "s3cret");
        let (args, pw) = sol_command(&ipmi, Some("root"), Some("other")).unwrap();
        assert!(args.contains(&"root".to_string()));
        assert_eq!(pw, "other");
        let ipmi = metal_domain::machine::MachineIpmi::default();
        assert!(sol_command(&ipmi, None, None).is_err());
    }
}

#[cfg(test)]
mod parse_tests {
    use crate::cli::try_parse;

    #[test]
    fn power_identify_console_and_chassis_list_parse() {
        for line in [
            "machine power off m1",
            "machine power pxe m1",
            "machine identify on m1 -d rack-42",
            "machine console m1 --ipmi --ipmiuser root",
            "machine ipmi chassis-list --partition fra",
            "machine ipmi m1",
            "machine ipmi",
        ] {
            let args: Vec<&str> = line.split(' ').collect();
            assert!(try_parse(&args).is_ok(), "{line}");
        }
        assert!(try_parse(&["machine", "power", "explode", "m1"]).is_err());
    }
}
