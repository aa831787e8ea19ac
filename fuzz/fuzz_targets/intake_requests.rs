//! Fuzz target `intake_requests`: see `continuum_fuzz::intake_requests`.
#![no_main]

libfuzzer_sys::fuzz_target!(
    init: continuum_fuzz::seeds::init("intake_requests"),
    |data: &[u8]| continuum_fuzz::intake_requests::run(data)
);
