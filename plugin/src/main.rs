//! The Faurge standalone: runs the plugin on JACK, ALSA or (headless) nice-plug's dummy
//! backend, with the editor in a window. `faurge-standalone --help` lists the options;
//! without a display (`DISPLAY`/`WAYLAND_DISPLAY` unset) it runs headless, and with
//! `--backend dummy` without audio hardware, until SIGINT (Ctrl-C), then exits 0.

fn main() {
    // No display to open the editor on: run headless (audio only) instead of failing.
    if std::env::var_os("DISPLAY").is_none() && std::env::var_os("WAYLAND_DISPLAY").is_none() {
        faurge_plugin::editor::disable();
    }
    let ok = nice_plug::prelude::nice_export_standalone::<faurge_plugin::Faurge>();
    std::process::exit(if ok { 0 } else { 1 });
}
