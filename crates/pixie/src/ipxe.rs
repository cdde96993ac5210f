//! The iPXE script served at `/_/ipxe`: kernel and initrds as signed `/_/file` URLs on pixie,
//! the "booting" marker fetch, and the kernel command line handed to metal-hammer.

use crate::dhcp::Mac;

/// What a machine boots (from metal-api's `Boot`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Spec {
    pub kernel: String,
    pub initrds: Vec<String>,
    pub cmdline: String,
}

/// The inputs of the script besides the spec.
#[derive(Debug, Clone)]
pub struct ScriptParams<'a> {
    /// `http://<host>` as the client reached pixie.
    pub base: &'a str,
    pub mac: Mac,
    /// Signed ids of the kernel and of each initrd, in order.
    pub kernel_id: &'a str,
    pub initrd_ids: &'a [String],
    /// The MetalConfig URL including the one-time token.
    pub pixie_api_url: &'a str,
    pub debug: bool,
}

/// The kernel command line without the console and initrd parameters.
pub fn cmdline(spec_cmdline: &str, pixie_api_url: &str, debug: bool) -> String {
    let mut c = spec_cmdline.trim().to_string();
    if !c.is_empty() {
        c.push(' ');
    }
    c.push_str("PIXIE_API_URL=");
    c.push_str(pixie_api_url);
    if debug {
        c.push_str(" DEBUG=1");
    }
    c
}

/// Renders the script.
pub fn render(spec: &Spec, p: &ScriptParams<'_>) -> String {
    let base = p.base;
    let mac = p.mac;
    let mut s = String::from("#!ipxe\nisset ${console} || set console ttyS1\n");
    s.push_str(&format!(
        "kernel --name kernel {base}/_/file?name={}&type=kernel&mac={mac}\n",
        p.kernel_id
    ));
    let mut initrd_args = String::new();
    for (i, id) in p.initrd_ids.iter().enumerate() {
        s.push_str(&format!(
            "initrd --name initrd{i} {base}/_/file?name={id}&type=initrd&mac={mac}\n"
        ));
        // The EFI stub of the kernel needs the initrd named on the command line (2019 iPXE).
        initrd_args.push_str(&format!(" initrd=initrd{i}"));
    }
    s.push_str(&format!(
        "imgfetch --name ready {base}/_/booting?mac={mac} ||\nimgfree ready ||\n"
    ));
    s.push_str(&format!(
        "boot kernel{initrd_args} console=${{console}},115200n8 {}\n",
        cmdline(&spec.cmdline, p.pixie_api_url, p.debug)
    ));
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_the_script() {
        let spec = Spec {
            kernel: "http://images.test/vmlinuz".into(),
            initrds: vec!["http://images.test/hammer.img".into()],
            cmdline: "console=ttyS0 ip=dhcp".into(),
        };
        let ids = vec!["I1".to_string()];
        let s = render(
            &spec,
            &ScriptParams {
                base: "http://10.0.0.1:4242",
                mac: "52:54:00:00:00:01".parse().unwrap(),
                kernel_id: "K1",
                initrd_ids: &ids,
                pixie_api_url: "http://10.0.0.1:4242/certs/TOKEN",
                debug: true,
            },
        );
        assert_eq!(
            s,
            "#!ipxe\n\
             isset ${console} || set console ttyS1\n\
             kernel --name kernel http://10.0.0.1:4242/_/file?name=K1&type=kernel&mac=52:54:00:00:00:01\n\
             initrd --name initrd0 http://10.0.0.1:4242/_/file?name=I1&type=initrd&mac=52:54:00:00:00:01\n\
             imgfetch --name ready http://10.0.0.1:4242/_/booting?mac=52:54:00:00:00:01 ||\n\
             imgfree ready ||\n\
             boot kernel initrd=initrd0 console=${console},115200n8 console=ttyS0 ip=dhcp PIXIE_API_URL=http://10.0.0.1:4242/certs/TOKEN DEBUG=1\n"
        );
    }

    #[test]
    fn cmdline_without_debug_or_partition_cmdline() {
        assert_eq!(
            cmdline("", "http://p/certs/T", false),
            "PIXIE_API_URL=http://p/certs/T"
        );
        assert_eq!(
            cmdline(" a=b ", "http://p/certs/T", false),
            "a=b PIXIE_API_URL=http://p/certs/T"
        );
    }
}
