package modality

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// fixture reads testdata/modality/<name> (see testdata/README.md).
func fixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "..", "testdata", "modality", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// checkInside asserts the segment invariants every view has: in order, not
// overlapping, inside Data.
func checkInside(t testing.TB, v View) {
	t.Helper()
	if len(v.Segments) == 0 {
		t.Fatalf("view %s: no segments", v.Name)
	}
	pos := 0
	for i, s := range v.Segments {
		if s.Start < pos || s.End < s.Start || s.End > len(v.Data) {
			t.Fatalf("view %s: segment %d [%d,%d) out of order or outside %d bytes", v.Name, i, s.Start, s.End, len(v.Data))
		}
		pos = s.End
	}
}

// checkCover asserts the segments tile Data: their concatenation is Data.
func checkCover(t testing.TB, v View) {
	t.Helper()
	checkInside(t, v)
	var cat []byte
	for _, s := range v.Segments {
		cat = append(cat, v.Data[s.Start:s.End]...)
	}
	if !bytes.Equal(cat, v.Data) {
		t.Fatalf("view %s: segments do not cover the data exactly (%d of %d bytes)", v.Name, len(cat), len(v.Data))
	}
}

func mustExtract(t testing.TB, name string, data []byte, o Options) *Source {
	t.Helper()
	src, err := Extract(name, data, o)
	if err != nil {
		t.Fatalf("Extract(%s): %v", name, err)
	}
	for _, f := range src.Flatten() {
		checkInside(t, *f.View)
	}
	return src
}

// mustReject asserts Extract rejects data with an ordinary error.
func mustReject(t testing.TB, name string, data []byte, o Options) error {
	t.Helper()
	src, err := Extract(name, data, o)
	if err == nil {
		t.Fatalf("Extract(%s): no error, got %s with %d views", name, src.Kind, len(src.Views))
	}
	if errors.Is(err, ErrPanic) {
		t.Fatalf("Extract(%s): decoder panicked: %v", name, err)
	}
	return err
}

func view(t testing.TB, src *Source, name string) View {
	t.Helper()
	for _, v := range src.Views {
		if v.Name == name {
			return v
		}
	}
	t.Fatalf("%s: no view %q", src.Kind, name)
	return View{}
}
