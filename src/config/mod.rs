//! Configuration: schema, located errors, ${VAR} interpolation, presets.
