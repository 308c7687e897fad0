//! Ring buffer records: an 8-byte header (u32 kind, u32 id) says what each
//! one is (`manifest::event`); [`Events`] turns a record into an [`Event`],
//! formatting its text where it has one. What each event does is
//! `dispatch`'s business.

use rbpf_codegen::manifest::{event, Manifest};

use crate::decode::{read_int, until_nul, Decoder};
use crate::printf::Printf;
use crate::strftime;
use crate::value::Value;
use crate::RuntimeError;

/// What one record asks for. Kinds with text (printf, time, and the
/// command, path or joined strings of system, cat and join) have appended
/// it to the buffer passed to [`Events::decode`].
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Event {
    Printf,
    /// `exit(code)`.
    Exit(i32),
    /// `print(@m, top, div)`: an index into `Manifest::maps`.
    PrintMap { map: usize, top: u64, div: u64 },
    ClearMap(usize),
    ZeroMap(usize),
    PrintValue(Value),
    Time,
    /// Run the command in the text.
    System,
    /// Print the file named by the text.
    Cat,
    /// The text holds the strings to join back to back; `parts` are their
    /// lengths, `separator` indexes `Manifest::join_separators`.
    Join { parts: Vec<usize>, separator: usize },
    /// A record for the runtime alone (a new process's user stack): nothing to print.
    Noted,
    /// A helper call failed (`-k`, `-kk`).
    HelperError(crate::output::HelperError),
    /// `watchpoint:FUNC+argN`: watch `address` with the program at
    /// `program` (an index into `Manifest::programs`).
    Watch {
        /// The breakpoint's program.
        program: usize,
        /// The address the function was passed.
        address: u64,
    },
    /// `unwatch(addr)`: remove the watchpoints on `address`.
    Unwatch {
        /// The address.
        address: u64,
    },
}

/// Decodes the records of one manifest; formats are parsed once, here.
#[derive(Debug)]
pub(crate) struct Events {
    printfs: Vec<Printf>,
    maps: usize,
    print_values: Vec<rbpf_codegen::manifest::ValueType>,
    joins: usize,
    decoder: Decoder,
}

impl Events {
    pub(crate) fn new(manifest: &Manifest) -> Result<Events, RuntimeError> {
        Events::with_decoder(manifest, Decoder::new(manifest))
    }

    pub(crate) fn with_decoder(manifest: &Manifest, decoder: Decoder) -> Result<Events, RuntimeError> {
        let printfs = manifest
            .printfs
            .iter()
            .enumerate()
            .map(|(index, format)| {
                Printf::new(format).map_err(|e| RuntimeError::Format { index, message: e.message })
            })
            .collect::<Result<_, _>>()?;
        Ok(Events {
            printfs,
            maps: manifest.maps.len(),
            print_values: manifest.print_values.clone(),
            joins: manifest.join_separators.len(),
            decoder,
        })
    }

    pub(crate) fn decoder(&self) -> &Decoder {
        &self.decoder
    }

    pub(crate) fn decoder_mut(&mut self) -> &mut Decoder {
        &mut self.decoder
    }

    /// Decodes one record; see [`Event`] for what lands in `text`.
    #[cfg(test)]
    pub(crate) fn decode(&self, record: &[u8], text: &mut Vec<u8>) -> Result<Event, RuntimeError> {
        self.decode_into(record, text, &mut Vec::new())
    }

    /// [`Events::decode`], leaving a printf's arguments in `args`.
    pub(crate) fn decode_into(&self, record: &[u8], text: &mut Vec<u8>, args: &mut Vec<Value>) -> Result<Event, RuntimeError> {
        let u32_at = |at: usize| record.get(at..at + 4).map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]));
        let (Some(kind), Some(id)) = (u32_at(0), u32_at(4)) else {
            return Err(RuntimeError::Event(format!("a record of {} bytes has no header", record.len())));
        };
        let short = |what: &str| RuntimeError::Event(format!("{what} {id}: a record of {} bytes is too short", record.len()));
        let body = &record[event::HEADER_SIZE as usize..];
        match kind {
            event::PRINTF | event::SYSTEM | event::CAT => {
                let printf = self
                    .printfs
                    .get(id as usize)
                    .ok_or_else(|| RuntimeError::Event(format!("printf {id} is not in the manifest")))?;
                printf.format_record_into(record, &self.decoder, text, args).ok_or_else(|| short("printf"))?;
                Ok(match kind {
                    event::PRINTF => Event::Printf,
                    event::SYSTEM => Event::System,
                    _ => Event::Cat,
                })
            }
            event::EXIT => Ok(Event::Exit(id as i32)),
            event::HELPER_ERROR => {
                let int_at = |at: usize| body.get(at..at + 8).map(|b| read_int(b, true) as i64);
                let u32_in_body = |at: usize| body.get(at..at + 4).map(|b| read_int(b, false) as u32);
                let (Some(retcode), Some(start), Some(end)) = (int_at(0), u32_in_body(8), u32_in_body(12)) else {
                    return Err(short("helper error"));
                };
                let helper = rbpf_codegen::insn::Helper::from_id(id as i32)
                    .map_or_else(|| format!("helper {id}"), |h| h.name().trim_start_matches("bpf_").to_string());
                Ok(Event::HelperError(crate::output::HelperError {
                    helper,
                    retcode,
                    span: rbpf_lang::Span::new(start as usize, end as usize),
                    location: None,
                }))
            }
            event::WATCHPOINT => {
                let address = body.get(..8).map(|b| read_int(b, false)).ok_or_else(|| short("watchpoint"))?;
                Ok(Event::Watch { program: id as usize, address })
            }
            event::UNWATCH => {
                let address = body.get(..8).map(|b| read_int(b, false)).ok_or_else(|| short("unwatch"))?;
                Ok(Event::Unwatch { address })
            }
            event::STACK_PID => {
                self.decoder.remember_process(id);
                Ok(Event::Noted)
            }
            event::PRINT_MAP | event::CLEAR_MAP | event::ZERO_MAP => {
                let map = id as usize;
                if map >= self.maps {
                    return Err(RuntimeError::Event(format!("map {id} is not in the manifest")));
                }
                Ok(match kind {
                    event::PRINT_MAP => {
                        let top = body.get(..8).map(|b| read_int(b, false)).ok_or_else(|| short("print"))?;
                        let div = body.get(8..16).map(|b| read_int(b, false)).ok_or_else(|| short("print"))?;
                        Event::PrintMap { map, top, div }
                    }
                    event::CLEAR_MAP => Event::ClearMap(map),
                    _ => Event::ZeroMap(map),
                })
            }
            event::PRINT_VALUE => {
                let ty = self
                    .print_values
                    .get(id as usize)
                    .ok_or_else(|| RuntimeError::Event(format!("print value {id} is not in the manifest")))?;
                let bytes = body.get(..ty.size() as usize).ok_or_else(|| short("print"))?;
                Ok(Event::PrintValue(self.decoder.decode(ty, bytes)))
            }
            event::TIME => {
                text.extend_from_slice(&strftime::format(self.decoder.time_format(id), strftime::now_wall_ns(), false));
                Ok(Event::Time)
            }
            event::JOIN => {
                if id as usize >= self.joins {
                    return Err(RuntimeError::Event(format!("join {id} is not in the manifest")));
                }
                let count = body.get(..4).map(|b| read_int(b, false)).ok_or_else(|| short("join"))?;
                let size = body.get(4..8).map(|b| read_int(b, false)).ok_or_else(|| short("join"))? as usize;
                let slots = &body[8..];
                let mut parts = Vec::new();
                // The first empty slot ends the list; a record shorter
                // than its slots ends it too.
                for slot in (0..count).map_while(|i| slots.get(i as usize * size..(i as usize + 1) * size)) {
                    let part = until_nul(slot);
                    if part.is_empty() || size == 0 {
                        break;
                    }
                    text.extend_from_slice(part);
                    parts.push(part.len());
                }
                Ok(Event::Join { parts, separator: id as usize })
            }
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
            maps: vec![crate::maps::tests::map("@c", vec![], rbpf_codegen::manifest::MapValue::Count)],
            print_values: vec![ValueType::Str { size: 4 }],
            time_formats: vec!["%s".into()],
            join_separators: vec![",".into()],
            ..Manifest::default()
        };
        Events::new(&manifest).unwrap()
    }

    fn record(kind: u32, id: u32, rest: &[u8]) -> Vec<u8> {
        [&kind.to_le_bytes()[..], &id.to_le_bytes(), rest].concat()
    }

    fn decode(r: &[u8]) -> (Event, Vec<u8>) {
        let mut text = Vec::new();
        let e = events().decode(r, &mut text).unwrap();
        (e, text)
    }

    #[test]
    fn decodes_printf_system_cat_and_exit() {
        let args = (-3i64).to_le_bytes();
        assert_eq!(decode(&record(event::PRINTF, 0, &args)), (Event::Printf, b"n=-3\n".to_vec()));
        assert_eq!(decode(&record(event::SYSTEM, 0, &args)), (Event::System, b"n=-3\n".to_vec()));
        assert_eq!(decode(&record(event::CAT, 0, &args)), (Event::Cat, b"n=-3\n".to_vec()));
        assert_eq!(decode(&record(event::EXIT, 0, &[])).0, Event::Exit(0));
        assert_eq!(decode(&record(event::EXIT, (-2i32) as u32, &[])).0, Event::Exit(-2));
    }

    #[test]
    fn decodes_map_commands() {
        let args = [5u64.to_le_bytes(), 2u64.to_le_bytes()].concat();
        assert_eq!(decode(&record(event::PRINT_MAP, 0, &args)).0, Event::PrintMap { map: 0, top: 5, div: 2 });
        assert_eq!(decode(&record(event::CLEAR_MAP, 0, &[])).0, Event::ClearMap(0));
        assert_eq!(decode(&record(event::ZERO_MAP, 0, &[])).0, Event::ZeroMap(0));
    }

    #[test]
    fn decodes_values_time_and_join() {
        assert_eq!(decode(&record(event::PRINT_VALUE, 0, b"ab\0\0")).0, Event::PrintValue(Value::Str(b"ab".to_vec())));
        let (e, text) = decode(&record(event::TIME, 0, &[]));
        assert_eq!(e, Event::Time);
        let now = String::from_utf8(text).unwrap().parse::<i64>().unwrap();
        assert!((now - (strftime::now_wall_ns() / 1_000_000_000) as i64).abs() < 5);

        let mut join = [3u32.to_le_bytes(), 4u32.to_le_bytes()].concat();
        join.extend_from_slice(b"ls\0\0-l\0\0\0\0\0\0");
        assert_eq!(decode(&record(event::JOIN, 0, &join)), (Event::Join { parts: vec![2, 2], separator: 0 }, b"ls-l".to_vec()));
        // Slots past the end of the record are not read.
        let mut join = [9u32.to_le_bytes(), 4u32.to_le_bytes()].concat();
        join.extend_from_slice(b"abcdxy");
        assert_eq!(decode(&record(event::JOIN, 0, &join)), (Event::Join { parts: vec![4], separator: 0 }, b"abcd".to_vec()));
    }

    #[test]
    fn refuses_records_the_manifest_does_not_describe() {
        let events = events();
        let mut text = Vec::new();
        for r in [
            record(event::PRINTF, 1, &[0; 8]),
            record(event::PRINTF, 0, &[0; 4]),
            record(99, 0, &[]),
            vec![1, 0],
            record(event::PRINT_MAP, 0, &[0; 8]),
            record(event::PRINT_MAP, 1, &[0; 16]),
            record(event::CLEAR_MAP, 7, &[]),
            record(event::PRINT_VALUE, 0, b"ab"),
            record(event::PRINT_VALUE, 3, b"abcd"),
            record(event::JOIN, 0, &[0; 4]),
            record(event::JOIN, 1, &[0; 8]),
        ] {
            assert!(matches!(events.decode(&r, &mut text), Err(RuntimeError::Event(_))), "{r:?}");
        }
    }
}
