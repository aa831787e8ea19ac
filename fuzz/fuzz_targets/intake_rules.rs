//! Fuzz target `intake_rules`: see `continuum_fuzz::intake_rules`.
#![no_main]

libfuzzer_sys::fuzz_target!(
    init: continuum_fuzz::seeds::init("intake_rules"),
    |data: &[u8]| continuum_fuzz::intake_rules::run(data)
);
