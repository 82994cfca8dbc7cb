//! [`X11`]: an X client (x11rb) that finds windows by title, takes screenshots with
//! `GetImage`, and sends pointer and keyboard input through XTEST.

use std::time::{Duration, Instant};

use x11rb::connection::{Connection, RequestConnection};
use x11rb::protocol::xproto::{
    self, AtomEnum, ConnectionExt as _, ImageFormat, ImageOrder, InputFocus, MapState, Window,
};
use x11rb::protocol::xtest::{self, ConnectionExt as _};
use x11rb::rust_connection::RustConnection;
use x11rb::wrapper::ConnectionExt as _;
use x11rb::CURRENT_TIME;

use crate::{HarnessError, Image};

/// The keysym of the Return key (`XK_Return`, X11 `keysymdef.h`).
pub const KEYSYM_RETURN: u32 = 0xff0d;

/// Time between a key's press and release, and between keys: long enough for a GUI
/// that polls its event queue once per frame to see each one.
const KEY_DELAY: Duration = Duration::from_millis(15);

/// A rectangle on the screen: position of the top-left corner in root-window
/// coordinates and size, pixels.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rect {
    /// Left edge, px from the screen's left.
    pub x: i32,
    /// Top edge, px from the screen's top.
    pub y: i32,
    /// Width, px.
    pub width: u32,
    /// Height, px.
    pub height: u32,
}

impl Rect {
    /// The centre point.
    pub fn centre(&self) -> (i32, i32) {
        (
            self.x + self.width as i32 / 2,
            self.y + self.height as i32 / 2,
        )
    }
}

/// A connection to one X display (screen 0), with its keyboard map.
pub struct X11 {
    conn: RustConnection,
    display: String,
    root: Window,
    root_visual: xproto::Visualid,
    width: u16,
    height: u16,
    min_keycode: u8,
    keysyms_per_keycode: usize,
    keysyms: Vec<u32>,
}

/// Maps an x11rb error of `request` to a [`HarnessError`].
fn xerr<E: std::fmt::Display>(request: &'static str) -> impl Fn(E) -> HarnessError {
    move |e| HarnessError::X {
        request,
        message: e.to_string(),
    }
}

impl X11 {
    /// Connects to `display` (":3"), checks that it has the XTEST extension, and
    /// reads its keyboard map.
    ///
    /// # Errors
    /// [`HarnessError::XConnect`] if the server does not answer,
    /// [`HarnessError::XUnsupported`] without XTEST, [`HarnessError::X`] if a request
    /// fails.
    pub fn connect(display: &str) -> Result<X11, HarnessError> {
        let (conn, screen_num) =
            x11rb::connect(Some(display)).map_err(|e| HarnessError::XConnect {
                display: display.to_string(),
                message: e.to_string(),
            })?;
        if conn
            .extension_information(xtest::X11_EXTENSION_NAME)
            .map_err(xerr("QueryExtension"))?
            .is_none()
        {
            return Err(HarnessError::XUnsupported("the XTEST extension".into()));
        }
        conn.xtest_get_version(2, 2)
            .map_err(xerr("XTestGetVersion"))?
            .reply()
            .map_err(xerr("XTestGetVersion"))?;
        let setup = conn.setup();
        let screen = &setup.roots[screen_num];
        let (root, root_visual) = (screen.root, screen.root_visual);
        let (width, height) = (screen.width_in_pixels, screen.height_in_pixels);
        let (min_keycode, max_keycode) = (setup.min_keycode, setup.max_keycode);
        let map = conn
            .get_keyboard_mapping(min_keycode, max_keycode - min_keycode + 1)
            .map_err(xerr("GetKeyboardMapping"))?
            .reply()
            .map_err(xerr("GetKeyboardMapping"))?;
        Ok(X11 {
            conn,
            display: display.to_string(),
            root,
            root_visual,
            width,
            height,
            min_keycode,
            keysyms_per_keycode: usize::from(map.keysyms_per_keycode),
            keysyms: map.keysyms,
        })
    }

    /// The underlying x11rb connection (for requests this type does not wrap).
    pub fn connection(&self) -> &RustConnection {
        &self.conn
    }

    /// The display name given to [`X11::connect`].
    pub fn display(&self) -> &str {
        &self.display
    }

    /// The root window of screen 0.
    pub fn root(&self) -> Window {
        self.root
    }

    /// The screen's size, pixels.
    pub fn screen_size(&self) -> (u32, u32) {
        (u32::from(self.width), u32::from(self.height))
    }

    /// The viewable top-level windows (children of the root) whose `WM_NAME` or
    /// `_NET_WM_NAME` is exactly `title`, in stacking order (bottom first).
    ///
    /// # Errors
    /// [`HarnessError::X`] if a request fails (a window that disappears meanwhile is
    /// skipped).
    pub fn find_windows(&self, title: &str) -> Result<Vec<Window>, HarnessError> {
        let net_wm_name = self.atom("_NET_WM_NAME")?;
        let utf8 = self.atom("UTF8_STRING")?;
        let tree = self
            .conn
            .query_tree(self.root)
            .map_err(xerr("QueryTree"))?
            .reply()
            .map_err(xerr("QueryTree"))?;
        let mut found = Vec::new();
        for &w in &tree.children {
            // A window may vanish between QueryTree and these: skip it then.
            let Ok(Ok(attrs)) = self.conn.get_window_attributes(w).map(|c| c.reply()) else {
                continue;
            };
            if attrs.map_state != MapState::VIEWABLE {
                continue;
            }
            let names = [
                self.string_property(w, AtomEnum::WM_NAME.into(), AtomEnum::STRING.into()),
                self.string_property(w, net_wm_name, utf8),
            ];
            if names.iter().any(|n| n.as_deref() == Some(title)) {
                found.push(w);
            }
        }
        Ok(found)
    }

    /// Waits (polling every 100 ms, at most `limit`) until exactly one viewable
    /// top-level window is titled `title`, and returns it. `alive` is called on each
    /// poll: an error from it (the program exited) ends the wait.
    ///
    /// # Errors
    /// What `alive` returns, [`HarnessError::Timeout`], or [`HarnessError::X`].
    pub fn wait_for_window(
        &self,
        title: &str,
        limit: Duration,
        mut alive: impl FnMut() -> Result<(), HarnessError>,
    ) -> Result<Window, HarnessError> {
        let start = Instant::now();
        loop {
            let found = self.find_windows(title)?;
            if found.len() == 1 {
                return Ok(found[0]);
            }
            alive()?;
            if start.elapsed() > limit {
                return Err(HarnessError::Timeout {
                    what: format!("one window titled {title:?} (found {})", found.len()),
                    after: limit,
                    output: String::new(),
                });
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Where `window` is on the screen (its inside, without the border).
    ///
    /// # Errors
    /// [`HarnessError::X`] if the window does not exist.
    pub fn geometry(&self, window: Window) -> Result<Rect, HarnessError> {
        let g = self
            .conn
            .get_geometry(window)
            .map_err(xerr("GetGeometry"))?
            .reply()
            .map_err(xerr("GetGeometry"))?;
        let t = self
            .conn
            .translate_coordinates(window, self.root, 0, 0)
            .map_err(xerr("TranslateCoordinates"))?
            .reply()
            .map_err(xerr("TranslateCoordinates"))?;
        Ok(Rect {
            x: i32::from(t.dst_x),
            y: i32::from(t.dst_y),
            width: u32::from(g.width),
            height: u32::from(g.height),
        })
    }

    /// A screenshot of the whole screen.
    ///
    /// # Errors
    /// See [`X11::capture_window`].
    pub fn capture_screen(&self) -> Result<Image, HarnessError> {
        self.capture(self.root, self.width, self.height)
    }

    /// A screenshot of `window`'s contents (`GetImage` on the window itself, in its
    /// own depth and visual: exact even for a GL window with a 32-bit visual).
    ///
    /// # Errors
    /// [`HarnessError::X`] if the window does not exist or is not fully on screen,
    /// [`HarnessError::XUnsupported`] for a pixel format other than 32 bits per
    /// pixel with 8-bit TrueColor channels.
    pub fn capture_window(&self, window: Window) -> Result<Image, HarnessError> {
        let r = self.geometry(window)?;
        self.capture(window, r.width as u16, r.height as u16)
    }

    /// `GetImage` (ZPixmap, all planes) of `drawable` converted to RGB.
    fn capture(&self, drawable: Window, width: u16, height: u16) -> Result<Image, HarnessError> {
        let reply = self
            .conn
            .get_image(ImageFormat::Z_PIXMAP, drawable, 0, 0, width, height, !0)
            .map_err(xerr("GetImage"))?
            .reply()
            .map_err(xerr("GetImage"))?;
        let setup = self.conn.setup();
        let format = setup
            .pixmap_formats
            .iter()
            .find(|f| f.depth == reply.depth)
            .ok_or_else(|| {
                HarnessError::XUnsupported(format!("a pixmap format for depth {}", reply.depth))
            })?;
        if format.bits_per_pixel != 32 {
            return Err(HarnessError::XUnsupported(format!(
                "screenshots of depth {} at {} bits per pixel (only 32)",
                reply.depth, format.bits_per_pixel
            )));
        }
        let visual_id = if reply.visual == 0 {
            self.root_visual
        } else {
            reply.visual
        };
        let visual = setup
            .roots
            .iter()
            .flat_map(|s| &s.allowed_depths)
            .flat_map(|d| &d.visuals)
            .find(|v| v.visual_id == visual_id)
            .ok_or_else(|| HarnessError::XUnsupported(format!("visual {visual_id:#x}")))?;
        let masks = [visual.red_mask, visual.green_mask, visual.blue_mask];
        if masks.iter().any(|m| m.count_ones() != 8) {
            return Err(HarnessError::XUnsupported(format!(
                "screenshots of a visual with channel masks {masks:08x?} (only 8 bits each)"
            )));
        }
        let shifts = masks.map(u32::trailing_zeros);
        let stride = (usize::from(width) * 32).div_ceil(usize::from(format.scanline_pad))
            * usize::from(format.scanline_pad)
            / 8;
        let (w, h) = (usize::from(width), usize::from(height));
        if reply.data.len() < stride * h {
            return Err(HarnessError::X {
                request: "GetImage",
                message: format!("{} bytes for {w}×{h}", reply.data.len()),
            });
        }
        let lsb = setup.image_byte_order == ImageOrder::LSB_FIRST;
        let mut rgb = Vec::with_capacity(w * h * 3);
        for row in reply.data.chunks_exact(stride).take(h) {
            for px in row[..w * 4].chunks_exact(4) {
                let bytes = [px[0], px[1], px[2], px[3]];
                let v = if lsb {
                    u32::from_le_bytes(bytes)
                } else {
                    u32::from_be_bytes(bytes)
                };
                for c in 0..3 {
                    rgb.push(((v & masks[c]) >> shifts[c]) as u8);
                }
            }
        }
        Ok(Image::new(u32::from(width), u32::from(height), rgb))
    }

    /// Moves the pointer to `(x, y)` in screen coordinates (XTEST motion, as a real
    /// mouse would). Without a window manager the keyboard focus follows the pointer.
    ///
    /// # Errors
    /// [`HarnessError::X`] if the request fails.
    pub fn move_pointer(&self, x: i32, y: i32) -> Result<(), HarnessError> {
        self.conn
            .xtest_fake_input(
                xproto::MOTION_NOTIFY_EVENT,
                0, // absolute
                CURRENT_TIME,
                self.root,
                x as i16,
                y as i16,
                0,
            )
            .map_err(xerr("XTestFakeInput"))?;
        self.sync()
    }

    /// Where the pointer is, in screen coordinates.
    ///
    /// # Errors
    /// [`HarnessError::X`] if the request fails.
    pub fn pointer(&self) -> Result<(i32, i32), HarnessError> {
        let p = self
            .conn
            .query_pointer(self.root)
            .map_err(xerr("QueryPointer"))?
            .reply()
            .map_err(xerr("QueryPointer"))?;
        Ok((i32::from(p.root_x), i32::from(p.root_y)))
    }

    /// Gives `window` the keyboard focus (reverting to the pointer's window), as a
    /// click-to-focus window manager would.
    ///
    /// # Errors
    /// [`HarnessError::X`] if the request fails.
    pub fn focus(&self, window: Window) -> Result<(), HarnessError> {
        self.conn
            .set_input_focus(InputFocus::POINTER_ROOT, window, CURRENT_TIME)
            .map_err(xerr("SetInputFocus"))?;
        self.sync()
    }

    /// The keycode whose unshifted symbol (first column of the keyboard map) is
    /// `keysym`.
    pub fn keycode(&self, keysym: u32) -> Option<u8> {
        let per = self.keysyms_per_keycode.max(1);
        self.keysyms
            .chunks(per)
            .position(|syms| syms.first() == Some(&keysym))
            .map(|i| self.min_keycode + i as u8)
    }

    /// Presses and releases the key that types `keysym` (XTEST), waiting a few
    /// milliseconds after each event.
    ///
    /// # Errors
    /// [`HarnessError::XUnsupported`] if no key types it without a modifier,
    /// [`HarnessError::X`] if a request fails.
    pub fn tap_keysym(&self, keysym: u32) -> Result<(), HarnessError> {
        let keycode = self.keycode(keysym).ok_or_else(|| {
            HarnessError::XUnsupported(format!(
                "typing keysym {keysym:#x} without a modifier (no key has it unshifted)"
            ))
        })?;
        for event in [xproto::KEY_PRESS_EVENT, xproto::KEY_RELEASE_EVENT] {
            self.conn
                .xtest_fake_input(event, keycode, CURRENT_TIME, self.root, 0, 0, 0)
                .map_err(xerr("XTestFakeInput"))?;
            self.sync()?;
            std::thread::sleep(KEY_DELAY);
        }
        Ok(())
    }

    /// Types `text` key by key into the focused window. Only characters that a US
    /// keyboard types without Shift: lower-case letters, digits, space and unshifted
    /// punctuation (their Latin-1 keysyms equal their code points).
    ///
    /// # Errors
    /// [`HarnessError::XUnsupported`] for another character (before typing
    /// anything), [`HarnessError::X`] if a request fails.
    pub fn type_text(&self, text: &str) -> Result<(), HarnessError> {
        let keysyms: Vec<u32> = text.chars().map(u32::from).collect();
        if let Some(c) = text
            .chars()
            .find(|&c| !(' '..='~').contains(&c) || self.keycode(u32::from(c)).is_none())
        {
            return Err(HarnessError::XUnsupported(format!(
                "typing {c:?} without a modifier (use lower case)"
            )));
        }
        keysyms.into_iter().try_for_each(|k| self.tap_keysym(k))
    }

    /// Presses and releases Return.
    ///
    /// # Errors
    /// As [`X11::tap_keysym`].
    pub fn press_return(&self) -> Result<(), HarnessError> {
        self.tap_keysym(KEYSYM_RETURN)
    }

    /// Asks `window` to close the way a window manager's close button does: a
    /// `WM_PROTOCOLS` client message with `WM_DELETE_WINDOW` (ICCCM §4.2.8.1).
    ///
    /// # Errors
    /// [`HarnessError::XUnsupported`] if the window does not take part in that
    /// protocol, [`HarnessError::X`] if a request fails.
    pub fn close_window(&self, window: Window) -> Result<(), HarnessError> {
        let protocols = self.atom("WM_PROTOCOLS")?;
        let delete = self.atom("WM_DELETE_WINDOW")?;
        let listed = self
            .conn
            .get_property(false, window, protocols, AtomEnum::ATOM, 0, 64)
            .map_err(xerr("GetProperty"))?
            .reply()
            .map_err(xerr("GetProperty"))?;
        if !listed
            .value32()
            .is_some_and(|mut atoms| atoms.any(|a| a == delete))
        {
            return Err(HarnessError::XUnsupported(format!(
                "closing window {window:#x}: it does not list WM_DELETE_WINDOW in WM_PROTOCOLS"
            )));
        }
        let event =
            xproto::ClientMessageEvent::new(32, window, protocols, [delete, CURRENT_TIME, 0, 0, 0]);
        self.conn
            .send_event(false, window, xproto::EventMask::NO_EVENT, event)
            .map_err(xerr("SendEvent"))?;
        self.sync()
    }

    /// Waits until the server has handled every request sent so far.
    ///
    /// # Errors
    /// [`HarnessError::X`] if the connection broke.
    pub fn sync(&self) -> Result<(), HarnessError> {
        self.conn.sync().map_err(xerr("GetInputFocus (sync)"))
    }

    /// The atom named `name` (created if new).
    ///
    /// # Errors
    /// [`HarnessError::X`] if the request fails.
    pub fn atom(&self, name: &str) -> Result<xproto::Atom, HarnessError> {
        Ok(self
            .conn
            .intern_atom(false, name.as_bytes())
            .map_err(xerr("InternAtom"))?
            .reply()
            .map_err(xerr("InternAtom"))?
            .atom)
    }

    /// A text property of `window` of type `type_`, if set.
    fn string_property(
        &self,
        window: Window,
        property: xproto::Atom,
        type_: xproto::Atom,
    ) -> Option<String> {
        let reply = self
            .conn
            .get_property(false, window, property, type_, 0, 1024)
            .ok()?
            .reply()
            .ok()?;
        (reply.format == 8 && reply.type_ == type_)
            .then(|| String::from_utf8_lossy(&reply.value).into_owned())
    }
}
