//! Fuzz target `matching_requests`: see `continuum_fuzz::matching_requests`.
#![no_main]

libfuzzer_sys::fuzz_target!(
    init: continuum_fuzz::seeds::init("matching_requests"),
    |data: &[u8]| continuum_fuzz::matching_requests::run(data)
);
