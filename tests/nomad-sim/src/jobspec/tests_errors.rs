//! Error-text tests: each diagnostic family rendered exactly as Nomad's parse endpoint does.

use super::parse;

const UNSET: &str = "A used variable must be set or have a default value; see https://developer.hashicorp.com/nomad/docs/job-specification/hcl2/variables for details.";

#[test]
fn error_texts() {
    let cases: &[(&str, &str, &str)] = &[
        (
            "job \"x\" {\n  foo = 1\n}\n",
            "",
            "input.hcl:2,3-6: Unsupported argument; An argument named \"foo\" is not expected here.",
        ),
        (
            "job \"x\" {\n  grup \"g\" {}\n}\n",
            "",
            "input.hcl:2,3-7: Unsupported block type; Blocks of type \"grup\" are not expected here. Did you mean \"group\"?",
        ),
        (
            "job \"x\" {\n  group \"g\" {\n    cont = 2\n    bogus {}\n  }\n}\n",
            "",
            "input.hcl:3,5-9: Unsupported argument; An argument named \"cont\" is not expected here. Did you mean \"count\"?\n\
             input.hcl:4,5-10: Unsupported block type; Blocks of type \"bogus\" are not expected here.",
        ),
        (
            "variable \"greeting\" {}\njob \"x\" {}\n",
            "",
            &format!("<nil>: Unset variable \"greeting\"; {UNSET}"),
        ),
        (
            "variable \"greeting\" {}\njob \"x\" {}\n",
            "other = 1\n",
            &format!(
                "<nil>: Undefined variable; A \"other\" variable was set but was not found in known variables. To declare variable \"other\", place this block in your job files\n\
                 <nil>: Unset variable \"greeting\"; {UNSET}"
            ),
        ),
        (
            "variable \"used\" {}\njob \"x\" {\n  foo = var.used\n}\n",
            "used = 1\nother = 2\nthird = 3\n",
            "<nil>: Undefined variable; A \"other\" variable was set but was not found in known variables. To declare variable \"other\", place this block in your job files\n\
             <nil>: Undefined variable; A \"third\" variable was set but was not found in known variables. To declare variable \"third\", place this block in your job files\n\
             input.hcl:3,3-6: Unsupported argument; An argument named \"foo\" is not expected here.",
        ),
        (
            "job \"x\" {\n  region = var.nope\n}\n",
            "",
            "input.hcl:2,15-20: Unsupported attribute; This object does not have an attribute named \"nope\".",
        ),
        (
            "job \"x\" {\n  group \"g\" {\n  }\n",
            "",
            "input.hcl:1,9-10: Unclosed configuration block; There is no closing brace for this block before the end of the file. This may be caused by incorrect brace nesting elsewhere in this file.",
        ),
        (
            "job \"x\" {\n  update {}\n  update {}\n}\n",
            "",
            "input.hcl:3,3-9: Duplicate update block; Only one update block is allowed. Another was defined at input.hcl:2,3-9.",
        ),
        (
            "job \"x\" {\n  name = \"a\"\n  name = \"b\"\n}\n",
            "",
            "input.hcl:3,3-7: Attribute redefined; The argument \"name\" was already set at input.hcl:2,3-7. Each argument may be set only once.",
        ),
        (
            "variable \"a\" {\n  default = 1\n}\n",
            "",
            "<nil>: Missing job block; A job block is required",
        ),
        (
            "job \"a\" {}\njob \"b\" {}\n",
            "",
            "input.hcl:2,1-8: Duplicate job block; Only one block of type \"job\" is allowed. Previous definition was at input.hcl:1,1-8.",
        ),
        (
            "job \"x\" {\n  group \"g\" {\n    task \"t\" {\n      lifecycle {\n      }\n    }\n  }\n}\n",
            "",
            "input.hcl:4,17-17: Missing required argument; The argument \"hook\" is required, but no definition was found.",
        ),
        (
            "job \"x\" {\n  group \"g\" {\n    task \"t\" {\n      kill_timeout = \"5 sec\"\n    }\n  }\n}\n",
            "",
            "input.hcl:4,22-29: Unsuitable value type; Unsuitable duration value: time: unknown unit \" sec\" in duration \"5 sec\"",
        ),
        (
            "job \"x\" {\n  meta {\n    a = tostring(1)\n  }\n}\n",
            "",
            "input.hcl:3,9-17: Call to unknown function; There is no function named \"tostring\".",
        ),
    ];
    for (hcl, vars, want) in cases {
        assert_eq!(
            parse(hcl, vars).unwrap_err(),
            format!("Failed to parse job: {want}"),
            "for {hcl:?}"
        );
    }
}

#[test]
fn bad_var_content_is_reported_before_the_job() {
    let err = parse("job \"x\" {}\n", "a = \"x\nb = 2\n").unwrap_err();
    assert!(
        err.starts_with("Failed to parse job: unable to parse var content: input.hcl:1,"),
        "{err}"
    );
}

#[test]
fn hostile_input_errors_without_panicking() {
    let deep = format!(
        "job \"x\" {{\n  meta {{\n    a = {}1{}\n  }}\n}}\n",
        "[".repeat(500),
        "]".repeat(500)
    );
    assert!(parse(&deep, "").is_err());
    let blocks = format!(
        "job \"x\" {{\n  group \"g\" {{\n    task \"t\" {{\n      config {{\n{}{}      }}\n    }}\n  }}\n}}\n",
        "a {\n".repeat(200),
        "}\n".repeat(200)
    );
    assert!(parse(&blocks, "").is_err());
    for junk in [
        "",
        "{",
        "}",
        "job",
        "job \"x\" { group { } }",
        "job \"x\" {\n  count = \n}\n",
        "\u{feff}job \"é\" { }",
    ] {
        let _ = parse(junk, "");
    }
}
