//! The editor nice-plug spawns ([`FaurgeEditor`]) and the handle of an open window
//! ([`FaurgeEditorHandle`]): nice-plug-egui's, forwarded, plus the hook that runs when
//! the window closes ([`WindowHook`]).

use std::sync::Arc;

use nice_plug::context::gui::GuiContext;
use nice_plug::editor::dpi::NativeSize;
use nice_plug::editor::{
    Editor, EditorHandle, HostMethods, Modifiers, ParentWindowHandle, ResizeHint, SpawnedEditor,
    VirtualKeyCode,
};
use nice_plug_egui::{EguiEditor, EguiEditorHandle};

use super::app::FaurgeApp;
use super::hook::WindowHook;

/// The editor the plugin exports: nice-plug-egui's, plus the close hook ([`WindowHook`]).
pub struct FaurgeEditor {
    inner: EguiEditor<FaurgeApp>,
    window: Arc<WindowHook>,
}

impl FaurgeEditor {
    /// nice-plug-egui's editor `inner` with the close hook `window`.
    pub fn new(inner: EguiEditor<FaurgeApp>, window: Arc<WindowHook>) -> Self {
        FaurgeEditor { inner, window }
    }
}

/// An open editor; dropping it runs the close hook.
pub struct FaurgeEditorHandle {
    inner: EguiEditorHandle,
    window: Arc<WindowHook>,
}

impl Drop for FaurgeEditorHandle {
    fn drop(&mut self) {
        self.window.closed();
    }
}

impl Editor for FaurgeEditor {
    type Handle = FaurgeEditorHandle;

    fn spawn(
        &self,
        parent: Option<ParentWindowHandle>,
        wait_for_parent: bool,
        fallback_scale_factor: Option<f64>,
        gui_context: GuiContext,
        host: Option<HostMethods>,
    ) -> Result<SpawnedEditor<Self::Handle>, Box<dyn std::error::Error>> {
        let SpawnedEditor { handle, window } = self.inner.spawn(
            parent,
            wait_for_parent,
            fallback_scale_factor,
            gui_context,
            host,
        )?;
        Ok(SpawnedEditor {
            handle: FaurgeEditorHandle {
                inner: handle,
                window: self.window.clone(),
            },
            window,
        })
    }

    fn size(&self) -> NativeSize<u32> {
        self.inner.size()
    }

    fn resize_hint(&self) -> ResizeHint {
        self.inner.resize_hint()
    }

    fn track_info_updated(&self, info: nice_plug::plugin::TrackInfo) {
        self.inner.track_info_updated(info);
    }

    unsafe fn assume_standalone_in_process(&self) {
        // SAFETY: forwarded with the caller's guarantee.
        unsafe { self.inner.assume_standalone_in_process() }
    }
}

type Window = <EguiEditorHandle as EditorHandle>::Window;
type HandleError = <EguiEditorHandle as EditorHandle>::Error;

impl EditorHandle for FaurgeEditorHandle {
    type Window = Window;
    type Error = HandleError;

    fn run_until_closed(window: Window) -> Result<(), HandleError> {
        EguiEditorHandle::run_until_closed(window)
    }

    fn set_parent(&self, parent: ParentWindowHandle, window: &Window) -> Result<(), HandleError> {
        self.inner.set_parent(parent, window)
    }

    fn show(&self, window: &Window) -> Result<(), HandleError> {
        self.inner.show(window)
    }

    fn hide(&self, window: &Window) -> Result<(), HandleError> {
        self.inner.hide(window)
    }

    fn set_size(&self, new_size: NativeSize<u32>, window: &Window) -> Result<(), HandleError> {
        self.inner.set_size(new_size, window)
    }

    fn host_main_thread_callback(&self, window: &Window) {
        self.inner.host_main_thread_callback(window);
    }

    fn adjust_size(&self, new_size: NativeSize<u32>, window: &Window) -> Option<NativeSize<u32>> {
        self.inner.adjust_size(new_size, window)
    }

    fn set_fallback_scale_factor(
        &self,
        scale_factor: f64,
        window: &Window,
    ) -> Result<(), HandleError> {
        self.inner.set_fallback_scale_factor(scale_factor, window)
    }

    fn on_virtual_key_from_host(
        &self,
        key_code: VirtualKeyCode,
        is_down: bool,
        modifiers: Modifiers,
    ) -> bool {
        self.inner
            .on_virtual_key_from_host(key_code, is_down, modifiers)
    }

    fn state_changed(&self) {
        self.inner.state_changed();
    }

    fn param_value_changed(&self, id: &str, normalized_value: f32) {
        self.inner.param_value_changed(id, normalized_value);
    }

    fn param_modulation_changed(&self, id: &str, modulation_offset: f32) {
        self.inner.param_modulation_changed(id, modulation_offset);
    }
}
