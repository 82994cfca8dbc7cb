//! Builds the LV2 bundle from an already-built plugin binary:
//! `faurge-lv2-bundle [SO_PATH [DIR]]`, by default `libfaurge_lv2.so` next to this
//! executable into `target/bundled/faurge.lv2`.

use std::env::consts::{DLL_PREFIX, DLL_SUFFIX};
use std::path::PathBuf;
use std::process::ExitCode;

fn main() -> ExitCode {
    let exe_dir = std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(PathBuf::from))
        .unwrap_or_default();
    let mut args = std::env::args_os().skip(1);
    let so = args.next().map_or_else(
        || exe_dir.join(format!("{DLL_PREFIX}faurge_lv2{DLL_SUFFIX}")),
        PathBuf::from,
    );
    let dir = args
        .next()
        .map_or_else(|| exe_dir.join("..").join("bundled"), PathBuf::from);
    match faurge_lv2::bundle::write_bundle(&dir, &so) {
        Ok(()) => {
            println!("{}", faurge_lv2::bundle::bundle_path(&dir).display());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("faurge-lv2-bundle: {e}");
            ExitCode::FAILURE
        }
    }
}
