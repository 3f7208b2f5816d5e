package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bltpipe/bltpipe/modelio/tokenizer"
)

// writeJSON writes content to name in dir and returns the path.
func writeJSON(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestPatchCommand(t *testing.T) {
	dir := t.TempDir()
	hello := tokenizer.EncodeDoc([]byte("Hello, world! 42 times")) // 24 tokens
	zeros := make([]float32, len(hello))

	array := writeJSON(t, dir, "array.json", "[0, 0, 2, 0, 0]")
	empty := writeJSON(t, dir, "empty.json", "[]")
	// The shape of bltpipe score --json: extra fields are ignored.
	score := writeJSON(t, dir, "score.json", `{"tokens":[1,108,105,4,108,2],"entropies":[3,0.7,0.2,1.0,0.9,0.1],
		"prominence":[1,2,3,4,5,6],"patch_lengths":[1,5],"patch_starts":[0,1]}`)
	helloDoc := writeJSON(t, dir, "hello.json", mustJSON(t, map[string]any{"tokens": hello, "entropies": zeros}))
	helloEnt := writeJSON(t, dir, "hello-ent.json", mustJSON(t, zeros))
	helloTok := writeJSON(t, dir, "hello-tok.json", mustJSON(t, hello))
	twoDocs := writeJSON(t, dir, "two.json", "[0, 0, 2, 0, 0]\n{\"entropies\": [5, 5, 5]}\n")
	flat := writeJSON(t, dir, "flat.json", "[0, 0, 0, 0, 2, 3, 3]")
	badJSON := writeJSON(t, dir, "bad.json", "[0, 0,")
	notArray := writeJSON(t, dir, "number.json", "42")
	noEnt := writeJSON(t, dir, "noent.json", `{"tokens":[1,2]}`)
	nothing := writeJSON(t, dir, "nothing.json", "  \n")
	mismatch := writeJSON(t, dir, "mismatch.json", `{"tokens":[1,2,3],"entropies":[0,0]}`)
	oneTok := writeJSON(t, dir, "onetok.json", "[1, 72]")
	fiveTok := writeJSON(t, dir, "fivetok.json", "[1, 72, 73, 74, 2]")
	missing := filepath.Join(dir, "missing.json")

	tests := []struct {
		name    string
		args    []string
		code    int
		stdout  string // exact, when code is 0
		errText string // substring of stderr, when code is not 0
	}{
		{"array default threshold", []string{"--entropies", array}, 0,
			`{"patch_lengths":[1,2,2],"patch_starts":[0,1,3]}` + "\n", ""},
		{"empty document", []string{"--entropies", empty}, 0,
			`{"patch_lengths":[],"patch_starts":[]}` + "\n", ""},
		{"score output at default threshold", []string{"--entropies", score}, 0,
			`{"patch_lengths":[1,5],"patch_starts":[0,1]}` + "\n", ""},
		{"score output re-patched at 0.5", []string{"--entropies", score, "--threshold", "0.5"}, 0,
			`{"patch_lengths":[1,1,2,1,1],"patch_starts":[0,1,2,4,5]}` + "\n", ""},
		{"max patch length", []string{"--entropies", score, "--max-patch-length", "2"}, 0,
			`{"patch_lengths":[1,2,2,1],"patch_starts":[0,1,3,5]}` + "\n", ""},
		{"monotonic", []string{"--entropies", score, "--monotonic", "--threshold", "0.5"}, 0,
			`{"patch_lengths":[1,1,2,2],"patch_starts":[0,1,2,4]}` + "\n", ""},
		// --threshold-add 0 is a setting: position 2 starts, 3 never does.
		{"threshold-add zero", []string{"--entropies", flat, "--threshold", "1", "--threshold-add", "0"}, 0,
			`{"patch_lengths":[1,1,3,1,1],"patch_starts":[0,1,2,5,6]}` + "\n", ""},
		{"without threshold-add", []string{"--entropies", flat, "--threshold", "1"}, 0,
			`{"patch_lengths":[1,4,1,1],"patch_starts":[0,1,5,6]}` + "\n", ""},
		{"space with tokens in the object", []string{"--entropies", helloDoc, "--mode", "space"}, 0,
			`{"patch_lengths":[1,6,7,4,6],"patch_starts":[0,1,7,14,18]}` + "\n", ""},
		{"space with --tokens", []string{"--entropies", helloEnt, "--tokens", helloTok, "--mode", "space"}, 0,
			`{"patch_lengths":[1,6,7,4,6],"patch_starts":[0,1,7,14,18]}` + "\n", ""},
		{"--tokens from a score object", []string{"--entropies", helloEnt, "--tokens", helloDoc, "--mode", "space"}, 0,
			`{"patch_lengths":[1,6,7,4,6],"patch_starts":[0,1,7,14,18]}` + "\n", ""},
		{"static", []string{"--entropies", helloEnt, "--mode", "static", "--patch-size", "10"}, 0,
			`{"patch_lengths":[10,10,4],"patch_starts":[0,10,20]}` + "\n", ""},
		{"byte", []string{"--entropies", array, "--mode", "byte"}, 0,
			`{"patch_lengths":[1,1,1,1,1],"patch_starts":[0,1,2,3,4]}` + "\n", ""},
		{"one line per document", []string{"--entropies", twoDocs}, 0,
			`{"patch_lengths":[1,2,2],"patch_starts":[0,1,3]}` + "\n" +
				`{"patch_lengths":[1,1,1],"patch_starts":[0,1,2]}` + "\n", ""},
		{"help", []string{"--help"}, 0, "", ""},

		{"no --entropies", []string{}, 2, "", "--entropies FILE.json is required"},
		{"missing file", []string{"--entropies", missing}, 2, "", "missing.json"},
		{"bad JSON", []string{"--entropies", badJSON}, 2, "", "bad.json: document 1: invalid JSON"},
		{"not an array", []string{"--entropies", notArray}, 2, "", "number.json: document 1: want a JSON array"},
		{"object without entropies", []string{"--entropies", noEnt}, 2, "", `noent.json: document 1: the object has no "entropies"`},
		{"no documents", []string{"--entropies", nothing}, 2, "", "nothing.json: no documents"},
		{"tokens and entropies disagree", []string{"--entropies", mismatch}, 2, "", "mismatch.json: document 1: patcher: 2 entropies for 3 tokens"},
		{"--tokens length disagrees", []string{"--entropies", array, "--tokens", oneTok, "--mode", "space"}, 2, "", "array.json and " + oneTok},
		{"--tokens has fewer documents", []string{"--entropies", twoDocs, "--tokens", fiveTok, "--mode", "byte"}, 2, "", "fewer documents"},
		{"--tokens has more documents", []string{"--entropies", array, "--tokens", twoDocs, "--mode", "byte"}, 2, "", "more documents"},
		{"space without tokens", []string{"--entropies", array, "--mode", "space"}, 2, "", `array.json: document 1 has no "tokens" field; space mode needs the tokens: pass --tokens`},
		{"unknown mode", []string{"--entropies", array, "--mode", "bpe"}, 2, "", `unknown mode "bpe"`},
		{"threshold outside entropy mode", []string{"--entropies", array, "--mode", "byte", "--threshold", "2"}, 2, "", "--threshold applies to --mode entropy only"},
		{"monotonic with threshold-add", []string{"--entropies", array, "--monotonic", "--threshold-add", "0.5"}, 2, "", "exclusive"},
		{"static without patch size", []string{"--entropies", array, "--mode", "static"}, 2, "", "patch size ≥ 1"},
		{"negative max", []string{"--entropies", array, "--max-patch-length", "-3"}, 2, "", "negative"},
		{"bad flag", []string{"--entropies", array, "--bogus"}, 2, "", "bogus"},
		{"extra argument", []string{"--entropies", array, "extra"}, 2, "", "unexpected arguments"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			code := dispatch(append([]string{"patch"}, tc.args...), &out, &errOut)
			if code != tc.code {
				t.Fatalf("exit %d, want %d; stdout %q, stderr %q", code, tc.code, out.String(), errOut.String())
			}
			if code == 0 && tc.stdout != "" && out.String() != tc.stdout {
				t.Fatalf("stdout:\n%s\nwant:\n%s", out.String(), tc.stdout)
			}
			if code != 0 && !strings.Contains(errOut.String(), tc.errText) {
				t.Fatalf("stderr %q does not contain %q", errOut.String(), tc.errText)
			}
			if code != 0 && !strings.HasPrefix(errOut.String(), "bltpipe patch: ") {
				t.Fatalf("stderr %q does not name the command", errOut.String())
			}
		})
	}
}

func TestPatchCommandHelp(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := dispatch([]string{"patch", "--help"}, &out, &errOut); code != 0 {
		t.Fatalf("exit %d", code)
	}
	for _, want := range []string{"--entropies FILE.json", "-max-patch-length", "-threshold-add", "bltpipe score --json"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("help does not mention %q:\n%s", want, out.String())
		}
	}
	out.Reset()
	dispatch([]string{"--help"}, &out, &errOut)
	if !strings.Contains(out.String(), "patch ") {
		t.Errorf("top-level help does not list patch:\n%s", out.String())
	}
}
