//! Checker tests of tuples: their types, `.N`, tuple keys and misuse.

use super::{check_error, check_ok, run};

#[test]
fn tuples_type_their_maps_and_widen_strings() {
    let p = check_ok("BEGIN { $t = (1, \"two\"); @v = $t; @v = (pid, \"three\"); @n = (1, (comm, -2)); printf(\"%d %s\\n\", $t.0, @n.1.0); print((1, \"a\")); }");
    let values: Vec<String> = p.maps.iter().map(|m| m.value.describe()).collect();
    assert_eq!(values, ["a (int64,(string[16],int64)) value", "a (uint64,string[6]) value"]);
    assert_eq!(p.printfs[0].args.iter().map(|t| t.to_string()).collect::<Vec<_>>(), ["int64", "string[16]"]);
}

#[test]
fn a_tuple_key_is_the_same_as_several_keys() {
    let p = check_ok("BEGIN { $t = (\"a\", 1); @k[(\"a\", 2)] = 5; @k[\"b\", 3] = 6; @k[$t] = 7; @j[1, (2, \"x\")] = 1; if (has_key(@k, (\"a\", 2)) && has_key(@k, $t)) { delete(@k, $t); } }");
    assert_eq!(format!("{:?}", p.maps[1].key), "[Str { size: 2 }, Int { bits: 64, signed: true }]");
    assert_eq!(p.maps[0].key[1].to_string(), "(int64,string[2])");
}

#[test]
fn tuple_index_out_of_range() {
    check_error(
        "BEGIN { $t = (1, 2); printf(\"%d\\n\", $t.2); }",
        "
error: tuple index 2 is out of range
  ┌─ -e:1:40
  │
1 │ BEGIN { $t = (1, 2); printf(\"%d\\n\", $t.2); }
  │                                     -- ^ this tuple has 2 elements, indexed 0 to 1
  │                                     │
  │                                     this is (int64,int64)",
    );
}

#[test]
fn tuple_index_on_a_non_tuple() {
    check_error(
        "BEGIN { @c = count(); $x = @c.0; }",
        "
error: `.0` needs a tuple, but this is uint64
  ┌─ -e:1:30
  │
1 │ BEGIN { @c = count(); $x = @c.0; }
  │                            --^^ only tuples have numbered elements
  │                            │
  │                            this is uint64",
    );
}

#[test]
fn conflicting_tuple_types_for_a_map() {
    check_error(
        "BEGIN { @m = (1, \"a\"); @m = (\"a\", 1); }",
        "
error: map `@m` already holds a (int64,string[2]) value, so it cannot hold a (string[2],int64) value
  ┌─ -e:1:29
  │
1 │ BEGIN { @m = (1, \"a\"); @m = (\"a\", 1); }
  │              --------       ^^^^^^^^ conflicting value
  │              │
  │              its value is set here",
    );
    assert!(run("BEGIN { @m = (1, 2); @m = (1, 2, 3); }").unwrap_err().contains("cannot hold a (int64,int64,int64) value"));
    assert!(run("BEGIN { $t = (1, 2); $t = 3; }").unwrap_err().contains("`$t` holds (int64,int64), so it cannot be assigned int64"));
    assert!(run("BEGIN { $t = (1, 2); printf(\"%s\\n\", $t); }").unwrap_err().contains("`%s` needs a string, but this is (int64,int64)"));
    assert!(run("BEGIN { $t = (1, 2); $x = $t.0 + $t; }").unwrap_err().contains("`+` needs an integer"));
    assert!(run("BEGIN { $t = (1, exit()); }").unwrap_err().contains("`exit()` has no value"));
}
