//! Business hours: when a promise made "within N business hours" falls due.
//!
//! HR and IT agree on service levels in working time ("an account within one business day of
//! the approval"), so the clock only runs while the office is open: nights, weekends and
//! public holidays do not count. The office hours are those of one IANA time zone, so that a
//! deadline stays right across daylight-saving changes.
//!
//! [`BusinessCalendar`] is the declared form, as it appears in a resource;
//! [`BusinessCalendar::hours`] checks it once and gives [`BusinessHours`], which does the
//! arithmetic. The time-zone data is bundled into the binary, because the minimal containers
//! the operator runs in have no `/usr/share/zoneinfo`.

use std::collections::BTreeSet;
use std::time::Duration;

use jiff::civil::{Date, Time};
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time as KubeTime;
use kube::KubeSchema;
use serde::{Deserialize, Serialize};

/// How far a deadline or a span may reach. A calendar whose open days are this rare is a
/// mistake, and the bound keeps every computation short.
const HORIZON_DAYS: usize = 366 * 20;

/// A day of the week, as written in a calendar.
#[derive(Deserialize, Serialize, Clone, Copy, Debug, PartialEq, Eq, schemars::JsonSchema)]
pub enum Weekday {
    Monday,
    Tuesday,
    Wednesday,
    Thursday,
    Friday,
    Saturday,
    Sunday,
}

impl Weekday {
    /// Monday is 0, Sunday 6.
    fn index(self) -> usize {
        self as usize
    }
}

/// The office hours service levels are counted in.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("self.start < self.end")
    .message("the business day must start before it ends"))]
pub struct BusinessCalendar {
    /// IANA time zone of the office, such as `Europe/Berlin`.
    #[serde(default = "default_time_zone")]
    #[schemars(length(min = 1, max = 64))]
    pub time_zone: String,

    /// Days the office is open; Monday to Friday unless given.
    #[serde(default = "default_working_days")]
    #[schemars(length(min = 1, max = 7))]
    pub working_days: Vec<Weekday>,

    /// Opening time, `HH:MM` in the office's time zone.
    #[serde(default = "default_start")]
    #[schemars(length(min = 5, max = 5))]
    #[x_kube(validation = Rule::new("self.matches('^([01][0-9]|2[0-3]):[0-5][0-9]$')")
        .message("start must be a time of day as HH:MM, such as 09:00"))]
    pub start: String,

    /// Closing time, `HH:MM` in the office's time zone.
    #[serde(default = "default_end")]
    #[schemars(length(min = 5, max = 5))]
    #[x_kube(validation = Rule::new("self.matches('^([01][0-9]|2[0-3]):[0-5][0-9]$')")
        .message("end must be a time of day as HH:MM, such as 17:00"))]
    pub end: String,

    /// Public holidays, as dates such as `2026-12-25`: no business time on these days.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 200), inner(length(min = 10, max = 10)))]
    #[x_kube(validation = Rule::new("self.all(d, d.matches('^[0-9]{4}-[0-9]{2}-[0-9]{2}$'))")
        .message("holidays must be dates as YYYY-MM-DD, such as 2026-12-25"))]
    pub holidays: Vec<String>,
}

impl Default for BusinessCalendar {
    fn default() -> Self {
        Self {
            time_zone: default_time_zone(),
            working_days: default_working_days(),
            start: default_start(),
            end: default_end(),
            holidays: Vec::new(),
        }
    }
}

fn default_time_zone() -> String {
    "UTC".to_string()
}

fn default_working_days() -> Vec<Weekday> {
    use Weekday::*;
    vec![Monday, Tuesday, Wednesday, Thursday, Friday]
}

fn default_start() -> String {
    "09:00".to_string()
}

fn default_end() -> String {
    "17:00".to_string()
}

/// Why a calendar cannot be used, or a deadline not computed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SlaError {
    #[error("time zone {0:?} is not in the IANA time zone database")]
    UnknownTimeZone(String),
    #[error("{field} {value:?} is not a time of day as HH:MM")]
    InvalidTime { field: &'static str, value: String },
    #[error("the business day must start before it ends (start {start}, end {end})")]
    EmptyDay { start: String, end: String },
    #[error("holiday {0:?} is not a date as YYYY-MM-DD")]
    InvalidHoliday(String),
    #[error("the calendar has no working days")]
    NoWorkingDays,
    #[error("the result lies more than {HORIZON_DAYS} days away")]
    BeyondHorizon,
}

impl SlaError {
    /// A CamelCase category for Event reasons and metric labels.
    pub fn category(&self) -> &'static str {
        match self {
            SlaError::BeyondHorizon => "SlaBeyondHorizon",
            _ => "BusinessCalendarInvalid",
        }
    }
}

impl BusinessCalendar {
    /// Checks the calendar and prepares it for arithmetic.
    pub fn hours(&self) -> Result<BusinessHours, SlaError> {
        let zone = jiff::tz::db()
            .get(&self.time_zone)
            .map_err(|_| SlaError::UnknownTimeZone(self.time_zone.clone()))?;
        let opens = parse_time("start", &self.start)?;
        let closes = parse_time("end", &self.end)?;
        if opens >= closes {
            return Err(SlaError::EmptyDay {
                start: self.start.clone(),
                end: self.end.clone(),
            });
        }
        let mut open_days = [false; 7];
        for day in &self.working_days {
            open_days[day.index()] = true;
        }
        if !open_days.contains(&true) {
            return Err(SlaError::NoWorkingDays);
        }
        let holidays = self
            .holidays
            .iter()
            .map(|h| {
                h.parse::<Date>()
                    .map_err(|_| SlaError::InvalidHoliday(h.clone()))
            })
            .collect::<Result<_, _>>()?;
        Ok(BusinessHours {
            zone,
            open_days,
            opens,
            closes,
            holidays,
        })
    }

    /// The moment `business` time after `start` has passed in office hours.
    /// See [`BusinessHours::deadline`].
    pub fn deadline(&self, start: Timestamp, business: Duration) -> Result<Timestamp, SlaError> {
        self.hours()?.deadline(start, business)
    }

    /// Office time between two moments. See [`BusinessHours::business_time_between`].
    pub fn business_time_between(&self, a: Timestamp, b: Timestamp) -> Result<Duration, SlaError> {
        self.hours()?.business_time_between(a, b)
    }
}

/// `HH:MM` only: seconds in an office calendar are more likely a typo than intended.
fn parse_time(field: &'static str, value: &str) -> Result<Time, SlaError> {
    let invalid = || SlaError::InvalidTime {
        field,
        value: value.to_string(),
    };
    let well_formed = value.len() == 5 && value.as_bytes()[2] == b':';
    if !well_formed {
        return Err(invalid());
    }
    value.parse::<Time>().map_err(|_| invalid())
}

/// A checked [`BusinessCalendar`], ready for deadline arithmetic.
#[derive(Clone, Debug)]
pub struct BusinessHours {
    zone: TimeZone,
    /// Indexed Monday = 0.
    open_days: [bool; 7],
    opens: Time,
    closes: Time,
    holidays: BTreeSet<Date>,
}

impl BusinessHours {
    /// The moment `business` time after `start` has passed in office hours.
    ///
    /// Nights, closed weekdays and holidays are skipped; a start outside office hours counts
    /// from the next opening. A deadline that uses up a day exactly falls at that day's
    /// closing time, not at the next opening. Office hours are wall-clock times, so a day on
    /// which the clocks change is as long as the clocks say.
    pub fn deadline(&self, start: Timestamp, business: Duration) -> Result<Timestamp, SlaError> {
        let mut remaining =
            SignedDuration::try_from(business).map_err(|_| SlaError::BeyondHorizon)?;
        let mut date = self.local_date(start);
        for _ in 0..HORIZON_DAYS {
            if let Some((opens, closes)) = self.window(date) {
                let from = opens.max(start);
                if from < closes {
                    let available = closes.duration_since(from);
                    if remaining <= available {
                        return from
                            .checked_add(remaining)
                            .map_err(|_| SlaError::BeyondHorizon);
                    }
                    remaining -= available;
                }
            }
            date = date.tomorrow().map_err(|_| SlaError::BeyondHorizon)?;
        }
        Err(SlaError::BeyondHorizon)
    }

    /// Office time between `a` and `b`; zero when `b` is not after `a`.
    pub fn business_time_between(&self, a: Timestamp, b: Timestamp) -> Result<Duration, SlaError> {
        let mut total = SignedDuration::ZERO;
        if b <= a {
            return Ok(Duration::ZERO);
        }
        let last = self.local_date(b);
        let mut date = self.local_date(a);
        for _ in 0..HORIZON_DAYS {
            if let Some((opens, closes)) = self.window(date) {
                let (from, to) = (opens.max(a), closes.min(b));
                if from < to {
                    total += to.duration_since(from);
                }
            }
            if date >= last {
                return Ok(Duration::try_from(total).expect("a sum of positive spans"));
            }
            date = date.tomorrow().map_err(|_| SlaError::BeyondHorizon)?;
        }
        Err(SlaError::BeyondHorizon)
    }

    /// Whether the office is open at `at`.
    pub fn is_open(&self, at: Timestamp) -> bool {
        self.window(self.local_date(at))
            .is_some_and(|(opens, closes)| opens <= at && at < closes)
    }

    fn local_date(&self, at: Timestamp) -> Date {
        at.to_zoned(self.zone.clone()).date()
    }

    /// The office hours of one date, or `None` when the office is closed all day.
    fn window(&self, date: Date) -> Option<(Timestamp, Timestamp)> {
        let weekday = date.weekday().to_monday_zero_offset() as usize;
        if !self.open_days[weekday] || self.holidays.contains(&date) {
            return None;
        }
        // A wall-clock time skipped by a clock change counts from just after the change.
        let at = |time: Time| date.to_datetime(time).to_zoned(self.zone.clone()).ok();
        Some((at(self.opens)?.timestamp(), at(self.closes)?.timestamp()))
    }
}

/// One promise in business time: when the clock started, when it falls due, and when the work
/// was done. It goes into a resource's status so that an outcome survives restarts.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SlaRecord {
    /// When the clock started, e.g. the HR approval.
    pub started_at: KubeTime,
    /// When the promised business time runs out.
    pub due_at: KubeTime,
    /// When the work was done, once it is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completed_at: Option<KubeTime>,
}

/// Where a promise stands.
#[derive(Deserialize, Serialize, Clone, Copy, Debug, PartialEq, Eq, schemars::JsonSchema)]
pub enum SlaOutcome {
    /// Not done yet, and not yet due.
    InProgress,
    /// Done by the deadline.
    Met,
    /// Done late, or not done and already overdue.
    Breached,
}

impl SlaRecord {
    /// Starts the clock at `started_at` with `business` time to go.
    pub fn start(
        hours: &BusinessHours,
        started_at: Timestamp,
        business: Duration,
    ) -> Result<Self, SlaError> {
        Ok(Self {
            started_at: KubeTime(started_at),
            due_at: KubeTime(hours.deadline(started_at, business)?),
            completed_at: None,
        })
    }

    /// Records the completion; the first one recorded counts.
    pub fn complete(&mut self, at: Timestamp) {
        self.completed_at.get_or_insert(KubeTime(at));
    }

    /// The outcome as of `now`. Finishing exactly at the deadline meets it.
    pub fn outcome(&self, now: Timestamp) -> SlaOutcome {
        let due = self.due_at.0;
        match &self.completed_at {
            Some(done) if done.0 <= due => SlaOutcome::Met,
            Some(_) => SlaOutcome::Breached,
            None if now <= due => SlaOutcome::InProgress,
            None => SlaOutcome::Breached,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn berlin() -> BusinessHours {
        BusinessCalendar {
            time_zone: "Europe/Berlin".into(),
            holidays: vec!["2026-12-25".into(), "2026-12-26".into()],
            ..BusinessCalendar::default()
        }
        .hours()
        .unwrap()
    }

    fn at(text: &str) -> Timestamp {
        text.parse().unwrap()
    }

    fn hours(n: u64) -> Duration {
        Duration::from_secs(n * 3600)
    }

    #[test]
    fn a_weekend_is_skipped() {
        // Friday 15:00 in Berlin (CET, UTC+1): two hours on Friday, two on Monday.
        let deadline = berlin()
            .deadline(at("2026-12-04T14:00:00Z"), hours(4))
            .unwrap();
        assert_eq!(deadline, at("2026-12-07T10:00:00Z"));
    }

    #[test]
    fn holidays_are_skipped() {
        // Thursday 24 December 16:00: one hour left that day; Friday and Saturday are
        // holidays, Sunday is closed; the second hour is on Monday 28 December.
        let deadline = berlin()
            .deadline(at("2026-12-24T15:00:00Z"), hours(2))
            .unwrap();
        assert_eq!(deadline, at("2026-12-28T09:00:00Z"));
    }

    #[test]
    fn a_late_evening_approval_counts_from_the_next_opening() {
        // Tuesday 21:30 in Berlin; Wednesday opens at 09:00.
        let deadline = berlin()
            .deadline(at("2026-12-01T20:30:00Z"), hours(1))
            .unwrap();
        assert_eq!(deadline, at("2026-12-02T09:00:00Z"));
    }

    #[test]
    fn a_deadline_using_up_the_day_falls_at_closing_time() {
        // Wednesday 09:00 + 8 h is Wednesday 17:00, not Thursday 09:00.
        let hours8 = berlin()
            .deadline(at("2026-12-02T08:00:00Z"), hours(8))
            .unwrap();
        assert_eq!(hours8, at("2026-12-02T16:00:00Z"));
        // Starting after hours, one full day ends at the next day's close as well.
        let evening = berlin()
            .deadline(at("2026-12-01T20:30:00Z"), hours(8))
            .unwrap();
        assert_eq!(evening, at("2026-12-02T16:00:00Z"));
    }

    #[test]
    fn the_spring_clock_change_in_berlin_is_followed() {
        // Friday 27 March 16:00 CET (UTC+1); clocks go forward on Sunday 29 March; Monday
        // 30 March opens at 09:00 CEST (UTC+2), so the second hour ends at 08:00 UTC.
        let start = at("2026-03-27T15:00:00Z");
        let deadline = berlin().deadline(start, hours(2)).unwrap();
        assert_eq!(deadline, at("2026-03-30T08:00:00Z"));
        let between = berlin().business_time_between(start, deadline).unwrap();
        assert_eq!(between, hours(2));
    }

    #[test]
    fn the_autumn_clock_change_in_berlin_is_followed() {
        // Friday 23 October 16:30 CEST (UTC+2): half an hour that day. Clocks go back on
        // Sunday 25 October, so Monday opens at 09:00 CET (UTC+1) and the hour ends 09:30 CET.
        let deadline = berlin()
            .deadline(at("2026-10-23T14:30:00Z"), hours(1))
            .unwrap();
        assert_eq!(deadline, at("2026-10-26T08:30:00Z"));
    }

    #[test]
    fn business_time_counts_office_hours_only() {
        let b = berlin();
        // Friday 16:00 to Monday 10:00: one hour each side of the weekend.
        let span = b
            .business_time_between(at("2026-12-04T15:00:00Z"), at("2026-12-07T09:00:00Z"))
            .unwrap();
        assert_eq!(span, hours(2));
        let backwards = b
            .business_time_between(at("2026-12-07T09:00:00Z"), at("2026-12-04T15:00:00Z"))
            .unwrap();
        assert_eq!(backwards, Duration::ZERO);
        assert!(b.is_open(at("2026-12-07T09:00:00Z")));
        assert!(
            !b.is_open(at("2026-12-07T16:00:00Z")),
            "17:00 is closing time"
        );
        assert!(!b.is_open(at("2026-12-25T10:00:00Z")), "a holiday");
    }

    #[test]
    fn bad_calendars_are_refused_with_the_field_named() {
        let bad = |edit: fn(&mut BusinessCalendar)| {
            let mut calendar = BusinessCalendar::default();
            edit(&mut calendar);
            calendar.hours().unwrap_err().to_string()
        };
        assert!(bad(|c| c.time_zone = "Europe/Atlantis".into()).contains("Europe/Atlantis"));
        assert!(bad(|c| c.start = "9am".into()).starts_with("start \"9am\""));
        assert!(bad(|c| c.end = "25:00".into()).starts_with("end \"25:00\""));
        assert!(bad(|c| c.end = "08:00".into()).contains("start before it ends"));
        assert!(bad(|c| c.holidays = vec!["25.12.2026".into()]).contains("25.12.2026"));
        assert!(bad(|c| c.working_days.clear()).contains("no working days"));
    }

    #[test]
    fn the_bundled_time_zone_data_knows_berlin() {
        // The container image has no /usr/share/zoneinfo; the bundled copy must do.
        let zone = jiff::tz::TimeZoneDatabase::bundled().get("Europe/Berlin");
        assert!(zone.is_ok(), "{zone:?}");
    }

    #[test]
    fn an_sla_is_met_breached_or_in_progress() {
        let mut record = SlaRecord::start(&berlin(), at("2026-12-02T08:00:00Z"), hours(8)).unwrap();
        assert_eq!(record.due_at.0, at("2026-12-02T16:00:00Z"));
        assert_eq!(
            record.outcome(at("2026-12-02T16:00:00Z")),
            SlaOutcome::InProgress
        );
        assert_eq!(
            record.outcome(at("2026-12-02T16:00:01Z")),
            SlaOutcome::Breached
        );
        let mut late = record.clone();
        record.complete(at("2026-12-02T16:00:00Z"));
        assert_eq!(record.outcome(at("2026-12-09T00:00:00Z")), SlaOutcome::Met);
        late.complete(at("2026-12-03T08:00:00Z"));
        late.complete(at("2026-12-02T09:00:00Z"));
        assert_eq!(
            late.outcome(at("2026-12-03T08:00:00Z")),
            SlaOutcome::Breached
        );
    }

    #[test]
    fn the_calendar_schema_carries_its_rules() {
        let schema = serde_json::to_string(&schemars::schema_for!(BusinessCalendar)).unwrap();
        assert!(schema.contains("self.start < self.end"), "{schema}");
        assert!(schema.contains("\"maxItems\":200"), "{schema}");
    }

    /// Office hours across a spring and an autumn clock change in the small hours, to make
    /// sure the two functions agree on days that are not 24 hours long.
    fn night_shift() -> BusinessHours {
        BusinessCalendar {
            time_zone: "Europe/Berlin".into(),
            working_days: vec![Weekday::Saturday, Weekday::Sunday, Weekday::Monday],
            start: "01:30".into(),
            end: "04:00".into(),
            holidays: vec!["2026-03-30".into()],
        }
        .hours()
        .unwrap()
    }

    proptest! {
        #[test]
        fn deadlines_never_precede_their_start_and_measure_back_exactly(
            start_secs in 1_767_225_600i64..1_830_297_600i64,
            nanos in 0u32..1_000_000_000,
            business_secs in 0u64..(400 * 3600),
            night in any::<bool>(),
        ) {
            let hours = if night { night_shift() } else { berlin() };
            let start = Timestamp::new(start_secs, nanos as i32).unwrap();
            let business = Duration::from_secs(business_secs);
            let deadline = hours.deadline(start, business).unwrap();
            prop_assert!(deadline >= start);
            prop_assert_eq!(hours.business_time_between(start, deadline).unwrap(), business);
        }
    }
}
