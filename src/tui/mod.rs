//! The console: terminal setup, event loop, state reducer, views, theme.
