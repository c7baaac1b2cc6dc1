//! The console's own popups: re-authorize (choose a method, then live status) and confirm.
//! Their state follows `Event::Reauth` steps; the loop does the I/O.

use tokio_util::sync::CancellationToken;

use crate::domain::{ConnectionKey, UnixMs, format_expires_in};
use crate::engine::ReauthProgress;
use crate::toolkit::qr;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Browser,
    Device,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    Starting,
    Discovering,
    /// Waiting for the browser to come back to the loopback listener.
    Browser,
    /// Waiting for someone to enter the code; seconds left before it expires.
    Device {
        remaining_s: u64,
    },
    Done {
        expires: Option<UnixMs>,
    },
    Failed(String),
    Cancelled,
}

impl Status {
    pub fn finished(&self) -> bool {
        matches!(
            self,
            Status::Done { .. } | Status::Failed(_) | Status::Cancelled
        )
    }

    pub fn text(&self, now: UnixMs) -> String {
        match self {
            Status::Starting => "starting…".into(),
            Status::Discovering => "finding the authorization server…".into(),
            Status::Browser => "waiting for the browser to approve…".into(),
            Status::Device { remaining_s } => {
                format!("waiting for the code to be entered ({remaining_s}s left)…")
            }
            Status::Done { expires: Some(at) } => {
                format!(
                    "authorized; new token expires in {}",
                    format_expires_in(*at, now)
                )
            }
            Status::Done { expires: None } => "authorized".into(),
            Status::Failed(why) => format!("failed: {}", crate::text::printable(why, false)),
            Status::Cancelled => "cancelled".into(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceCode {
    pub verification_uri: String,
    pub user_code: String,
    pub complete: Option<String>,
    /// Rendered once when the code arrives, not per frame.
    pub qr: Option<Vec<String>>,
}

#[derive(Debug)]
pub struct Reauth {
    pub key: ConnectionKey,
    pub method: Method,
    pub status: Status,
    /// The authorization URL, to copy when no browser opened.
    pub url: Option<String>,
    pub device: Option<DeviceCode>,
    pub cancel: CancellationToken,
}

impl Reauth {
    pub fn new(key: ConnectionKey, method: Method) -> Self {
        Reauth {
            key,
            method,
            status: Status::Starting,
            url: None,
            device: None,
            cancel: CancellationToken::new(),
        }
    }

    /// A step of this authorization.
    pub fn on_progress(&mut self, progress: &ReauthProgress) {
        if self.status.finished() {
            return;
        }
        match progress {
            ReauthProgress::Discovering => self.status = Status::Discovering,
            ReauthProgress::Discovered { .. } => {}
            ReauthProgress::OpenBrowser { url } => {
                self.url = Some(url.clone());
                self.status = Status::Browser;
            }
            ReauthProgress::DeviceCode {
                verification_uri,
                user_code,
                verification_uri_complete,
                expires_in,
            } => {
                let payload = verification_uri_complete
                    .clone()
                    .unwrap_or_else(|| verification_uri.clone());
                self.device = Some(DeviceCode {
                    verification_uri: verification_uri.clone(),
                    user_code: user_code.clone(),
                    complete: verification_uri_complete.clone(),
                    qr: qr::render(&payload),
                });
                self.status = Status::Device {
                    remaining_s: expires_in.as_secs(),
                };
            }
            ReauthProgress::Waiting { remaining, .. } => {
                self.status = Status::Device {
                    remaining_s: remaining.as_secs(),
                }
            }
            ReauthProgress::Done(meta) => {
                self.status = Status::Done {
                    expires: meta.expires_at,
                }
            }
            ReauthProgress::Failed(f) => self.status = Status::Failed(f.to_string()),
            ReauthProgress::Cancelled => self.status = Status::Cancelled,
        }
    }
}

#[derive(Debug)]
pub enum Popup {
    ChooseReauth { key: ConnectionKey },
    Reauth(Reauth),
    ConfirmRevoke { key: ConnectionKey },
}
