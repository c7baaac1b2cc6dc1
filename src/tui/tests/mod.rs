//! Reducer and view tests over a hand-built fleet with a fixed clock.

mod arguments;
mod control;
mod elicit;
pub(crate) mod fixtures;
mod fleet_keys;
mod form;
mod frames;
mod history;
mod intake;
mod keys;
mod reducer;
mod screens;
mod tabs;
mod tools;
mod view;
