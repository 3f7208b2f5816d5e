package modality

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const goSrc = `//go:build linux

// Package demo is a doc comment.
package demo

import "fmt"

import (
	"os"
)

// A floating comment between declarations.

// T is a type.
type T struct{ s string } // trailing comment

const c = "}{" // braces in a string

// M is a method.
func (t T) M() string {
	return fmt.Sprint(t.s, os.Args)
}

var a, b = 1, 2; var d = 3

func F() {
	_ = ` + "`raw { string`" + `
}
`

const pySrc = `#!/usr/bin/env python3
"""Module docstring with a def f(): inside."""
import os
import sys

X = {
    "a": 1,
}

# helper comment
def f(x):
    s = """
def not_a_def():
"""
    return x

@decorator
class C:
    def m(self):
        pass

if __name__ == "__main__":
    f(1)
else:
    pass
`

const cSrc = `#include <stdio.h>
#include "x.h"

/* a block comment with a } brace */
static int counter = 0;

struct point {
	int x, y;
};

int main(void) {
	const char *s = "}\"{";
	char c = '}';
	if (counter) {
		return 1;
	}
	else {
		return 0;
	}
}
// trailing`

const jsSrc = "import x from 'y';\n\n" +
	"const t = `template ${1 + 2} with } brace`;\n" +
	"function f(a) {\n  return a + '}';\n}\n" +
	"class A {\n  m() { return 1 }\n}\n" +
	"// done\n"

const javaSrc = `package p;

import java.util.List;

public class Main {
    private int x = 0;

    public static void main(String[] args) {
        System.out.println("}");
    }

    int y() { return '}'; }
}
`

const rustSrc = `use std::fmt;

/// Doc.
fn longest<'a>(x: &'a str, y: &'a str) -> &'a str {
    if x.len() > y.len() { x } else { y }
}

const R: &str = r#"raw } "string" {"#;

/* nested /* comment } */ still comment */
struct S { c: char }

impl S {
    fn new() -> S { S { c: '}' } }
}
`

const shSrc = `#!/bin/sh
# comment with } brace
set -e

greet() {
    echo "hello } $1"
}

if [ -n "$1" ]; then
    greet "$1"

    echo 'done {'
fi
for i in 1 2; do echo $i; done
`

func TestCodeCovers(t *testing.T) {
	for _, tc := range []struct {
		file, src, lang string
		want            []string // labels
	}{
		{"demo.go", goSrc, "go", []string{"comment", "package", "import", "import", "comment", "type", "const", "method", "var", "var", "func"}},
		{"x.py", pySrc, "python", []string{"import", "statement", "def", "class", "statement"}},
		{"x.c", cSrc, "c", []string{"preprocessor", "statement", "block", "block", "comment"}},
		{"x.js", jsSrc, "javascript", []string{"statement", "statement", "block", "block", "comment"}},
		{"x.ts", jsSrc, "typescript", []string{"statement", "statement", "block", "block", "comment"}},
		{"Main.java", javaSrc, "java", []string{"statement", "statement", "block", "block", "block"}},
		{"x.rs", rustSrc, "rust", []string{"statement", "block", "statement", "block", "block"}},
		{"x.sh", shSrc, "shell", []string{"statement", "block", "block"}},
		{"x.cpp", cSrc, "cpp", []string{"preprocessor", "statement", "block", "block", "comment"}},
	} {
		t.Run(tc.file, func(t *testing.T) {
			src := mustExtract(t, tc.file, []byte(tc.src), Options{})
			v := view(t, src, "code")
			checkCover(t, v)
			if v.Meta["language"] != tc.lang {
				t.Errorf("language %v, want %s", v.Meta["language"], tc.lang)
			}
			if got := labels(v); strings.Join(got, " ") != strings.Join(tc.want, " ") {
				t.Errorf("labels %q, want %q; segments:\n%s", got, tc.want, strings.Join(texts(v), "\n----\n"))
			}
		})
	}
}

// Doc comments stay with their declaration; braces in strings and
// comments do not move cuts.
func TestCodeUnits(t *testing.T) {
	v := view(t, mustExtract(t, "demo.go", []byte(goSrc), Options{}), "code")
	seg := texts(v)
	if seg[0] != "//go:build linux\n\n" || !strings.HasPrefix(seg[1], "// Package demo") {
		t.Errorf("build line %q, package unit %q", seg[0], seg[1])
	}
	if !strings.HasPrefix(seg[7], "// M is a method.\nfunc (t T) M()") || v.Segments[7].Meta["name"] != "M" {
		t.Errorf("method unit %q", seg[7])
	}
	if !strings.HasPrefix(seg[5], "// T is a type.") || !strings.HasSuffix(seg[5], "// trailing comment\n\n") {
		t.Errorf("type unit %q lacks its doc or its line's comment", seg[5])
	}
	if seg[8] != "var a, b = 1, 2; " || seg[9] != "var d = 3\n\n" {
		t.Errorf("two declarations on a line: %q %q", seg[8], seg[9])
	}
	py := texts(view(t, mustExtract(t, "x.py", []byte(pySrc), Options{}), "code"))
	if !strings.HasPrefix(py[2], "# helper comment\ndef f(x):") || !strings.Contains(py[2], "def not_a_def") {
		t.Errorf("python def unit %q", py[2])
	}
	if !strings.HasPrefix(py[4], "if __name__") || !strings.Contains(py[4], "else:") {
		t.Errorf("python if/else unit %q", py[4])
	}
	c := texts(view(t, mustExtract(t, "x.c", []byte(cSrc), Options{}), "code"))
	if !strings.HasPrefix(c[3], "int main") || !strings.Contains(c[3], "else {") || !strings.HasSuffix(c[3], "}\n") || c[4] != "// trailing" {
		t.Errorf("C main unit %q", c[3])
	}
}

// A Go file that does not parse is split by braces, still exactly.
func TestCodeGoSyntaxError(t *testing.T) {
	bad := "package x\n\nfunc F( {\n}\n\nfunc G() {}\n"
	v := view(t, mustExtract(t, "bad.go", []byte(bad), Options{}), "code")
	checkCover(t, v)
	if len(v.Segments) < 2 {
		t.Errorf("got %d segments", len(v.Segments))
	}
}

// Every Go file of this repository's transforms splits exactly.
func TestCodeRepoFiles(t *testing.T) {
	files, _ := filepath.Glob("../../*/*.go")
	files2, _ := filepath.Glob("*.go")
	files = append(files, files2...)
	if len(files) < 5 {
		t.Fatalf("found %d Go files", len(files))
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		v := view(t, mustExtract(t, f, b, Options{}), "code")
		checkCover(t, v)
		if strings.Contains(string(b), "\nfunc ") && len(v.Segments) < 3 {
			t.Errorf("%s: only %d segments", f, len(v.Segments))
		}
	}
}
