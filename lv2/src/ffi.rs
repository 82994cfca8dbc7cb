//! The LV2 C entry points: `lv2_descriptor` and the descriptor callbacks, which
//! forward to [`Instance`].
//!
//! No callback unwinds into the host: `instantiate` turns any failure into a null
//! handle (with a message on stderr), and `run` catches a panic (none is expected:
//! [`Instance::run`] is written not to panic) and outputs silence for that block.

use std::ffi::{c_char, c_void, CStr};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::ptr;

use lv2_sys::{LV2_Descriptor, LV2_Feature, LV2_Handle};

use crate::plugin::Instance;
use crate::ports::Variant;

/// `LV2_Descriptor` holds raw pointers, so it is not `Sync`; ours point to static
/// data and functions only.
#[repr(transparent)]
struct StaticDescriptor(LV2_Descriptor);

// SAFETY: the descriptor is immutable and points only to 'static C strings and
// functions.
unsafe impl Sync for StaticDescriptor {}

const fn descriptor(variant: Variant) -> StaticDescriptor {
    StaticDescriptor(LV2_Descriptor {
        URI: variant.uri_c().as_ptr(),
        instantiate: Some(instantiate),
        connect_port: Some(connect_port),
        activate: Some(activate),
        run: Some(run),
        deactivate: Some(deactivate),
        cleanup: Some(cleanup),
        extension_data: Some(extension_data),
    })
}

static DESCRIPTORS: [StaticDescriptor; 2] =
    [descriptor(Variant::ALL[0]), descriptor(Variant::ALL[1])];

/// The LV2 discovery function (`lv2_descriptor` in `lv2/core/lv2.h`): the
/// descriptor of plugin `index` (0 = [`Variant::Mono`], 1 = [`Variant::Stereo`]),
/// or null past the last one.
///
/// # Safety
/// Always safe to call; the returned descriptor's callbacks follow the LV2 core
/// specification's rules (a handle from `instantiate`, ports connected to valid
/// buffers before `run`).
#[no_mangle]
pub unsafe extern "C" fn lv2_descriptor(index: u32) -> *const LV2_Descriptor {
    match DESCRIPTORS.get(index as usize) {
        Some(d) => &d.0,
        None => ptr::null(),
    }
}

unsafe extern "C" fn instantiate(
    descriptor: *const LV2_Descriptor,
    sample_rate: f64,
    bundle_path: *const c_char,
    _features: *const *const LV2_Feature,
) -> LV2_Handle {
    if descriptor.is_null() {
        return ptr::null_mut();
    }
    // SAFETY: the host passes one of our descriptors (or a copy), whose URI is a
    // NUL-terminated string.
    let uri = unsafe { (*descriptor).URI };
    if uri.is_null() {
        return ptr::null_mut();
    }
    // SAFETY: as above.
    let uri = unsafe { CStr::from_ptr(uri) };
    let Some(variant) = uri.to_str().ok().and_then(Variant::from_uri) else {
        eprintln!("faurge-lv2: Could not instantiate unknown plugin {uri:?}");
        return ptr::null_mut();
    };
    let bundle = (!bundle_path.is_null())
        .then(|| unsafe { CStr::from_ptr(bundle_path) })
        .and_then(|p| p.to_str().ok())
        .map(std::path::PathBuf::from);
    match catch_unwind(|| Instance::new(variant, sample_rate).map(Box::new)) {
        Ok(Ok(mut instance)) => {
            // No thread yet: `activate` starts the bridge thread (lv2lint waits
            // forever for a plugin whose `instantiate` starts one).
            instance.set_bridge(crate::bake::config_for_bundle(bundle.as_deref()));
            Box::into_raw(instance).cast()
        }
        Ok(Err(e)) => {
            eprintln!("faurge-lv2: Could not instantiate {}: {e}", variant.uri());
            ptr::null_mut()
        }
        Err(_) => {
            eprintln!(
                "faurge-lv2: Could not instantiate {}: internal error",
                variant.uri()
            );
            ptr::null_mut()
        }
    }
}

/// The instance behind `handle`, if not null.
///
/// # Safety
/// `handle` is null or came from `instantiate` and was not cleaned up.
unsafe fn instance<'a>(handle: LV2_Handle) -> Option<&'a mut Instance> {
    // SAFETY: see above; the host never calls two functions of one instance at once.
    unsafe { handle.cast::<Instance>().as_mut() }
}

unsafe extern "C" fn connect_port(handle: LV2_Handle, port: u32, data: *mut c_void) {
    // SAFETY: the LV2 contract.
    if let Some(i) = unsafe { instance(handle) } {
        i.connect_port(port, data);
    }
}

unsafe extern "C" fn activate(handle: LV2_Handle) {
    // SAFETY: the LV2 contract.
    if let Some(i) = unsafe { instance(handle) } {
        i.activate();
    }
}

unsafe extern "C" fn run(handle: LV2_Handle, sample_count: u32) {
    // SAFETY: the LV2 contract.
    let Some(i) = (unsafe { instance(handle) }) else {
        return;
    };
    let n = sample_count as usize;
    // SAFETY: the host connected every port to a valid buffer of `sample_count` frames.
    let ok = catch_unwind(AssertUnwindSafe(|| unsafe { i.run(n) })).is_ok();
    if !ok {
        silence_outputs(i, n);
    }
}

/// Writes silence to every connected audio output (after a panic in `run`).
fn silence_outputs(instance: &Instance, n: usize) {
    for out in instance.connected_outputs() {
        // SAFETY: a connected output holds `n` floats.
        unsafe { ptr::write_bytes(out, 0, n) };
    }
}

unsafe extern "C" fn deactivate(handle: LV2_Handle) {
    // SAFETY: the LV2 contract.
    if let Some(i) = unsafe { instance(handle) } {
        i.deactivate();
    }
}

unsafe extern "C" fn cleanup(handle: LV2_Handle) {
    if !handle.is_null() {
        // SAFETY: `handle` came from `Box::into_raw` in `instantiate`; the host calls
        // `cleanup` once.
        drop(unsafe { Box::from_raw(handle.cast::<Instance>()) });
    }
}

unsafe extern "C" fn extension_data(_uri: *const c_char) -> *const c_void {
    ptr::null()
}
