package schemas

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
)

func TestPatchBytes(t *testing.T) {
	// A document of 5 bytes has 7 tokens: BOS b0 b1 b2 b3 b4 EOS.
	const n = 5
	tests := []struct {
		start, tokens, off, length int
	}{
		{0, 1, 0, 0}, // BOS alone
		{0, 3, 0, 2}, // BOS b0 b1
		{1, 2, 0, 2}, // b0 b1
		{3, 3, 2, 3}, // b2 b3 b4
		{3, 4, 2, 3}, // b2 b3 b4 EOS
		{6, 1, 5, 0}, // EOS alone
		{0, 7, 0, 5}, // whole document
	}
	for _, tc := range tests {
		off, l := PatchBytes(tc.start, tc.tokens, n)
		if off != tc.off || l != tc.length {
			t.Errorf("PatchBytes(%d, %d, %d) = (%d, %d), want (%d, %d)", tc.start, tc.tokens, n, off, l, tc.off, tc.length)
		}
	}
	// Patches that tile the tokens tile the bytes.
	lengths := []int{2, 1, 3, 1}
	next := 0
	start := 0
	for _, l := range lengths {
		off, bl := PatchBytes(start, l, n)
		if off != next {
			t.Fatalf("patch at token %d starts at byte %d, want %d", start, off, next)
		}
		next = off + bl
		start += l
	}
	if next != n {
		t.Fatalf("patches cover %d bytes, want %d", next, n)
	}
}

func TestSchemasHaveNoFixedSizeLists(t *testing.T) {
	for name, s := range map[string]interface{ String() string }{
		"documents": Documents([]string{"url"}),
		"patches":   Patches(true),
		"blt":       BLTArrow(),
		"sphere":    Sphere(),
	} {
		if got := s.String(); strings.Contains(got, "fixed_size_list") {
			t.Errorf("%s schema uses fixed_size_list: %s", name, got)
		}
	}
	if Patches(false).HasField(ColEmbedding) || !Patches(true).HasField(ColEmbedding) {
		t.Error("embedding column must follow withEmbedding")
	}
	if f, _ := Documents([]string{"dump", "url"}).FieldsByName("url"); len(f) != 1 || !f[0].Nullable {
		t.Error("kept columns must be nullable utf8")
	}
}

// docs/SCHEMA.md documents every column of every table.
func TestSchemaDocMentionsEveryColumn(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "docs", "SCHEMA.md"))
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	for _, s := range []*arrow.Schema{Documents(nil), Patches(true), BLTArrow(), Sphere()} {
		for _, f := range s.Fields() {
			if !strings.Contains(doc, "`"+f.Name+"`") {
				t.Errorf("docs/SCHEMA.md does not mention column `%s`", f.Name)
			}
		}
	}
	for _, name := range []string{"meta", "nodes", "edges", Version, StatsFile, ManifestFile} {
		if !strings.Contains(doc, name) {
			t.Errorf("docs/SCHEMA.md does not mention %s", name)
		}
	}
}
