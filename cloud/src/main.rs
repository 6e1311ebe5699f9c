//! `fdt-cloud`: the FlyingDarkDevTunnel control plane. See [`fdt_cloud::cli`].

fn main() -> std::process::ExitCode {
    fdt_cloud::cli::main()
}
