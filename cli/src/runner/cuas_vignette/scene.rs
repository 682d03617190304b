//! What happens in the counter-UAS vignette, as plain data: who produces
//! on which feed, the two source tracks, the five alerts the FRA cell
//! raises (the incident, its update and its cancel, and two alerts the GBR
//! console must not show), and the console's area. No I/O: the vignette's
//! shell ([`super`]) publishes and checks what this module describes.
use coalition_sdk::{
    AlertArea, AlertCertainty, AlertMessageType, AlertReference, AlertSeverity, AlertStatus,
    AlertUrgency, AlertV2, BoundingBox, GeoCircle, GeoPoint, Label, TrackV1,
};
use coalition_topology::FeedKind;

/// One producer's feed of the vignette.
#[derive(Debug, Clone, Copy)]
pub struct Cast {
    pub nation: &'static str,
    pub producer: &'static str,
    pub feed: &'static str,
    pub kind: FeedKind,
}

/// The USA radar that sees the drone first.
pub const RADAR: Cast = Cast {
    nation: "USA",
    producer: "usa-cuas-radar",
    feed: "cuas-tracks",
    kind: FeedKind::Track,
};
/// The GBR electro-optical sensor that confirms it.
pub const EO: Cast = Cast {
    nation: "GBR",
    producer: "gbr-cuas-eo",
    feed: "cuas-tracks",
    kind: FeedKind::Track,
};
/// The FRA counter-UAS cell that fuses both into alerts.
pub const CELL: Cast = Cast {
    nation: "FRA",
    producer: "fra-cuas-cell",
    feed: "cuas-alerts",
    kind: FeedKind::Alert,
};
/// The nation whose air-defence console subscribes.
pub const CONSOLE: &str = "GBR";
/// The category the console asks for.
pub const CATEGORY: &str = "air";

/// The console's area: south, west, north, east (degrees), around London.
pub const AREA: (f64, f64, f64, f64) = (51.0, -1.0, 52.0, 0.5);

/// The console's area as the SDK takes it.
pub fn area() -> Result<BoundingBox, String> {
    BoundingBox::new(AREA.0, AREA.1, AREA.2, AREA.3)
}

/// Where the drone is: inside [`AREA`].
const INCIDENT: (f64, f64) = (51.505, -0.120);
/// An unrelated drone over Toulon: far outside [`AREA`].
const TOULON: (f64, f64) = (43.105, 5.930);

/// The source tracks' labels, in their producers' vocabularies: both
/// releasable to all three nations, GBR's at CONFIDENTIAL (the most its
/// link to FRA carries).
pub fn source_label(cast: &Cast) -> Label {
    let classification = if cast.nation == "GBR" {
        "CONFIDENTIAL"
    } else {
        "SECRET"
    };
    Label::new(cast.nation, classification, &["FRA", "GBR", "USA"])
}

/// The track `cast` reports of the drone, at `now_ms`.
pub fn source_track(cast: &Cast, now_ms: i64) -> TrackV1 {
    let (id, confidence, offset) = if cast.nation == "USA" {
        ("USA-R-0417", 0.72, 0.0)
    } else {
        ("GBR-EO-0088", 0.91, 0.0004)
    };
    TrackV1 {
        track_id: id.into(),
        latitude_deg: INCIDENT.0 + offset,
        longitude_deg: INCIDENT.1 - offset,
        confidence,
        observed_at_ms: now_ms,
        ..Default::default()
    }
}

/// Which alert of the vignette, and whether the console must show it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Raised {
    /// The fused incident alert: shown.
    Incident,
    /// An `air` alert over Toulon: outside the console's area, not shown.
    FarAway,
    /// A `cbrn` alert inside the area: another category, not shown.
    OtherCategory,
    /// The incident's update: shown.
    Update,
    /// The incident's cancel: shown.
    Cancel,
}

impl Raised {
    /// In the order the cell raises them.
    pub const ALL: [Raised; 5] = [
        Raised::Incident,
        Raised::FarAway,
        Raised::OtherCategory,
        Raised::Update,
        Raised::Cancel,
    ];

    /// The alert id.
    pub fn id(self) -> &'static str {
        match self {
            Raised::Incident => "FRA-CUAS-0001",
            Raised::FarAway => "FRA-CUAS-0002",
            Raised::OtherCategory => "FRA-CBRN-0001",
            Raised::Update => "FRA-CUAS-0001-U1",
            Raised::Cancel => "FRA-CUAS-0001-C1",
        }
    }

    /// Whether the console (category `air`, [`AREA`]) must show it.
    pub fn shown(self) -> bool {
        !matches!(self, Raised::FarAway | Raised::OtherCategory)
    }

    /// Why the console must not show it, if it must not.
    pub fn left_out_because(self) -> Option<&'static str> {
        match self {
            Raised::FarAway => Some("outside the console's area (the SDK filters)"),
            Raised::OtherCategory => Some("category cbrn (the server filters)"),
            _ => None,
        }
    }

    /// Whether it is derived from the two source tracks.
    pub fn fused(self) -> bool {
        matches!(self, Raised::Incident | Raised::Update | Raised::Cancel)
    }

    /// The alert the cell publishes at `now_ms`; `sources` are the source
    /// tracks' ids.
    pub fn alert(self, now_ms: i64, sources: &[String]) -> AlertV2 {
        let incident = AlertV2 {
            alert_id: self.id().into(),
            sender: CELL.producer.into(),
            sent_at_ms: now_ms,
            status: AlertStatus::Exercise as i32,
            message_type: AlertMessageType::Alert as i32,
            references: Vec::new(),
            category: CATEGORY.into(),
            event: "uas-incursion".into(),
            urgency: AlertUrgency::Immediate as i32,
            severity: AlertSeverity::Severe as i32,
            certainty: AlertCertainty::Observed as i32,
            effective_at_ms: 0,
            expires_at_ms: now_ms + 3_600_000,
            area: Some(circle("over Westminster", INCIDENT, 1_500)),
            source_track_ids: sources.to_vec(),
            headline: "UAS incursion over Westminster, radar and EO confirmed".into(),
            instruction: "Hold all drone operations; engage per ROE".into(),
        };
        let follow_up = |kind: AlertMessageType, headline: &str| AlertV2 {
            message_type: kind as i32,
            references: vec![AlertReference {
                sender: CELL.producer.into(),
                alert_id: Raised::Incident.id().into(),
                sent_at_ms: 0,
            }],
            headline: headline.into(),
            ..incident.clone()
        };
        match self {
            Raised::Incident => incident,
            Raised::FarAway => AlertV2 {
                area: Some(circle("over Toulon harbour", TOULON, 2_000)),
                source_track_ids: Vec::new(),
                headline: "UAS over Toulon harbour".into(),
                ..incident
            },
            Raised::OtherCategory => AlertV2 {
                category: "cbrn".into(),
                event: "chemical-release".into(),
                source_track_ids: Vec::new(),
                headline: "Suspected chemical release near Westminster".into(),
                ..incident
            },
            Raised::Update => AlertV2 {
                severity: AlertSeverity::Extreme as i32,
                ..follow_up(AlertMessageType::Update, "UAS now hovering over the bridge")
            },
            Raised::Cancel => follow_up(AlertMessageType::Cancel, "UAS brought down; all clear"),
        }
    }
}

fn circle(description: &str, (lat, lon): (f64, f64), radius_m: u32) -> AlertArea {
    AlertArea {
        description: description.into(),
        circle: Some(GeoCircle {
            center: Some(GeoPoint {
                latitude_e7: (lat * 1e7).round() as i32,
                longitude_e7: (lon * 1e7).round() as i32,
            }),
            radius_m,
        }),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_alert_is_valid_and_only_the_incident_thread_is_for_the_console() {
        let sources = ["USA-R-0417".to_string(), "GBR-EO-0088".to_string()];
        let area = area().expect("a valid box");
        for raised in Raised::ALL {
            let alert = raised.alert(1_000, &sources);
            coalition_core::schema::validate_alert_v2(&alert)
                .unwrap_or_else(|e| panic!("{raised:?}: {e}"));
            let in_area =
                coalition_core::alert_scope::wanted(&alert, Some(&area), false, 1_000, false);
            let for_console = alert.category == CATEGORY && in_area;
            assert_eq!(for_console, raised.shown(), "{raised:?}");
            assert_eq!(raised.left_out_because().is_none(), raised.shown());
        }
    }
}
