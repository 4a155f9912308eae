//! A small `strftime` for the dates chat templates print (`strftime_now`, `date_string`).
//!
//! Only the standard library is used, so times are UTC: there is no portable way to
//! read the local time zone without a dependency, and templates only print the date.

use std::time::{SystemTime, UNIX_EPOCH};

/// A broken-down UTC time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct DateTime {
    /// The year, e.g. 2025.
    pub year: i64,
    /// The month, 1 to 12.
    pub month: u32,
    /// The day of the month, 1 to 31.
    pub day: u32,
    /// The hour, 0 to 23.
    pub hour: u32,
    /// The minute, 0 to 59.
    pub minute: u32,
    /// The second, 0 to 59.
    pub second: u32,
    /// The day of the week, 0 = Sunday to 6 = Saturday.
    pub weekday: u32,
    /// The day of the year, 1 to 366.
    pub yearday: u32,
}

const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];

const WEEKDAYS: [&str; 7] = [
    "Sunday",
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
];

impl DateTime {
    /// The current UTC time (the epoch if the clock is set before it).
    pub(crate) fn now() -> Self {
        let secs = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
        Self::from_unix(secs)
    }

    /// The UTC time `secs` seconds after 1970-01-01T00:00:00Z.
    pub(crate) fn from_unix(secs: i64) -> Self {
        let days = secs.div_euclid(86_400);
        let rem = secs.rem_euclid(86_400);
        // Howard Hinnant's civil_from_days.
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z.rem_euclid(146_097);
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = doy - (153 * mp + 2) / 5 + 1;
        let month = if mp < 10 { mp + 3 } else { mp - 9 };
        let year = yoe + era * 400 + i64::from(month <= 2);
        let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
        const BEFORE: [u32; 12] = [0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334];
        let month = month as u32;
        let day = day as u32;
        let yearday = BEFORE[month as usize - 1] + day + u32::from(leap && month > 2);
        Self {
            year,
            month,
            day,
            hour: (rem / 3600) as u32,
            minute: (rem / 60 % 60) as u32,
            second: (rem % 60) as u32,
            // 1970-01-01 was a Thursday.
            weekday: (days + 4).rem_euclid(7) as u32,
            yearday,
        }
    }

    /// Formats like C's `strftime` in the C locale.
    ///
    /// Supported: `%a %A %b %h %B %d %e %j %m %y %Y %H %I %M %S %p %F %D %T %R %u %w %n %t %%`,
    /// and the glibc flag `-` (no padding, e.g. `%-d`). Anything else is copied as is.
    pub(crate) fn format(&self, fmt: &str) -> String {
        let mut out = String::with_capacity(fmt.len() + 16);
        let mut chars = fmt.chars();
        while let Some(c) = chars.next() {
            if c != '%' {
                out.push(c);
                continue;
            }
            let mut spec = chars.next();
            let unpadded = spec == Some('-');
            if unpadded {
                spec = chars.next();
            }
            let num = |out: &mut String, v: i64, width: usize| {
                if unpadded {
                    out.push_str(&v.to_string());
                } else {
                    out.push_str(&format!("{v:0width$}"));
                }
            };
            let hour12 = match self.hour % 12 {
                0 => 12,
                h => h,
            };
            match spec {
                Some('a') => out.push_str(&WEEKDAYS[self.weekday as usize][..3]),
                Some('A') => out.push_str(WEEKDAYS[self.weekday as usize]),
                Some('b' | 'h') => out.push_str(&MONTHS[self.month as usize - 1][..3]),
                Some('B') => out.push_str(MONTHS[self.month as usize - 1]),
                Some('d') => num(&mut out, self.day.into(), 2),
                Some('e') => {
                    if unpadded {
                        num(&mut out, self.day.into(), 1);
                    } else {
                        out.push_str(&format!("{:2}", self.day));
                    }
                }
                Some('j') => num(&mut out, self.yearday.into(), 3),
                Some('m') => num(&mut out, self.month.into(), 2),
                Some('y') => num(&mut out, self.year.rem_euclid(100), 2),
                Some('Y') => out.push_str(&self.year.to_string()),
                Some('H') => num(&mut out, self.hour.into(), 2),
                Some('I') => num(&mut out, hour12.into(), 2),
                Some('M') => num(&mut out, self.minute.into(), 2),
                Some('S') => num(&mut out, self.second.into(), 2),
                Some('p') => out.push_str(if self.hour < 12 { "AM" } else { "PM" }),
                Some('F') => out.push_str(&self.format("%Y-%m-%d")),
                Some('D') => out.push_str(&self.format("%m/%d/%y")),
                Some('T') => out.push_str(&self.format("%H:%M:%S")),
                Some('R') => out.push_str(&self.format("%H:%M")),
                Some('u') => num(&mut out, ((self.weekday + 6) % 7 + 1).into(), 1),
                Some('w') => num(&mut out, self.weekday.into(), 1),
                Some('n') => out.push('\n'),
                Some('t') => out.push('\t'),
                Some('%') => out.push('%'),
                Some(other) => {
                    out.push('%');
                    if unpadded {
                        out.push('-');
                    }
                    out.push(other);
                }
                None => {
                    out.push('%');
                    if unpadded {
                        out.push('-');
                    }
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::DateTime;

    #[test]
    fn civil_dates() {
        let t = DateTime::from_unix(0);
        assert_eq!(
            (t.year, t.month, t.day, t.weekday, t.yearday),
            (1970, 1, 1, 4, 1)
        );
        // 2024-02-29T13:05:09Z, a Thursday, day 60 of a leap year.
        let t = DateTime::from_unix(1_709_211_909);
        assert_eq!(
            (t.year, t.month, t.day, t.hour, t.minute, t.second),
            (2024, 2, 29, 13, 5, 9)
        );
        assert_eq!((t.weekday, t.yearday), (4, 60));
        // 2000-12-31 was day 366 of a leap year, a Sunday.
        let t = DateTime::from_unix(978_220_800);
        assert_eq!(
            (t.year, t.month, t.day, t.weekday, t.yearday),
            (2000, 12, 31, 0, 366)
        );
        // Before the epoch: 1969-12-31T23:59:59Z.
        let t = DateTime::from_unix(-1);
        assert_eq!((t.year, t.month, t.day, t.hour), (1969, 12, 31, 23));
    }

    #[test]
    fn formats() {
        let t = DateTime::from_unix(1_709_211_909);
        assert_eq!(t.format("%d %b %Y"), "29 Feb 2024");
        assert_eq!(t.format("%B %d, %Y"), "February 29, 2024");
        assert_eq!(t.format("%Y-%m-%d %H:%M:%S"), "2024-02-29 13:05:09");
        assert_eq!(t.format("%a %A %I%p %j %y"), "Thu Thursday 01PM 060 24");
        assert_eq!(t.format("%F %T %% %q"), "2024-02-29 13:05:09 % %q");
        let t = DateTime::from_unix(1_704_153_600); // 2024-01-02T00:00:00Z
        assert_eq!(t.format("%-d %-m %e|%d"), "2 1  2|02");
        assert_eq!(t.format("%I %p trailing %"), "12 AM trailing %");
    }
}
