//! Fuzz targets: one `fn(&[u8])` per input Faurge takes from outside, in the shape
//! `cargo fuzz` expects (`fuzz_target!(|data: &[u8]| targets::wav(data))`). Each
//! must return for every input without panicking, hanging or allocating without
//! bound; a refusal is an `Err`, which is fine. `helper/tests/fuzz.rs` runs them on
//! stable for a bounded time over mutations of `fuzz/corpus/<target>/`.

use std::path::Path;

/// The audio-file loader on bytes claiming to be a WAV file.
pub fn wav(data: &[u8]) {
    let _ = faurge_io::read_bytes(data.to_vec(), Path::new("fuzz.wav"));
}

/// The audio-file loader on bytes claiming to be a FLAC file.
pub fn flac(data: &[u8]) {
    let _ = faurge_io::read_bytes(data.to_vec(), Path::new("fuzz.flac"));
}

/// The IPC decoder as the helper runs it on what the plugin sends: a `Request`,
/// then the request's own checks.
pub fn ipc_request(data: &[u8]) {
    use faurge_protocol::messages::Request;
    if let Ok(Request::Bake(r)) =
        ipc_channel::ipc::IpcMessage::from_data(data.to_vec()).to::<Request>()
    {
        let _ = r.channels_f32();
    }
}

/// The IPC decoder as the plugin and the CLI run it on what the helper sends: a
/// `Reply`, then what is read out of a result.
pub fn ipc_reply(data: &[u8]) {
    use faurge_protocol::messages::Reply;
    if let Ok(Reply::Result(r)) =
        ipc_channel::ipc::IpcMessage::from_data(data.to_vec()).to::<Reply>()
    {
        let _ = r.ir_samples();
        let _ = r.dsp_state.validate();
    }
}

// The first message, `Bootstrap`, is not a target here: ipc-channel itself panics
// on some (an index of a channel that was not sent, `ipc.rs` `deserialize_os_ipc_sender`).
// The client decodes it inside `IpcOneShotServer::accept`, which it runs under
// `catch_unwind`; `helper/tests/hostile.rs` sends such a message over a real socket.

/// The prompt sanitizer on raw bytes (as the helper receives a prompt); what it
/// understood must be plain text of bounded length.
pub fn prompt(data: &[u8]) {
    thread_local! {
        static SANITIZER: faurge_vocabulary::sanitizer::Sanitizer =
            faurge_vocabulary::sanitizer::Sanitizer::embedded().expect("the embedded vocabulary");
    }
    SANITIZER.with(|s| {
        let out = s.sanitize_bytes(data);
        assert!(
            !out.understood.chars().any(char::is_control),
            "control characters in {:?}",
            out.understood
        );
        assert!(
            out.understood.len() < 4096,
            "{} bytes understood",
            out.understood.len()
        );
    });
}

/// A saved `DspState` (a session, `faurge render --state`): parse, then check.
pub fn dsp_state(data: &[u8]) {
    if let Ok(s) = serde_json::from_slice::<faurge_dsp::state::DspState>(data) {
        let _ = s.validate();
    }
}

/// A models folder's `manifest.json`, opened as the helper opens it.
pub fn manifest(data: &[u8]) {
    let dir = tempfile::tempdir().expect("a temporary folder");
    std::fs::write(dir.path().join("manifest.json"), data).expect("write the manifest");
    let _ = faurge_helper::models::ModelSet::open(dir.path());
}
