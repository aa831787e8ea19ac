//! Fuzz target `referral_requests`: see `continuum_fuzz::referral_requests`.
#![no_main]

libfuzzer_sys::fuzz_target!(
    init: continuum_fuzz::seeds::init("referral_requests"),
    |data: &[u8]| continuum_fuzz::referral_requests::run(data)
);
