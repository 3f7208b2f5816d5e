package main

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/bltpipe/bltpipe/modelio/train"
)

func TestCollectSplitsTheTree(t *testing.T) {
	root := t.TempDir()
	files := map[string]string{
		"README.md":                    "# Go\n",
		"doc/go_mem.html":              "<p>The Go memory model &amp; you.</p><script>x()</script>",
		"doc/go_spec.html":             "<h1>Spec</h1>\n\n\n\n<p>Types.</p>",
		"src/fmt/print.go":             "package fmt\n",
		"src/fmt/testdata/x.go":        "package x\n",
		"src/vendor/v/v.go":            "package v\n",
		"src/text/template/exec.go":    "package template\n",
		"src/text/template/parse/p.go": "package parse\n",
		"src/runtime/HACKING.md":       "Runtime notes.\n",
		"src/fmt/notes.txt":            "not a corpus file\n",
		"test/fixedbugs/b.go":          "package b\n",
	}
	for p, c := range files {
		full := filepath.Join(root, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	sets, err := collect(root)
	if err != nil {
		t.Fatal(err)
	}
	paths := func(name string) []string {
		var out []string
		for _, d := range sets[name] {
			out = append(out, d.Path)
		}
		return out
	}
	want := map[string][]string{
		"train":         {"README.md", "doc/go_spec.html", "src/fmt/print.go"},
		"calib-prose":   {"README.md", "doc/go_spec.html"},
		"heldout-prose": {"doc/go_mem.html", "src/runtime/HACKING.md"},
		"heldout-code":  {"src/text/template/exec.go", "src/text/template/parse/p.go"},
	}
	for name, w := range want {
		if got := paths(name); !slices.Equal(got, w) {
			t.Errorf("%s: %v, want %v", name, got, w)
		}
	}
	if got := sets["heldout-prose"][0].Text; got != "The Go memory model & you.\n" {
		t.Errorf("HTML text %q", got)
	}
	if got := sets["train"][1].Text; got != "Spec\n\nTypes.\n" {
		t.Errorf("HTML text %q", got)
	}

	// The files it writes are what bltpipe train reads.
	out := t.TempDir()
	n, err := write(filepath.Join(out, "train.jsonl.zst"), sets["train"])
	if err != nil {
		t.Fatal(err)
	}
	docs, err := train.ReadCorpus([]string{filepath.Join(out, "*.zst")})
	if err != nil {
		t.Fatal(err)
	}
	total := 0
	for _, d := range docs {
		total += len(d)
	}
	if len(docs) != 3 || total != n || string(docs[2]) != "package fmt\n" {
		t.Errorf("read back %d documents, %d bytes (wrote %d)", len(docs), total, n)
	}
}
