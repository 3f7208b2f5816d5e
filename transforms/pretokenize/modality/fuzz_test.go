package modality

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
)

// FuzzExtract: no input makes a decoder panic (ErrPanic) or run for more
// than 5 s, views keep their
// segment invariants, and the text, code, executable and unknown-binary
// views cover their data exactly. Seeds are every fixture and generated
// file. ffmpeg is switched off (FFmpeg: a missing binary) to keep runs
// fast; limits are small so bombs cost little.
func FuzzExtract(f *testing.F) {
	s := seeds(f)
	names := make([]string, 0, len(s))
	for n := range s {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		f.Add(n, s[n])
	}
	o := Options{FFmpeg: "/nonexistent/ffmpeg", PDFMode: PDFMultiview, Limits: Limits{
		MaxExpandedBytes: 16 << 20, MaxPixels: 1 << 20, MaxAudioSeconds: 30, MaxMembers: 100,
	}}
	f.Fuzz(func(t *testing.T, name string, data []byte) {
		type result struct {
			src *Source
			err error
		}
		done := make(chan result, 1)
		go func() {
			src, err := Extract(name, data, o)
			done <- result{src, err}
		}()
		var r result
		select {
		case r = <-done:
		case <-time.After(5 * time.Second):
			t.Fatalf("Extract(%q, %d bytes) takes over 5 s", name, len(data))
		}
		src, err := r.src, r.err
		if errors.Is(err, ErrPanic) {
			t.Fatal(err)
		}
		if err != nil {
			return
		}
		for _, fl := range src.Flatten() {
			v := *fl.View
			checkInside(t, v)
			switch v.Modality {
			case ModText, ModCode, ModExecutable:
				checkCover(t, v)
			case ModBytes:
				if v.Name == "raw" && fl.Path == "" && !bytes.Equal(v.Data, data) {
					t.Fatal("raw view is not the input")
				}
				checkCover(t, v)
			}
		}
	})
}

// A malformed MP3 that makes go-mp3 index past a table (a FuzzExtract
// finding, also in testdata/fuzz) is a decode error naming the format, not
// ErrPanic; a panic in our own code is still ErrPanic.
func TestMP3DecoderPanicIsDecodeError(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("testdata", "fuzz", "FuzzExtract", "da59329fab0b4e6c"))
	if err != nil {
		t.Fatal(err)
	}
	name, data := corpusEntry(t, b)
	_, err = Extract(name, data, Options{FFmpeg: "/nonexistent/ffmpeg"})
	if err == nil || errors.Is(err, ErrPanic) || !strings.Contains(err.Error(), "decode MP3: malformed frame data") {
		t.Fatalf("Extract: %v", err)
	}
	if panickedIn([]byte("panic({0x1})\n\t/x/panic.go:1\ngithub.com/bltpipe/bltpipe/x.f()\n"), "github.com/hajimehoshi/go-mp3") {
		t.Error("our own frame taken for go-mp3's")
	}
}

// corpusEntry parses a "go test fuzz v1" file of FuzzExtract: a string and
// a []byte.
func corpusEntry(t *testing.T, b []byte) (string, []byte) {
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) != 3 || lines[0] != "go test fuzz v1" {
		t.Fatalf("not a fuzz corpus file: %q", lines[0])
	}
	name, err := strconv.Unquote(strings.TrimSuffix(strings.TrimPrefix(lines[1], "string("), ")"))
	if err != nil {
		t.Fatal(err)
	}
	data, err := strconv.Unquote(strings.TrimSuffix(strings.TrimPrefix(lines[2], "[]byte("), ")"))
	if err != nil {
		t.Fatal(err)
	}
	return name, []byte(data)
}
