//! Wiring: the engine owns the scheduler, the broker and the probes, and publishes snapshots.

pub mod api;

pub use api::{Command, EngineHandle, Event, Level};
