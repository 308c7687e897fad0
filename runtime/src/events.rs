//! Ring buffer records: an 8-byte header (u32 kind, u32 id) says what each
//! one is; printf records are formatted by their format, an exit record
//! stops the trace.

use rbpf_codegen::manifest::{event, Manifest};

use crate::printf::Printf;
use crate::RuntimeError;

/// What one record asks for.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Event {
    /// A printf; its text was appended to the buffer passed in.
    Printf,
    Exit,
}

/// Decodes the records of one manifest; formats are parsed once, here.
#[derive(Debug)]
pub(crate) struct Events {
    printfs: Vec<Printf>,
}

impl Events {
    pub(crate) fn new(manifest: &Manifest) -> Result<Events, RuntimeError> {
        let printfs = manifest
            .printfs
            .iter()
            .enumerate()
            .map(|(index, format)| {
                Printf::new(format).map_err(|e| RuntimeError::Format { index, message: e.message })
            })
            .collect::<Result<_, _>>()?;
        Ok(Events { printfs })
    }

    /// Decodes one record; a printf's text is appended to `text`.
    pub(crate) fn decode(&self, record: &[u8], text: &mut Vec<u8>) -> Result<Event, RuntimeError> {
        let header = |at: usize| record.get(at..at + 4).map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]));
        let (Some(kind), Some(id)) = (header(0), header(4)) else {
            return Err(RuntimeError::Event(format!("a record of {} bytes has no header", record.len())));
        };
        match kind {
            event::PRINTF => {
                let printf = self
                    .printfs
                    .get(id as usize)
                    .ok_or_else(|| RuntimeError::Event(format!("printf {id} is not in the manifest")))?;
                printf.format_record(record, text).ok_or_else(|| {
                    RuntimeError::Event(format!("printf {id}: a record of {} bytes is too short", record.len()))
                })?;
                Ok(Event::Printf)
            }
            event::EXIT => Ok(Event::Exit),
            _ => Err(RuntimeError::Event(format!("unknown record kind {kind}"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rbpf_codegen::manifest::{Field, PrintfFormat, ValueType};

    fn events() -> Events {
        let manifest = Manifest {
            printfs: vec![PrintfFormat {
                format: "n=%d\n".into(),
                args: vec![Field { offset: 8, ty: ValueType::Int { size: 8, signed: true } }],
                size: 16,
            }],
            ..Manifest::default()
        };
        Events::new(&manifest).unwrap()
    }

    fn record(kind: u32, id: u32, rest: &[u8]) -> Vec<u8> {
        [&kind.to_le_bytes()[..], &id.to_le_bytes(), rest].concat()
    }

    #[test]
    fn decodes_printf_and_exit() {
        let events = events();
        let mut text = Vec::new();
        let r = record(event::PRINTF, 0, &(-3i64).to_le_bytes());
        assert_eq!(events.decode(&r, &mut text).unwrap(), Event::Printf);
        assert_eq!(text, b"n=-3\n");
        assert_eq!(events.decode(&record(event::EXIT, 0, &[]), &mut text).unwrap(), Event::Exit);
    }

    #[test]
    fn refuses_records_the_manifest_does_not_describe() {
        let events = events();
        let mut text = Vec::new();
        for r in [record(event::PRINTF, 1, &[0; 8]), record(event::PRINTF, 0, &[0; 4]), record(9, 0, &[]), vec![1, 0]] {
            assert!(matches!(events.decode(&r, &mut text), Err(RuntimeError::Event(_))), "{r:?}");
        }
    }
}
