//! Which alerts an alerting system wants, beyond its topic: where (an
//! alert's area against the subscriber's bounding box) and when (expiry),
//! and which alerts are still in force after a history of updates and
//! cancels. Pure: time is an argument; the SDK applies these after it has
//! verified each alert.
//!
//! Geometry is plane geometry on latitude and longitude degrees, which is
//! exact enough for boxes and areas of a few hundred kilometres away from
//! the poles; a circle is compared by its equirectangular distance. When
//! in doubt an alert is delivered: a filter may let through an alert near
//! a corner, never hide one inside the box.
use std::collections::BTreeMap;

use coalition_schemas::v1::{AlertArea, AlertMessageType, AlertV2, GeoPoint};

/// Metres per degree of latitude (WGS 84 mean).
const METRES_PER_DEGREE: f64 = 111_320.0;

/// A latitude/longitude box, degrees. `west > east` spans the
/// antimeridian.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BoundingBox {
    /// Southern edge, -90 to 90.
    pub south: f64,
    /// Western edge, -180 to 180.
    pub west: f64,
    /// Northern edge, -90 to 90, not below `south`.
    pub north: f64,
    /// Eastern edge, -180 to 180.
    pub east: f64,
}

impl BoundingBox {
    /// A box, if its edges are finite, in range and `south <= north`.
    pub fn new(south: f64, west: f64, north: f64, east: f64) -> Result<Self, String> {
        let lat_ok = |v: f64| v.is_finite() && (-90.0..=90.0).contains(&v);
        let lon_ok = |v: f64| v.is_finite() && (-180.0..=180.0).contains(&v);
        if !lat_ok(south) || !lat_ok(north) {
            return Err(format!(
                "latitudes {south}, {north} must be within -90..=90"
            ));
        }
        if !lon_ok(west) || !lon_ok(east) {
            return Err(format!(
                "longitudes {west}, {east} must be within -180..=180"
            ));
        }
        if south > north {
            return Err(format!("south {south} is north of north {north}"));
        }
        Ok(BoundingBox {
            south,
            west,
            north,
            east,
        })
    }

    /// The box as one or two boxes that do not span the antimeridian.
    fn parts(&self) -> Vec<BoundingBox> {
        if self.west <= self.east {
            vec![*self]
        } else {
            vec![
                BoundingBox {
                    east: 180.0,
                    ..*self
                },
                BoundingBox {
                    west: -180.0,
                    ..*self
                },
            ]
        }
    }

    fn contains(&self, (lat, lon): (f64, f64)) -> bool {
        (self.south..=self.north).contains(&lat) && (self.west..=self.east).contains(&lon)
    }
}

fn degrees(p: &GeoPoint) -> (f64, f64) {
    (
        f64::from(p.latitude_e7) / 1e7,
        f64::from(p.longitude_e7) / 1e7,
    )
}

/// Whether an alert's area touches `bbox`. No area, or an area with
/// neither circle nor polygon, applies everywhere.
pub fn area_touches(area: Option<&AlertArea>, bbox: &BoundingBox) -> bool {
    let Some(area) = area else {
        return true;
    };
    let polygon: Vec<(f64, f64)> = area.polygon.iter().map(degrees).collect();
    let circle = area.circle.as_ref().and_then(|c| {
        c.center
            .as_ref()
            .map(|p| (degrees(p), f64::from(c.radius_m)))
    });
    if polygon.is_empty() && circle.is_none() {
        return true;
    }
    bbox.parts().iter().any(|part| {
        circle.is_some_and(|(centre, radius)| circle_touches(centre, radius, part))
            || (!polygon.is_empty() && polygon_touches(&polygon, part))
    })
}

/// Whether a circle (centre in degrees, radius in metres) touches a box
/// that does not span the antimeridian: the nearest point of the box is
/// within the radius (equirectangular distance).
fn circle_touches((lat, lon): (f64, f64), radius_m: f64, b: &BoundingBox) -> bool {
    let nearest = (lat.clamp(b.south, b.north), lon.clamp(b.west, b.east));
    let dlat = (lat - nearest.0) * METRES_PER_DEGREE;
    let mean_lat = ((lat + nearest.0) / 2.0).to_radians();
    let dlon = (lon - nearest.1) * METRES_PER_DEGREE * mean_lat.cos();
    dlat.hypot(dlon) <= radius_m
}

/// Whether a polygon (closed ring, degrees) touches a box that does not
/// span the antimeridian: a vertex inside the box, a corner of the box
/// inside the polygon, or an edge crossing an edge of the box.
fn polygon_touches(ring: &[(f64, f64)], b: &BoundingBox) -> bool {
    if ring.iter().any(|p| b.contains(*p)) {
        return true;
    }
    let corners = [
        (b.south, b.west),
        (b.south, b.east),
        (b.north, b.east),
        (b.north, b.west),
    ];
    if corners.iter().any(|c| inside(ring, *c)) {
        return true;
    }
    let box_edges = (0..4).map(|i| (corners[i], corners[(i + 1) % 4]));
    let ring_edges: Vec<_> = ring.windows(2).map(|w| (w[0], w[1])).collect();
    box_edges
        .into_iter()
        .any(|e| ring_edges.iter().any(|r| crosses(e, *r)))
}

/// Even-odd rule: whether `p` is inside the closed ring.
fn inside(ring: &[(f64, f64)], (lat, lon): (f64, f64)) -> bool {
    let mut odd = false;
    for w in ring.windows(2) {
        let ((lat1, lon1), (lat2, lon2)) = (w[0], w[1]);
        if (lat1 > lat) != (lat2 > lat) {
            let lon_at = lon1 + (lat - lat1) / (lat2 - lat1) * (lon2 - lon1);
            if lon < lon_at {
                odd = !odd;
            }
        }
    }
    odd
}

type Segment = ((f64, f64), (f64, f64));

/// Whether two segments intersect (touching counts).
fn crosses((a, b): Segment, (c, d): Segment) -> bool {
    let orient = |p: (f64, f64), q: (f64, f64), r: (f64, f64)| {
        (q.0 - p.0) * (r.1 - p.1) - (q.1 - p.1) * (r.0 - p.0)
    };
    let on = |p: (f64, f64), q: (f64, f64), r: (f64, f64)| {
        r.0 >= p.0.min(q.0) && r.0 <= p.0.max(q.0) && r.1 >= p.1.min(q.1) && r.1 <= p.1.max(q.1)
    };
    let (d1, d2) = (orient(c, d, a), orient(c, d, b));
    let (d3, d4) = (orient(a, b, c), orient(a, b, d));
    if ((d1 > 0.0) != (d2 > 0.0)) && ((d3 > 0.0) != (d4 > 0.0)) && d1 != 0.0 && d2 != 0.0 {
        return true;
    }
    (d1 == 0.0 && on(c, d, a))
        || (d2 == 0.0 && on(c, d, b))
        || (d3 == 0.0 && on(a, b, c))
        || (d4 == 0.0 && on(a, b, d))
}

/// Whether an alert has expired at `now_ms` (`expires_at_ms` 0: never).
pub fn is_expired(alert: &AlertV2, now_ms: i64) -> bool {
    alert.expires_at_ms != 0 && alert.expires_at_ms <= now_ms
}

/// Whether a subscriber asking for `area` (and for expired alerts or not)
/// is given `alert` at `now_ms`. `follows_given` says the alert refers to
/// one the subscriber was given (an update, cancel, ack or error of it):
/// such an alert is always given, even outside the area or expired, so a
/// subscriber never keeps an alert that was superseded or cancelled.
pub fn wanted(
    alert: &AlertV2,
    area: Option<&BoundingBox>,
    include_expired: bool,
    now_ms: i64,
    follows_given: bool,
) -> bool {
    if follows_given {
        return true;
    }
    if !include_expired && is_expired(alert, now_ms) {
        return false;
    }
    area.is_none_or(|b| area_touches(alert.area.as_ref(), b))
}

/// An alert's identity across updates: (sender, alert id). CAP names an
/// alert by sender, identifier and sent; an id is unique per sender.
pub type AlertKey = (String, String);

/// The key of `alert` itself, and of each alert it refers to.
pub fn keys(alert: &AlertV2) -> (AlertKey, Vec<AlertKey>) {
    let referred = alert
        .references
        .iter()
        .map(|r| key(&r.sender, &r.alert_id))
        .collect();
    (key(&alert.sender, &alert.alert_id), referred)
}

fn key(sender: &str, alert_id: &str) -> AlertKey {
    (sender.to_string(), alert_id.to_string())
}

/// The alerts in force after a history, as a late joiner needs them: a
/// new alert is in force until an update supersedes it (the update is then
/// in force in its place) or a cancel ends it, or it expires. Acks and
/// errors change nothing. `T` is what the caller keeps per alert (e.g. the
/// verified delivery).
#[derive(Debug)]
pub struct InForce<T> {
    alerts: BTreeMap<AlertKey, (AlertV2, T)>,
    /// Alerts ended (superseded or cancelled) before they were seen.
    ended: std::collections::BTreeSet<AlertKey>,
    order: Vec<AlertKey>,
}

impl<T> Default for InForce<T> {
    fn default() -> Self {
        InForce {
            alerts: BTreeMap::new(),
            ended: Default::default(),
            order: Vec::new(),
        }
    }
}

impl<T> InForce<T> {
    /// Applies the next alert of the history (in the order it was
    /// delivered), keeping `value` with it if it is in force.
    pub fn apply(&mut self, alert: AlertV2, value: T) {
        let (this, referred) = keys(&alert);
        match AlertMessageType::try_from(alert.message_type) {
            Ok(AlertMessageType::Update) | Ok(AlertMessageType::Cancel) => {
                for r in referred {
                    self.alerts.remove(&r);
                    self.ended.insert(r);
                }
            }
            _ => {}
        }
        let keeps = matches!(
            AlertMessageType::try_from(alert.message_type),
            Ok(AlertMessageType::Alert) | Ok(AlertMessageType::Update)
        );
        if keeps && !self.ended.contains(&this) {
            if !self.alerts.contains_key(&this) {
                self.order.push(this.clone());
            }
            self.alerts.insert(this, (alert, value));
        }
    }

    /// The alerts in force at `now_ms`, in the order they were first seen;
    /// expired ones are left out unless `include_expired`.
    pub fn into_in_force(mut self, now_ms: i64, include_expired: bool) -> Vec<(AlertV2, T)> {
        self.order
            .iter()
            .filter_map(|k| self.alerts.remove(k))
            .filter(|(a, _)| include_expired || !is_expired(a, now_ms))
            .collect()
    }
}

#[cfg(test)]
mod tests;
