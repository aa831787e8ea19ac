//! Fuzz target `waitlist_requests`: see `continuum_fuzz::waitlist_requests`.
#![no_main]

libfuzzer_sys::fuzz_target!(
    init: continuum_fuzz::seeds::init("waitlist_requests"),
    |data: &[u8]| continuum_fuzz::waitlist_requests::run(data)
);
