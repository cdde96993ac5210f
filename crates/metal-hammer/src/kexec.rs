//! The jump into the installed OS: `kexec -l` with the kernel, initrd and command line copied
//! out of the image, then `kexec -e`, which only returns on failure.

use anyhow::Context;

use crate::install::BootInfo;

/// Loads the installed kernel and jumps into it.
pub async fn kexec(info: &BootInfo) -> anyhow::Result<()> {
    let mut load = tokio::process::Command::new("kexec");
    load.arg("-l").arg(&info.kernel);
    if let Some(initrd) = info.initrd.as_ref() {
        load.arg(format!("--initrd={}", initrd.display()));
    }
    load.arg(format!("--command-line={}", info.cmdline));
    let out = load.output().await.context("running kexec -l")?;
    anyhow::ensure!(
        out.status.success(),
        "kexec -l {}: {}",
        info.kernel.display(),
        String::from_utf8_lossy(&out.stderr).trim()
    );
    nix::unistd::sync();
    let out = tokio::process::Command::new("kexec")
        .arg("-e")
        .output()
        .await
        .context("running kexec -e")?;
    anyhow::bail!(
        "kexec -e returned: {}",
        String::from_utf8_lossy(&out.stderr).trim()
    )
}
