//! Distances on the Earth: the great-circle (haversine) distance, a position with its
//! uncertainty, and a small table of approximate country positions used when a sign-in has a
//! country but no coordinates (Ward's embedded geolocation knows only the country).

use serde::{Deserialize, Serialize};

/// The Earth's mean radius (IUGG), in kilometres.
pub const EARTH_RADIUS_KM: f64 = 6371.0088;

/// The great-circle distance between two points given in degrees, by the haversine formula.
pub fn great_circle_km(from: (f64, f64), to: (f64, f64)) -> f64 {
    let (lat1, lon1) = (from.0.to_radians(), from.1.to_radians());
    let (lat2, lon2) = (to.0.to_radians(), to.1.to_radians());
    let h = ((lat2 - lat1) / 2.0).sin().powi(2) + lat1.cos() * lat2.cos() * ((lon2 - lon1) / 2.0).sin().powi(2);
    2.0 * EARTH_RADIUS_KM * h.sqrt().min(1.0).asin()
}

/// Where someone was, give or take `uncertainty_km`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Position {
    pub latitude: f64,
    pub longitude: f64,
    pub uncertainty_km: f64,
}

impl Position {
    /// A position from coordinates; `None` unless they are finite and on the globe.
    pub fn new(latitude: f64, longitude: f64, uncertainty_km: f64) -> Option<Position> {
        let valid = latitude.is_finite()
            && longitude.is_finite()
            && (-90.0..=90.0).contains(&latitude)
            && (-180.0..=180.0).contains(&longitude)
            && uncertainty_km.is_finite()
            && uncertainty_km >= 0.0;
        valid.then_some(Position { latitude, longitude, uncertainty_km })
    }

    /// The shortest distance the two could really be apart: the distance between the points
    /// less both uncertainties, never below zero.
    pub fn least_distance_km(&self, other: &Position) -> f64 {
        let d = great_circle_km((self.latitude, self.longitude), (other.latitude, other.longitude));
        (d - self.uncertainty_km - other.uncertainty_km).max(0.0)
    }
}

/// The approximate position of a country (ISO 3166-1 alpha-2, any case) with a radius that
/// covers its territory, for sign-ins that carry a country and no coordinates. `None` for a
/// country not in the table: travel then is not judged.
pub fn country_position(country: &str) -> Option<Position> {
    let code = country.trim().to_ascii_uppercase();
    let i = COUNTRIES.binary_search_by(|(c, ..)| (*c).cmp(code.as_str())).ok()?;
    let (_, latitude, longitude, radius_km) = COUNTRIES[i];
    Some(Position { latitude, longitude, uncertainty_km: radius_km })
}

/// `(code, latitude, longitude, radius km)`, sorted by code. Written for Ward from general
/// geographic knowledge, not copied from a data set: a point near the middle of the country and
/// a radius 5% beyond its farthest mainland or populated island (checked against listed
/// extremities). Deliberately left out, so that a radius stays useful: Alaska and Hawaii (US),
/// Easter Island (CL), the French and Dutch overseas territories (their own codes). The radius
/// is subtracted from distances, so a coarse entry can only make travel look slower, never
/// faster, except for the territories left out. The 105 countries cover most sign-in traffic;
/// others have no fallback.
const COUNTRIES: &[(&str, f64, f64, f64)] = &[
    ("AE", 23.40, 53.80, 400.0),
    ("AL", 41.20, 20.20, 200.0),
    ("AO", -11.20, 17.90, 1050.0),
    ("AR", -38.40, -63.60, 2000.0),
    ("AT", 47.60, 14.10, 350.0),
    ("AU", -25.30, 133.80, 2500.0),
    ("BA", 44.20, 17.80, 200.0),
    ("BD", 23.70, 90.40, 450.0),
    ("BE", 50.60, 4.60, 170.0),
    ("BG", 42.70, 25.50, 300.0),
    ("BO", -16.30, -63.60, 900.0),
    ("BR", -14.20, -51.90, 2650.0),
    ("BY", 53.70, 28.00, 400.0),
    ("CA", 56.10, -106.30, 3900.0),
    ("CH", 46.80, 8.20, 200.0),
    ("CI", 7.50, -5.50, 400.0),
    ("CL", -35.70, -71.50, 2400.0),
    ("CM", 7.40, 12.40, 800.0),
    ("CN", 35.90, 104.20, 3000.0),
    ("CO", 4.60, -74.30, 1350.0),
    ("CR", 9.70, -83.80, 250.0),
    ("CU", 21.50, -77.80, 800.0),
    ("CY", 35.10, 33.40, 150.0),
    ("CZ", 49.80, 15.50, 300.0),
    ("DE", 51.20, 10.40, 500.0),
    ("DK", 56.00, 10.00, 350.0),
    ("DO", 18.70, -70.20, 250.0),
    ("DZ", 28.00, 1.70, 1250.0),
    ("EC", -1.80, -78.20, 1650.0),
    ("EE", 58.60, 25.00, 250.0),
    ("EG", 26.80, 30.80, 900.0),
    ("ES", 40.20, -3.70, 2000.0),
    ("ET", 9.10, 40.50, 900.0),
    ("FI", 64.00, 26.00, 750.0),
    ("FR", 46.60, 2.40, 800.0),
    ("GB", 54.00, -2.50, 850.0),
    ("GH", 7.90, -1.00, 400.0),
    ("GR", 39.10, 22.00, 650.0),
    ("GT", 15.80, -90.20, 300.0),
    ("HK", 22.30, 114.20, 40.0),
    ("HR", 44.50, 16.00, 350.0),
    ("HU", 47.20, 19.50, 300.0),
    ("ID", -2.50, 118.00, 2850.0),
    ("IE", 53.20, -8.00, 300.0),
    ("IL", 31.00, 34.90, 300.0),
    ("IN", 22.00, 79.00, 2450.0),
    ("IQ", 33.20, 43.70, 650.0),
    ("IR", 32.40, 53.70, 1200.0),
    ("IS", 64.90, -18.60, 300.0),
    ("IT", 42.80, 12.50, 900.0),
    ("JM", 18.10, -77.30, 150.0),
    ("JO", 30.60, 36.20, 350.0),
    ("JP", 36.20, 138.30, 2100.0),
    ("KE", 0.00, 37.90, 650.0),
    ("KR", 36.50, 127.90, 450.0),
    ("KW", 29.30, 47.50, 150.0),
    ("KZ", 48.00, 67.00, 1600.0),
    ("LB", 33.90, 35.90, 120.0),
    ("LK", 7.90, 80.80, 300.0),
    ("LT", 55.20, 23.90, 250.0),
    ("LU", 49.80, 6.10, 60.0),
    ("LV", 56.90, 24.60, 250.0),
    ("MA", 31.80, -7.10, 1650.0),
    ("MD", 47.40, 28.40, 200.0),
    ("ME", 42.70, 19.40, 120.0),
    ("MK", 41.60, 21.70, 150.0),
    ("MT", 35.90, 14.40, 50.0),
    ("MX", 23.60, -102.50, 1850.0),
    ("MY", 4.00, 109.50, 1150.0),
    ("NG", 9.10, 8.70, 800.0),
    ("NL", 52.20, 5.50, 200.0),
    ("NO", 64.50, 12.00, 1050.0),
    ("NP", 28.40, 84.10, 500.0),
    ("NZ", -41.00, 174.00, 900.0),
    ("PA", 8.50, -80.80, 450.0),
    ("PE", -9.20, -75.00, 1200.0),
    ("PH", 12.90, 121.80, 1000.0),
    ("PK", 30.40, 69.30, 1000.0),
    ("PL", 52.00, 19.10, 450.0),
    ("PR", 18.20, -66.50, 150.0),
    ("PT", 39.60, -8.00, 2100.0),
    ("PY", -23.40, -58.40, 650.0),
    ("QA", 25.40, 51.20, 120.0),
    ("RO", 45.90, 25.00, 400.0),
    ("RS", 44.00, 20.90, 300.0),
    ("RU", 61.50, 105.30, 4950.0),
    ("SA", 23.90, 45.10, 1300.0),
    ("SE", 62.00, 16.00, 850.0),
    ("SG", 1.35, 103.80, 40.0),
    ("SI", 46.10, 14.80, 150.0),
    ("SK", 48.70, 19.70, 250.0),
    ("SN", 14.50, -14.50, 400.0),
    ("TH", 15.90, 100.90, 1200.0),
    ("TN", 33.90, 9.50, 450.0),
    ("TR", 39.00, 35.20, 950.0),
    ("TW", 23.70, 121.00, 350.0),
    ("TZ", -6.40, 34.90, 900.0),
    ("UA", 49.00, 31.40, 750.0),
    ("UG", 1.40, 32.30, 350.0),
    ("US", 39.80, -98.60, 2800.0),
    ("UY", -32.50, -55.80, 350.0),
    ("UZ", 41.40, 64.60, 800.0),
    ("VE", 6.40, -66.60, 900.0),
    ("VN", 16.00, 106.00, 900.0),
    ("ZA", -28.50, 24.70, 1050.0),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_country_table_is_sorted_and_unique_so_binary_search_finds_every_entry() {
        assert!(COUNTRIES.windows(2).all(|w| w[0].0 < w[1].0));
        for (code, ..) in COUNTRIES {
            assert!(country_position(code).is_some(), "{code}");
            assert!(country_position(&code.to_ascii_lowercase()).is_some());
        }
        assert!(country_position("XX").is_none());
    }
}
