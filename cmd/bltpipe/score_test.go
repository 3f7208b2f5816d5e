package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bltpipe/bltpipe/modelio"
	"github.com/bltpipe/bltpipe/modelio/patcher"
	"github.com/bltpipe/bltpipe/modelio/tokenizer"
)

// saveTestModel writes a small random model and returns its directory.
func saveTestModel(t *testing.T) string {
	t.Helper()
	cfg := modelio.Config{Dim: 32, NLayers: 2, NHeads: 2, VocabSize: 260, MultipleOf: 16,
		NormEps: 1e-5, RopeTheta: 10000, SlidingWindow: 16, MaxSeqLen: 256}
	dir := t.TempDir()
	if err := modelio.SaveModel(dir, modelio.RandomWeights(cfg, 5), "F32"); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestScoreCommandJSON(t *testing.T) {
	dir := saveTestModel(t)
	text := "Hello, patches! 123"
	var out, errOut bytes.Buffer
	if code := dispatch([]string{"score", "--model", dir, "--text", text, "--json"}, &out, &errOut); code != exitOK {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	var got scoreOutput
	if err := json.Unmarshal(out.Bytes(), &got); err != nil {
		t.Fatalf("bad JSON %q: %v", out.String(), err)
	}
	tokens := tokenizer.EncodeDoc([]byte(text))
	if len(got.Tokens) != len(tokens) || got.Tokens[0] != tokenizer.BOS || got.Tokens[len(tokens)-1] != tokenizer.EOS {
		t.Fatalf("tokens %v, want %v", got.Tokens, tokens)
	}
	// Same numbers as the library.
	w, err := modelio.LoadModel(dir)
	if err != nil {
		t.Fatal(err)
	}
	s, err := modelio.NewScorer(w, modelio.ScorerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want, err := s.Score([][]int32{tokens}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := range tokens {
		if got.Entropies[i] != want[0].Entropies[i] || got.Prominence[i] != want[0].Prominence[i] {
			t.Fatalf("token %d: entropy %v prominence %v, library says %v %v", i, got.Entropies[i], got.Prominence[i], want[0].Entropies[i], want[0].Prominence[i])
		}
	}
	lengths, _ := patcher.Patch(tokens, want[0].Entropies, patcher.DefaultOptions())
	if !equalInt32(got.PatchLengths, lengths) || !equalInt32(got.PatchStarts, patcher.Starts(lengths)) {
		t.Fatalf("patches %v / %v, want %v", got.PatchLengths, got.PatchStarts, lengths)
	}

	// The JSON feeds bltpipe patch directly; the same threshold gives the same patches.
	f := filepath.Join(t.TempDir(), "doc.json")
	if err := os.WriteFile(f, out.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	var pout bytes.Buffer
	if code := dispatch([]string{"patch", "--entropies", f}, &pout, &errOut); code != exitOK {
		t.Fatalf("patch exit %d: %s", code, errOut.String())
	}
	var p patchOutput
	if err := json.Unmarshal(pout.Bytes(), &p); err != nil || !equalInt32(p.PatchLengths, got.PatchLengths) {
		t.Fatalf("re-patched %s, want %v (%v)", pout.String(), got.PatchLengths, err)
	}
}

func TestScoreCommandTable(t *testing.T) {
	dir := saveTestModel(t)
	var out, errOut bytes.Buffer
	if code := dispatch([]string{"score", "--model", dir, "--text", "ab", "--mode", "byte"}, &out, &errOut); code != exitOK {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	s := out.String()
	for _, want := range []string{"<BOS>", `"a"`, `"b"`, "<EOS>", "4 tokens, 4 patches (mode byte)"} {
		if !strings.Contains(s, want) {
			t.Errorf("output lacks %q:\n%s", want, s)
		}
	}
}

func TestScoreCommandErrors(t *testing.T) {
	dir := saveTestModel(t)
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"score", "--model", dir}, "exactly one of --text or --file"},
		{[]string{"score", "--model", dir, "--text", "a", "--file", "b"}, "exactly one of --text or --file"},
		{[]string{"score", "--model", dir, "--file", "/nonexistent/doc"}, "read document"},
		{[]string{"score", "--model", t.TempDir(), "--text", "a"}, "config"},
		{[]string{"score", "--model", dir, "--text", "a", "--backend", "xla:/nope.so"}, "rebuild with"},
		{[]string{"score", "--model", dir, "--text", "a", "--mode", "static"}, "patch"},
	}
	for _, tc := range cases {
		var out, errOut bytes.Buffer
		if code := dispatch(tc.args, &out, &errOut); code != exitUsage || !strings.Contains(errOut.String(), tc.want) {
			t.Errorf("%v: exit %d, stderr %q; want exit 2 and %q", tc.args, code, errOut.String(), tc.want)
		}
	}
}

func equalInt32(a, b []int32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
