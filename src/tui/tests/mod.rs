//! Reducer and view tests over a hand-built fleet with a fixed clock.

mod arguments;
mod control;
mod elicit;
mod fixtures;
mod fleet_keys;
mod keys;
mod reducer;
mod screens;
mod tools;
mod view;
