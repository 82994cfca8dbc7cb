//! `faurge-jack-player <wav> <client-name>`: a JACK client that loops a recording
//! into two output ports until its stdin closes (see
//! [`faurge_editor_tests::run_player`]). The server is the one `JACK_DEFAULT_SERVER`
//! names.

use std::path::PathBuf;
use std::process::ExitCode;

fn main() -> ExitCode {
    let mut args = std::env::args_os().skip(1);
    let (Some(wav), Some(client)) = (args.next(), args.next()) else {
        eprintln!("usage: faurge-jack-player <wav> <client-name>");
        return ExitCode::from(2);
    };
    match faurge_editor_tests::run_player(&PathBuf::from(wav), &client.to_string_lossy()) {
        Ok(_) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("faurge-jack-player: {e}");
            ExitCode::FAILURE
        }
    }
}
