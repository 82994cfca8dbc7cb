//! The Faurge standalone: runs the plugin on JACK, ALSA or (headless) nice-plug's dummy
//! backend. `faurge-standalone --help` lists the options; `--backend dummy` runs
//! without audio hardware until SIGINT (Ctrl-C), then exits 0.

fn main() {
    let ok = nice_plug::prelude::nice_export_standalone::<faurge_plugin::Faurge>();
    std::process::exit(if ok { 0 } else { 1 });
}
