//! The editor's panels, top to bottom, one file each: `prompt`, `status`, `analysis`
//! (the four plots), `history`, `settings`; each adds its drawing to
//! [`FaurgeApp`](super::app::FaurgeApp).

mod analysis;
mod history;
mod prompt;
mod settings;
mod status;
