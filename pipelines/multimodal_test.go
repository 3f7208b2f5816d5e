package pipelines

import (
	"database/sql"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bltpipe/bltpipe/modelio/patcher"
	"github.com/bltpipe/bltpipe/schemas"
	"github.com/bltpipe/bltpipe/transforms/pretokenize/modality"
	"github.com/bltpipe/bltpipe/transforms/reject"
	"github.com/bltpipe/bltpipe/transforms/testcorpus"
)

// corruptInputs writes a damaged file of every modality that can be
// damaged (text and code cannot: invalid UTF-8 is read as bytes) and
// returns the directory and the file names.
func corruptInputs(t *testing.T) (string, []string) {
	t.Helper()
	dir := t.TempDir()
	half := func(b []byte) []byte { return b[:len(b)/2] }
	var names []string
	for _, f := range []struct{ name, from string }{
		{"tiny.png", "demo/media/tiny.png"}, {"tiny.webp", "modality/tiny.webp"},
		{"tone.wav", "demo/media/tone.wav"}, {"tone.flac", "modality/tone.flac"},
		{"tiny.mp4", "demo/media/tiny.mp4"}, {"page.pdf", "demo/media/page.pdf"},
		{"lib.a", "demo/bin/lib.a"}, {"bundle.zip", "demo/archive/bundle.zip"}, {"hello.txt.bz2", "modality/hello.txt.bz2"},
	} {
		b, err := os.ReadFile(filepath.Join("..", "testdata", filepath.FromSlash(f.from)))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, f.name), half(b), 0o644); err != nil {
			t.Fatal(err)
		}
		names = append(names, f.name)
	}
	if err := os.WriteFile(filepath.Join(dir, "ok.txt"), []byte("A good file next to the bad ones.\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir, names
}

func smallModel(t *testing.T) string {
	t.Helper()
	model := t.TempDir()
	if err := testcorpus.WriteSmallModel(model, 9); err != nil {
		t.Fatal(err)
	}
	return model
}

// Truncated files of each modality never crash the run: by default each is
// one row of rejects/ (stage pretokenize, class decode, the decoder's
// reason); with the fallback kept (--on-decode-error fallback) each is a
// bytes document whose trunk in the sidecar records the reason.
func TestCorruptFilesAreRejected(t *testing.T) {
	if _, err := os.Stat("/usr/bin/ffmpeg"); err != nil && os.Getenv("CI") != "true" {
		t.Log("no ffmpeg: the damaged video is rejected for that reason instead")
	}
	in, names := corruptInputs(t)
	model := smallModel(t)
	seg, err := modality.Options{VideoSize: 32}.Config()
	if err != nil {
		t.Fatal(err)
	}
	for _, keep := range []bool{false, true} {
		out := t.TempDir()
		o := Options{Inputs: []string{in}, Output: out, ModelDir: model, Patcher: patcher.DefaultOptions(), Version: "test",
			Limits: Limits{SegmenterOptions: seg, KeepFallback: keep}, MaxRejects: reject.Budget{Fraction: 1, IsFraction: true}}
		runPipeline(t, o)
		docs := readDocs(t, out, nil)
		bySource := map[string]string{}
		if !keep {
			for _, r := range readRejects(t, out) {
				if r.Stage != schemas.StagePretokenize || r.Class != reject.ClassDecode || r.Msg == "" {
					t.Errorf("reject %s: stage %s class %s message %q", r.Source, r.Stage, r.Class, r.Msg)
				}
				bySource[filepath.Base(r.Source)] = r.Msg
			}
			if len(docs) != 1 || filepath.Base(docs[0].Source) != "ok.txt" {
				t.Errorf("%d documents, want only ok.txt", len(docs))
			}
		} else {
			for _, p := range globSorted(t, filepath.Join(out, "hypergraph", "*.hypergraph.db")) {
				db, err := sql.Open("sqlite", "file:"+p+"?mode=ro")
				if err != nil {
					t.Fatal(err)
				}
				rows, err := db.Query(`SELECT source, reject FROM nodes WHERE kind = 'trunk' AND reject IS NOT NULL`)
				if err != nil {
					t.Fatal(err)
				}
				for rows.Next() {
					var src, why string
					if err := rows.Scan(&src, &why); err != nil {
						t.Fatal(err)
					}
					bySource[filepath.Base(src)] = why
				}
				rows.Close()
				db.Close()
			}
			if len(docs) != len(names)+1 {
				t.Errorf("%d documents, want %d (every fallback and ok.txt)", len(docs), len(names)+1)
			}
		}
		for _, n := range names {
			if bySource[n] == "" {
				t.Errorf("keep fallback %v: no reason recorded for %s (recorded: %v)", keep, n, bySource)
			}
		}
		if bySource["ok.txt"] != "" {
			t.Errorf("ok.txt rejected: %s", bySource["ok.txt"])
		}
		if bySource["tiny.png"] != "" && !strings.Contains(bySource["tiny.png"], "png") {
			t.Errorf("tiny.png reason %q does not name the format", bySource["tiny.png"])
		}
	}
}

// --segment-starts-patch: with static 7-token patches, every segment
// (paragraph, function, image patch, audio frame) starts a patch; without
// it some do not, so the test would see the option ignored.
func TestSegmentStartsPatch(t *testing.T) {
	in := t.TempDir()
	files := map[string]string{
		"a.txt": "First paragraph, one line.\n\nSecond one\nhas two lines.\n\n\nThird.\n",
		"b.py":  "import os\n\n\ndef f(x):\n    return x + 1\n\n\nclass C:\n    pass\n",
	}
	for n, b := range files {
		if err := os.WriteFile(filepath.Join(in, n), []byte(b), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range []string{"demo/media/tiny.png", "demo/media/tone.wav"} {
		b, err := os.ReadFile(filepath.Join("..", "testdata", filepath.FromSlash(f)))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(in, filepath.Base(f)), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	model := smallModel(t)
	misses := func(on bool) (segments, missed int) {
		out := t.TempDir()
		o := Options{Inputs: []string{in}, Output: out, ModelDir: model, Version: "test",
			Patcher: patcher.Options{Mode: patcher.ModeStatic, PatchSize: 7}, SegmentStartsPatch: on}
		runPipeline(t, o)
		for _, p := range globSorted(t, filepath.Join(out, "hypergraph", "*.hypergraph.db")) {
			db, err := sql.Open("sqlite", "file:"+p+"?mode=ro")
			if err != nil {
				t.Fatal(err)
			}
			var n, m int
			if err := db.QueryRow(`SELECT count(*), coalesce(sum(NOT EXISTS (
				  SELECT 1 FROM edges e JOIN nodes p ON p.id = e.dst
				  WHERE e.src = s.id AND e.kind = 'contains' AND p.kind = 'patch' AND p.byte_offset = s.byte_offset AND p.byte_length > 0)), 0)
				FROM nodes s WHERE s.kind = 'segment' AND s.byte_length > 0`).Scan(&n, &m); err != nil {
				t.Fatal(err)
			}
			db.Close()
			segments, missed = segments+n, missed+m
		}
		// The cut never changes the tokens: patch lengths still tile them.
		for _, d := range readDocs(t, out, nil) {
			var sum int64
			for _, l := range d.PatchLengths {
				if l < 1 {
					t.Errorf("%s: empty patch", d.ID)
				}
				sum += int64(l)
			}
			if sum != d.NumTokens {
				t.Errorf("%s: patch lengths sum to %d, want %d", d.ID, sum, d.NumTokens)
			}
		}
		return segments, missed
	}
	n, m := misses(true)
	if n < 10 || m != 0 {
		t.Errorf("--segment-starts-patch: %d of %d segments do not start a patch", m, n)
	}
	if n, m := misses(false); m == 0 {
		t.Errorf("without the option all %d segments start a patch: the test cannot tell the option works", n)
	}
}
