//! Distances between a client and a provider's location, for the travel part of the fit.

/// A point prepared for fast distances: (latitude rad, longitude rad, cos latitude).
pub type PreparedPoint = (f64, f64, f64);

/// Prepares a (latitude, longitude) point in degrees for [`approx_distance_km`].
pub fn prepare_point(p: (f64, f64)) -> PreparedPoint {
    let lat = p.0.to_radians();
    (lat, p.1.to_radians(), lat.cos())
}

/// Equirectangular distance in km: within 1% of the great-circle distance at travel scales (hundreds of
/// km), with no trigonometry per pair (ranking computes it for every candidate).
pub fn approx_distance_km(a: PreparedPoint, b: PreparedPoint) -> f64 {
    let mut dlon = (b.1 - a.1).abs();
    if dlon > std::f64::consts::PI {
        dlon = 2.0 * std::f64::consts::PI - dlon;
    }
    let x = dlon * 0.5 * (a.2 + b.2);
    let y = b.0 - a.0;
    6371.0 * (x * x + y * y).sqrt()
}

/// Great-circle distance in km between two (latitude, longitude) points (haversine).
pub fn distance_km(a: (f64, f64), b: (f64, f64)) -> f64 {
    let (la1, lo1, la2, lo2) =
        (a.0.to_radians(), a.1.to_radians(), b.0.to_radians(), b.1.to_radians());
    let h = ((la2 - la1) / 2.0).sin().powi(2)
        + la1.cos() * la2.cos() * ((lo2 - lo1) / 2.0).sin().powi(2);
    2.0 * 6371.0 * h.sqrt().min(1.0).asin()
}
