//! Tests of the two writers on their own: the protobuf encoding byte by byte (against the
//! specification's examples and the reader), length prefixes that grow and shrink, JSON
//! escapes decoded for protobuf, and the JSON writer's commas.

use super::proto::{Malformed, varint};
use super::{Field, JsonWire, ProtoValue, ProtoWire, Reader, Str, Wire};

const NAME: Field = field!(1, "name");
const ITEMS: Field = field!(2, "items");
const TIME: Field = field!(3, "timeUnixNano");
const COUNT: Field = field!(4, "count");
const FLAG: Field = field!(5, "flag", oneof);
const RATIO: Field = field!(6, "ratio");
const ID: Field = field!(7, "traceId");
const CHILD: Field = field!(8, "child");

/// One message through any writer: a string, a repeated message, numbers, an id.
fn write<W: Wire>(w: &mut W, name: Str<'_>, items: &[&str]) {
    w.string(NAME, name);
    w.list(ITEMS);
    for item in items {
        let open = w.open_item(ITEMS, 1);
        w.prefixed_string(NAME, "p.", Str::Plain(item));
        w.close(open);
    }
    w.end_list();
    w.fixed64(TIME, 1_700_000_000_123_000_000);
    w.int64(COUNT, -2);
    w.boolean(FLAG, false);
    w.double_text(RATIO, "0.5");
    w.id(ID, &[0xab, 0x01]);
    let child = w.open(CHILD);
    w.enumeration(COUNT, 17);
    w.close(child);
}

#[test]
fn json_follows_the_otlp_json_mapping() {
    let mut w = JsonWire::message(0);
    write(&mut w, Str::Text("a\"b\n"), &["x", "y"]);
    let json = String::from_utf8(w.finish()).unwrap();
    assert_eq!(
        json,
        r#"{"name":"a\"b\n","items":[{"name":"p.x"},{"name":"p.y"}],"timeUnixNano":"1700000000123000000","count":"-2","flag":false,"ratio":0.5,"traceId":"ab01","child":{"count":17}}"#
    );
    let mut empty = JsonWire::message(0);
    empty.list(ITEMS);
    empty.end_list();
    assert_eq!(empty.finish(), br#"{"items":[]}"#);
}

#[test]
fn protobuf_follows_the_encoding_specification() {
    let mut w = ProtoWire::new(0);
    write(&mut w, Str::Json(r#""a\"b\n""#), &["x", "y"]);
    let mut expected = vec![0x0a, 4, b'a', b'"', b'b', b'\n'];
    for item in [b'x', b'y'] {
        expected.extend([0x12, 5, 0x0a, 3, b'p', b'.', item]);
    }
    expected.push(0x19);
    expected.extend(1_700_000_000_123_000_000_u64.to_le_bytes());
    // -2 as an int64: ten bytes of two's complement.
    expected.extend([
        0x20, 0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01,
    ]);
    // A oneof member is written even when false; a double field when not zero.
    expected.extend([0x28, 0x00, 0x31]);
    expected.extend(0.5_f64.to_le_bytes());
    expected.extend([0x3a, 2, 0xab, 0x01, 0x42, 2, 0x20, 17]);
    assert_eq!(w.finish(), expected);
}

#[test]
fn protobuf_leaves_out_defaults_outside_a_oneof() {
    let mut w = ProtoWire::new(0);
    w.string(NAME, Str::Plain(""));
    w.fixed64(TIME, 0);
    w.int64(COUNT, 0);
    w.double_text(RATIO, "0.0");
    w.enumeration(COUNT, 0);
    w.boolean(field!(9, "b"), false);
    w.id(ID, &[]);
    assert!(w.finish().is_empty());
    let mut w = ProtoWire::new(0);
    w.string(field!(1, "stringValue", oneof), Str::Plain(""));
    w.int64(field!(3, "intValue", oneof), 0);
    assert_eq!(w.finish(), [0x0a, 0, 0x18, 0]);
}

#[test]
fn length_prefixes_grow_and_shrink_to_their_minimal_size() {
    for (hint, len) in [
        (1, 0),
        (1, 127),
        (1, 128),
        (1, 20_000),
        (100_000, 5),
        (100_000, 300),
    ] {
        let mut w = ProtoWire::new(0);
        let open = w.open_item(ITEMS, hint);
        w.piece(&vec![7; len]);
        w.close(open);
        w.string(NAME, Str::Plain("after"));
        let bytes = w.finish();
        let mut expected = vec![0x12];
        varint(&mut expected, len as u64);
        expected.extend(vec![7; len]);
        expected.extend([0x0a, 5]);
        expected.extend(b"after");
        assert_eq!(bytes, expected, "hint {hint}, length {len}");
    }
}

#[test]
fn json_escapes_are_decoded_for_protobuf() {
    let cases = [
        (r#""plain""#, "plain"),
        (
            r#""q\"b\\s\/n\nt\tr\rb\bf\f""#,
            "q\"b\\s/n\nt\tr\rb\u{8}f\u{c}",
        ),
        (r#""\u00e9\u4e2d\ud83d\ude00""#, "é中😀"),
        (r#""lone \ud800 x""#, "lone \u{fffd} x"),
        (r#""lone end \udc00""#, "lone end \u{fffd}"),
    ];
    for (json, text) in cases {
        let mut w = ProtoWire::new(0);
        w.string(NAME, Str::Json(json));
        w.prefixed_string(ITEMS, "p.", Str::Json(json));
        let bytes = w.finish();
        let mut r = Reader::new(&bytes);
        let expected = [(1, text.to_owned()), (2, format!("p.{text}"))];
        for (number, want) in expected {
            match r.field() {
                Ok(Some((n, ProtoValue::Len(got)))) => {
                    assert_eq!((n, std::str::from_utf8(got).unwrap()), (number, &*want));
                }
                other => panic!("{json}: {other:?}"),
            }
        }
        assert_eq!(r.field(), Ok(None));
    }
}

#[test]
fn the_reader_reads_every_wire_type_and_refuses_malformed_bytes() {
    let mut bytes = vec![0x08, 0x96, 0x01, 0x11];
    bytes.extend(7_u64.to_le_bytes());
    bytes.extend([0x1a, 2, b'h', b'i', 0x25, 1, 0, 0, 0]);
    let mut r = Reader::new(&bytes);
    assert_eq!(r.field(), Ok(Some((1, ProtoValue::Varint(150)))));
    assert_eq!(r.field(), Ok(Some((2, ProtoValue::I64(7)))));
    assert_eq!(r.field(), Ok(Some((3, ProtoValue::Len(b"hi")))));
    assert_eq!(r.field(), Ok(Some((4, ProtoValue::I32(1)))));
    assert_eq!(r.field(), Ok(None));
    let malformed: [&[u8]; 7] = [
        &[0x08],             // a varint cut short
        &[0x08, 0x80, 0x80], // a varint cut short
        &[0x1a, 5, b'h'],    // a length past the end
        &[0x11, 1, 2],       // 8 bytes cut short
        &[0x0b],             // a group (deprecated wire type 3)
        &[0x00, 0x01],       // field number 0
        &[
            0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01,
        ], // 11 bytes
    ];
    for m in malformed {
        assert_eq!(Reader::new(m).field(), Err(Malformed), "{m:?}");
    }
}

#[test]
fn truncate_undoes_a_message_in_both_writers() {
    let mut j = JsonWire::message(0);
    let mut p = ProtoWire::new(0);
    j.list(ITEMS);
    p.list(ITEMS);
    for keep in [true, false, true] {
        let (mj, mp) = (j.len(), p.len());
        for w in [&mut j as &mut dyn WireDyn, &mut p] {
            w.item();
        }
        if !keep {
            j.truncate(mj);
            p.truncate(mp);
        }
    }
    j.end_list();
    assert_eq!(j.finish(), br#"{"items":[{"name":"n"},{"name":"n"}]}"#);
    assert_eq!(p.finish(), [0x12, 3, 0x0a, 1, b'n', 0x12, 3, 0x0a, 1, b'n']);
}

/// An item of `items` through a trait object (the test loops over both writers).
trait WireDyn {
    fn item(&mut self);
}

impl<W: Wire> WireDyn for W {
    fn item(&mut self) {
        let open = self.open_item(ITEMS, 4);
        self.string(NAME, Str::Quoted("\"n\""));
        self.close(open);
    }
}
