//! Reading an import file: UTF-8 CSV with a header row, as spreadsheets export it.
//!
//! A byte-order mark is dropped, CRLF and LF line ends both work, and quoted fields may hold
//! commas, doubled quotes and line breaks. Fields are trimmed. Rows that are entirely empty
//! (spreadsheets like to export a few) are skipped.

use std::collections::BTreeMap;

use super::Problem;
use super::columns::Column;

const BOM: &[u8] = b"\xEF\xBB\xBF";

/// One data row, by column.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Row {
    /// The row as a spreadsheet numbers it: the header is row 1.
    pub number: usize,
    /// The line the row starts on, which differs from `number` after a quoted line break.
    pub line: u64,
    values: BTreeMap<Column, String>,
}

impl Row {
    /// The trimmed value of a column, or `None` when the column is absent or empty.
    pub fn get(&self, column: Column) -> Option<&str> {
        self.values
            .get(&column)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    /// A problem with this row.
    pub fn problem(&self, column: Option<Column>, message: impl Into<String>) -> Problem {
        Problem {
            row: self.number,
            line: (self.line != self.number as u64).then_some(self.line),
            column: column.map(Column::header),
            message: message.into(),
        }
    }
}

/// Reads every row, or the problems that stop the file from being read at all (a bad header).
/// Problems of single rows that cannot be split into columns come back alongside the rows.
pub fn read(bytes: &[u8], namespace_given: bool) -> (Vec<Row>, Vec<Problem>) {
    let bytes = bytes.strip_prefix(BOM).unwrap_or(bytes);
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(bytes);
    let columns = match reader.byte_headers() {
        Ok(headers) => match header_columns(headers, namespace_given) {
            Ok(columns) => columns,
            Err(problems) => return (Vec::new(), problems),
        },
        Err(e) => {
            return (
                Vec::new(),
                vec![file_problem(format!("cannot read the header: {e}"))],
            );
        }
    };
    let mut rows = Vec::new();
    let mut problems = Vec::new();
    let mut lines = Lines::new(bytes);
    for (index, record) in reader.byte_records().enumerate() {
        let number = index + 2;
        match record {
            Ok(record) => match row(&columns, &record, number, &mut lines) {
                Ok(Some(row)) => rows.push(row),
                Ok(None) => {}
                Err(problem) => problems.push(problem),
            },
            Err(e) => problems.push(Problem::row(number, format!("cannot be read: {e}"))),
        }
    }
    (rows, problems)
}

fn file_problem(message: String) -> Problem {
    Problem::row(1, message)
}

/// The column of each header position; every header must be known and appear once, and
/// every required column must be there.
fn header_columns(
    headers: &csv::ByteRecord,
    namespace_given: bool,
) -> Result<Vec<Column>, Vec<Problem>> {
    let mut problems = Vec::new();
    let mut columns = Vec::new();
    for header in headers {
        let text = String::from_utf8_lossy(header);
        match Column::from_header(&text) {
            Some(column) if columns.contains(&column) => {
                problems.push(file_problem(format!(
                    "column {} appears twice",
                    column.header()
                )));
            }
            Some(column) => columns.push(column),
            None if text.is_empty() => problems.push(file_problem("a column has no header".into())),
            None => problems.push(file_problem(format!("unknown column {text:?}"))),
        }
    }
    let mut required = Column::REQUIRED.to_vec();
    if !namespace_given {
        required.push(Column::Namespace);
    }
    for column in required {
        if !columns.contains(&column) {
            problems.push(file_problem(format!(
                "the required column {} is missing",
                column.header()
            )));
        }
    }
    if problems.is_empty() {
        Ok(columns)
    } else {
        Err(problems)
    }
}

fn row(
    columns: &[Column],
    record: &csv::ByteRecord,
    number: usize,
    lines: &mut Lines<'_>,
) -> Result<Option<Row>, Problem> {
    let line = record
        .position()
        .map_or(number as u64, |p| lines.line_at(p.byte()));
    let mut row = Row {
        number,
        line,
        values: BTreeMap::new(),
    };
    if record.iter().all(<[u8]>::is_empty) {
        return Ok(None);
    }
    if record.len() != columns.len() {
        return Err(row.problem(
            None,
            format!(
                "has {} fields, the header has {}",
                record.len(),
                columns.len()
            ),
        ));
    }
    for (column, field) in columns.iter().zip(record) {
        let value = std::str::from_utf8(field)
            .map_err(|_| row.problem(Some(*column), "is not valid UTF-8"))?;
        row.values.insert(*column, value.to_string());
    }
    Ok(Some(row))
}

/// Line numbers of records, counted as a text editor shows them.
///
/// The csv reader's own line count lags behind for CRLF files, whose records it sees as
/// starting at the `\n` of the line before; so lines are counted here from byte offsets,
/// onwards from the previous record.
struct Lines<'a> {
    bytes: &'a [u8],
    offset: usize,
    line: u64,
}

impl<'a> Lines<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        Lines {
            bytes,
            offset: 0,
            line: 1,
        }
    }

    /// The line of the record whose position the reader reports as `byte`.
    fn line_at(&mut self, byte: u64) -> u64 {
        let mut start = usize::try_from(byte)
            .unwrap_or(usize::MAX)
            .min(self.bytes.len());
        if self.bytes.get(start) == Some(&b'\n') {
            start += 1;
        }
        if start >= self.offset {
            let passed = &self.bytes[self.offset..start];
            self.line += passed.iter().filter(|&&b| b == b'\n').count() as u64;
            self.offset = start;
        }
        self.line
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    const HEADER: &str =
        "givenName,surname,usageLocation,license,approver,approvalReference,approvedAt";

    fn rows(text: &[u8]) -> Vec<Row> {
        let (rows, problems) = read(text, true);
        assert_eq!(problems, [], "unexpected problems");
        rows
    }

    #[test]
    fn a_byte_order_mark_is_dropped() {
        let text = format!(
            "\u{FEFF}{HEADER}\nZoë,Müller,DE,E3,hr@contoso.example,HR-1,2026-12-01T09:30:00Z\n"
        );
        let rows = rows(text.as_bytes());
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].get(Column::GivenName), Some("Zoë"));
    }

    #[test]
    fn crlf_line_ends_work() {
        let text = format!(
            "{HEADER}\r\nA,B,DE,E3,hr@contoso.example,HR-1,2026-12-01T09:30:00Z\r\nC,D,FR,E5,hr@contoso.example,HR-2,2026-12-01T09:30:00Z\r\n"
        );
        let rows = rows(text.as_bytes());
        assert_eq!(rows.len(), 2);
        assert_eq!(
            rows[1].get(Column::ApprovedAt),
            Some("2026-12-01T09:30:00Z")
        );
        assert_eq!(rows[1].number, 3);
    }

    #[test]
    fn quoted_fields_keep_commas_quotes_and_line_breaks() {
        for end in ["\n", "\r\n"] {
            let text = [
                &format!("{HEADER},jobTitle"),
                "\"Mary, Ann\",\"O\"\"Brien\",IE,E3,hr@contoso.example,HR-3,2026-12-01T09:30:00Z,\"Head of\nSales\"",
                "X,Y,DE,E3,hr@contoso.example,HR-4,2026-12-01T09:30:00Z,",
                "",
            ]
            .join(end);
            let rows = rows(text.as_bytes());
            assert_eq!(rows[0].get(Column::GivenName), Some("Mary, Ann"));
            assert_eq!(rows[0].get(Column::Surname), Some("O\"Brien"));
            assert_eq!(rows[0].get(Column::JobTitle), Some("Head of\nSales"));
            // The second record is row 3 but starts on line 4.
            assert_eq!(
                (rows[0].line, rows[1].number, rows[1].line),
                (2, 3, 4),
                "{end:?}"
            );
            assert_eq!(rows[1].get(Column::JobTitle), None);
        }
    }

    #[test]
    fn a_missing_required_column_stops_the_file() {
        let text = b"givenName,surname,usageLocation,license,approver,approvedAt,nickname\nA,B,DE,E3,x@y,2026-12-01T09:30:00Z,ab\n";
        let (rows, problems) = read(text, false);
        assert!(rows.is_empty());
        let shown: Vec<String> = problems.iter().map(ToString::to_string).collect();
        assert_eq!(
            shown,
            [
                "row 1: unknown column \"nickname\"",
                "row 1: the required column approvalReference is missing",
                "row 1: the required column namespace is missing",
            ]
        );
    }

    #[test]
    fn rows_of_the_wrong_width_and_blank_rows() {
        let text = format!(
            "{HEADER}\nA,B,DE\n,,,,,,\nC,D,DE,E3,hr@contoso.example,HR-1,2026-12-01T09:30:00Z\n"
        );
        let (rows, problems) = read(text.as_bytes(), true);
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].number, 4);
        assert_eq!(problems.len(), 1);
        assert_eq!(
            problems[0].to_string(),
            "row 2: has 3 fields, the header has 7"
        );
    }

    #[test]
    fn invalid_utf8_is_reported_by_row_and_column() {
        let mut text = format!("{HEADER}\n").into_bytes();
        text.extend(b"Zo\xEB,M\xFCller,DE,E3,hr@contoso.example,HR-1,2026-12-01T09:30:00Z\n");
        let (_, problems) = read(&text, true);
        assert_eq!(
            problems[0].to_string(),
            "row 2: givenName: is not valid UTF-8"
        );
    }

    proptest! {
        /// Whatever a spreadsheet puts in a cell, the csv writer's quoting reads back as it
        /// was, less the surrounding spaces every field loses.
        #[test]
        fn records_written_by_the_csv_writer_read_back_identically(
            values in proptest::collection::vec("\\PC{0,12}|[ ,\"\r\n]{0,4}", Column::ALL.len()),
            crlf in any::<bool>(),
        ) {
            let terminator = if crlf { csv::Terminator::CRLF } else { csv::Terminator::Any(b'\n') };
            let mut writer = csv::WriterBuilder::new().terminator(terminator).from_writer(Vec::new());
            writer.write_record(Column::ALL.map(Column::header)).unwrap();
            writer.write_record(&values).unwrap();
            let bytes = writer.into_inner().unwrap();
            let (rows, problems) = read(&bytes, false);
            prop_assert_eq!(problems, []);
            let expected: Vec<&str> = values.iter().map(|v| v.trim_ascii()).collect();
            if expected.iter().all(|v| v.is_empty()) {
                prop_assert!(rows.is_empty());
            } else {
                prop_assert_eq!(rows.len(), 1);
                for (column, value) in Column::ALL.iter().zip(expected) {
                    prop_assert_eq!(rows[0].get(*column), Some(value).filter(|v| !v.is_empty()));
                }
            }
        }
    }
}
